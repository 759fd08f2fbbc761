// Files in and out of a session on loopback: upload throughput (POST
// /browser/sessions/{id}/files with a raw body), the browser's own download
// of a file into the session (click → Playwright sees it complete), and
// fetching it back (GET /browser/sessions/{id}/downloads/{did}). Medians of
// a few runs, in MiB/s.
//
//   node bench/files.js        BENCH_FILES_MIB (default 20), BENCH_FILES_N (default 5)
'use strict';
const { chromium } = require('playwright-core');
const { startFixtures, startDaemon } = require('../tests/e2e/harness');

const MIB = Number(process.env.BENCH_FILES_MIB || 20);
const N = Number(process.env.BENCH_FILES_N || 5);
const BYTES = MIB << 20;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rate = (ms) => MIB / (ms / 1000);

(async () => {
  const fx = await startFixtures();
  const d = await startDaemon({ allowPrivate: [fx.host], args: ['--download-max-mb', String(MIB * 2)] });
  const up = [], browserDl = [], fetchDl = [];
  try {
    const r = await d.request('POST', '/browser/acquire', { json: { keep_alive: 120000 } });
    const id = r.json.result.sessionId;
    const browser = await chromium.connectOverCDP(`${d.url}/browser/sessions/${id}`, {
      headers: { Authorization: `Bearer ${d.token}` },
    });
    const page = await browser.contexts()[0].newPage();
    await page.goto(`${fx.url}/files/download.html?bytes=${BYTES}`);
    const body = Buffer.alloc(BYTES, 0x5a);
    for (let i = 0; i < N; i++) {
      let t0 = performance.now();
      const u = await d.request('POST', `/browser/sessions/${id}/files?name=f${i}.bin`, {
        body, headers: { 'Content-Type': 'application/octet-stream' }, timeout: 120000,
      });
      if (u.status !== 200) throw new Error(`upload: ${u.status} ${u.body}`);
      up.push(performance.now() - t0);

      t0 = performance.now();
      const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#sized')]);
      const failure = await dl.failure();
      if (failure) throw new Error(`download: ${failure}`);
      browserDl.push(performance.now() - t0);

      const list = await d.request('GET', `/browser/sessions/${id}/downloads`);
      const last = list.json.result[list.json.result.length - 1];
      t0 = performance.now();
      const g = await d.request('GET', `/browser/sessions/${id}/downloads/${last.id}`, { timeout: 120000 });
      if (g.status !== 200 || g.body.length !== BYTES) throw new Error(`fetch: ${g.status} ${g.body.length}`);
      fetchDl.push(performance.now() - t0);
    }
    await browser.close();
    await d.request('DELETE', `/browser/sessions/${id}`);
  } finally {
    await d.stop('SIGTERM');
    await fx.close();
  }
  const row = (what, ms) =>
    console.log(`${what.padEnd(44)} median ${median(ms).toFixed(0).padStart(5)} ms  ${rate(median(ms)).toFixed(0).padStart(5)} MiB/s`);
  console.log(`files: ${MIB} MiB, ${N} runs, loopback`);
  row('upload (POST .../files, raw body)', up);
  row('browser download into the session', browserDl);
  row('fetch it back (GET .../downloads/{did})', fetchDl);
  process.exit(0);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
