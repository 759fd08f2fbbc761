'use strict';
// Shared end-to-end harness: a loopback fixture web server, a real
// ppod-browserd (real Chromium) per test file, a small HTTP client, PNG
// helpers and /proc inspection. Nothing here talks to anything but 127.0.0.1.

const http = require('node:http');
const net = require('node:net');
const fs = require('node:fs');
const fsp = require('node:fs/promises');
const os = require('node:os');
const path = require('node:path');
const { spawn, execFile } = require('node:child_process');
const { EventEmitter } = require('node:events');
const { PNG } = require('pngjs');

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const FIXTURES_DIR = path.join(REPO_ROOT, 'tests', 'fixtures');

// Sanitizer builds are several times slower; every deadline scales with this.
const SANITIZE = /^(1|on|yes|true)$/i.test(process.env.PPOD_SANITIZE || '');
const TIME_SCALE = SANITIZE ? 4 : 1;
const scaled = (ms) => ms * TIME_SCALE;

function binDir() {
  return process.env.PPOD_BIN_DIR
    ? path.resolve(process.env.PPOD_BIN_DIR)
    : path.join(REPO_ROOT, 'build');
}
function daemonBin() {
  return path.join(binDir(), 'ppod-browserd');
}

// ---------------------------------------------------------------- helpers

function deadlineError(what, ms, extra) {
  return new Error(`timed out after ${ms} ms waiting for ${what}${extra ? `\n${extra}` : ''}`);
}

// Poll fn() until it returns a truthy value (which is returned) or the
// deadline passes. Only for conditions that have no event to wait on.
async function pollUntil(fn, { timeout = scaled(10000), interval = 50, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let lastErr;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() >= end) {
      throw deadlineError(what, timeout, lastErr ? `last error: ${lastErr.message}` : '');
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

// A loopback port that was free a moment ago (listen on 0, close).
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

function parseCookies(header) {
  const out = {};
  for (const part of String(header || '').split(';')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

function intParam(url, name, dflt, min, max) {
  const v = Number.parseInt(url.searchParams.get(name) ?? '', 10);
  if (!Number.isFinite(v)) return dflt;
  return Math.min(max, Math.max(min, v));
}

// ---------------------------------------------------------------- fixtures

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.txt': 'text/plain; charset=utf-8',
};

const PAGE_HEAD = '<!doctype html><html><head><meta charset="utf-8">';
const RESET_CSS = 'html,body{margin:0;padding:0;background:#fff}';

// Each ?check= on /echo is one 100 px tall full-width band, green when the
// request satisfied it and red otherwise, so a screenshot shows what the
// fixture server received:
//   check=header:NAME=VALUE   request header NAME equals VALUE
//   check=ua:TEXT             User-Agent contains TEXT
//   check=cookie:NAME=VALUE   Cookie header carries NAME=VALUE
function evalEchoCheck(spec, req, cookies) {
  const i = spec.indexOf(':');
  const kind = i < 0 ? spec : spec.slice(0, i);
  const arg = i < 0 ? '' : spec.slice(i + 1);
  const eq = arg.indexOf('=');
  const name = eq < 0 ? arg : arg.slice(0, eq);
  const value = eq < 0 ? '' : arg.slice(eq + 1);
  switch (kind) {
    case 'header': return req.headers[name.toLowerCase()] === value;
    case 'ua': return arg.length > 0 && String(req.headers['user-agent'] || '').includes(arg);
    case 'cookie': return cookies[name] === value;
    default: return false;
  }
}

function echoPage(req, url) {
  const cookies = parseCookies(req.headers.cookie);
  const bands = url.searchParams.getAll('check').map((spec) => {
    const ok = evalEchoCheck(spec, req, cookies);
    return `<div class="band" data-check="${escapeHtml(spec)}" data-ok="${ok}" ` +
      `style="height:100px;width:100%;background:${ok ? '#0f0' : '#f00'}"></div>`;
  });
  const dump = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, cookies }, null, 2);
  return `${PAGE_HEAD}<title>echo</title><style>${RESET_CSS}</style></head><body>` +
    `${bands.join('')}<pre id="echo">${escapeHtml(dump)}</pre></body></html>`;
}

function tallPage(h) {
  return `${PAGE_HEAD}<title>tall ${h}</title><style>${RESET_CSS}` +
    `#page{position:relative;height:${h}px}` +
    '#top{position:absolute;left:0;top:0;width:100%;height:100px;background:#f00}' +
    '#bottom{position:absolute;left:0;bottom:0;width:100%;height:100px;background:#00f}' +
    '</style></head><body><div id="page"><div id="top"></div><div id="bottom"></div></div></body></html>';
}

function latePage(ms) {
  return `${PAGE_HEAD}<title>late ${ms}</title><style>${RESET_CSS}</style></head><body>` +
    '<script>setTimeout(function () {' +
    "var d = document.createElement('div'); d.id = 'late';" +
    "d.style.cssText = 'position:absolute;left:0;top:0;width:200px;height:200px;background:#0ff';" +
    `document.body.appendChild(d); }, ${ms});</script></body></html>`;
}

function slowPage(ms) {
  // Green everywhere: a screenshot of it proves the slow response arrived.
  return `${PAGE_HEAD}<title>slow ${ms}</title><style>html,body{margin:0;padding:0;background:#0f0;height:100%}</style>` +
    `</head><body><p id="slow">slow ${ms}</p></body></html>`;
}

// HTTP Basic authentication: /basic-auth?user=U&pass=P answers 200 with a page
// naming the user only when the request carries exactly those credentials;
// otherwise 401 with a Basic challenge and a page that says so.
function basicAuth(req, res, url, send) {
  const user = url.searchParams.get('user') || 'user';
  const pass = url.searchParams.get('pass') || 'pass';
  const m = /^Basic\s+(\S+)$/i.exec(String(req.headers.authorization || ''));
  const given = m ? Buffer.from(m[1], 'base64').toString('utf8') : null;
  if (given === `${user}:${pass}`) {
    return send(res, 200, MIME['.html'],
      `${PAGE_HEAD}<title>authorized</title></head><body>` +
      `<p id="auth-ok">authorized as ${escapeHtml(user)}</p></body></html>`);
  }
  res.setHeader('WWW-Authenticate', 'Basic realm="ppod-fixture", charset="UTF-8"');
  return send(res, 401, MIME['.html'],
    `${PAGE_HEAD}<title>unauthorized</title></head><body>` +
    `<p id="auth-denied">${given === null ? 'no credentials' : 'wrong credentials'}</p></body></html>`);
}

function startFixtures() {
  const sockets = new Set();
  const timers = new Set();
  const events = new EventEmitter();
  events.setMaxListeners(0);
  const requests = [];

  const send = (res, status, type, body) => {
    res.writeHead(status, {
      'Content-Type': type,
      'Content-Length': Buffer.byteLength(body),
      'Cache-Control': 'no-store',
    });
    res.end(body);
  };
  const later = (res, ms, fn) => {
    const t = setTimeout(() => { timers.delete(t); fn(); }, ms);
    timers.add(t);
    res.on('close', () => { clearTimeout(t); timers.delete(t); });
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    const record = { method: req.method, path: url.pathname, search: url.search, headers: req.headers, at: Date.now() };
    requests.push(record);
    events.emit('request', record);

    const p = url.pathname;
    if (p === '/slow') {
      const ms = intParam(url, 'ms', 1000, 0, 600000);
      if (url.searchParams.get('type') === 'css') {
        later(res, ms, () => send(res, 200, MIME['.css'], '#styled{background:#0f0}'));
      } else {
        later(res, ms, () => send(res, 200, MIME['.html'], slowPage(ms)));
      }
      return;
    }
    if (p === '/hang') return; // accept, never answer; close() destroys the socket
    const m = /^\/status\/(\d{3})$/.exec(p);
    if (m) {
      const code = Number(m[1]);
      if (code < 200 || code > 599) return send(res, 400, MIME['.txt'], 'status must be 200..599\n');
      return send(res, code, MIME['.html'],
        `${PAGE_HEAD}<title>status ${code}</title></head><body><h1 id="status">${code}</h1></body></html>`);
    }
    if (p === '/echo') return send(res, 200, MIME['.html'], echoPage(req, url));
    if (p === '/tall') return send(res, 200, MIME['.html'], tallPage(intParam(url, 'h', 2000, 200, 1000000)));
    if (p === '/late') return send(res, 200, MIME['.html'], latePage(intParam(url, 'ms', 500, 0, 600000)));
    if (p === '/basic-auth') return basicAuth(req, res, url, send);
    // /redirect?n=N: a chain of N HTTP 302s, then a page saying how many.
    if (p === '/redirect') {
      const n = intParam(url, 'n', 1, 0, 1000);
      if (n > 0) {
        res.writeHead(302, { Location: `/redirect?n=${n - 1}`, 'Content-Length': 0, 'Cache-Control': 'no-store' });
        return res.end();
      }
      return send(res, 200, MIME['.html'], `${PAGE_HEAD}<title>redirected</title></head><body><p id="done">end of the chain</p></body></html>`);
    }
    // /chain?n=N&ms=M: a page answered after M ms that links to n=N-1 (a
    // site that takes a while to crawl, page by page).
    if (p === '/chain') {
      const n = intParam(url, 'n', 3, 0, 1000);
      const ms = intParam(url, 'ms', 0, 0, 60000);
      const next = n > 0 ? `<a href="/chain?n=${n - 1}&amp;ms=${ms}">next</a>` : '';
      later(res, ms, () => send(res, 200, MIME['.html'],
        `${PAGE_HEAD}<title>chain ${n}</title></head><body><p>chain page ${n}</p>${next}</body></html>`));
      return;
    }
    // /download?bytes=N&ms=M[&chunked=1]: an attachment of N bytes sent in
    // 64 KiB chunks M ms apart, its size announced unless chunked; 'download'
    // is emitted with {path, sent, complete} when the response ends or the
    // client gives up on it.
    if (p === '/download') {
      const total = intParam(url, 'bytes', 1024, 0, 1 << 30);
      const ms = intParam(url, 'ms', 0, 0, 10000);
      const headers = {
        'Content-Type': 'application/octet-stream',
        'Content-Disposition': 'attachment; filename="ppod-test.bin"',
        'Cache-Control': 'no-store',
      };
      if (url.searchParams.get('chunked') !== '1') headers['Content-Length'] = total;
      res.writeHead(200, headers);
      let sent = 0;
      let done = false;
      const finish = (complete) => {
        if (done) return;
        done = true;
        events.emit('download', { path: p, search: url.search, sent, complete });
      };
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const pump = () => {
        if (done) return;
        if (sent >= total) { res.end(); return finish(true); }
        const n = Math.min(chunk.length, total - sent);
        sent += n;
        const more = res.write(n === chunk.length ? chunk : chunk.subarray(0, n));
        if (ms) later(res, ms, pump);
        else if (more) setImmediate(pump);
        else res.once('drain', pump);
      };
      res.on('close', () => finish(sent >= total && res.writableFinished));
      return pump();
    }

    // Static files from tests/fixtures, no escaping the directory.
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, MIME['.txt'], 'method not allowed\n');
    let rel;
    try { rel = decodeURIComponent(p); } catch { return send(res, 400, MIME['.txt'], 'bad path\n'); }
    const file = path.resolve(FIXTURES_DIR, '.' + rel);
    if (!file.startsWith(FIXTURES_DIR + path.sep)) return send(res, 404, MIME['.txt'], 'not found\n');
    fs.readFile(file, (err, data) => {
      if (err) return send(res, 404, MIME['.txt'], 'not found\n');
      res.writeHead(200, {
        'Content-Type': MIME[path.extname(file).toLowerCase()] || 'application/octet-stream',
        'Content-Length': data.length,
        'Cache-Control': 'no-store',
      });
      res.end(req.method === 'HEAD' ? undefined : data);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      const host = `127.0.0.1:${port}`;
      resolve({
        url: `http://${host}`,
        host,
        port,
        events,
        requests,
        // Resolves with the next request whose path equals `match` (or for
        // which match(record) is true). Register it BEFORE causing the request.
        nextRequest(match, { timeout = scaled(15000) } = {}) {
          const pred = typeof match === 'function' ? match : (r) => r.path === match;
          return new Promise((res, rej) => {
            const onReq = (r) => {
              if (!pred(r)) return;
              clearTimeout(t);
              events.off('request', onReq);
              res(r);
            };
            const t = setTimeout(() => {
              events.off('request', onReq);
              rej(deadlineError(`fixture request ${typeof match === 'string' ? match : '(predicate)'}`, timeout));
            }, timeout);
            events.on('request', onReq);
          });
        },
        close() {
          for (const t of timers) clearTimeout(t);
          timers.clear();
          for (const s of sockets) s.destroy();
          sockets.clear();
          return new Promise((res) => server.close(() => res()));
        },
      });
    });
  });
}

// ---------------------------------------------------------------- daemon

const liveDaemons = new Set(); // child processes not yet seen to exit
const tempDirs = new Set();    // removed at process exit

// SIGKILL a daemon and everything under it (Chromium may run in its own
// process group), synchronously: usable from 'exit' and signal handlers.
function killTree(pid) {
  if (!pid) return;
  const tree = childrenOf(pid);
  try { process.kill(-pid, 'SIGKILL'); } catch { /* no such group */ }
  try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  for (const p of tree) {
    try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
  }
}

function cleanupAll() {
  for (const proc of liveDaemons) killTree(proc.pid);
  liveDaemons.clear();
  if (process.env.PPOD_KEEP_TMP !== '1') {
    for (const d of tempDirs) {
      try { fs.rmSync(d, { recursive: true, force: true, maxRetries: 3 }); } catch { /* best effort */ }
    }
  }
}

process.on('exit', cleanupAll);
// 'exit' does not run when a signal kills us (ctest timeout, ^C): clean up
// first, then die of the same signal.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    cleanupAll();
    process.kill(process.pid, sig);
  });
}

function runAdmin(args, { timeout = scaled(30000), env = {} } = {}) {
  return new Promise((resolve, reject) => {
    execFile(daemonBin(), args, { timeout, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      if (err) {
        err.message += `\n$ ppod-browserd ${args.join(' ')}\nstdout: ${stdout}\nstderr: ${stderr}`;
        return reject(err);
      }
      resolve({ stdout, stderr });
    });
  });
}

// stdout must be the token alone on one line.
function tokenFrom(stdout, what) {
  const lines = stdout.split('\n').filter((l) => l.trim() !== '');
  if (lines.length !== 1 || !lines[0].trim()) {
    throw new Error(`${what}: expected the token alone on one line, got ${JSON.stringify(stdout)}`);
  }
  return lines[0].trim();
}

async function createAccount(dataDir, name = 'test') {
  const { stdout } = await runAdmin(['account', 'create', name, '--data-dir', dataDir]);
  return tokenFrom(stdout, 'account create');
}

async function createToken(dataDir, name = 'test', { ttlSeconds, ttlDays } = {}) {
  const args = ['token', 'create', name];
  if (ttlSeconds !== undefined) args.push('--ttl-seconds', String(ttlSeconds));
  if (ttlDays !== undefined) args.push('--ttl', String(ttlDays));
  args.push('--data-dir', dataDir);
  const { stdout } = await runAdmin(args);
  return tokenFrom(stdout, 'token create');
}

async function makeTempDir(prefix) {
  const d = await fsp.mkdtemp(path.join(os.tmpdir(), prefix));
  tempDirs.add(d);
  return d;
}

// Plain HTTP/1.1 over loopback, one connection per request.
function httpRequest(port, method, reqPath, { json, body, headers = {}, token, timeout = scaled(30000) } = {}) {
  const h = { ...headers };
  let payload;
  if (json !== undefined) {
    payload = Buffer.from(JSON.stringify(json));
    if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['Content-Type'] = 'application/json';
  } else if (body !== undefined) {
    payload = Buffer.isBuffer(body) ? body : Buffer.from(String(body));
  }
  if (payload) h['Content-Length'] = payload.length;
  if (token) h.Authorization = `Bearer ${token}`;

  return new Promise((resolve, reject) => {
    let settled = false;
    let gotResponse = false;
    const done = (fn, v) => { if (!settled) { settled = true; clearTimeout(timer); fn(v); } };
    const req = http.request({ host: '127.0.0.1', port, method, path: reqPath, headers: h, agent: false }, (res) => {
      gotResponse = true;
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', (e) => done(reject, e));
      res.on('aborted', () => done(reject, new Error(`${method} ${reqPath}: response aborted`)));
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        let parsed = null;
        const ct = String(res.headers['content-type'] || '');
        const first = buf.subarray(0, 64).toString('utf8').trimStart()[0];
        if (ct.includes('json') || first === '{' || first === '[') {
          try { parsed = JSON.parse(buf.toString('utf8')); } catch { parsed = null; }
        }
        done(resolve, { status: res.statusCode, headers: res.headers, body: buf, json: parsed });
      });
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`${method} ${reqPath}: no complete response within ${timeout} ms`));
    }, timeout);
    // A server may answer (e.g. 413) and close before reading the whole body;
    // the write then fails but the response is what counts.
    req.on('error', (e) => { if (!gotResponse) done(reject, e); });
    req.end(payload);
  });
}

function readDirSafe(d) {
  try { return fs.readdirSync(d); } catch { return []; }
}

// dataDir (with token): restart on an existing store instead of a fresh one.
// nofile: start it with RLIMIT_NOFILE soft = hard = nofile (via prlimit).
// wrapper: a command line the daemon is exec'd through (the binary and its
// arguments are appended), e.g. ['unshare', '-m', 'sh', '-c', 'mount ... &&
// exec "$0" "$@"'] to give it a private mount namespace. It must exec the
// daemon in the same process so that pid stays the daemon's.
async function startDaemon({ browsers = 1, allowPrivate = [], args = [], env = {}, dataDir: reuseDir, token: reuseToken, nofile, wrapper, port: fixedPort } = {}) {
  const bin = daemonBin();
  if (!fs.existsSync(bin)) throw new Error(`daemon binary not found: ${bin} (set PPOD_BIN_DIR)`);

  const dataDir = reuseDir || await makeTempDir('ppod-e2e-data-');
  // Private TMPDIR so the daemon's Chromium profiles (ppod-profile-*) can be
  // told apart from other runs if the daemon honours TMPDIR. World-writable
  // and sticky like /tmp: a daemon started as root runs Chromium as an
  // unprivileged user.
  const tmpDir = await makeTempDir('ppod-e2e-tmp-');
  await fsp.chmod(tmpDir, 0o1777);
  const token = reuseDir ? (reuseToken || await createToken(dataDir, 'test')) : await createAccount(dataDir, 'test');
  const port = fixedPort || await freePort(); // fixed: a cluster node's --node-url names it

  const argv = ['--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, '--browsers', String(browsers)];
  for (const h of allowPrivate) argv.push('--allow-private', h);
  // Opt-in only (hosts without user namespaces): tests run the default setup.
  if (process.env.PPOD_NO_SANDBOX === '1' && !args.includes('--no-sandbox')) argv.push('--no-sandbox');
  argv.push(...args);

  let cmd = nofile ? 'prlimit' : bin;
  let cmdArgs = nofile ? [`--nofile=${nofile}:${nofile}`, '--', bin, ...argv] : argv;
  if (wrapper) {
    cmdArgs = [...wrapper.slice(1), cmd, ...cmdArgs];
    cmd = wrapper[0];
  }
  const proc = spawn(cmd, cmdArgs, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TMPDIR: tmpDir, ...env },
    detached: true, // own process group: the exit hook can kill Chromium too
  });
  liveDaemons.add(proc);

  const MAX_LOG = 4 << 20;
  let errText = '';
  let outText = '';
  const events = new EventEmitter();
  const verbose = process.env.PPOD_E2E_VERBOSE === '1';
  proc.stderr.setEncoding('utf8');
  proc.stdout.setEncoding('utf8');
  proc.stderr.on('data', (s) => {
    if (verbose) process.stderr.write(s);
    errText += s;
    if (errText.length > MAX_LOG) errText = errText.slice(-MAX_LOG);
    events.emit('stderr');
  });
  proc.stdout.on('data', (s) => {
    if (verbose) process.stderr.write(s);
    outText += s;
    if (outText.length > MAX_LOG) outText = outText.slice(-MAX_LOG);
  });

  let exitInfo = null;
  const exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      exitInfo = { code, signal };
      liveDaemons.delete(proc);
      resolve(exitInfo);
    });
  });
  const spawnError = new Promise((_, reject) => proc.once('error', reject));
  spawnError.catch(() => {});

  const tail = () => `--- daemon stderr ---\n${errText.slice(-8000)}`;
  const startTimeout = scaled(30000);
  const startDeadline = Date.now() + startTimeout;

  const request = (method, reqPath, opts = {}) =>
    httpRequest(port, method, reqPath, { ...opts, token: 'token' in opts ? opts.token : token });

  async function stop(signal = 'SIGTERM', { timeout = scaled(20000) } = {}) {
    if (!exitInfo) {
      try { proc.kill(signal); } catch { /* already gone */ }
      let timer;
      const timedOut = new Promise((resolve) => { timer = setTimeout(() => resolve(null), timeout); });
      const r = await Promise.race([exited, timedOut]);
      clearTimeout(timer);
      if (!r) {
        killTree(proc.pid);
        await exited;
        throw new Error(`daemon did not exit within ${timeout} ms of ${signal}\n${tail()}`);
      }
    }
    return exitInfo.code !== null ? exitInfo.code : exitInfo.signal;
  }

  const failStart = async (msg) => {
    if (proc.pid === undefined) {
      liveDaemons.delete(proc); // spawn itself failed: no process, no 'exit'
    } else {
      killTree(proc.pid);
      await exited;
    }
    throw new Error(`${msg}\n$ ${bin} ${argv.join(' ')}\n${tail()}`);
  };

  // 1. stderr says it is listening (event), 2. /healthz answers 200 (poll).
  try {
    await Promise.race([
      spawnError,
      new Promise((resolve, reject) => {
        const check = () => {
          if (/listening on/.test(errText)) { cleanup(); resolve(); }
        };
        const onExit = (info) => { cleanup(); reject(new Error(`daemon exited during startup (code ${info.code}, signal ${info.signal})`)); };
        const t = setTimeout(() => { cleanup(); reject(deadlineError('"listening on" on stderr', startTimeout)); }, startTimeout);
        const cleanup = () => { clearTimeout(t); events.off('stderr', check); };
        events.on('stderr', check);
        exited.then(onExit);
        check();
      }),
    ]);
    await pollUntil(async () => {
      if (exitInfo) throw new Error(`daemon exited during startup (code ${exitInfo.code})`);
      const r = await httpRequest(port, 'GET', '/healthz', { timeout: 2000 });
      return r.status === 200;
    }, { timeout: Math.max(1000, startDeadline - Date.now()), what: 'GET /healthz -> 200' });
  } catch (e) {
    await failStart(`ppod-browserd failed to start: ${e.message}`);
  }

  // SIGTERM, then assert what every test file expects of a daemon at the
  // end: it exited on its own with code 0 and no sanitizer complained.
  async function stopClean({ timeout } = {}) {
    const code = await stop('SIGTERM', timeout === undefined ? {} : { timeout });
    assertCleanExit(code, errText);
  }

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    token,
    dataDir,
    tmpDir,
    proc,
    pid: proc.pid,
    exited,
    stderr: () => errText,
    stdout: () => outText,
    // The first JSON log line pred accepts, waiting for it (a line is written
    // after the answer it logs, and reaches the pipe a moment later).
    logLine: (pred, ms = 5000) => new Promise((resolve, reject) => {
      const find = () => errText.split('\n').filter((l) => l.startsWith('{'))
        .map((l) => { try { return JSON.parse(l); } catch { return null; } }).find((l) => l && pred(l));
      const check = () => { const l = find(); if (l) { done(); resolve(l); } };
      const t = setTimeout(() => { done(); reject(new Error(`no such log line within ${ms} ms`)); }, scaled(ms));
      const done = () => { clearTimeout(t); events.off('stderr', check); };
      events.on('stderr', check);
      check();
    }),
    request,
    stop,
    stopClean,
    createToken: (opts) => createToken(dataDir, 'test', opts),
    // Chromium browser processes (not renderers/helpers) under the daemon.
    browserPids: () => {
      const pids = childrenOf(proc.pid).filter((pid) => {
        const a = cmdline(pid);
        return a.some((x) => x === '--remote-debugging-pipe' || x.startsWith('--remote-debugging-pipe=')) &&
          !a.some((x) => x.startsWith('--type='));
      });
      // A browser's child between fork and exec still shows the browser's
      // command line: not a browser of its own. Nor is a process that has
      // gone (or is a zombie) by the time its parent is read: such a child
      // exits at once.
      return pids.filter((pid) => {
        const st = procStat(pid);
        return st && st.state !== 'Z' && !pids.includes(st.ppid);
      });
    },
    // Profile dirs this daemon's Chromiums use right now: --user-data-dir of
    // its descendants, plus any ppod-profile-* in its private TMPDIR.
    profileDirs: () => {
      const set = new Set();
      for (const pid of childrenOf(proc.pid)) {
        for (const a of cmdline(pid)) {
          if (a.startsWith('--user-data-dir=')) {
            const d = a.slice('--user-data-dir='.length);
            if (path.basename(d).startsWith('ppod-profile-')) set.add(d);
          }
        }
      }
      for (const n of readDirSafe(tmpDir)) if (n.startsWith('ppod-profile-')) set.add(path.join(tmpDir, n));
      return [...set].sort();
    },
  };
}

// A sanitizer's report on stderr: AddressSanitizer/LeakSanitizer errors and
// UBSan's "file:line:col: runtime error:" lines. With the options `make test`
// sets they also make the exit code non-zero; without them (a ctest run by
// hand) UBSan only prints, so stderr is checked as well.
const SANITIZER_REPORT = /==\d+==ERROR: \w+Sanitizer|SUMMARY: \w+Sanitizer|:\d+:\d+: runtime error: /;

// Asserts a clean exit: `code` as stop() returns it (an exit code, or the
// signal's name when a signal ended it) is 0 and stderr holds no sanitizer
// report. Throws an AssertionError that shows the end of stderr.
function assertCleanExit(code, stderrText) {
  const assert = require('node:assert/strict');
  assert.equal(code, 0, `daemon exit code\n${stderrText.slice(-4000)}`);
  const m = SANITIZER_REPORT.exec(stderrText);
  assert.ok(!m, `sanitizer report on the daemon's stderr\n${m ? stderrText.slice(Math.max(0, m.index - 200), m.index + 4000) : ''}`);
}

// A stand-in for an object that a before() hook makes: property reads go to
// the object once bind() gave it, and throw a clear error before that.
function lateBound(what) {
  let target = null;
  const handle = new Proxy({}, {
    get(_, key) {
      if (target) {
        const v = target[key];
        return typeof v === 'function' ? v.bind(target) : v;
      }
      // Not a thenable, and inspectable, while unbound.
      if (key === 'then' || typeof key === 'symbol') return undefined;
      throw new Error(`${what} used before the before() hook of useDaemon() ran (read .${String(key)})`);
    },
    set(_, key, v) {
      if (!target) throw new Error(`${what} used before the before() hook of useDaemon() ran`);
      target[key] = v;
      return true;
    },
    has(_, key) { return !!target && key in target; },
  });
  return { handle, bind: (t) => { target = t; } };
}

// The one way a test file (or a describe block) gets its daemon. Registers,
// on the enclosing suite, a before() hook that starts the fixture server and
// then ppod-browserd, and an after() hook that stops the daemon with SIGTERM,
// asserts a clean exit (code 0, no sanitizer report) and closes the fixture
// server, whatever the tests did.
//
// opts: what startDaemon() takes ({browsers, args, env, allowPrivate,
// nofile, wrapper, dataDir, token}), or a function ({fixtures}) => opts,
// async or not, called in the hook once the fixture server is up (for opts
// that need it, or something a test file's own earlier before() made); when
// it returns null no daemon is started (a suite that skips its tests).
// Also: fixtures: false for no fixture server (default: one, whose host is
// added to allowPrivate); timeout: of the before() hook.
//
// Returns {daemon, fixtures}: stand-ins for what startDaemon() and
// startFixtures() return, usable from the hook on. Hooks run in the order
// they are registered: an after() registered before useDaemon() runs while
// the daemon is still up (release sessions there), one registered after it
// once the daemon has exited.
// A person's browser: a headless Chromium of the test's own, outside the
// service's pool, in which the live view, handoff and replay pages are
// opened as a user would. Launched before the file's tests, closed after;
// read `.browser` once the tests run.
function usePersonBrowser() {
  const { before, after } = require('node:test');
  const puppeteer = require('puppeteer-core');
  const person = { browser: null };
  before(async () => {
    person.browser = await puppeteer.launch({
      executablePath: process.env.PPOD_CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu'],
      defaultViewport: { width: 1100, height: 800 },
    });
  });
  after(async () => {
    if (person.browser) await person.browser.close();
  });
  return person;
}

function useDaemon(opts = {}) {
  const { before, after } = require('node:test');
  const withFixtures = typeof opts === 'function' || opts.fixtures !== false;
  const daemonRef = lateBound('daemon');
  const fixturesRef = withFixtures ? lateBound('fixtures') : null;
  let daemon = null;
  let fixtures = null;
  const hookTimeout = (typeof opts === 'object' && opts.timeout) || scaled(120000);

  before(async () => {
    if (withFixtures) {
      fixtures = await startFixtures();
      fixturesRef.bind(fixtures);
    }
    const given = typeof opts === 'function' ? await opts({ fixtures }) : opts;
    if (given === null) return;
    const { fixtures: wantFixtures, timeout, ...daemonOpts } = given;
    if (fixtures && wantFixtures !== false) {
      daemonOpts.allowPrivate = [fixtures.host, ...(daemonOpts.allowPrivate || [])];
    }
    daemon = await startDaemon(daemonOpts);
    daemonRef.bind(daemon);
  }, { timeout: hookTimeout });

  after(async () => {
    try {
      if (daemon) await daemon.stopClean();
    } finally {
      if (fixtures) await fixtures.close();
    }
  });

  return { daemon: daemonRef.handle, fixtures: fixturesRef ? fixturesRef.handle : null };
}

// Wait until the fixture server has seen `hit` (a nextRequest() promise)
// while `inflight` (a request() promise) is still running; fail at once,
// showing the answer, if the daemon responds before the page was fetched.
async function reached(hit, inflight) {
  hit.catch(() => {});
  const early = inflight.then((res) => ({ res }), (err) => ({ err }));
  const first = await Promise.race([hit.then(() => null), early]);
  if (first && first.res) {
    throw new Error(`daemon answered ${first.res.status} before the page was fetched: ` +
      first.res.body.subarray(0, 500).toString('utf8'));
  }
  if (first) throw new Error(`request failed before the page was fetched: ${first.err.message}`);
}

// ---------------------------------------------------------------- PNG

function decodePng(buf) {
  const png = PNG.sync.read(buf);
  return { width: png.width, height: png.height, data: png.data };
}

function pixel(png, x, y) {
  if (x < 0 || y < 0 || x >= png.width || y >= png.height) {
    throw new RangeError(`pixel (${x},${y}) outside ${png.width}x${png.height}`);
  }
  const i = (y * png.width + x) * 4;
  return [png.data[i], png.data[i + 1], png.data[i + 2], png.data[i + 3]];
}

// True when every given channel of `actual` is within tol of `expected`
// (expected may be [r,g,b] or [r,g,b,a]).
function colorNear(actual, expected, tol = 8) {
  return expected.every((v, i) => Math.abs(actual[i] - v) <= tol);
}

const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

// ---------------------------------------------------------------- /proc

function readProc(pid, file) {
  try { return fs.readFileSync(`/proc/${pid}/${file}`); } catch { return null; }
}

function cmdline(pid) {
  const b = readProc(pid, 'cmdline');
  if (!b || b.length === 0) return [];
  return b.toString('utf8').split('\0').filter((s) => s !== '');
}

// {pid, state, ppid, pgid} from /proc/PID/stat (comm may hold spaces/parens).
function procStat(pid) {
  const b = readProc(pid, 'stat');
  if (!b) return null;
  const s = b.toString('utf8');
  const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return { pid: Number(pid), state: rest[0], ppid: Number(rest[1]), pgid: Number(rest[2]) };
}

function allPids() {
  return readDirSafe('/proc').filter((n) => /^\d+$/.test(n)).map(Number);
}

// Alive = exists and is not a zombie.
function isAlive(pid) {
  const st = procStat(pid);
  return !!st && st.state !== 'Z' && st.state !== 'X';
}

// Live processes whose command line contains any of `needles` (e.g. a
// profile dir: catches Chromium helpers such as crashpad that re-parent away).
function pidsMentioning(needles) {
  const list = [...needles].filter(Boolean);
  if (list.length === 0) return [];
  return allPids().filter((pid) => {
    if (pid === process.pid || !isAlive(pid)) return false;
    const joined = cmdline(pid).join(' ');
    return list.some((n) => joined.includes(n));
  });
}

function chromiumPids() {
  return allPids().filter((pid) => {
    if (pid === process.pid) return false;
    const args = cmdline(pid);
    if (args.length === 0) return false;
    const joined = args.join(' ');
    return joined.includes('/usr/lib/chromium/chromium') ||
      (joined.includes('chromium') && joined.includes('--remote-debugging-pipe'));
  });
}

// All descendants (children, grandchildren, ...) of pid.
function childrenOf(pid) {
  const kids = new Map();
  for (const p of allPids()) {
    const st = procStat(p);
    if (!st) continue;
    if (!kids.has(st.ppid)) kids.set(st.ppid, []);
    kids.get(st.ppid).push(p);
  }
  const out = [];
  const stack = [...(kids.get(Number(pid)) || [])];
  while (stack.length) {
    const p = stack.pop();
    out.push(p);
    stack.push(...(kids.get(p) || []));
  }
  return out;
}

// ---------------------------------------------------------------- sessions

// `ppod-browserd account limits NAME --set k=v ...` on a (running) daemon's
// store; settings is {key: value}.
async function setLimits(dataDir, name, settings) {
  const args = ['account', 'limits', name];
  for (const [k, v] of Object.entries(settings)) args.push('--set', `${k}=${v}`);
  args.push('--data-dir', dataDir);
  return runAdmin(args);
}

// POST /browser/acquire; the result ({sessionId, webSocketDebuggerUrl,
// keepAliveMs}) or an error that shows the answer.
async function acquireSession(daemon, body = {}, { token = daemon.token } = {}) {
  const res = await daemon.request('POST', '/browser/acquire', { json: body, token });
  if (res.status !== 200 || !res.json || !res.json.result || !res.json.result.sessionId) {
    throw new Error(`POST /browser/acquire ${JSON.stringify(body)}: HTTP ${res.status} ` +
      res.body.subarray(0, 500).toString('utf8'));
  }
  return res.json.result;
}

// DELETE /browser/sessions/{id}, tolerating a session that already ended
// (for cleanup paths); returns the HTTP status.
async function releaseSession(daemon, id, { token = daemon.token } = {}) {
  const res = await daemon.request('DELETE', `/browser/sessions/${id}`, { token });
  return res.status;
}

// The account's /browser/history entry for id, once there is one.
async function waitForHistory(daemon, id, { token = daemon.token, timeout = scaled(15000) } = {}) {
  return pollUntil(async () => {
    const res = await daemon.request('GET', '/browser/history', { token });
    if (res.status !== 200) throw new Error(`GET /browser/history: HTTP ${res.status}`);
    return res.json.result.find((h) => h.sessionId === id);
  }, { timeout, interval: 100, what: `session ${id} in /browser/history` });
}

// Resolves once GET /browser/sessions/{id} shows no client connected (the
// service noticed a disconnect); returns that session info.
async function waitForNoClient(daemon, id, { token = daemon.token, timeout = scaled(10000) } = {}) {
  return pollUntil(async () => {
    const res = await daemon.request('GET', `/browser/sessions/${id}`, { token });
    if (res.status !== 200) throw new Error(`GET /browser/sessions/${id}: HTTP ${res.status} ${res.body}`);
    return res.json.result.connectionId === undefined ? res.json.result : null;
  }, { timeout, interval: 50, what: `session ${id} without a connected client` });
}

// A WebSocket opening handshake by hand, to see refusals as a client would:
// {status, headers, body, json} when refused; {status: 101, headers, socket}
// when accepted (the caller destroys the socket).
function wsHandshake(port, reqPath, { headers = {}, timeout = scaled(10000) } = {}) {
  const key = require('node:crypto').randomBytes(16).toString('base64');
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      path: reqPath,
      agent: false,
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': key,
        ...headers,
      },
    });
    const timer = setTimeout(() => req.destroy(new Error(`WebSocket handshake ${reqPath}: no answer in ${timeout} ms`)), timeout);
    req.on('upgrade', (res, socket) => {
      clearTimeout(timer);
      resolve({ status: res.statusCode, headers: res.headers, socket });
    });
    req.on('response', (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        const body = Buffer.concat(chunks);
        let json = null;
        try { json = JSON.parse(body.toString('utf8')); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, body, json });
      });
      res.on('error', (e) => { clearTimeout(timer); reject(e); });
    });
    req.on('error', (e) => { clearTimeout(timer); reject(e); });
    req.end();
  });
}

// ---------------------------------------------------------------- asserts

// Every error response: status, JSON envelope, code; returns the first error.
function expectError(assert, res, status, code, ctx = '') {
  const where = `${ctx}${ctx ? ': ' : ''}body=${res.body.subarray(0, 500).toString('utf8')}`;
  assert.equal(res.status, status, `HTTP status (${where})`);
  assert.match(String(res.headers['content-type'] || ''), /application\/json/, `content-type (${where})`);
  assert.ok(res.json && typeof res.json === 'object', `JSON body (${where})`);
  assert.equal(res.json.success, false, `success:false (${where})`);
  assert.ok(Array.isArray(res.json.errors) && res.json.errors.length >= 1, `errors[] (${where})`);
  const e = res.json.errors[0];
  assert.equal(e.code, code, `errors[0].code (${where})`);
  assert.equal(typeof e.message, 'string', `errors[0].message (${where})`);
  assert.ok(e.message.length > 0, `errors[0].message non-empty (${where})`);
  return e;
}

module.exports = {
  REPO_ROOT,
  FIXTURES_DIR,
  SANITIZE,
  TIME_SCALE,
  scaled,
  PNG_MAGIC,
  startFixtures,
  startDaemon,
  useDaemon,
  usePersonBrowser,
  assertCleanExit,
  createAccount,
  createToken,
  makeTempDir,
  freePort,
  pollUntil,
  reached,
  httpRequest,
  decodePng,
  pixel,
  colorNear,
  chromiumPids,
  childrenOf,
  pidsMentioning,
  cmdline,
  procStat,
  isAlive,
  expectError,
  runAdmin,
  setLimits,
  acquireSession,
  releaseSession,
  waitForHistory,
  waitForNoClient,
  wsHandshake,
};

// ---------------------------------------------------------------- zip

// The entries of a zip archive (a Buffer) as a Map name -> contents, in
// archive order. yauzl (in node_modules through the test clients) when it is
// there; otherwise the central directory is read here (stored and deflated
// entries, no ZIP64), which is all a trace needs.
async function readZip(buf) {
  let yauzl = null;
  try { yauzl = require('yauzl'); } catch { /* not installed: read it ourselves */ }
  if (yauzl) return readZipYauzl(yauzl, buf);
  return readZipByHand(buf);
}

function readZipYauzl(yauzl, buf) {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(buf, { lazyEntries: true, strictFileNames: false }, (err, zip) => {
      if (err) return reject(err);
      const out = new Map();
      zip.on('error', reject);
      zip.on('end', () => resolve(out));
      zip.on('entry', (entry) => {
        if (entry.fileName.endsWith('/')) { zip.readEntry(); return; }
        zip.openReadStream(entry, (e, stream) => {
          if (e) return reject(e);
          const chunks = [];
          stream.on('data', (c) => chunks.push(c));
          stream.on('error', reject);
          stream.on('end', () => { out.set(entry.fileName, Buffer.concat(chunks)); zip.readEntry(); });
        });
      });
      zip.readEntry();
    });
  });
}

function readZipByHand(buf) {
  const zlib = require('node:zlib');
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) throw new Error('not a zip: no end of central directory record');
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const out = new Map();
  for (let n = 0; n < count; n++) {
    if (buf.readUInt32LE(p) !== 0x02014b50) throw new Error(`zip: bad central directory entry ${n}`);
    const method = buf.readUInt16LE(p + 10);
    const csize = buf.readUInt32LE(p + 20);
    const usize = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    const local = buf.readUInt32LE(p + 42);
    const name = buf.subarray(p + 46, p + 46 + nameLen).toString('utf8');
    p += 46 + nameLen + extraLen + commentLen;
    if (csize === 0xffffffff || local === 0xffffffff) throw new Error(`zip: ${name} needs ZIP64`);
    if (buf.readUInt32LE(local) !== 0x04034b50) throw new Error(`zip: bad local header for ${name}`);
    const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const data = buf.subarray(start, start + csize);
    let body;
    if (method === 0) body = Buffer.from(data);
    else if (method === 8) body = zlib.inflateRawSync(data);
    else throw new Error(`zip: ${name} uses compression method ${method}`);
    if (body.length !== usize) throw new Error(`zip: ${name} is ${body.length} bytes, expected ${usize}`);
    if (!name.endsWith('/')) out.set(name, body);
  }
  return out;
}

module.exports.readZip = readZip;

// Whether this process may make network namespaces (root with
// CAP_SYS_ADMIN, as in CI): then the daemon runs each browser in one.
let netnsCache;
function netnsAvailable() {
  if (netnsCache === undefined) {
    const { spawnSync } = require('node:child_process');
    netnsCache = typeof process.getuid === 'function' && process.getuid() === 0 &&
      spawnSync('unshare', ['-n', 'true'], { stdio: 'ignore' }).status === 0;
  }
  return netnsCache;
}
module.exports.netnsAvailable = netnsAvailable;
