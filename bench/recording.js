// Session recordings: what recording costs the agent and the disk. The
// agent's command latency (page.evaluate round trips on an animating page,
// puppeteer.connect) in a session without and with "record": true, and the
// bytes a minute of that animating page takes in the recording.
// Usage: node bench/recording.js   (BENCH_REC_N commands each, default 300;
// BENCH_REC_SECONDS recorded for the size, default 20)
'use strict';
const puppeteer = require('puppeteer-core');
const { startDaemon, startFixtures, setLimits } = require('../tests/e2e/harness');

const N = Number(process.env.BENCH_REC_N || 300);
const SECONDS = Number(process.env.BENCH_REC_SECONDS || 20);

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
};
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;

(async () => {
  const fixtures = await startFixtures();
  const d = await startDaemon({ allowPrivate: [fixtures.host], args: ['--spares', '1'] });
  await setLimits(d.dataDir, 'test', { acquisitionsPerMinute: 6000 });
  const json = async (method, p, body) => {
    const r = await d.request(method, p, body === undefined ? {} : { json: body });
    if (r.status !== 200) throw new Error(`${method} ${p}: ${r.status} ${r.body}`);
    return r.json.result;
  };
  const page = `${fixtures.url}/recording/page.html?color=green`;
  try {
    const lat = {};
    let recorded = null;
    // Alternating rounds, so drift on a shared machine hits both alike.
    for (let round = 0; round < 2; round++) {
      for (const record of [false, true]) {
        const s = await json('POST', '/browser/acquire', { record });
        const b = await puppeteer.connect({ browserWSEndpoint: `${s.webSocketDebuggerUrl}?token=${d.token}`, defaultViewport: null });
        const p = (await b.pages())[0];
        await p.setViewport({ width: 800, height: 600 });
        await p.goto(page);
        for (let i = 0; i < 20; i++) await p.evaluate(() => 1); // warm up
        const xs = lat[record] || (lat[record] = []);
        for (let i = 0; i < N / 2; i++) {
          const t0 = process.hrtime.bigint();
          await p.evaluate(() => document.title);
          xs.push(ms(t0));
        }
        if (record && round === 1) {
          await new Promise((r) => setTimeout(r, SECONDS * 1000));
          recorded = s.sessionId;
        }
        await b.disconnect();
        await json('DELETE', `/browser/sessions/${s.sessionId}`);
      }
    }
    for (const record of [false, true]) {
      const xs = lat[record];
      console.log(`agent command latency, record ${record ? 'on ' : 'off'}: p50 ${pct(xs, 0.5).toFixed(2)} ms, p95 ${pct(xs, 0.95).toFixed(2)} ms (${xs.length} page.evaluate)`);
    }
    const idx = await json('GET', `/browser/sessions/${recorded}/recording/index`);
    const secs = (idx.endMs - idx.startMs) / 1000;
    console.log(`recorded animating page: ${idx.frames.length} frames in ${secs.toFixed(1)} s ` +
      `(${(idx.frames.length / secs).toFixed(1)} frames/s), ${(idx.bytes / 1024).toFixed(0)} KiB: ` +
      `${(idx.bytes / secs * 60 / 1048576).toFixed(2)} MiB a minute, ` +
      `${(idx.bytes / idx.frames.length / 1024).toFixed(1)} KiB a frame (800x600, JPEG q70)`);
  } finally {
    await d.stop();
    await fixtures.close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
