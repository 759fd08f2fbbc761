// The cluster's figures (docs/deploy.md), on loopback, bounded to a few
// minutes. Usage: make bench-cluster   (or: node bench/cluster.js)
//
//   throughput  quick actions (POST /browser/content of a fixture page)
//               through HAProxy with 1, 2 and 3 nodes: jobs/s and CPU per
//               job (CPU-seconds of the daemons + their Chromiums, from
//               /proc, over the jobs done)
//   acquire     POST /browser/acquire through HAProxy vs straight to a node,
//               p50/p90
//   ws          one CDP round trip (Browser.getVersion) on a session's
//               WebSocket: straight to the node holding it, through another
//               node (forwarded), through HAProxy; p50/p90 and the extra p50
//   density     one node: idle acquired sessions, each with a page loaded;
//               PSS (smaps_rollup) of the daemon + its Chromiums, per session
//               and sessions per GiB
//   active      one node: N sessions each looping navigations of a fixture
//               page (N = 1, 2, 4, 6, 8...), while acquire -> connected ->
//               first page loaded is timed; the N at which its p50 doubles
//
// BENCH_CLUSTER_PARTS (default all: throughput,acquire,ws,density,active):
// density and active run on one node with the SQLite store; the others start
// a throwaway PostgreSQL (scripts/pg-throwaway.sh), three nodes and HAProxy
// (deploy/haproxy.cfg). BENCH_CLUSTER_SECONDS (15): each throughput run;
// BENCH_DENSITY_N (8): sessions held; BENCH_ACTIVE_MAX (10): the last N tried.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { spawn, execFile, spawnSync } = require('node:child_process');
const WebSocket = require('ws');
const puppeteer = require('puppeteer-core');
const H = require('../tests/e2e/harness');
const { treeMemory, treeCpuMs } = require('./run.js');

const ROOT = path.resolve(__dirname, '..');
const PG_SCRIPT = path.join(ROOT, 'scripts', 'pg-throwaway.sh');
const PARTS = new Set((process.env.BENCH_CLUSTER_PARTS || 'throughput,acquire,ws,density,active').split(','));
const SECONDS = Number(process.env.BENCH_CLUSTER_SECONDS || 15);
const DENSITY_N = Number(process.env.BENCH_DENSITY_N || 8);
const ACTIVE_MAX = Number(process.env.BENCH_ACTIVE_MAX || 10);
const CONCURRENCY = Number(process.env.BENCH_CLUSTER_CONCURRENCY || 6);

const now = () => Number(process.hrtime.bigint()) / 1e6;
const q = (arr, p) => {
  const s = [...arr].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))] : NaN;
};
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : String(x));
const f3 = (x) => (Number.isFinite(x) ? x.toFixed(3) : String(x));
const results = {};

function run(cmd, args, timeout = 60000) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout }, (err, stdout, stderr) => {
      if (err) { err.message += `\n${stderr}`; return reject(err); }
      resolve(stdout);
    });
  });
}

// ---------------------------------------------------------------- cluster

async function startCluster(fixtures, nodes = 3) {
  const c = { nodes: [], lb: null, pgDir: null, lbProc: null };
  c.dir = await H.makeTempDir('ppod-bench-cluster-');
  fs.chmodSync(c.dir, 0o755);
  c.pgDir = path.join(c.dir, 'pg');
  fs.mkdirSync(c.pgDir);
  process.on('exit', () => spawnSync(PG_SCRIPT, ['stop', c.pgDir], { stdio: 'ignore' }));
  c.store = (await run(PG_SCRIPT, ['start', c.pgDir])).trim();
  const key = path.join(c.dir, 'cluster.key');
  fs.writeFileSync(key, crypto.randomBytes(48).toString('base64'), { mode: 0o600 });
  fs.mkdirSync(path.join(c.dir, 'contexts'));
  c.token = (await H.runAdmin(['account', 'create', 'bench', '--store', c.store])).stdout.trim();
  for (const kv of ['maxConcurrentSessions=50', 'acquisitionsPerMinute=6000', 'quickActionsPerSecond=1000',
    'concurrentQuickActions=64']) {
    await H.runAdmin(['account', 'limits', 'bench', '--set', kv, '--store', c.store]).catch((e) => console.error(`limits ${kv}: ${e.message.split('\n')[0]}`));
  }
  for (let i = 1; i <= nodes; i++) {
    const port = await H.freePort();
    const dataDir = path.join(c.dir, `node${i}`);
    fs.mkdirSync(dataDir);
    const url = `http://127.0.0.1:${port}`;
    const daemon = await H.startDaemon({
      port, dataDir, token: c.token, browsers: 2, allowPrivate: [fixtures.host],
      args: ['--store', c.store, '--node-url', url, '--node-name', `node${i}`, '--cluster-key-file', key,
        '--contexts-dir', path.join(c.dir, 'contexts'), '--spares', '2'],
    });
    c.nodes.push({ name: `node${i}`, port, url, daemon });
  }
  c.startLb = async (k) => {
    if (c.lbProc) { c.lbProc.kill('SIGKILL'); await new Promise((r) => c.lbProc.once('exit', r)); }
    const cfg = path.join(c.dir, `haproxy-${k}.cfg`);
    const base = fs.readFileSync(path.join(ROOT, 'deploy', 'haproxy.cfg'), 'utf8').split('\n')
      .filter((l) => !/^\s*server node/.test(l));
    for (let i = 1; i <= k; i++) base.push(`  server node${i} "\${PPOD_NODE${i}}"`);
    fs.writeFileSync(cfg, base.join('\n') + '\n');
    const port = await H.freePort();
    const env = { ...process.env, PPOD_LB_BIND: `127.0.0.1:${port}` };
    c.nodes.forEach((n, i) => { env[`PPOD_NODE${i + 1}`] = `127.0.0.1:${n.port}`; });
    c.lbProc = spawn('haproxy', ['-f', cfg, '-db'], { env, stdio: 'ignore' });
    const pid = c.lbProc.pid;
    process.on('exit', () => { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } });
    await H.pollUntil(async () => (await H.httpRequest(port, 'GET', '/healthz', { timeout: 2000 })).status === 200,
      { timeout: 20000, what: 'haproxy' });
    c.lb = { name: 'haproxy', port, pid };
    return c.lb;
  };
  c.close = async () => {
    if (c.lbProc) c.lbProc.kill('SIGKILL');
    for (const n of c.nodes) await n.daemon.stop('SIGTERM', { timeout: 30000 }).catch(() => {});
    spawnSync(PG_SCRIPT, ['stop', c.pgDir], { stdio: 'ignore' });
  };
  c.owner = (id) => c.nodes.find((n) => n.tag && id.startsWith(n.tag));
  const rows = JSON.parse((await run('psql', [c.store, '-XAtq', '-c',
    "SELECT COALESCE(json_agg(t), '[]'::json) FROM (SELECT tag, url FROM nodes WHERE state NOT IN ('lost', 'left')) t"])).trim());
  for (const r of rows) { const n = c.nodes.find((x) => x.url === r.url); if (n) n.tag = r.tag; }
  return c;
}

// ---------------------------------------------------------------- parts

async function throughput(c, fixtures) {
  const out = [];
  for (let k = 1; k <= c.nodes.length; k++) {
    const lb = await c.startLb(k);
    const job = async (i) => {
      const t0 = now();
      const r = await H.httpRequest(lb.port, 'POST', '/browser/content', {
        json: { url: `${fixtures.url}/echo?j=${i}` }, token: c.token, timeout: 60000,
      }).catch(() => ({ status: 0 }));
      return { ok: r.status === 200, ms: now() - t0, status: r.status };
    };
    // Warm-up, then a timed closed loop of CONCURRENCY clients.
    await Promise.all(Array.from({ length: CONCURRENCY }, (_, i) => job(i)));
    const cpu0 = c.nodes.reduce((s, n) => s + treeCpuMs(n.daemon.pid), 0);
    const lbCpu0 = treeCpuMs(lb.pid);
    const t0 = now();
    const end = t0 + SECONDS * 1000;
    const lat = [];
    let ok = 0, bad = 0, i = 0;
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (now() < end) {
        const r = await job(i++);
        if (r.ok) { ok++; lat.push(r.ms); } else bad++;
      }
    }));
    const secs = (now() - t0) / 1000;
    const cpu = (c.nodes.reduce((s, n) => s + treeCpuMs(n.daemon.pid), 0) - cpu0) / 1000;
    const lbCpu = (treeCpuMs(lb.pid) - lbCpu0) / 1000;
    const r = { nodes: k, jobsPerS: ok / secs, failed: bad, cpuSPerJob: cpu / ok, lbCpuSPerJob: lbCpu / ok,
      cpuUtil: cpu / secs, p50: q(lat, 0.5), p90: q(lat, 0.9) };
    out.push(r);
    console.log(`throughput ${k} node(s): ${f1(r.jobsPerS)} jobs/s (${bad} failed), ` +
      `CPU ${f3(r.cpuSPerJob)} s/job (nodes+Chromium; ${f1(r.cpuUtil)} cores busy), haproxy ${f3(r.lbCpuSPerJob)} s/job, ` +
      `latency p50 ${f1(r.p50)} p90 ${f1(r.p90)} ms`);
  }
  results.throughput = out;
}

async function acquireLatency(c) {
  const lb = await c.startLb(c.nodes.length);
  const direct = c.nodes[0];
  const lat = { haproxy: [], direct: [] };
  const N = 15;
  for (let i = 0; i < N + 2; i++) {
    for (const [name, port] of [['haproxy', lb.port], ['direct', direct.port]]) {
      for (const n of c.nodes) await waitSpares(n.port, 2);
      const t0 = now();
      const r = await H.httpRequest(port, 'POST', '/browser/acquire', { json: { keep_alive: 10000 }, token: c.token, timeout: 60000 });
      const ms = now() - t0;
      if (r.status !== 200) throw new Error(`acquire ${name}: ${r.status} ${r.body}`);
      if (i >= 2) lat[name].push(ms);
      await H.httpRequest(port, 'DELETE', `/browser/sessions/${r.json.result.sessionId}`, { token: c.token });
    }
  }
  results.acquire = {};
  for (const k of Object.keys(lat)) {
    results.acquire[k] = { p50: q(lat[k], 0.5), p90: q(lat[k], 0.9), n: lat[k].length };
    console.log(`acquire through ${k}: p50 ${f1(results.acquire[k].p50)} ms, p90 ${f1(results.acquire[k].p90)} ms (n=${lat[k].length})`);
  }
}

async function cdpRtt(url, n = 200, warm = 20) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  const lat = [];
  try {
    for (let i = 1; i <= n + warm; i++) {
      const t0 = now();
      await new Promise((resolve, reject) => {
        const on = (m) => { if (JSON.parse(String(m)).id === i) { done(); resolve(); } };
        const fail = (e) => { done(); reject(e); };
        const done = () => { ws.off('message', on); ws.off('error', fail); ws.off('close', fail); };
        ws.on('message', on);
        ws.on('error', fail);
        ws.on('close', fail);
        ws.send(JSON.stringify({ id: i, method: 'Browser.getVersion' }));
      });
      if (i > warm) lat.push(now() - t0);
    }
  } finally {
    ws.close();
  }
  return lat;
}

async function wsLatency(c) {
  const lb = await c.startLb(c.nodes.length);
  const r = await H.httpRequest(lb.port, 'POST', '/browser/acquire', { json: { keep_alive: 60000 }, token: c.token });
  if (r.status !== 200) throw new Error(`acquire: ${r.status} ${r.body}`);
  const s = r.json.result;
  const owner = c.owner(s.sessionId);
  const other = c.nodes.find((n) => n !== owner);
  const at = (port) => {
    const u = new URL(s.webSocketDebuggerUrl);
    u.host = `127.0.0.1:${port}`;
    u.searchParams.set('token', c.token);
    return u.toString();
  };
  results.ws = {};
  try {
    for (const [name, port] of [['direct', owner.port], ['another node', other.port], ['haproxy', lb.port]]) {
      const lat = await cdpRtt(at(port));
      results.ws[name] = { p50: q(lat, 0.5), p90: q(lat, 0.9) };
    }
  } finally {
    await H.httpRequest(lb.port, 'DELETE', `/browser/sessions/${s.sessionId}`, { token: c.token });
  }
  const d = results.ws.direct.p50;
  for (const [k, v] of Object.entries(results.ws)) {
    console.log(`CDP round trip ${k}: p50 ${f3(v.p50)} ms, p90 ${f3(v.p90)} ms` +
      (k === 'direct' ? '' : ` (+${f3(v.p50 - d)} ms p50)`));
  }
}

// Until the node on `port` has `n` warm spares (GET /metrics from loopback),
// so that a timed acquire measures the acquire, not a spare's launch.
async function waitSpares(port, n = 1) {
  await H.pollUntil(async () => {
    const r = await H.httpRequest(port, 'GET', '/metrics', { timeout: 5000 });
    const m = /^ppod_browser_spares (\d+)/m.exec(r.body.toString());
    return m && Number(m[1]) >= n;
  }, { timeout: 60000, interval: 100, what: `${n} spare(s) on port ${port}` });
}

// One session: acquired, connected, a page loaded; returns {id, browser, page}.
async function openSession(d, url) {
  const r = await d.request('POST', '/browser/acquire', { json: { keep_alive: 300000 }, timeout: 120000 });
  if (r.status !== 200) throw new Error(`acquire: ${r.status} ${r.body}`);
  const id = r.json.result.sessionId;
  const browser = await puppeteer.connect({
    browserWSEndpoint: `ws://127.0.0.1:${d.port}/browser/sessions/${id}/devtools/browser?token=${d.token}`,
    defaultViewport: null,
  });
  const page = (await browser.pages())[0] || await browser.newPage();
  await page.goto(url, { waitUntil: 'load' });
  return { id, browser, page };
}
async function closeSession(d, s) {
  await s.browser.disconnect().catch(() => {});
  await d.request('DELETE', `/browser/sessions/${s.id}`).catch(() => {});
}

// One node on SQLite: one pool browser (quick actions), two warm spares
// (sessions), its account allowed many sessions.
async function oneNode(fixtures) {
  const d = await H.startDaemon({ browsers: 1, allowPrivate: [fixtures.host], args: ['--spares', '2'] });
  await H.setLimits(d.dataDir, 'test', { maxConcurrentSessions: 50, acquisitionsPerMinute: 6000 });
  return d;
}

async function density(fixtures) {
  const d = await oneNode(fixtures);
  await d.request('POST', '/browser/content', { json: { url: `${fixtures.url}/echo` } });
  const url = `${fixtures.url}/boxes.html`;
  const held = [];
  try {
    const base = treeMemory(d.pid, true);
    for (let i = 0; i < DENSITY_N; i++) held.push(await openSession(d, url));
    for (const s of held) await s.browser.disconnect(); // idle: no client
    await new Promise((r) => setTimeout(r, 3000)); // let the spares' replacements settle
    const m = treeMemory(d.pid, true);
    const per = (m.pssMiB - base.pssMiB) / DENSITY_N;
    results.density = { sessions: DENSITY_N, basePssMiB: base.pssMiB, pssMiB: m.pssMiB, perSessionMiB: per,
      perGiB: 1024 / per, wholePerGiB: (1024 * DENSITY_N) / m.pssMiB };
    console.log(`density: ${DENSITY_N} idle sessions with a page: node PSS ${f1(m.pssMiB)} MiB ` +
      `(${f1(base.pssMiB)} MiB before), ${f1(per)} MiB per session -> ${f1(1024 / per)} sessions per GiB ` +
      `(${f1(results.density.wholePerGiB)} per GiB counting the whole node)`);
  } finally {
    for (const s of held) await closeSession(d, s);
    await d.stop();
  }
}

async function active(fixtures) {
  const d = await oneNode(fixtures);
  const url = `${fixtures.url}/boxes.html`;
  const loops = [];
  let stop = false;
  let navs = 0;
  const probe = async (n = 5) => {
    const lat = [];
    for (let i = 0; i < n; i++) {
      await waitSpares(d.port, 2);
      const t0 = now();
      const s = await openSession(d, url);
      lat.push(now() - t0);
      await closeSession(d, s);
    }
    return q(lat, 0.5);
  };
  results.active = [];
  try {
    await probe(2); // warm-up
    const base = await probe();
    results.active.push({ active: 0, p50: base });
    console.log(`active sessions 0: acquire -> first page p50 ${f1(base)} ms`);
    for (const N of [1, 2, 4, 6, 8, 10, 12, 16].filter((x) => x <= ACTIVE_MAX)) {
      while (loops.length < N) {
        const s = await openSession(d, url);
        s.done = (async () => {
          while (!stop) {
            await s.page.goto(`${url}?n=${navs}`, { waitUntil: 'load' }).catch(() => {});
            navs++;
          }
        })();
        loops.push(s);
      }
      const n0 = navs, t0 = now();
      const p50 = await probe();
      const rate = ((navs - n0) * 1000) / (now() - t0);
      results.active.push({ active: N, p50, navsPerS: rate });
      console.log(`active sessions ${N}: acquire -> first page p50 ${f1(p50)} ms (${f1(p50 / base)}x), ` +
        `${f1(rate)} navigations/s across them`);
      if (p50 >= 2 * base) { results.activeDoublesAt = N; break; }
    }
  } finally {
    stop = true;
    await Promise.all(loops.map((s) => s.done));
    for (const s of loops) await closeSession(d, s);
    await d.stop();
  }
  console.log(results.activeDoublesAt
    ? `acquire -> first page p50 doubles at ${results.activeDoublesAt} active sessions`
    : `acquire -> first page p50 did not double up to ${ACTIVE_MAX} active sessions`);
}

(async () => {
  const fixtures = await H.startFixtures();
  const t0 = Date.now();
  try {
    console.log(`== bench/cluster.js on ${require('node:os').cpus().length} cores, ${new Date().toISOString()}`);
    if (PARTS.has('density')) await density(fixtures);
    if (PARTS.has('active')) await active(fixtures);
    if (['throughput', 'acquire', 'ws'].some((p) => PARTS.has(p))) {
      const c = await startCluster(fixtures);
      try {
        if (PARTS.has('throughput')) await throughput(c, fixtures);
        if (PARTS.has('acquire')) await acquireLatency(c);
        if (PARTS.has('ws')) await wsLatency(c);
      } finally {
        await c.close();
      }
    }
  } finally {
    await fixtures.close();
  }
  console.log(`== done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  if (process.env.BENCH_JSON) fs.writeFileSync(process.env.BENCH_JSON, JSON.stringify(results, null, 2));
})().catch((e) => { console.error(e.stack || e.message); process.exit(1); });
