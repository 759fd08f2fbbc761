# The two README commands: `make run` and `make test`. Each installs what is
# missing (scripts/deps.sh), builds, and does its job.
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
ARGS ?=

.PHONY: all deps build debug asan run test test-fast bench clean format

all: build

deps:
	@scripts/deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

debug: deps
	cmake -S . -B build-debug -DCMAKE_BUILD_TYPE=Debug
	cmake --build build-debug -j $(JOBS)

asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DPB_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j $(JOBS)

run: build
	$(BUILD)/ppod-browserd --data-dir ./var $(ARGS)

# Every test: unit and end-to-end on the release build, then the unit tests
# and one end-to-end pass under AddressSanitizer + UBSan.
test: build asan
	cd $(BUILD) && ctest --output-on-failure
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure

test-fast: build
	cd $(BUILD) && ctest --output-on-failure $(if $(T),-R '$(T)',)

bench: build
	node bench/run.js $(ARGS)
	node bench/acquire.js
	node bench/files.js
	node bench/contexts.js
	node bench/recording.js
	node bench/mcp.js
	node bench/crawl.js

format:
	clang-format -i $$(git ls-files 'src/*.c' 'src/*.h' 'tests/unit/*.c' 'tests/unit/*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-debug

bench-markdown:
	BUILD=$(BUILD) bench/markdown/run.sh $(ARGS)

# Leak check (not part of `make test`): waves of mixed work, then the
# service's RSS, descriptors, Chromium processes and tables must return to
# their baseline. SOAK_MINUTES (default 5); soak-asan runs build-asan/ for 2.
.PHONY: soak soak-asan load
soak: build
	PPOD_BIN_DIR=$(BUILD) node bench/soak.js

soak-asan: asan
	PPOD_BIN_DIR=$(ASAN_BUILD) SOAK_SANITIZE=1 SOAK_MINUTES=$${SOAK_MINUTES:-2} node bench/soak.js

# At the admission limit for LOAD_MINUTES (default 10): only 200 and 429,
# Chromium processes within the configured pool; p50/p95/p99 and throughput.
load: build
	PPOD_BIN_DIR=$(BUILD) node bench/load.js

# Several nodes on one machine (docs/deploy.md): a throwaway PostgreSQL,
# three nodes and HAProxy on 127.0.0.1:8080, in the foreground; prints the URL
# and a token; Ctrl-C stops everything. bench-cluster: the cluster's figures.
.PHONY: cluster bench-cluster
cluster: build
	BUILD=$(BUILD) scripts/cluster.sh $(ARGS)

bench-cluster: build
	PPOD_BIN_DIR=$(BUILD) node bench/cluster.js $(ARGS)
