'use strict';
// Load at the admission limit: clients keep the service at its concurrency
// plus its queue plus an overflow, for LOAD_MINUTES, with mixed quick
// actions. Only 200 and 429 may come back (anything else fails the run),
// and the Chromium browser processes, sampled twice a second, never exceed
// the configured pool + spares (+1: a recycled browser's replacement starts
// before it leaves). Reports p50/p95/p99 latency of the 200s, throughput and
// the 429 share.
//
//   make load                 LOAD_MINUTES=10 (default), build/
//   LOAD_MINUTES=1 make load
//
// Environment: LOAD_MINUTES, LOAD_BROWSERS (2), LOAD_OVERFLOW (clients beyond
// concurrency + queue, default = concurrency), PPOD_BIN_DIR, LOAD_JSON.

const path = require('node:path');
const fs = require('node:fs');

const ROOT = path.resolve(__dirname, '..');
if (!process.env.PPOD_BIN_DIR) process.env.PPOD_BIN_DIR = path.join(ROOT, 'build');

const { startFixtures, startDaemon, setLimits } = require('../tests/e2e/harness');
const { metric, scrape, chromiumUnder, percentile, rssKb } = require('../tests/e2e/metricsutil');

const MINUTES = Number(process.env.LOAD_MINUTES || 10);
const BROWSERS = Number(process.env.LOAD_BROWSERS || 2);
const SPARES = 1;
const CONCURRENCY = 2 * BROWSERS;
const QUEUE = CONCURRENCY;
const OVERFLOW = Number(process.env.LOAD_OVERFLOW || CONCURRENCY);
const CLIENTS = CONCURRENCY + QUEUE + OVERFLOW;
const MAX_BROWSERS = BROWSERS + SPARES + 1;

const log = (...a) => process.stdout.write(`${a.join(' ')}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  log(`load: ${MINUTES} min, ${BROWSERS} browsers, --concurrency ${CONCURRENCY} --queue ${QUEUE}, ${CLIENTS} clients, binary ${process.env.PPOD_BIN_DIR}`);
  const fixtures = await startFixtures();
  const daemon = await startDaemon({
    browsers: BROWSERS, allowPrivate: [fixtures.host],
    args: ['--concurrency', String(CONCURRENCY), '--queue', String(QUEUE), '--spares', String(SPARES)],
  });
  // The service's own admission is under test, not the account's limits.
  await setLimits(daemon.dataDir, 'test', { concurrentQuickActions: 100, quickActionsPerSecond: 1000 });
  const url = `${fixtures.url}/scrape.html`;
  const kinds = [
    ['screenshot', { url, viewport: { width: 1024, height: 768 } }],
    ['pdf', { url }],
    ['content', { url }],
    ['scrape', { url, elements: [{ selector: 'h1' }, { selector: 'a' }] }],
    ['markdown', { url }],
  ];
  const lat = [];
  const byKind = {};
  const counts = { 200: 0, 429: 0 };
  const unexpected = [];
  let maxBrowsersSeen = 0;
  let maxChromium = 0;
  let maxQueue = 0;
  let stop = false;
  const t0 = Date.now();
  const endAt = t0 + MINUTES * 60000;

  const sampler = (async () => {
    while (!stop) {
      const p = chromiumUnder(daemon.pid);
      maxBrowsersSeen = Math.max(maxBrowsersSeen, p.browsers.length);
      maxChromium = Math.max(maxChromium, p.all.length);
      if (p.browsers.length > MAX_BROWSERS) unexpected.push(`${p.browsers.length} Chromium browsers at ${Date.now() - t0} ms`);
      try { maxQueue = Math.max(maxQueue, metric(await scrape(daemon.port), 'ppod_queue_depth')); } catch { /* next time */ }
      await sleep(500);
    }
  })();
  let lastReport = t0;
  const clients = Array.from({ length: CLIENTS }, async (_, c) => {
    for (let i = 0; Date.now() < endAt; i++) {
      const [kind, body] = kinds[(c + i) % kinds.length];
      const s = Date.now();
      const r = await daemon.request('POST', `/browser/${kind}`, { json: body, timeout: 120000 }).catch((e) => ({ status: `error ${e.message}` }));
      const ms = Date.now() - s;
      if (r.status === 200) {
        counts[200]++;
        lat.push(ms);
        (byKind[kind] = byKind[kind] || []).push(ms);
      } else if (r.status === 429) {
        counts[429]++;
        await sleep(100); // a client's back-off before retrying
      } else {
        unexpected.push(`${kind}: ${r.status} ${r.body ? r.body.subarray(0, 200) : ''}`);
      }
      if (Date.now() - lastReport >= 30000) {
        lastReport = Date.now();
        const secs = (lastReport - t0) / 1000;
        log(`  ${secs.toFixed(0)} s: ${counts[200]} ok (${(counts[200] / secs).toFixed(1)}/s), ${counts[429]} x 429, ` +
          `p50 ${percentile(lat, 50)} ms, browsers max ${maxBrowsersSeen}, daemon RSS ${(rssKb(daemon.pid) / 1024).toFixed(1)} MiB`);
      }
    }
  });
  await Promise.all(clients);
  stop = true;
  await sampler;
  const secs = (Date.now() - t0) / 1000;
  const code = await daemon.stop('SIGTERM', { timeout: 40000 }).catch((e) => `stop failed: ${e.message}`);
  await fixtures.close();

  const summary = {
    minutes: MINUTES, browsers: BROWSERS, concurrency: CONCURRENCY, queue: QUEUE, clients: CLIENTS,
    ok: counts[200], tooMany: counts[429], unexpected: unexpected.length,
    throughputPerSec: +(counts[200] / secs).toFixed(2),
    latencyMs: { p50: percentile(lat, 50), p95: percentile(lat, 95), p99: percentile(lat, 99), max: Math.max(...lat) },
    byKind: Object.fromEntries(Object.entries(byKind).map(([k, v]) => [k, { n: v.length, p50: percentile(v, 50), p95: percentile(v, 95), p99: percentile(v, 99) }])),
    maxBrowsers: maxBrowsersSeen, browserLimit: MAX_BROWSERS, maxChromiumProcesses: maxChromium, maxQueueDepth: maxQueue,
    exit: code,
  };
  if (process.env.LOAD_JSON) fs.writeFileSync(process.env.LOAD_JSON, JSON.stringify(summary, null, 2));
  log('');
  log(`load summary: ${MINUTES} min at --concurrency ${CONCURRENCY} --queue ${QUEUE} with ${CLIENTS} clients (${BROWSERS} browsers)`);
  log(`  200: ${counts[200]}  429: ${counts[429]} (${((100 * counts[429]) / Math.max(1, counts[200] + counts[429])).toFixed(1)}%)  other: ${unexpected.length}`);
  log(`  throughput ${summary.throughputPerSec} jobs/s; latency of 200s p50 ${summary.latencyMs.p50} ms, p95 ${summary.latencyMs.p95} ms, p99 ${summary.latencyMs.p99} ms, max ${summary.latencyMs.max} ms`);
  for (const [k, v] of Object.entries(summary.byKind)) log(`    ${k.padEnd(10)} n=${String(v.n).padStart(5)}  p50 ${v.p50} ms  p95 ${v.p95} ms  p99 ${v.p99} ms`);
  log(`  Chromium browsers at most ${maxBrowsersSeen} (limit ${MAX_BROWSERS}), processes at most ${maxChromium}; queue depth at most ${maxQueue}`);
  log(`  exit on SIGTERM: ${code}`);
  for (const u of unexpected.slice(0, 20)) log(`  UNEXPECTED ${u}`);
  const ok = unexpected.length === 0 && code === 0 && counts[200] > 0;
  log(ok ? 'load: PASS' : 'load: FAIL');
  process.exit(ok ? 0 : 1);
}

main().catch((e) => {
  console.error(`load: ${e.stack || e}`);
  process.exit(2);
});
