'use strict';
// The memory limit per browser (--browser-memory-mb). Where the service may
// make cgroups (root, as here and in CI) each browser runs in a memory
// cgroup of its own and the kernel ends the page that goes over; otherwise
// (and with --no-cgroup) a watchdog reads the browser's memory twice a
// second and kills its largest process. Either way the job on that page
// answers 502 PAGE_CRASHED within its timeout, the browser is replaced, the
// next job works, and nothing (no cgroup dir, no Chromium) outlives the
// daemon.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const {
  useDaemon, scaled, expectError, pidsMentioning, pollUntil, PNG_MAGIC,
} = require('./harness');

const LIMIT_MB = 300;
const ROOT = typeof process.getuid === 'function' && process.getuid() === 0;
const CGROUP_DIRS = ['/sys/fs/cgroup/memory', '/sys/fs/cgroup/unified', '/sys/fs/cgroup'];
const cgroupDirsOf = (pid) => CGROUP_DIRS.map((d) => `${d}/ppod-${pid}`).filter((d) => fs.existsSync(d));

const MODES = [
  // With the privilege, whichever hierarchy the machine has; the watchdog
  // only where there is none.
  { name: 'cgroup', args: [], expect: ROOT ? /^(cgroup-v1|cgroup-v2|rss-watchdog)$/ : /^rss-watchdog$/ },
  { name: 'watchdog', args: ['--no-cgroup'], expect: /^rss-watchdog$/ },
];

for (const mode of MODES) {
  describe(`browser memory limit (${mode.name})`, { timeout: scaled(180000) }, () => {
    let memoryMode;

    // The last test stops the daemon itself; the after() hook then checks
    // that exit.
    const { daemon, fixtures } = useDaemon({
      browsers: 1,
      args: ['--browser-memory-mb', String(LIMIT_MB), '--spares', '0', ...mode.args],
      timeout: scaled(60000),
    });

    const hog = (mb, delay, timeout = 30000) => daemon.request('POST', '/browser/content', {
      json: {
        url: `${fixtures.url}/security/memory-hog.html?mb=${mb}&delay=${delay}`,
        waitForSelector: { selector: '#done', timeout: scaled(timeout - 5000) },
        timeout: scaled(timeout),
      },
      timeout: scaled(timeout + 15000),
    });

    it('/healthz reports the mode and the limit', async () => {
      const res = await daemon.request('GET', '/healthz');
      assert.equal(res.status, 200);
      const m = res.json.result.browserMemory;
      assert.equal(m.limitMb, LIMIT_MB);
      assert.match(m.mode, mode.expect);
      memoryMode = m.mode;
      if (m.mode.startsWith('cgroup')) assert.ok(cgroupDirsOf(daemon.pid).length === 1, 'its cgroup dir exists');
    });

    it('a page well within the limit loads', async () => {
      const res = await hog(32, 0);
      assert.equal(res.status, 200, res.body.subarray(0, 300).toString('utf8'));
      assert.match(res.json.result, /allocated 32 MiB/);
    });

    it(`a page allocating past ${LIMIT_MB} MB answers 502 PAGE_CRASHED in time; the browser is replaced`, async () => {
      // Left alone the page would hold 1.5 GB and say "allocated" (the
      // machine has the memory): only the limit makes this fail. The pause
      // between steps gives the twice-a-second watchdog its chance.
      const t0 = Date.now();
      const res = await hog(1536, memoryMode === 'rss-watchdog' ? 40 : 0);
      const ms = Date.now() - t0;
      expectError(assert, res, 502, 'PAGE_CRASHED', daemon.stderr().slice(-2000));
      assert.ok(ms < scaled(30000), `answered after ${ms} ms`);
      // The pool sees the kill (a cgroup counter, or its own watchdog) and
      // replaces the browser; the answer may come before it looks.
      await pollUntil(() => /pool: browser \d+ ready[\s\S]*over its memory limit[\s\S]*pool: browser \d+ ready/.test(daemon.stderr()),
        { timeout: scaled(20000), what: 'a replacement browser' });
    });

    it('the daemon stays healthy and the next screenshot works', async () => {
      const health = await daemon.request('GET', '/healthz');
      assert.equal(health.status, 200);
      assert.equal(health.json.result.status, 'ok');
      assert.ok(health.json.result.browserRestarts.crash >= 1, JSON.stringify(health.json.result));
      const res = await daemon.request('POST', '/browser/screenshot', { json: { url: `${fixtures.url}/title.html` } });
      assert.equal(res.status, 200, res.body.subarray(0, 300).toString('utf8'));
      assert.ok(res.body.subarray(0, 8).equals(PNG_MAGIC));
    });

    it('after the daemon exits no cgroup dir and no Chromium is left', async () => {
      const { pid, tmpDir } = daemon;
      assert.equal(await daemon.stop(), 0);
      assert.deepEqual(cgroupDirsOf(pid), []);
      assert.deepEqual(pidsMentioning([tmpDir]), []);
    });
  });
}
