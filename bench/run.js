'use strict';
// ppod-browserd benchmark: the service vs a hand-written Puppeteer script vs
// the raw CDP floor, on a loopback fixture page. `make bench` runs it.
//
//   node bench/run.js [name...]        names from BENCHMARKS (default: all)
//
// Environment:
//   BENCH_N        jobs measured at concurrency 1 per system   (default 30)
//   BENCH_C        concurrency of the throughput phase          (default 4)
//   BENCH_NC       jobs in the throughput phase per system      (default 10*BENCH_C)
//   BENCH_WARMUP   warm-up jobs per system, discarded           (default 5)
//   BENCH_ROUNDS   segments the throughput phase is cut into    (default 4)
//   BENCH_BROWSERS --browsers for the daemon                    (default 2)
//   BENCH_VIEWPORT WxH on all three systems         (default 1920x1080, the service's)
//   BENCH_DAEMON_ARGS  extra daemon arguments, space-separated (e.g. --log-level debug)
//   PPOD_BIN_DIR   where ppod-browserd is                       (default build/)
//   PPOD_CHROMIUM  the Chromium binary      (default /usr/lib/chromium/chromium)
//
// Fairness notes: the c=1 phase interleaves the three systems job by job and
// the throughput phase runs in BENCH_ROUNDS segments ordered A B C, C B A,
// A B C, ..., so drift of this noisy machine lands on all three alike. CPU
// time per job (process tree + this node process) is reported as well: on a
// shared machine it is steadier than wall-clock throughput. Loopback only.
//
// Output: the table on stdout, raw numbers in bench/out/<name>.json, the
// daemon's stderr in bench/out/daemon.log. require()-ing this file runs
// nothing and exports the pieces, for ad-hoc diagnostics.
//
// Adding a benchmark (PDF, content, scrape): one more BENCHMARKS entry.

const http = require('node:http');
const fs = require('node:fs');
const fsp = require('node:fs/promises');
const os = require('node:os');
const path = require('node:path');
const { spawn, execFileSync } = require('node:child_process');
const { PNG } = require('pngjs');
const puppeteer = require('puppeteer-core');

const ROOT = path.resolve(__dirname, '..');
const OUT_DIR = path.join(__dirname, 'out');
const FIXTURES = path.join(__dirname, 'fixtures');
const DAEMON = path.join(process.env.PPOD_BIN_DIR ? path.resolve(process.env.PPOD_BIN_DIR) : path.join(ROOT, 'build'), 'ppod-browserd');
const CHROMIUM = process.env.PPOD_CHROMIUM || '/usr/lib/chromium/chromium';
// The raw-CDP floor runs the browser the service runs: Debian's headless
// shell when installed (ppod-browserd's default), else the full Chromium.
const FLOOR_CHROMIUM = process.env.PPOD_FLOOR_CHROMIUM ||
  (fs.existsSync('/usr/lib/chromium/chromium-headless-shell') ? '/usr/lib/chromium/chromium-headless-shell' : CHROMIUM);

const intEnv = (name, def) => {
  const v = parseInt(process.env[name] || '', 10);
  return Number.isFinite(v) && v > 0 ? v : def;
};
const N1 = intEnv('BENCH_N', 30);
const C = intEnv('BENCH_C', 4);
const NC = intEnv('BENCH_NC', 10 * C);
const WARMUP = intEnv('BENCH_WARMUP', 5);
const ROUNDS = Math.min(intEnv('BENCH_ROUNDS', 4), NC);
const CLK_TCK = 100; // USER_HZ, what /proc/PID/stat counts in on Linux
const BROWSERS = intEnv('BENCH_BROWSERS', 2);
const JOB_TIMEOUT_MS = 30000;
const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;
// The service's default viewport (Cloudflare's), given to all three systems
// alike; BENCH_VIEWPORT=WxH for another (e.g. 1280x720, the old default).
const VIEWPORT = (() => {
  const m = /^(\d+)x(\d+)$/.exec(process.env.BENCH_VIEWPORT || '');
  return m ? { width: Number(m[1]), height: Number(m[2]) } : { width: 1920, height: 1080 };
})();

// ------------------------------------------------------------ benchmarks
//
// One entry per operation. serviceRequest(url) is the HTTP call to the daemon;
// puppeteerJob(page, url) is what a user's script does on a fresh page (the
// harness creates the context + page + viewport and closes the context, all
// timed); floorJob(session, url) is the least CDP that produces the result on
// a page that already exists. Each returns the output bytes; check(buf)
// validates one output per system after the warm-up.

const BENCHMARKS = [
  {
    name: 'screenshot',
    serviceRequest: (url) => ({
      path: '/browser/screenshot',
      body: { url, viewport: VIEWPORT, gotoOptions: { waitUntil: 'load' }, screenshotOptions: { type: 'png' } },
    }),
    puppeteerJob: async (page, url) => {
      await page.goto(url, { waitUntil: 'load' });
      return Buffer.from(await page.screenshot({ type: 'png' }));
    },
    floorJob: async (s, url) => {
      const loaded = s.waitEvent('Page.loadEventFired');
      const nav = await s.send('Page.navigate', { url });
      if (nav.errorText) throw new Error(`navigate: ${nav.errorText}`);
      await loaded;
      const { data } = await s.send('Page.captureScreenshot', { format: 'png' });
      return Buffer.from(data, 'base64');
    },
    check: (buf) => {
      const png = PNG.sync.read(buf);
      if (png.width !== VIEWPORT.width || png.height !== VIEWPORT.height)
        throw new Error(`screenshot is ${png.width}x${png.height}, want ${VIEWPORT.width}x${VIEWPORT.height}`);
      return `png ${png.width}x${png.height}, ${buf.length} bytes`;
    },
    // Targets for the printed ratios.
    aims: { svcVsPuppeteerP50: 0.6, svcVsFloorP50: 1.25, svcVsPuppeteerThroughput: 1.3 },
  },
  {
    name: 'pdf',
    serviceRequest: (url) => ({ path: '/browser/pdf', body: { url, viewport: VIEWPORT } }),
    puppeteerJob: async (page, url) => {
      await page.goto(url, { waitUntil: 'load' });
      return Buffer.from(await page.pdf());
    },
    floorJob: async (s, url) => {
      await floorLoad(s, url);
      const { data } = await s.send('Page.printToPDF', {});
      return Buffer.from(data, 'base64');
    },
    check: (buf) => {
      if (buf.subarray(0, 5).toString() !== '%PDF-') throw new Error('not a PDF');
      return `pdf ${buf.length} bytes`;
    },
    aims: { svcVsPuppeteerP50: 0.6 },
  },
  {
    name: 'content',
    serviceRequest: (url) => ({ path: '/browser/content', body: { url, viewport: VIEWPORT } }),
    puppeteerJob: async (page, url) => {
      await page.goto(url, { waitUntil: 'load' });
      return Buffer.from(await page.content());
    },
    floorJob: async (s, url) => {
      await floorLoad(s, url);
      const r = await s.send('Runtime.evaluate', { expression: 'document.documentElement.outerHTML', returnByValue: true });
      return Buffer.from(r.result.value);
    },
    check: (buf) => {
      const text = buf.toString();
      if (!/<table/i.test(text)) throw new Error('content lacks the fixture table');
      return `html ${buf.length} bytes`;
    },
    aims: { svcVsPuppeteerP50: 0.6 },
  },
  {
    name: 'scrape',
    serviceRequest: (url) => ({ path: '/browser/scrape', body: { url, viewport: VIEWPORT, elements: [{ selector: 'td' }] } }),
    puppeteerJob: async (page, url) => {
      await page.goto(url, { waitUntil: 'load' });
      const cells = await page.$$eval('td', (els) => els.map((e) => e.innerText));
      return Buffer.from(JSON.stringify(cells));
    },
    floorJob: async (s, url) => {
      await floorLoad(s, url);
      const r = await s.send('Runtime.evaluate', {
        expression: "JSON.stringify(Array.from(document.querySelectorAll('td'), e => e.innerText))", returnByValue: true });
      return Buffer.from(r.result.value);
    },
    check: (buf) => {
      const text = buf.toString();
      if (!text.includes('[') || text.length < 10) throw new Error('scrape returned nothing');
      return `json ${buf.length} bytes`;
    },
    aims: { svcVsPuppeteerP50: 0.6 },
  },
  {
    // Tracing's overhead: the same screenshot with "trace": true. Its
    // "service p50 / floor p50" row is the traced/untraced ratio when read
    // beside the plain screenshot's service p50 (printed below).
    name: 'screenshot-traced',
    serviceRequest: (url) => ({
      path: '/browser/screenshot',
      body: { url, viewport: VIEWPORT, screenshotOptions: { type: 'png' }, trace: true },
    }),
    puppeteerJob: async (page, url) => {
      await page.goto(url, { waitUntil: 'load' });
      return Buffer.from(await page.screenshot({ type: 'png' }));
    },
    floorJob: async (s, url) => {
      await floorLoad(s, url);
      const { data } = await s.send('Page.captureScreenshot', { format: 'png' });
      return Buffer.from(data, 'base64');
    },
    check: (buf) => `png ${buf.length} bytes`,
    aims: {},
  },
];

async function floorLoad(s, url) {
  const loaded = s.waitEvent('Page.loadEventFired');
  const nav = await s.send('Page.navigate', { url });
  if (nav.errorText) throw new Error(`navigate: ${nav.errorText}`);
  await loaded;
}

// ------------------------------------------------------------ small helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => Number(process.hrtime.bigint()) / 1e6;

function withTimeout(p, ms, what) {
  let t;
  return Promise.race([
    p,
    new Promise((_, rej) => {
      t = setTimeout(() => rej(new Error(`${what}: timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

function quantile(sorted, q) {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}
function stats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / (s.length || 1);
  return { n: s.length, min: s[0], p50: quantile(s, 0.5), p95: quantile(s, 0.95), max: s[s.length - 1], mean };
}
const r1 = (x) => (Number.isFinite(x) ? Math.round(x * 10) / 10 : x);
const r3 = (x) => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : x);

function listenServer(handler) {
  return new Promise((resolve, reject) => {
    const srv = http.createServer(handler);
    srv.keepAliveTimeout = 60000;
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  });
}
function freePort() {
  return listenServer(() => {}).then((srv) => new Promise((r) => {
    const { port } = srv.address();
    srv.close(() => r(port));
  }));
}

// ------------------------------------------------------------ fixture server

function makeImage() {
  const w = 400, h = 240;
  const png = new PNG({ width: w, height: h });
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 4;
      const bar = Math.floor(x / 50);
      const barTop = h - 30 - ((bar * 37) % 160);
      const inBar = x % 50 > 8 && y > barTop;
      png.data[i] = inBar ? 40 + bar * 25 : Math.floor((x / w) * 255);
      png.data[i + 1] = inBar ? 120 : Math.floor((y / h) * 255);
      png.data[i + 2] = inBar ? 200 - bar * 20 : 160;
      png.data[i + 3] = 255;
    }
  }
  return PNG.sync.write(png);
}

async function startFixtureServer() {
  const html = fs.readFileSync(path.join(FIXTURES, 'page.html'));
  const image = makeImage();
  let hits = 0;
  const srv = await listenServer((req, res) => {
    hits++;
    const p = req.url.split('?')[0];
    // no-store: every job fetches the page and the image, whatever caches
    // a browser (context) keeps.
    const headers = { 'Cache-Control': 'no-store' };
    if (p === '/' || p === '/page.html') {
      res.writeHead(200, { ...headers, 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': html.length });
      res.end(html);
    } else if (p === '/image.png') {
      res.writeHead(200, { ...headers, 'Content-Type': 'image/png', 'Content-Length': image.length });
      res.end(image);
    } else {
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' });
      res.end('not found');
    }
  });
  const { port } = srv.address();
  let seq = 0;
  return {
    port,
    // A distinct query per job so no navigation is a same-URL special case.
    nextUrl: () => `http://127.0.0.1:${port}/page.html?job=${++seq}`,
    hits: () => hits,
    close: () => new Promise((r) => { srv.closeAllConnections?.(); srv.close(() => r()); }),
  };
}

// ------------------------------------------------------------ /proc memory

// pid -> { ppid, cpuTicks }; cpuTicks counts the process's own time and that
// of the children it reaped (so renderers that exited stay counted).
function readProcTable() {
  const table = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      // f[0] is field 3 (state): ppid 4, utime 14, stime 15, cutime 16, cstime 17.
      table.set(Number(d), { ppid: Number(f[1]), cpuTicks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) });
    } catch { /* gone */ }
  }
  return table;
}
function treePids(rootPid, table = readProcTable()) {
  const kids = new Map();
  for (const [pid, { ppid }] of table) {
    if (!kids.has(ppid)) kids.set(ppid, []);
    kids.get(ppid).push(pid);
  }
  const out = [];
  const stack = table.has(rootPid) ? [rootPid] : [];
  while (stack.length) {
    const p = stack.pop();
    out.push(p);
    for (const k of kids.get(p) || []) stack.push(k);
  }
  return out;
}
// CPU milliseconds used so far by the tree under rootPid.
function treeCpuMs(rootPid) {
  const table = readProcTable();
  let ticks = 0;
  for (const p of treePids(rootPid, table)) ticks += table.get(p).cpuTicks;
  return (ticks * 1000) / CLK_TCK;
}
// argv of the browser processes (the ones holding the CDP pipe) under rootPid.
function browserArgv(rootPid) {
  const out = [];
  for (const p of treePids(rootPid)) {
    try {
      const argv = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').filter(Boolean);
      if (argv.includes('--remote-debugging-pipe') || argv.some((a) => a.startsWith('--remote-debugging-port'))) out.push(argv);
    } catch { /* gone */ }
  }
  return out;
}
function procKb(pid, file, key) {
  try {
    const txt = fs.readFileSync(`/proc/${pid}/${file}`, 'utf8');
    const m = txt.match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}
// Memory of the tree in MiB: RSS summed over its processes (shared pages,
// e.g. the Chromium binary, count once per process), the anonymous part of
// it (RssAnon: mostly private, so a fairer sum), and, only when asked, PSS
// (shared pages shared out). PSS reads smaps_rollup, which walks the page
// tables of Chromium's huge address spaces: ~100 ms of CPU for a tree, too
// dear to sample during a timed phase on a 2-core machine; status is cheap.
function treeMemory(rootPid, withPss = false) {
  const pids = treePids(rootPid);
  let rss = 0, anon = 0, pss = 0;
  for (const p of pids) {
    try {
      const st = fs.readFileSync(`/proc/${p}/status`, 'utf8');
      rss += Number(/^VmRSS:\s+(\d+)/m.exec(st)?.[1] || 0);
      anon += Number(/^RssAnon:\s+(\d+)/m.exec(st)?.[1] || 0);
    } catch { /* gone */ }
    if (withPss) pss += procKb(p, 'smaps_rollup', 'Pss');
  }
  return { procs: pids.length, rssMiB: rss / 1024, anonMiB: anon / 1024, ...(withPss ? { pssMiB: pss / 1024 } : {}) };
}
// Peak of the cheap figures, sampled every intervalMs; cpuMs is what the
// sampling itself cost this process (kept out of the client's CPU figure).
function startMemorySampler(rootPid, intervalMs = 200) {
  const peak = { procs: 0, rssMiB: 0, anonMiB: 0, samples: 0, cpuMs: 0 };
  const sample = () => {
    const c0 = process.cpuUsage();
    const m = treeMemory(rootPid);
    const c = process.cpuUsage(c0);
    peak.cpuMs += (c.user + c.system) / 1000;
    peak.samples++;
    peak.procs = Math.max(peak.procs, m.procs);
    peak.rssMiB = Math.max(peak.rssMiB, m.rssMiB);
    peak.anonMiB = Math.max(peak.anonMiB, m.anonMiB);
  };
  sample();
  const t = setInterval(sample, intervalMs);
  return { stop: () => { clearInterval(t); sample(); return peak; }, peak };
}

// ------------------------------------------------------------ system: service

async function startService(fixturePort) {
  if (!fs.existsSync(DAEMON)) throw new Error(`${DAEMON} not found: build it (cmake --build build --target ppod-browserd)`);
  const dataDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'ppod-bench-'));
  const token = execFileSync(DAEMON, ['account', 'create', 'bench', '--data-dir', dataDir],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  if (!token) throw new Error('account create printed no token');
  const port = await freePort();
  const args = ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, '--browsers', String(BROWSERS),
    '--allow-private', `127.0.0.1:${fixturePort}`,
    ...(process.env.BENCH_DAEMON_ARGS || '').split(/\s+/).filter(Boolean)];
  const proc = spawn(DAEMON, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let exited = null;
  const exitP = new Promise((r) => proc.on('exit', (code, sig) => { exited = { code, sig }; r(exited); }));
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`daemon did not print 'listening on' in 30 s\n${stderr}`)), 30000);
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (d) => {
      // Chromium's own lines ("[pid:tid:...") only show at --log-level debug.
      d = d.split('\n').filter((l) => !/^\[\d+:\d+:/.test(l)).join('\n');
      stderr = (stderr + d).slice(-200000);
      if (stderr.includes('listening on')) { clearTimeout(t); resolve(); }
    });
    exitP.then((e) => { clearTimeout(t); reject(new Error(`daemon exited early ${JSON.stringify(e)}\n${stderr}`)); });
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const request = (method, p, body, headers = {}) => new Promise((resolve, reject) => {
    const data = body === undefined ? null : Buffer.from(JSON.stringify(body));
    const req = http.request({
      host: '127.0.0.1', port, method, path: p, agent,
      headers: { ...headers, ...(data ? { 'Content-Type': 'application/json', 'Content-Length': data.length } : {}) },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(data);
  });
  // Ready = /healthz 200 with every browser alive.
  const end = Date.now() + 60000;
  for (;;) {
    if (exited) throw new Error(`daemon exited ${JSON.stringify(exited)}\n${stderr}`);
    try {
      const r = await request('GET', '/healthz');
      if (r.status === 200) {
        const j = JSON.parse(r.body.toString());
        if ((j.result?.browsersAlive ?? BROWSERS) >= BROWSERS) break;
      }
    } catch { /* not yet */ }
    if (Date.now() > end) throw new Error(`daemon /healthz not ready in 60 s\n${stderr}`);
    await sleep(100);
  }
  const auth = { Authorization: `Bearer ${token}` };
  return {
    name: 'service',
    label: `ppod-browserd (--browsers ${BROWSERS}, Chromium as 'nobody', sandboxed)`,
    pid: proc.pid,
    args,
    port,
    token,
    request,
    lastBrowserMs: [],
    async job(bench, url) {
      const { path: p, body } = bench.serviceRequest(url);
      const r = await request('POST', p, body, auth);
      if (r.status !== 200) throw new Error(`service ${p}: HTTP ${r.status} ${r.body.toString().slice(0, 300)}`);
      const used = Number(r.headers['x-browser-ms-used']);
      if (Number.isFinite(used)) this.lastBrowserMs.push(used);
      return r.body;
    },
    metrics: async () => (await request('GET', '/metrics')).body.toString(),
    stderr: () => stderr,
    async close() {
      agent.destroy();
      if (!exited) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => { if (!exited) proc.kill('SIGKILL'); }, 15000);
        await exitP;
        clearTimeout(t);
      }
      await fsp.rm(dataDir, { recursive: true, force: true });
      return exited;
    },
  };
}

// ------------------------------------------------------------ system: Puppeteer

async function startPuppeteer() {
  // What a user's script passes. As root, Chromium refuses to start without
  // --no-sandbox, so the baseline has it (the service keeps the sandbox).
  const args = IS_ROOT ? ['--no-sandbox'] : [];
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args });
  const create = browser.createBrowserContext
    ? () => browser.createBrowserContext()
    : () => browser.createIncognitoBrowserContext();
  return {
    name: 'puppeteer',
    label: `puppeteer-core ${require('puppeteer-core/package.json').version}, 1 browser, context per job${IS_ROOT ? ', --no-sandbox (root)' : ''}`,
    pid: browser.process().pid,
    args,
    async job(bench, url) {
      const context = await create();
      try {
        const page = await context.newPage();
        await page.setViewport(VIEWPORT);
        return await bench.puppeteerJob(page, url);
      } finally {
        await context.close();
      }
    },
    close: () => browser.close(),
  };
}

// ------------------------------------------------------------ system: raw CDP floor

// A minimal CDP client over --remote-debugging-pipe (fd 3 in, fd 4 out,
// NUL-terminated JSON), flat sessions.
class PipeCDP {
  constructor(proc) {
    this.w = proc.stdio[3];
    this.r = proc.stdio[4];
    this.nextId = 1;
    this.pending = new Map();
    this.waiters = new Map(); // sessionId|method -> [resolve]
    this.closed = null;
    let buf = '';
    this.r.setEncoding('utf8');
    this.r.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\0')) >= 0) {
        const msg = buf.slice(0, i);
        buf = buf.slice(i + 1);
        this.onMessage(JSON.parse(msg));
      }
    });
    this.r.on('close', () => this.fail(new Error('CDP pipe closed')));
    this.w.on('error', (e) => this.fail(e));
  }
  fail(e) {
    this.closed = e;
    for (const { reject } of this.pending.values()) reject(e);
    this.pending.clear();
  }
  onMessage(m) {
    if (m.id !== undefined) {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.error) p.reject(new Error(`${p.method}: ${m.error.message}`));
      else p.resolve(m.result);
      return;
    }
    const key = `${m.sessionId || ''}|${m.method}`;
    const list = this.waiters.get(key);
    if (list && list.length) {
      this.waiters.delete(key);
      for (const f of list) f(m.params);
    }
  }
  send(method, params = {}, sessionId) {
    if (this.closed) return Promise.reject(this.closed);
    const id = this.nextId++;
    const msg = { id, method, params };
    if (sessionId) msg.sessionId = sessionId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      this.w.write(JSON.stringify(msg) + '\0');
    });
  }
  waitEvent(method, sessionId) {
    const key = `${sessionId || ''}|${method}`;
    return new Promise((resolve) => {
      if (!this.waiters.has(key)) this.waiters.set(key, []);
      this.waiters.get(key).push(resolve);
    });
  }
  session(sessionId) {
    return {
      id: sessionId,
      send: (m, p) => this.send(m, p, sessionId),
      waitEvent: (m) => this.waitEvent(m, sessionId),
    };
  }
}

// The daemon's Chromium flags (src/sessions/browser.c), so the floor is what
// the service's own browsers can do at best. Like the daemon, when we are
// root Chromium runs as 'nobody' with its sandbox on.
const DAEMON_FLAGS = [
  '--headless', '--remote-debugging-pipe', '--no-first-run', '--no-default-browser-check',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-default-apps',
  '--disable-extensions', '--disable-breakpad', '--disable-crash-reporter',
  '--disable-client-side-phishing-detection', '--disable-domain-reliability', '--disable-hang-monitor',
  '--disable-popup-blocking', '--disable-prompt-on-repost', '--disable-renderer-backgrounding',
  '--disable-background-timer-throttling', '--disable-backgrounding-occluded-windows',
  '--disable-ipc-flooding-protection',
  '--disable-features=Translate,OptimizationHints,MediaRouter,InterestFeedContentSuggestions,' +
    'CalculateNativeWinOcclusion,AutofillServerCommunication,CertificateTransparencyComponentUpdater,' +
    'DialMediaRouteProvider,GlobalMediaControls,ImprovedCookieControls,LazyFrameLoading,' +
    'AcceptCHFrame,PrivacySandboxSettings4',
  '--metrics-recording-only', '--password-store=basic', '--use-mock-keychain', '--mute-audio',
  '--hide-scrollbars', '--force-color-profile=srgb', '--font-render-hinting=none', '--disable-gpu',
  '--no-service-autorun', '--disable-quic',
];

function nobody() {
  for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const f = line.split(':');
    if (f[0] === 'nobody') return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  return null;
}

async function startFloor(pages, extraArgs = []) {
  const profile = await fsp.mkdtemp(path.join(os.tmpdir(), 'ppod-bench-floor-'));
  const drop = IS_ROOT ? nobody() : null;
  if (IS_ROOT && !drop) throw new Error("no 'nobody' user to run the floor's Chromium as");
  if (drop) await fsp.chown(profile, drop.uid, drop.gid);
  const proc = spawn(FLOOR_CHROMIUM, [...DAEMON_FLAGS, ...extraArgs, `--user-data-dir=${profile}`, 'about:blank'], {
    stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'],
    env: { HOME: profile, PATH: '/usr/bin:/bin', LANG: 'C.UTF-8', TZ: 'UTC' },
    ...(drop || {}),
  });
  const cdp = new PipeCDP(proc);
  await withTimeout(cdp.send('Browser.getVersion'), 30000, 'floor Chromium start');
  const sessions = [];
  for (let i = 0; i < pages; i++) {
    // Each page in its own browser context (so its own window), as the
    // daemon's pool makes them: several tabs of one window leave all but one
    // in the background, where Page.captureScreenshot can hang.
    const { browserContextId } = await cdp.send('Target.createBrowserContext');
    const { targetId } = await cdp.send('Target.createTarget', { url: 'about:blank', browserContextId });
    const { sessionId } = await cdp.send('Target.attachToTarget', { targetId, flatten: true });
    const s = cdp.session(sessionId);
    await s.send('Page.enable');
    await s.send('Emulation.setDeviceMetricsOverride', { ...VIEWPORT, deviceScaleFactor: 1, mobile: false });
    sessions.push(s);
  }
  return {
    name: 'floor',
    label: `raw CDP over pipe, ${pages} pre-existing pages (one context each), daemon's flags${drop ? ", as 'nobody', sandboxed" : ''}`,
    pid: proc.pid,
    sessions,
    _cdp: cdp, // for ad-hoc diagnostics
    async job(bench, url, worker = 0) {
      return bench.floorJob(sessions[worker % sessions.length], url);
    },
    async close() {
      try { await withTimeout(cdp.send('Browser.close'), 5000, 'Browser.close'); } catch { /* kill below */ }
      const exited = proc.exitCode !== null || proc.signalCode !== null;
      if (!exited) {
        const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await new Promise((r) => proc.once('exit', r));
        clearTimeout(t);
      }
      await fsp.rm(profile, { recursive: true, force: true });
    },
  };
}

// ------------------------------------------------------------ phases

async function timedJob(sys, bench, fixture, worker) {
  const t0 = now();
  const out = await withTimeout(sys.job(bench, fixture.nextUrl(), worker), JOB_TIMEOUT_MS, `${sys.name} job`);
  return { ms: now() - t0, out };
}

async function warmUp(systems, bench, fixture) {
  const checked = {};
  for (const sys of systems) {
    let last;
    for (let i = 0; i < WARMUP; i++) last = (await timedJob(sys, bench, fixture, 0)).out;
    checked[sys.name] = bench.check(last);
  }
  return checked;
}

// c=1: job by job, rotating the order each round.
async function latencyPhase(systems, bench, fixture) {
  const lat = Object.fromEntries(systems.map((s) => [s.name, []]));
  for (let i = 0; i < N1; i++) {
    for (let k = 0; k < systems.length; k++) {
      const sys = systems[(i + k) % systems.length];
      lat[sys.name].push((await timedJob(sys, bench, fixture, 0)).ms);
    }
  }
  return lat;
}

async function concurrentRun(sys, bench, fixture, jobs) {
  let next = 0;
  const lat = [];
  const t0 = now();
  await Promise.all(Array.from({ length: C }, async (_, worker) => {
    while (next < jobs) {
      next++;
      lat.push((await timedJob(sys, bench, fixture, worker)).ms);
    }
  }));
  return { wallMs: now() - t0, lat };
}

// Throughput at c=C in ROUNDS segments, A B C then C B A and so on, with
// the memory of each system's process tree sampled while it runs.
async function throughputPhase(systems, bench, fixture) {
  const res = Object.fromEntries(systems.map((s) => [s.name, { jobs: 0, wallMs: 0, treeCpuMs: 0, nodeCpuMs: 0, lat: [], mem: null }]));
  const segments = Array.from({ length: ROUNDS }, (_, i) => Math.floor(NC / ROUNDS) + (i < NC % ROUNDS ? 1 : 0));
  for (let h = 0; h < segments.length; h++) {
    for (const sys of h % 2 ? [...systems].reverse() : systems) {
      const sampler = startMemorySampler(sys.pid);
      const cpu0 = treeCpuMs(sys.pid);
      const node0 = process.cpuUsage();
      const r = await concurrentRun(sys, bench, fixture, segments[h]);
      const cpu1 = treeCpuMs(sys.pid);
      const peak = sampler.stop();
      const nodeCpu = process.cpuUsage(node0);
      const acc = res[sys.name];
      acc.jobs += segments[h];
      acc.wallMs += r.wallMs;
      acc.treeCpuMs += cpu1 - cpu0;
      acc.nodeCpuMs += (nodeCpu.user + nodeCpu.system) / 1000 - peak.cpuMs;
      acc.lat.push(...r.lat);
      acc.mem = acc.mem
        ? { procs: Math.max(acc.mem.procs, peak.procs), rssMiB: Math.max(acc.mem.rssMiB, peak.rssMiB),
            anonMiB: Math.max(acc.mem.anonMiB, peak.anonMiB), samples: acc.mem.samples + peak.samples }
        : { procs: peak.procs, rssMiB: peak.rssMiB, anonMiB: peak.anonMiB, samples: peak.samples };
      // PSS once, right after the system's last segment (untimed).
      if (h === segments.length - 1) acc.mem.pssAfterMiB = treeMemory(sys.pid, true).pssMiB;
    }
  }
  for (const acc of Object.values(res)) {
    acc.jobsPerSec = acc.jobs / (acc.wallMs / 1000);
    acc.treeCpuMsPerJob = acc.treeCpuMs / acc.jobs;
    acc.nodeCpuMsPerJob = acc.nodeCpuMs / acc.jobs;
  }
  return res;
}

// ------------------------------------------------------------ report

function pad(s, n, right) {
  s = String(s);
  return right ? s.padEnd(n) : s.padStart(n);
}

function report(bench, systems, lat1, thr, extra) {
  const rows = systems.map((sys) => {
    const s1 = stats(lat1[sys.name]);
    const t = thr[sys.name];
    const sc = stats(t.lat);
    return { sys, s1, sc, t };
  });
  const lines = [];
  lines.push('');
  lines.push(`== ${bench.name}: c=1 ${N1} jobs, c=${C} ${NC} jobs, warm-up ${WARMUP}; latencies in ms`);
  const f0 = (x) => (Number.isFinite(x) ? x.toFixed(0) : String(x));
  const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : String(x));
  lines.push(`${pad('', 10, true)} ${pad('--- c=1 latency ---', 27)} | ${pad(`--- c=${C} ---`, 27)} | ${pad('CPU ms/job', 13)} | ${pad(`mem c=${C} (MiB)`, 31)}`);
  lines.push(`${pad('system', 10, true)} ${pad('p50', 6)} ${pad('p95', 6)} ${pad('mean', 6)} ${pad('min', 6)} | ${pad('jobs/s', 6)} ${pad('p50', 6)} ${pad('p95', 6)} ${pad('', 6)} | ${pad('tree', 6)} ${pad('node', 6)} | ${pad('RSS', 7)} ${pad('anon', 7)} ${pad('PSS', 7)} ${pad('procs', 7)}`);
  for (const { sys, s1, sc, t } of rows) {
    lines.push(`${pad(sys.name, 10, true)} ${pad(f0(s1.p50), 6)} ${pad(f0(s1.p95), 6)} ${pad(f0(s1.mean), 6)} ${pad(f0(s1.min), 6)} | ${pad(f2(t.jobsPerSec), 6)} ${pad(f0(sc.p50), 6)} ${pad(f0(sc.p95), 6)} ${pad('', 6)} | ${pad(f0(t.treeCpuMsPerJob), 6)} ${pad(f0(t.nodeCpuMsPerJob), 6)} | ${pad(f0(t.mem.rssMiB), 7)} ${pad(f0(t.mem.anonMiB), 7)} ${pad(f0(t.mem.pssAfterMiB), 7)} ${pad(t.mem.procs, 7)}`);
  }
  lines.push(`(CPU tree: the daemon/Chromium process tree; node: this bench process, i.e. the HTTP client or the Puppeteer script.`);
  lines.push(` mem: peak summed RSS and RssAnon of the tree during c=${C}, PSS once just after; procs: peak count. c=${C} ran in ${ROUNDS} interleaved segments.)`);
  const by = Object.fromEntries(rows.map((r) => [r.sys.name, r]));
  const svc = by.service, pup = by.puppeteer, flo = by.floor;
  const ratios = {
    svcVsPuppeteerP50: svc.s1.p50 / pup.s1.p50,
    svcVsFloorP50: svc.s1.p50 / flo.s1.p50,
    svcVsPuppeteerThroughput: svc.t.jobsPerSec / pup.t.jobsPerSec,
    svcVsPuppeteerRss: svc.t.mem.rssMiB / pup.t.mem.rssMiB,
    svcVsPuppeteerAnon: svc.t.mem.anonMiB / pup.t.mem.anonMiB,
    svcVsPuppeteerPss: svc.t.mem.pssAfterMiB / pup.t.mem.pssAfterMiB,
    svcVsPuppeteerCpuPerJob: (svc.t.treeCpuMsPerJob + svc.t.nodeCpuMsPerJob) / (pup.t.treeCpuMsPerJob + pup.t.nodeCpuMsPerJob),
    svcVsFloorCpuPerJob: (svc.t.treeCpuMsPerJob + svc.t.nodeCpuMsPerJob) / (flo.t.treeCpuMsPerJob + flo.t.nodeCpuMsPerJob),
  };
  const aim = (k, cmp) => {
    const a = bench.aims?.[k];
    if (a === undefined) return '';
    const ok = cmp === '<=' ? ratios[k] <= a : ratios[k] >= a;
    return `  (aim ${cmp} ${a}: ${ok ? 'met' : 'MISSED'})`;
  };
  lines.push('');
  lines.push(`service p50 / puppeteer p50            = ${ratios.svcVsPuppeteerP50.toFixed(3)}${aim('svcVsPuppeteerP50', '<=')}`);
  lines.push(`service p50 / floor p50                = ${ratios.svcVsFloorP50.toFixed(3)}${aim('svcVsFloorP50', '<=')}`);
  lines.push(`service c=${C} jobs/s / puppeteer jobs/s   = ${ratios.svcVsPuppeteerThroughput.toFixed(3)}${aim('svcVsPuppeteerThroughput', '>=')}`);
  lines.push(`service peak RSS / puppeteer peak RSS  = ${ratios.svcVsPuppeteerRss.toFixed(3)}   (anon: ${ratios.svcVsPuppeteerAnon.toFixed(3)}, PSS: ${ratios.svcVsPuppeteerPss.toFixed(3)})`);
  lines.push(`service CPU/job / puppeteer CPU/job    = ${ratios.svcVsPuppeteerCpuPerJob.toFixed(3)}   (vs floor: ${ratios.svcVsFloorCpuPerJob.toFixed(3)}; tree + node)`);
  if (extra.browserMs.length) {
    const b = stats(extra.browserMs);
    lines.push(`service X-Browser-Ms-Used at c=1: p50 ${r1(b.p50)} ms (HTTP+queue+lease overhead outside it ≈ ${r1(svc.s1.p50 - b.p50)} ms at p50)`);
  }
  if (extra.browserMsC.length) {
    const b = stats(extra.browserMsC);
    lines.push(`service X-Browser-Ms-Used at c=${C}: p50 ${r1(b.p50)} ms, mean ${r1(b.mean)} ms (client latency p50 ${r1(svc.sc.p50)}, mean ${r1(svc.sc.mean)})`);
  }
  return { text: lines.join('\n'), ratios, rows };
}

// ------------------------------------------------------------ main

function gitDescribe() {
  try {
    const head = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src', 'CMakeLists.txt'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return `${head}${dirty ? '+dirty' : ''}`;
  } catch {
    return null;
  }
}

async function main() {
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const benches = wanted.length ? BENCHMARKS.filter((b) => wanted.includes(b.name)) : BENCHMARKS;
  if (!benches.length) throw new Error(`unknown benchmark(s) ${wanted.join(', ')}; have: ${BENCHMARKS.map((b) => b.name).join(', ')}`);

  const started = Date.now();
  const cleanups = [];
  const cleanup = async () => {
    while (cleanups.length) {
      try { await cleanups.pop()(); } catch (e) { console.error(`cleanup: ${e.message}`); }
    }
  };
  const onSignal = (sig) => { cleanup().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143)); };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const fixture = await startFixtureServer();
    cleanups.push(() => fixture.close());
    const service = await startService(fixture.port);
    let serviceExit = null;
    cleanups.push(async () => { serviceExit = await service.close(); });
    const pup = await startPuppeteer();
    cleanups.push(() => pup.close());
    const floor = await startFloor(C);
    cleanups.push(() => floor.close());
    const systems = [service, pup, floor];

    console.log(`ppod-browser bench — ${new Date().toISOString()}, ${os.cpus().length} CPUs, node ${process.version}`);
    console.log(`daemon: ${path.relative(ROOT, DAEMON)} built ${fs.statSync(DAEMON).mtime.toISOString()}, tree ${gitDescribe()}; args: ${service.args.join(' ')}`);
    console.log(`Chromium: ${CHROMIUM} (${execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8' }).trim()}) for the Puppeteer script; ${FLOOR_CHROMIUM} for the service and the floor`);
    for (const s of systems) console.log(`  ${pad(s.name, 10, true)} ${s.label}`);
    // The floor copies the daemon's Chromium flags; say so if they drifted.
    const svcArgv = browserArgv(service.pid)[0] || [];
    const norm = (a) => a.replace(/=.*$/, '');
    const extra = svcArgv.slice(1).filter((a) => !DAEMON_FLAGS.includes(a) && !/^--user-data-dir=/.test(a) && a !== 'about:blank');
    const missing = DAEMON_FLAGS.filter((f) => !svcArgv.includes(f));
    console.log(`  service Chromium processes with a CDP pipe (browsers, incl. spares for sessions): ${browserArgv(service.pid).length}`);
    if (extra.length || missing.length)
      console.log(`  note: the daemon's Chromium flags differ from the floor's: extra [${extra.join(' ')}] missing [${missing.map(norm).join(' ')}]`);
    if (IS_ROOT) console.log('  note: running as root, so the Puppeteer baseline passes --no-sandbox (Chromium will not start as root otherwise);\n        the service and the floor run Chromium as \'nobody\' with the sandbox on.');
    console.log(`  fixture: http://127.0.0.1:${fixture.port}/page.html (text, boxes, table, 400x240 PNG; Cache-Control: no-store)`);

    await fsp.mkdir(OUT_DIR, { recursive: true });
    for (const bench of benches) {
      const checked = await warmUp(systems, bench, fixture);
      for (const [k, v] of Object.entries(checked)) console.log(`  warm-up ok: ${pad(k, 10, true)} ${v}`);
      service.lastBrowserMs = [];
      const lat1 = await latencyPhase(systems, bench, fixture);
      const browserMs = service.lastBrowserMs.slice();
      service.lastBrowserMs = [];
      const thr = await throughputPhase(systems, bench, fixture);
      const browserMsC = service.lastBrowserMs.slice();
      const rep = report(bench, systems, lat1, thr, { browserMs, browserMsC });
      console.log(rep.text);

      const metrics = await service.metrics();
      const out = {
        benchmark: bench.name,
        date: new Date().toISOString(),
        host: { cpus: os.cpus().length, node: process.version, root: IS_ROOT, loadavg: os.loadavg() },
        daemon: { path: DAEMON, mtime: fs.statSync(DAEMON).mtime.toISOString(), git: gitDescribe(),
          args: service.args },
        config: { n1: N1, c: C, nc: NC, rounds: ROUNDS, warmup: WARMUP, browsers: BROWSERS, viewport: VIEWPORT, chromium: CHROMIUM },
        systems: Object.fromEntries(systems.map((s) => [s.name, {
          label: s.label,
          c1: { stats: stats(lat1[s.name]), samplesMs: lat1[s.name].map(r3) },
          concurrent: {
            c: C, jobs: thr[s.name].jobs, wallMs: r3(thr[s.name].wallMs), jobsPerSec: r3(thr[s.name].jobsPerSec),
            treeCpuMsPerJob: r3(thr[s.name].treeCpuMsPerJob), nodeCpuMsPerJob: r3(thr[s.name].nodeCpuMsPerJob),
            stats: stats(thr[s.name].lat), samplesMs: thr[s.name].lat.map(r3),
          },
          peakMemory: thr[s.name].mem,
        }])),
        service: {
          browserMsUsedC1: { stats: stats(browserMs), samples: browserMs },
          browserMsUsedConcurrent: { stats: stats(browserMsC), samples: browserMsC },
          jobDuration: metrics.split('\n').filter((l) => l.startsWith('ppod_job_duration_seconds_sum') || l.startsWith('ppod_job_duration_seconds_count')),
        },
        puppeteerArgs: pup.args,
        serviceChromiumArgv: svcArgv,
        ratios: rep.ratios,
        aims: bench.aims,
      };
      const file = path.join(OUT_DIR, `${bench.name}.json`);
      await fsp.writeFile(file, JSON.stringify(out, null, 2) + '\n');
      console.log(`raw numbers: ${path.relative(ROOT, file)}`);
    }
    await cleanup();
    await fsp.writeFile(path.join(OUT_DIR, 'daemon.log'), service.stderr());
    if (serviceExit && serviceExit.code !== 0) console.log(`note: daemon exited with ${JSON.stringify(serviceExit)} after SIGTERM`);
    console.log(`total ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (e) {
    await cleanup();
    throw e;
  }
}

if (require.main === module) {
  main().catch((e) => {
    console.error(`bench failed: ${e.stack || e.message}`);
    process.exit(1);
  });
}

module.exports = { BENCHMARKS, PipeCDP, startFixtureServer, startService, startPuppeteer, startFloor, treeMemory, treeCpuMs, browserArgv, stats };
