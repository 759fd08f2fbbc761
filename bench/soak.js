'use strict';
// Soak / leak check, in the style of Browserless's: waves of mixed quick
// actions, aborted requests, sessions acquired, driven with puppeteer-core
// and dropped, and kill -9 of a Chromium now and then. After each wave the
// service is left to settle and sampled: its RSS and open descriptors, the
// Chromium processes under it, and its internal tables from /metrics. At
// the end those must be back at the baseline (within the tolerances below),
// or the run fails.
//
//   make soak                      SOAK_MINUTES=5 (default) against build/
//   SOAK_MINUTES=30 make soak      the long run
//   make soak-asan                 build-asan/, SOAK_MINUTES=2 (SOAK_SANITIZE=1)
//
// Environment: SOAK_MINUTES, SOAK_BROWSERS (2), SOAK_SANITIZE, PPOD_BIN_DIR,
// SOAK_JSON (write the samples there).
//
// Tolerances, last samples against the baseline (the sample after the first
// wave, when caches and pools are warm):
//   daemon RSS      +32 MiB and +25% (median of the last 3 waves vs the first 3)
//   open fds        +8
//   Chromium procs  at most the configured browsers + spares (+1 replacement being started)
//   tables          sessions, jobs running, queue depth, requests in flight,
//                   open usage rows: exactly 0 once settled

const path = require('node:path');
const fs = require('node:fs');
const http = require('node:http');

const ROOT = path.resolve(__dirname, '..');
const SANITIZE = /^(1|on|yes|true)$/i.test(process.env.SOAK_SANITIZE || '');
if (SANITIZE) {
  process.env.PPOD_SANITIZE = '1';
  if (!process.env.PPOD_BIN_DIR) process.env.PPOD_BIN_DIR = path.join(ROOT, 'build-asan');
  // A small quarantine: ASan's default (256 MiB of freed blocks kept) would
  // read as growth. LeakSanitizer runs at the SIGTERM exit and fails it.
  process.env.ASAN_OPTIONS = `${process.env.ASAN_OPTIONS || 'detect_leaks=1:abort_on_error=1'}:quarantine_size_mb=8`;
}
if (!process.env.PPOD_BIN_DIR) process.env.PPOD_BIN_DIR = path.join(ROOT, 'build');

const puppeteer = require('puppeteer-core');
const {
  startFixtures, startDaemon, setLimits, scaled,
} = require('../tests/e2e/harness');
const { metric, scrape, rssKb, fdCount, chromiumUnder, percentile } = require('../tests/e2e/metricsutil');

const MINUTES = Number(process.env.SOAK_MINUTES || (SANITIZE ? 2 : 5));
const BROWSERS = Number(process.env.SOAK_BROWSERS || 2);
const SPARES = 1;
const CONCURRENCY = 2 * BROWSERS;
const RSS_TOL_KB = 32 * 1024;
const RSS_TOL_RATIO = 0.25;
const FD_TOL = 8;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function log(...a) { process.stdout.write(`${a.join(' ')}\n`); }

// One quick action of the given kind; resolves with the status.
function action(daemon, fixtures, kind, i) {
  const url = `${fixtures.url}/scrape.html?soak=${i}`;
  const body = {
    screenshot: { url, viewport: { width: 800, height: 600 } },
    pdf: { url },
    content: { url },
    scrape: { url, elements: [{ selector: 'h1' }, { selector: 'a' }] },
    markdown: { url },
    links: { url },
  }[kind];
  return daemon.request('POST', `/browser/${kind}`, { json: body, timeout: scaled(60000) }).then((r) => r.status, () => 'error');
}

// A request whose client goes away mid-job.
function aborted(daemon, fixtures, i) {
  return new Promise((resolve) => {
    const payload = JSON.stringify({ url: `${fixtures.url}/slow?ms=3000&abort=${i}` });
    const req = http.request({
      host: '127.0.0.1', port: daemon.port, method: 'POST', path: '/browser/screenshot', agent: false,
      headers: { Authorization: `Bearer ${daemon.token}`, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) },
    }, (res) => { res.resume(); res.on('end', () => resolve(`answered ${res.statusCode}`)); });
    req.on('error', () => resolve('aborted'));
    req.end(payload);
    setTimeout(() => req.destroy(), 300 + (i % 5) * 100);
  });
}

// Acquire, connect with puppeteer-core, load a page, then release it or
// just drop the connection (the keep-alive ends it).
async function session(daemon, fixtures, i) {
  const r = await daemon.request('POST', '/browser/acquire', { json: { keep_alive: 2000 }, timeout: scaled(30000) });
  if (r.status !== 200) return `acquire ${r.status}`;
  const { sessionId } = r.json.result;
  const b = await puppeteer.connect({
    browserWSEndpoint: `ws://127.0.0.1:${daemon.port}/browser/sessions/${sessionId}/devtools/browser?token=${daemon.token}`,
    protocolTimeout: scaled(30000),
  });
  try {
    const page = await b.newPage();
    await page.goto(`${fixtures.url}/boxes.html?session=${i}`, { waitUntil: 'load', timeout: scaled(30000) });
    await page.screenshot();
  } finally {
    if (i % 2) {
      await b.disconnect();
      const d = await daemon.request('DELETE', `/browser/sessions/${sessionId}`, { timeout: scaled(30000) });
      if (d.status >= 300 && d.status !== 404) return `release ${d.status}`; // eslint-disable-line no-unsafe-finally
    } else {
      b.disconnect(); // dropped: ends after keep_alive
    }
  }
  return 'ok';
}

async function pool(items, n, fn) {
  const out = [];
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  }));
  return out;
}

const TABLES = [
  ['sessions', (t) => ['connected', 'idle', 'ending'].reduce((s, st) => s + (metric(t, 'ppod_sessions', { state: st }) || 0), 0)],
  ['jobs', (t) => metric(t, 'ppod_jobs_running')],
  ['queue', (t) => metric(t, 'ppod_queue_depth')],
  ['inflight', (t) => metric(t, 'ppod_requests_in_flight')],
  ['usageOpen', (t) => metric(t, 'ppod_usage_records_open')],
];

async function settle(daemon, deadlineMs) {
  const end = Date.now() + deadlineMs;
  let t = '';
  for (;;) {
    t = await scrape(daemon.port);
    const busy = TABLES.some(([, f]) => f(t) !== 0);
    // Browsers of ended sessions and crashed ones are reaped in the background.
    const browsersOk = metric(t, 'ppod_browsers_alive') === BROWSERS &&
      chromiumUnder(daemon.pid).browsers.length <= BROWSERS + SPARES;
    if ((!busy && browsersOk) || Date.now() > end) return t;
    await sleep(200); // no event to wait on: the tables are polled
  }
}

async function main() {
  log(`soak: ${MINUTES} min, ${BROWSERS} browsers, binary ${process.env.PPOD_BIN_DIR}${SANITIZE ? ' (ASan+UBSan)' : ''}`);
  const fixtures = await startFixtures();
  const daemon = await startDaemon({
    browsers: BROWSERS,
    allowPrivate: [fixtures.host],
    args: ['--concurrency', String(CONCURRENCY), '--queue', String(2 * CONCURRENCY), '--spares', String(SPARES),
      '--recycle-after', '40'],
  });
  await setLimits(daemon.dataDir, 'test', {
    concurrentQuickActions: 64, quickActionsPerSecond: 1000, maxConcurrentSessions: 8, acquisitionsPerMinute: 600,
  });
  const kinds = ['screenshot', 'pdf', 'content', 'scrape', 'markdown', 'links'];
  const samples = [];
  const failures = [];
  const start = Date.now();
  const stopAt = start + MINUTES * 60000;
  let wave = 0;
  const header = 'wave   t(s)  actions  non200  aborted  sessions  kill   rssMiB  fds  chromium  browsers  sessions jobs queue inflight usageOpen';
  log(header);
  do {
    wave++;
    const w0 = Date.now();
    const n = 24;
    const jobs = Array.from({ length: n }, (_, i) => kinds[(wave + i) % kinds.length]);
    const killWave = wave % 3 === 0;
    let killed = '';
    const [statuses, abortedRes, sessions] = await Promise.all([
      pool(jobs, CONCURRENCY + 2, (k, i) => action(daemon, fixtures, k, `${wave}-${i}`)),
      Promise.all([0, 1, 2, 3].map((i) => aborted(daemon, fixtures, `${wave}-${i}`))),
      pool([0, 1], 2, (_, i) => session(daemon, fixtures, wave * 2 + i).catch((e) => `session error: ${e.message.split('\n')[0]}`)),
      (async () => {
        if (!killWave) return;
        await sleep(1000); // mid-wave
        const { browsers } = chromiumUnder(daemon.pid);
        if (browsers.length) {
          const victim = browsers[wave % browsers.length];
          try { process.kill(victim, 'SIGKILL'); killed = String(victim); } catch { /* gone already */ }
        }
      })(),
    ]);
    // A kill fails the jobs on that browser (502) and may fail a session: expected.
    const bad = statuses.filter((s) => s !== 200 && !(killWave && (s === 502 || s === 503)));
    const sessBad = sessions.filter((s) => s !== 'ok' && !killWave);
    const when = new Date(w0).toISOString();
    if (bad.length) failures.push(`wave ${wave} (from ${when}): statuses ${statuses.join(',')}`);
    if (sessBad.length) failures.push(`wave ${wave} (from ${when}): sessions ${sessions.join('; ')}`);
    const text = await settle(daemon, scaled(30000));
    const procs = chromiumUnder(daemon.pid);
    const s = {
      wave, t: Math.round((Date.now() - start) / 1000), ms: Date.now() - w0,
      non200: statuses.filter((x) => x !== 200).length,
      aborted: abortedRes.filter((x) => x === 'aborted').length,
      sessionsOk: sessions.filter((x) => x === 'ok').length,
      killed,
      rssKb: rssKb(daemon.pid), fds: fdCount(daemon.pid), chromium: procs.all.length, browsers: procs.browsers.length,
    };
    for (const [name, f] of TABLES) s[name] = f(text);
    samples.push(s);
    log(`${String(wave).padStart(4)} ${String(s.t).padStart(6)} ${String(n).padStart(8)} ${String(s.non200).padStart(7)} ` +
      `${String(s.aborted).padStart(8)} ${String(s.sessionsOk).padStart(6)}/2 ${(killed ? 'yes' : '-').padStart(5)} ` +
      `${(s.rssKb / 1024).toFixed(1).padStart(8)} ${String(s.fds).padStart(4)} ${String(s.chromium).padStart(9)} ` +
      `${String(s.browsers).padStart(9)} ${String(s.sessions).padStart(9)} ${String(s.jobs).padStart(4)} ` +
      `${String(s.queue).padStart(5)} ${String(s.inflight).padStart(8)} ${String(s.usageOpen).padStart(9)}`);
  } while (Date.now() < stopAt);

  // ---- verdict
  const leaks = [];
  const first = samples.slice(0, Math.min(3, samples.length));
  const last = samples.slice(-Math.min(3, samples.length));
  const rssBase = percentile(first.map((s) => s.rssKb), 50);
  const rssEnd = percentile(last.map((s) => s.rssKb), 50);
  const rssLimit = Math.max(rssBase + RSS_TOL_KB, rssBase * (1 + RSS_TOL_RATIO));
  if (rssEnd > rssLimit) leaks.push(`daemon RSS ${(rssBase / 1024).toFixed(1)} -> ${(rssEnd / 1024).toFixed(1)} MiB (limit ${(rssLimit / 1024).toFixed(1)})`);
  const fdBase = Math.min(...first.map((s) => s.fds));
  const fdEnd = Math.min(...last.map((s) => s.fds));
  if (fdEnd > fdBase + FD_TOL) leaks.push(`open fds ${fdBase} -> ${fdEnd} (tolerance +${FD_TOL})`);
  const maxBrowsers = BROWSERS + SPARES + 1;
  const end = samples[samples.length - 1];
  if (end.browsers > maxBrowsers) leaks.push(`Chromium browser processes ${end.browsers} > ${maxBrowsers}`);
  const procBase = percentile(first.map((s) => s.chromium), 50);
  const procEnd = percentile(last.map((s) => s.chromium), 50);
  if (procEnd > procBase + 4) leaks.push(`Chromium processes ${procBase} -> ${procEnd}`);
  for (const [name] of TABLES) if (end[name] !== 0) leaks.push(`${name} = ${end[name]} after settling (expected 0)`);
  const alive = daemon.proc.exitCode === null;
  if (!alive) leaks.push('the daemon exited');

  const summary = {
    minutes: MINUTES, waves: samples.length, sanitize: SANITIZE,
    requests: samples.length * 24, abortedRequests: samples.reduce((a, s) => a + s.aborted, 0),
    sessions: samples.length * 2, kills: samples.filter((s) => s.killed).length,
    rssMiB: { baseline: +(rssBase / 1024).toFixed(1), end: +(rssEnd / 1024).toFixed(1), max: +(Math.max(...samples.map((s) => s.rssKb)) / 1024).toFixed(1) },
    fds: { baseline: fdBase, end: fdEnd }, chromium: { baseline: procBase, end: procEnd, browsersEnd: end.browsers },
    tablesEnd: Object.fromEntries(TABLES.map(([n]) => [n, end[n]])),
    failures, leaks,
  };
  if (process.env.SOAK_JSON) fs.writeFileSync(process.env.SOAK_JSON, JSON.stringify({ summary, samples }, null, 2));
  const logFile = path.join(ROOT, 'bench', 'out', 'soak-daemon.log');
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  fs.writeFileSync(logFile, daemon.stderr());
  const code = await daemon.stop('SIGTERM', { timeout: scaled(40000) }).catch((e) => `stop failed: ${e.message}`);
  if (code !== 0) leaks.push(`the daemon's exit on SIGTERM: ${code}`);
  await fixtures.close();

  log('');
  log(`soak summary: ${summary.waves} waves in ${MINUTES} min; ${summary.requests} quick actions, ` +
    `${summary.abortedRequests} aborted, ${summary.sessions} sessions, ${summary.kills} Chromium kills`);
  log(`  daemon RSS   ${summary.rssMiB.baseline} MiB -> ${summary.rssMiB.end} MiB (max ${summary.rssMiB.max}; limit +32 MiB / +25%)`);
  log(`  open fds     ${fdBase} -> ${fdEnd} (limit +${FD_TOL})`);
  log(`  Chromium     ${procBase} -> ${procEnd} processes, ${end.browsers} browsers (limit ${maxBrowsers})`);
  log(`  tables       ${TABLES.map(([n]) => `${n}=${end[n]}`).join(' ')} (all must be 0)`);
  log(`  exit         ${code}`);
  for (const f of failures) log(`  FAILED REQUESTS ${f}`);
  for (const l of leaks) log(`  LEAK ${l}`);
  log(`  daemon log   ${path.relative(process.cwd(), logFile)}`);
  const ok = leaks.length === 0 && failures.length === 0;
  log(ok ? 'soak: PASS' : 'soak: FAIL');
  process.exit(ok ? 0 : 1);
}

main().catch((e) => {
  console.error(`soak: ${e.stack || e}`);
  process.exit(2);
});
