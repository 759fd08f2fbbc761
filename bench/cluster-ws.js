// The extra latency of a session WebSocket relayed by another node of a
// cluster (src/http/proxy.c): a session acquired on node A, one Puppeteer
// connection straight to A and one through node B; CDP round trips
// (Runtime.evaluate "1+1") timed on each, interleaved in rounds so both see
// the same machine load. Two real daemons on loopback, cluster nodes on a
// throwaway PostgreSQL (tests/e2e/clusterpair.js; needs PostgreSQL's server).
// Usage: make build && node bench/cluster-ws.js   (BENCH_CLUSTER_N round trips each, default 200)
'use strict';
const puppeteer = require('puppeteer-core');
const { startFixtures } = require('../tests/e2e/harness');
const { startPair, havePostgres } = require('../tests/e2e/clusterpair');

const N = Number(process.env.BENCH_CLUSTER_N || 200);
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))]; };

(async () => {
  if (!havePostgres()) throw new Error('needs PostgreSQL\'s server (apt-get install postgresql; make deps)');
  const fixtures = await startFixtures();
  let pair;
  try {
    pair = await startPair({ allowPrivate: [fixtures.host] });
    const { a, b } = pair;
    const s = (await b.request('POST', '/browser/acquire', { json: {}, token: a.token })).json.result;
    if (!s.sessionId.startsWith(a.tag)) throw new Error('placed on B; expected A');
    const ticket = async (port) => {
      const r = await fetch(`http://127.0.0.1:${port}/browser/sessions/${s.sessionId}/json/version`,
        { headers: { Authorization: `Bearer ${a.token}` } });
      return (await r.json()).webSocketDebuggerUrl;
    };
    // One client at a time per session: direct first, then through B.
    const run = async (port) => {
      const br = await puppeteer.connect({ browserWSEndpoint: await ticket(port), defaultViewport: null });
      const page = (await br.pages())[0] || await br.newPage();
      await page.goto(`${fixtures.url}/echo`);
      const cdp = await page.createCDPSession();
      for (let i = 0; i < 20; i++) await cdp.send('Runtime.evaluate', { expression: '1+1' }); // warm
      const t = [];
      for (let i = 0; i < N; i++) {
        const t0 = process.hrtime.bigint();
        await cdp.send('Runtime.evaluate', { expression: '1+1' });
        t.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      await br.disconnect();
      return t;
    };
    const direct = [], relayed = [];
    for (let round = 0; round < 4; round++) {
      direct.push(...await run(a.port));
      relayed.push(...await run(b.port));
    }
    const line = (name, xs) => `${name.padEnd(12)} n=${xs.length} p50=${pct(xs, 50).toFixed(3)} ms  p90=${pct(xs, 90).toFixed(3)} ms  p99=${pct(xs, 99).toFixed(3)} ms`;
    console.log(line('direct (A)', direct));
    console.log(line('through B', relayed));
    console.log(`extra p50 per CDP round trip: ${(pct(relayed, 50) - pct(direct, 50)).toFixed(3)} ms`);
    await b.request('DELETE', `/browser/sessions/${s.sessionId}`, { token: a.token });
  } finally {
    if (pair) await pair.stop();
    await fixtures.close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
