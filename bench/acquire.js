// Acquire → connected → first page ready, through the service's sessions,
// beside puppeteer.launch() of a fresh browser, in one run. Prints p50/p95
// and the ratio. Usage: node bench/acquire.js   (BENCH_ACQ_N, default 20)
'use strict';
const puppeteer = require('puppeteer-core');
const { startFixtureServer, startService, stats } = require('./run.js');

const N = Number(process.env.BENCH_ACQ_N || 20);
const CHROMIUM = process.env.PPOD_CHROMIUM || '/usr/lib/chromium/chromium';
const IS_ROOT = process.getuid && process.getuid() === 0;

(async () => {
  const fixture = await startFixtureServer();
  const url = `http://127.0.0.1:${fixture.port}/page.html`;
  const svc = await startService(fixture.port);
  const svcMs = [], pupMs = [], acqMs = [];
  try {
    for (let i = 0; i < N + 3; i++) {
      // service: acquire, connect, a page that has loaded the fixture
      let t0 = process.hrtime.bigint();
      const r = await svc.request('POST', '/browser/acquire', { keep_alive: 60000 },
        { Authorization: `Bearer ${svc.token}` });
      if (r.status !== 200) throw new Error(`acquire: ${r.status} ${r.body}`);
      const { sessionId } = JSON.parse(r.body).result;
      if (i >= 3) acqMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
      const b = await puppeteer.connect({
        browserWSEndpoint: `ws://127.0.0.1:${svc.port}/browser/sessions/${sessionId}/devtools/browser?token=${svc.token}` });
      const [page] = await b.pages();
      await (page || await b.newPage()).goto(url, { waitUntil: 'load' });
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      await b.close();
      if (i >= 3) svcMs.push(ms);
      // puppeteer.launch of a fresh browser, as a user's script starts
      t0 = process.hrtime.bigint();
      const lb = await puppeteer.launch({ executablePath: CHROMIUM, headless: true,
        args: IS_ROOT ? ['--no-sandbox'] : [] });
      const [lp] = await lb.pages();
      await (lp || await lb.newPage()).goto(url, { waitUntil: 'load' });
      const lms = Number(process.hrtime.bigint() - t0) / 1e6;
      await lb.close();
      if (i >= 3) pupMs.push(lms);
    }
  } finally {
    await svc.close();
    fixture.close();
  }
  const s = stats(svcMs), p = stats(pupMs), a = stats(acqMs);
  console.log(`== acquire -> connected -> first page loaded, ${N} runs (3 warm-up), ms`);
  console.log(`service POST /browser/acquire alone           p50 ${a.p50.toFixed(1)}  p95 ${a.p95.toFixed(1)}  (aim p50 <= 50)`);
  console.log(`service (acquire + puppeteer.connect + goto)  p50 ${s.p50.toFixed(1)}  p95 ${s.p95.toFixed(1)}`);
  console.log(`puppeteer.launch (fresh browser) + goto       p50 ${p.p50.toFixed(1)}  p95 ${p.p95.toFixed(1)}`);
  console.log(`ratio service/launch p50 = ${(s.p50 / p.p50).toFixed(3)}`);
})().catch((e) => { console.error(e); process.exit(1); });
