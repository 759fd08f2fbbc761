// The live view: frame latency (a page change made by the agent -> the
// frame that shows it painted in the viewer's canvas), frames/s of an
// animating page, the daemon's CPU per viewer, and the agent's command
// latency with 0, 1 and 3 viewers. Also saves a screenshot of the live page.
// Usage: node bench/live.js [screenshot.png]   (BENCH_LIVE_N changes, default 40)
'use strict';
const fs = require('node:fs');
const puppeteer = require('puppeteer-core');
const { startDaemon, startFixtures } = require('../tests/e2e/harness');

const N = Number(process.env.BENCH_LIVE_N || 40);
const SHOT = process.argv[2];
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))]; };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const cpuMs = (pid) => {
  const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 1000 / 100; // utime + stime, USER_HZ 100
};

(async () => {
  const fixtures = await startFixtures();
  const d = await startDaemon({ allowPrivate: [fixtures.host], args: ['--spares', '1'] });
  const viewers = await puppeteer.launch({ executablePath: '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu'], defaultViewport: { width: 1100, height: 800 } });
  try {
    const acq = await d.request('POST', '/browser/acquire', { json: { live: true } });
    const s = acq.json.result;
    const agent = await puppeteer.connect({ browserWSEndpoint: `${s.webSocketDebuggerUrl}?token=${d.token}`, defaultViewport: null });
    const page = (await agent.pages())[0] || await agent.newPage();
    await page.setViewport({ width: 800, height: 600 });
    await page.goto(`${fixtures.url}/live.html?still`);
    const open = async () => {
      const v = await viewers.newPage();
      await v.goto(s.liveUrl);
      await v.waitForFunction(() => window.__live && window.__live.frames > 0, { polling: 50 });
      return v;
    };
    const v = await open();

    // Latency: the agent colours the corner; the first paint showing it.
    const colors = [[255, 0, 0], [0, 160, 0]];
    const lat = [];
    for (let i = 0; i < N; i++) {
      const c = colors[i % 2];
      const t = await page.evaluate((c) => {
        document.getElementById('corner').style.background = `rgb(${c})`;
        return performance.timeOrigin + performance.now();
      }, c);
      const at = await v.waitForFunction((c, t) => {
        const p = window.__live.paints.find((p) => p.at >= t && p.rgb.every((x, k) => Math.abs(x - c[k]) < 40));
        return p && p.at;
      }, { polling: 10 }, c, t);
      lat.push((await at.jsonValue()) - t);
    }

    // Animation: frames/s, CPU per viewer, agent latency with 0, 1, 3 viewers.
    await page.goto(`${fixtures.url}/live.html`);
    const cmd = async () => {
      const xs = [];
      for (let i = 0; i < 100; i++) { const t0 = process.hrtime.bigint(); await page.evaluate(() => 1); xs.push(Number(process.hrtime.bigint() - t0) / 1e6); }
      return xs;
    };
    const measure = async () => {
      const c0 = cpuMs(d.pid), t0 = Date.now();
      await sleep(5000);
      return (cpuMs(d.pid) - c0) / (Date.now() - t0) * 100; // % of one core
    };
    await v.close();
    const out = { latency: {}, viewers: {} };
    const all = [];
    for (const n of [0, 1, 3]) {
      while (all.length < n) all.push(await open());
      const f0 = n ? await all[0].evaluate(() => window.__live.frames) : 0;
      const cpu = await measure();
      const f1 = n ? await all[0].evaluate(() => window.__live.frames) : 0;
      const xs = await cmd();
      out.viewers[n] = { daemonCpuPct: +cpu.toFixed(1), fps: n ? +((f1 - f0) / 5).toFixed(1) : 0,
        agentCmdP50ms: +pct(xs, 50).toFixed(2), agentCmdP95ms: +pct(xs, 95).toFixed(2) };
    }
    out.latency = { n: lat.length, p50ms: +pct(lat, 50).toFixed(1), p95ms: +pct(lat, 95).toFixed(1) };
    if (SHOT) await all[0].screenshot({ path: SHOT });
    console.log(JSON.stringify(out, null, 1));
    await agent.disconnect();
  } finally {
    await viewers.close();
    await d.stopClean();
    await fixtures.close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
