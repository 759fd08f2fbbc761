#!/usr/bin/env bash
# Installs what the project needs and is missing: Debian packages through
# apt-get, npm packages from the committed lockfile. Idempotent and quick when
# everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(build-essential cmake pkg-config clang libclang-rt-14-dev
      libwebsockets-dev libcjson-dev libcurl4-openssl-dev libpng-dev
      libgumbo-dev libcmark-gfm-dev libcmark-gfm-extensions-dev libsqlite3-dev
      libzip-dev libpcre2-dev chromium chromium-headless-shell nodejs npm curl poppler-utils
      fonts-liberation fonts-noto-core fonts-noto-color-emoji fonts-noto-cjk
      postgresql postgresql-client libpq-dev haproxy)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# nodejs/npm may come from elsewhere on some machines: a working binary is enough.
if command -v node >/dev/null && command -v npm >/dev/null; then
  tmp=(); for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || tmp+=("$p"); done
  missing=("${tmp[@]+"${tmp[@]}"}")
fi
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# npm packages (test clients, fixture server, benchmarks) from the lockfile.
if [ -f package-lock.json ]; then
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
  fi
fi
