// Persistent contexts: acquire -> connected (POST /browser/acquire until a
// CDP client is connected and its first command answered) with a ~5 MiB
// context and without one, and the context's save time when a persist
// session is released (the daemon's "saved context ... in N ms" log line,
// and the DELETE's own latency, which waits for it). Prints medians.
// Usage: node bench/contexts.js   (BENCH_CTX_N runs each, default 7;
// BENCH_CTX_MIB, default 5)
'use strict';
const puppeteer = require('puppeteer-core');
const { startDaemon, startFixtures, setLimits } = require('../tests/e2e/harness');

const N = Number(process.env.BENCH_CTX_N || 7);
const MIB = Number(process.env.BENCH_CTX_MIB || 5);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;

(async () => {
  const fixtures = await startFixtures();
  const d = await startDaemon({ allowPrivate: [fixtures.host], args: ['--spares', '1'] });
  await setLimits(d.dataDir, 'test', { acquisitionsPerMinute: 6000, maxConcurrentSessions: 10 });
  const json = async (method, p, body) => {
    const r = await d.request(method, p, body === undefined ? {} : { json: body });
    if (r.status !== 200) throw new Error(`${method} ${p}: ${r.status} ${r.body}`);
    return r.json.result;
  };
  const app = `${fixtures.url}/contexts/app.html`;
  const connect = (s) => puppeteer.connect({ browserWSEndpoint: `${s.webSocketDebuggerUrl}?token=${d.token}` });
  try {
    // The context: logged in, plus MIB of IndexedDB.
    const ctx = await json('POST', '/browser/contexts', { name: 'bench' });
    let s = await json('POST', '/browser/acquire', { context: { id: ctx.id, persist: true } });
    let b = await connect(s);
    let page = await b.newPage();
    await page.goto(app);
    await page.evaluate((n) => login('bench').then(() => bloat(n)), MIB << 20);
    await b.disconnect();
    await json('DELETE', `/browser/sessions/${s.sessionId}`);
    const bytes = (await json('GET', `/browser/contexts/${ctx.id}`)).bytes;

    // acquire -> connected -> first command answered.
    const plain = [], withCtx = [];
    for (let i = 0; i < N + 1; i++) {
      for (const body of [{}, { context: { id: ctx.id } }]) {
        const t0 = process.hrtime.bigint();
        s = await json('POST', '/browser/acquire', body);
        b = await connect(s);
        await b.version();
        const t = ms(t0);
        await b.disconnect();
        await json('DELETE', `/browser/sessions/${s.sessionId}`);
        if (i > 0) (body.context ? withCtx : plain).push(t); // the first round warms up
      }
    }

    // The save at release.
    const releaseMs = [];
    const logged = () => [...d.stderr().matchAll(/saved context [0-9a-f]+ \((\d+) bytes\) in (\d+) ms/g)]
      .map((m) => Number(m[2]));
    const before = logged().length;
    for (let i = 0; i < N; i++) {
      s = await json('POST', '/browser/acquire', { context: { id: ctx.id, persist: true } });
      b = await connect(s);
      page = await b.newPage();
      await page.goto(app);
      await page.evaluate((n) => login(`bench-${n}`), i);
      await b.disconnect();
      const t0 = process.hrtime.bigint();
      await json('DELETE', `/browser/sessions/${s.sessionId}`);
      releaseMs.push(ms(t0));
    }
    const saveMs = logged().slice(before);

    console.log(`== persistent contexts: medians of ${N} runs, ms (context ${(bytes / 1048576).toFixed(2)} MiB stored)`);
    console.log(`acquire -> connected, no context                 ${median(plain).toFixed(1)}   (${plain.map((x) => x.toFixed(0)).join(' ')})`);
    console.log(`acquire -> connected, with the context            ${median(withCtx).toFixed(1)}   (${withCtx.map((x) => x.toFixed(0)).join(' ')})`);
    console.log(`release with persist: close + copy + swap (log)   ${median(saveMs).toFixed(1)}   (${saveMs.join(' ')})`);
    console.log(`release with persist: DELETE answered             ${median(releaseMs).toFixed(1)}   (${releaseMs.map((x) => x.toFixed(0)).join(' ')})`);
  } finally {
    await d.stopClean();
    await fixtures.close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
