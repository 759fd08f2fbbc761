'use strict';
// `ppod browser:connect <id>` as a local Chrome debugging port: the tools
// that only know `chrome --remote-debugging-port` (Puppeteer's browserURL,
// Playwright's connectOverCDP, chrome-devtools-mcp --browserUrl) drive an
// acquired session through 127.0.0.1:<port> with nothing but that URL. The
// WebSocket is relayed frame for frame (fragments, ping/pong, close); the
// service's one-client rule reaches the local client as the service wrote
// it; Ctrl-C stops the relay and the session stays. Refused: a Host that is
// not an IP or localhost (DNS rebinding), an Origin (a web page), a port
// already taken, an unknown session, no token.
const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFile } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const puppeteer = require('puppeteer-core');
const { chromium } = require('playwright-core');
const { Client } = require('@modelcontextprotocol/sdk/client/index.js');
const { StdioClientTransport } = require('@modelcontextprotocol/sdk/client/stdio.js');
const {
  REPO_ROOT, useDaemon, scaled, makeTempDir, freePort, pollUntil,
  acquireSession, releaseSession, waitForNoClient,
} = require('../e2e/harness');

const BIN_DIR = process.env.PPOD_BIN_DIR || path.join(REPO_ROOT, 'build');
const PPOD = path.join(BIN_DIR, 'ppod');
const DEVTOOLS_MCP = path.join(REPO_ROOT, 'node_modules/chrome-devtools-mcp/build/src/bin/chrome-devtools-mcp.js');

const acquired = new Set();
const children = new Set();
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  for (const id of acquired) await releaseSession(daemon, id).catch(() => {});
});

const { daemon, fixtures } = useDaemon();

function cliEnv(extra = {}) {
  const env = { ...process.env, PAPERPOD_URL: daemon.url, PAPERPOD_TOKEN: daemon.token, ...extra };
  env.XDG_CONFIG_HOME = path.join(os.tmpdir(), 'ppod-connect-no-config');
  for (const k of Object.keys(extra)) if (extra[k] === undefined) delete env[k];
  return env;
}

// `ppod browser:connect id args...` until it prints the URL it listens on:
// {url, port, child, stderr(), exited}.
function startConnect(id, args = ['--port', '0'], env = cliEnv()) {
  const child = spawn(PPOD, ['browser:connect', id, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  child.stderr.on('data', (b) => { err += b; });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => {
    children.delete(child);
    resolve({ code, signal });
  }));
  const ready = new Promise((resolve, reject) => {
    child.stdout.on('data', (b) => {
      out += b;
      const m = out.match(/^http:\/\/([^\s]+):(\d+)\n/);
      if (m) resolve({ url: `http://${m[1]}:${m[2]}`, port: Number(m[2]) });
    });
    exited.then(({ code }) => reject(new Error(`ppod browser:connect exited ${code} before listening: ${err}`)));
  });
  return ready.then((r) => ({ ...r, child, exited, stderr: () => err }));
}

// Stops it as Ctrl-C does; resolves with its exit.
async function interrupt(relay) {
  relay.child.kill('SIGINT');
  return relay.exited;
}

function ppod(args, env = cliEnv()) {
  return new Promise((resolve) => {
    execFile(PPOD, args, { env, timeout: scaled(30000) }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, stdout, stderr });
    });
  });
}

// A GET to the local port with the headers given (Host included).
function localGet(port, reqPath, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: reqPath, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let json = null;
        try { json = JSON.parse(body); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, body, json });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

// A raw WebSocket to the local port: the handshake by hand, then frames.
function rawWs(port, reqPath, headers = {}) {
  const key = crypto.randomBytes(16).toString('base64');
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port, path: reqPath, agent: false,
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': key, ...headers },
    });
    req.on('upgrade', (res, socket, head) => {
      const accept = crypto.createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      assert.equal(res.headers['sec-websocket-accept'], accept, 'the accept matches the key the client sent');
      resolve({ status: 101, ws: frameSocket(socket, head) });
    });
    req.on('response', (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let json = null;
        try { json = JSON.parse(body); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, body, json });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

// Client frames (masked) out, server frames in, one promise per frame.
function frameSocket(socket, head) {
  let buf = Buffer.from(head || []);
  const frames = [];
  const waiters = [];
  let closed = false;
  const pump = () => {
    for (;;) {
      if (buf.length < 2) return;
      let len = buf[1] & 0x7f;
      let off = 2;
      if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); off = 10; }
      if (buf.length < off + len) return;
      const f = { fin: !!(buf[0] & 0x80), opcode: buf[0] & 0x0f, payload: buf.subarray(off, off + len) };
      buf = buf.subarray(off + len);
      if (waiters.length) waiters.shift().resolve(f); else frames.push(f);
    }
  };
  socket.on('data', (d) => { buf = Buffer.concat([buf, d]); pump(); });
  socket.on('close', () => { closed = true; while (waiters.length) waiters.shift().reject(new Error('socket closed')); });
  pump();
  const next = () => (frames.length ? Promise.resolve(frames.shift())
    : closed ? Promise.reject(new Error('socket closed'))
      : new Promise((resolve, reject) => waiters.push({ resolve, reject })));
  const send = (opcode, payload, fin = true) => {
    const p = Buffer.from(payload);
    const mask = crypto.randomBytes(4);
    const hdr = p.length < 126 ? Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | p.length])
      : p.length < 65536 ? Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | 126, p.length >> 8, p.length & 0xff])
        : (() => { const b = Buffer.alloc(10); b[0] = (fin ? 0x80 : 0) | opcode; b[1] = 0x80 | 127; b.writeBigUInt64BE(BigInt(p.length), 2); return b; })();
    const masked = Buffer.from(p.map((x, i) => x ^ mask[i % 4]));
    socket.write(Buffer.concat([hdr, mask, masked]));
  };
  // The next text frame that answers CDP call id.
  const reply = async (id) => {
    for (;;) {
      const f = await next();
      if (f.opcode !== 1) continue;
      const msg = JSON.parse(f.payload.toString('utf8'));
      if (msg.id === id) return msg;
    }
  };
  return { socket, next, send, reply, closed: () => closed };
}

// A session for one test, released when it ends (the account holds three).
async function newSession(t) {
  const { sessionId: id } = await acquireSession(daemon, { keep_alive: 60000 });
  acquired.add(id);
  t.after(async () => {
    await releaseSession(daemon, id).catch(() => {});
    acquired.delete(id);
  });
  return id;
}

async function stillThere(id) {
  const res = await daemon.request('GET', `/browser/sessions/${id}`);
  assert.equal(res.status, 200, `the session stays: ${res.body}`);
  return res.json.result;
}

test('/json/version, /json/list and /json/protocol answer like a local Chrome', { timeout: scaled(60000) }, async (t) => {
  const id = await newSession(t);
  const relay = await startConnect(id);
  try {
    await pollUntil(() => /Ctrl-C stops; the session stays/.test(relay.stderr()), { what: 'the hint on stderr' });
    for (const p of ['/json/version', '/json/version/']) {
      const v = await localGet(relay.port, p);
      assert.equal(v.status, 200, v.body);
      assert.match(v.headers['content-type'], /application\/json/);
      assert.equal(v.json.webSocketDebuggerUrl, `ws://127.0.0.1:${relay.port}/devtools/browser/${id}`);
      assert.match(v.json.Browser, /Chrome/);
      assert.equal(v.json['Protocol-Version'], '1.3');
      assert.ok(!JSON.stringify(v.json).includes(daemon.token), 'no token in the answer');
    }
    // The URL follows the Host the client used, as Chrome's does.
    const lh = await localGet(relay.port, '/json/version', { Host: `localhost:${relay.port}` });
    assert.equal(lh.json.webSocketDebuggerUrl, `ws://localhost:${relay.port}/devtools/browser/${id}`);
    for (const p of ['/json/list', '/json', '/json/list/']) {
      const l = await localGet(relay.port, p);
      assert.equal(l.status, 200, `${p}: ${l.body}`);
      assert.deepEqual(l.json, []);
    }
    const proto = await localGet(relay.port, '/json/protocol');
    assert.equal(proto.status, 200);
    assert.ok(proto.json.domains.some((d) => d.domain === 'Page'), 'the protocol lists its domains');
    const other = await localGet(relay.port, '/json/new?about:blank');
    assert.equal(other.status, 405);
    assert.match(other.body, /Target\.createTarget/);
    assert.equal((await localGet(relay.port, '/nothing')).status, 404);
  } finally {
    assert.equal((await interrupt(relay)).code, 0);
  }
});

test('Puppeteer browserURL drives the session; Ctrl-C stops the relay and the session stays', { timeout: scaled(90000) }, async (t) => {
  const id = await newSession(t);
  const relay = await startConnect(id);
  const browser = await puppeteer.connect({ browserURL: relay.url, defaultViewport: null });
  const page = await browser.newPage();
  await page.goto(`${fixtures.url}/agent-form.html`);
  assert.equal(await page.title(), 'agent form');
  await page.type('#name', 'Ada Lovelace');
  assert.equal(await page.$eval('#name', (e) => e.value), 'Ada Lovelace');
  const info = await stillThere(id);
  assert.ok(info.connectionId !== undefined, 'the service sees a client connected');

  // Ctrl-C with the client connected: the relay exits 0, the client sees
  // its browser disconnect, and the session is still there and usable.
  const gone = new Promise((r) => browser.once('disconnected', r));
  const exit = await interrupt(relay);
  assert.equal(exit.code, 0, relay.stderr());
  await pollUntil(() => relay.stderr().includes(`session ${id} is still running`), { what: 'the stop message' });
  await gone;
  await waitForNoClient(daemon, id);
  await stillThere(id);
  const again = await startConnect(id);
  const b2 = await puppeteer.connect({ browserURL: again.url, defaultViewport: null });
  const pages = await b2.pages();
  assert.ok(pages.some((p) => p.url().endsWith('/agent-form.html')), `the page from before is still open: ${pages.map((p) => p.url())}`);
  await b2.disconnect();
  assert.equal((await interrupt(again)).code, 0);
});

test('Playwright connectOverCDP(http://127.0.0.1:port) drives the session', { timeout: scaled(90000) }, async (t) => {
  const id = await newSession(t);
  const relay = await startConnect(id);
  try {
    const browser = await chromium.connectOverCDP(relay.url);
    const ctx = browser.contexts()[0];
    const page = await ctx.newPage();
    await page.goto(`${fixtures.url}/title.html`);
    assert.equal(await page.title(), 'ppod fixture title');
    const gone = new Promise((r) => browser.once('disconnected', r));
    await browser.close(); // over CDP: disconnects, the session stays
    await gone;
    await waitForNoClient(daemon, id);
    await stillThere(id);
  } finally {
    assert.equal((await interrupt(relay)).code, 0);
  }
});

test('chrome-devtools-mcp --browserUrl http://127.0.0.1:port navigates and snapshots', { timeout: scaled(180000) }, async (t) => {
  const id = await newSession(t);
  const relay = await startConnect(id);
  t.after(() => interrupt(relay));
  const stderr = [];
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [DEVTOOLS_MCP, '--browserUrl', relay.url, '--no-usage-statistics', '--no-performance-crux'],
    stderr: 'pipe',
    cwd: await makeTempDir('ppod-connect-mcp-'),
  });
  transport.stderr.on('data', (b) => stderr.push(b));
  const client = new Client({ name: 'ppod-e2e', version: '1.0.0' });
  await client.connect(transport);
  t.after(() => client.close().catch(() => {}));
  const call = async (name, params = {}) => {
    const res = await client.callTool({ name, arguments: params }, undefined, { timeout: scaled(60000) });
    const text = (res.content || []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');
    assert.ok(!res.isError, `${name} failed: ${text}\n--- stderr ---\n${Buffer.concat(stderr).toString().slice(-3000)}\n--- relay ---\n${relay.stderr()}`);
    return text;
  };
  const m = (await call('list_pages')).match(/^(\d+): .*\[selected\]$/m);
  assert.ok(m, 'list_pages shows the selected page');
  const pageId = Number(m[1]);
  await call('navigate_page', { pageId, type: 'url', url: `${fixtures.url}/agent-form.html` });
  const snap = await call('take_snapshot', { pageId });
  assert.match(snap, /button "Register"/);
});

test('frames pass untouched: fragments, ping/pong with every byte value, UTF-8 text, large messages, close', { timeout: scaled(60000) }, async (t) => {
  const id = await newSession(t);
  const relay = await startConnect(id);
  try {
    const r = await rawWs(relay.port, `/devtools/browser/${id}`);
    assert.equal(r.status, 101);
    const { ws } = r;
    // A ping is answered by the service with its payload.
    ws.send(0x9, 'are you there');
    let f = await ws.next();
    assert.equal(f.opcode, 0xa);
    assert.equal(f.payload.toString(), 'are you there');
    // Every byte value passes both ways (a control frame's payload is at
    // most 125 bytes: two pings).
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    for (const part of [all.subarray(0, 125), all.subarray(125, 250), all.subarray(250)]) {
      ws.send(0x9, part);
      f = await ws.next();
      assert.equal(f.opcode, 0xa);
      assert.deepEqual(f.payload, part);
    }
    // A command in three fragments; an answer with every byte of UTF-8 and
    // a large one (over the relay's 64 KiB buffer).
    const cmd = JSON.stringify({ id: 1, method: 'Target.getTargets' });
    ws.send(0x1, cmd.slice(0, 5), false);
    ws.send(0x0, cmd.slice(5, 12), false);
    ws.send(0x0, cmd.slice(12), true);
    const targets = await ws.reply(1);
    assert.ok(Array.isArray(targets.result.targetInfos), JSON.stringify(targets));
    const page = targets.result.targetInfos.find((x) => x.type === 'page');
    ws.send(0x1, JSON.stringify({ id: 2, method: 'Target.attachToTarget', params: { targetId: page.targetId, flatten: true } }));
    const { sessionId } = (await ws.reply(2)).result;
    const text = 'ünïcødé ✓ 🚀 \u0000\u001f';
    ws.send(0x1, JSON.stringify({ id: 3, sessionId, method: 'Runtime.evaluate', params: { expression: `${JSON.stringify(text)} + 'x'.repeat(300000)`, returnByValue: true } }));
    const big = await ws.reply(3);
    assert.equal(big.result.result.value, `${text}${'x'.repeat(300000)}`);
    // Close: the service answers with a close frame.
    const code = Buffer.alloc(2);
    code.writeUInt16BE(1000);
    ws.send(0x8, code);
    do f = await ws.next(); while (f.opcode !== 0x8);
    assert.equal(f.payload.readUInt16BE(0), 1000);
    ws.socket.destroy();
    await waitForNoClient(daemon, id);
  } finally {
    assert.equal((await interrupt(relay)).code, 0);
  }
});

test('Ctrl-C closes the WebSocket properly on both sides: 1001 going away', { timeout: scaled(60000) }, async (t) => {
  const id = await newSession(t);
  const relay = await startConnect(id);
  const r = await rawWs(relay.port, `/devtools/browser/${id}`);
  assert.equal(r.status, 101);
  const { ws } = r;
  ws.send(0x1, JSON.stringify({ id: 1, method: 'Target.getTargets' }));
  await ws.reply(1);
  const exit = interrupt(relay);
  let f;
  do f = await ws.next(); while (f.opcode !== 0x8);
  assert.equal(f.payload.readUInt16BE(0), 1001);
  assert.equal(f.payload.subarray(2).toString(), 'ppod browser:connect stopped');
  assert.equal((await exit).code, 0);
  ws.socket.destroy();
  // The service heard the close too: no client, the session lives on.
  await waitForNoClient(daemon, id);
  await stillThere(id);
});

test('one client at a time: the service refusal reaches the second local client', { timeout: scaled(60000) }, async (t) => {
  const id = await newSession(t);
  const relay = await startConnect(id);
  try {
    const browser = await puppeteer.connect({ browserURL: relay.url });
    const second = await rawWs(relay.port, `/devtools/browser/${id}`);
    assert.equal(second.status, 409, second.body);
    assert.equal(second.json.errors[0].code, 'SESSION_IN_USE');
    await pollUntil(() => /refused a client's WebSocket: HTTP\/1\.\d 409/.test(relay.stderr()), { what: `the refusal on stderr: ${relay.stderr()}` });
    // The first is unaffected.
    assert.ok((await browser.version()).includes('Chrome'));
    await browser.disconnect();
    await waitForNoClient(daemon, id);
  } finally {
    assert.equal((await interrupt(relay)).code, 0);
  }
});

test('DNS rebinding and web pages are refused: foreign Host, any Origin', { timeout: scaled(60000) }, async (t) => {
  const id = await newSession(t);
  const relay = await startConnect(id);
  try {
    for (const host of ['evil.example', `evil.example:${relay.port}`, `127.0.0.1.evil.example:${relay.port}`, 'localhost.evil.example']) {
      const v = await localGet(relay.port, '/json/version', { Host: host });
      assert.equal(v.status, 403, `Host ${host}: ${v.body}`);
      assert.match(v.body, /not an IP address or localhost/);
      const w = await rawWs(relay.port, `/devtools/browser/${id}`, { Host: host });
      assert.equal(w.status, 403, `WebSocket with Host ${host}`);
    }
    for (const host of [`localhost:${relay.port}`, `127.0.0.1:${relay.port}`, `[::1]:${relay.port}`]) {
      assert.equal((await localGet(relay.port, '/json/version', { Host: host })).status, 200, host);
    }
    // A page on any origin, even with a good Host (a direct fetch or a
    // WebSocket from evil.example to 127.0.0.1).
    const o = await localGet(relay.port, '/json/version', { Origin: 'https://evil.example' });
    assert.equal(o.status, 403);
    assert.match(o.body, /Origin/);
    const w = await rawWs(relay.port, `/devtools/browser/${id}`, { Origin: 'https://evil.example' });
    assert.equal(w.status, 403);
    // None of it reached the session.
    const info = await stillThere(id);
    assert.equal(info.connectionId, undefined);
    await pollUntil(() => /refused a request for Host 'evil\.example'/.test(relay.stderr()), { what: `the refusal on stderr: ${relay.stderr()}` });
  } finally {
    assert.equal((await interrupt(relay)).code, 0);
  }
});

test('a taken port, an unknown session and a missing token fail at once, clearly', { timeout: scaled(60000) }, async (t) => {
  const id = await newSession(t);
  const port = await freePort();
  const holder = net.createServer().listen(port, '127.0.0.1');
  await new Promise((r) => holder.once('listening', r));
  try {
    const taken = await ppod(['browser:connect', id, '--port', String(port)]);
    assert.equal(taken.code, 1);
    assert.equal(taken.stdout, '');
    assert.match(taken.stderr, new RegExp(`127\\.0\\.0\\.1:${port} is already in use.*--port`));
  } finally {
    holder.close();
  }
  const unknown = await ppod(['browser:connect', 'f'.repeat(32), '--port', '0']);
  assert.equal(unknown.code, 1);
  assert.equal(unknown.stdout, '');
  assert.match(unknown.stderr, /SESSION_NOT_FOUND/);
  const noToken = await ppod(['browser:connect', id, '--port', '0'], cliEnv({ PAPERPOD_TOKEN: undefined }));
  assert.equal(noToken.code, 1);
  assert.match(noToken.stderr, /no token given/);
  const bad = await ppod(['browser:connect', id, '--host', 'example.com']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /not an IP address/);
  // A bind beyond loopback is allowed when asked, with a warning.
  const wide = await startConnect(id, ['--port', '0', '--host', '0.0.0.0']);
  await pollUntil(() => /warning: listening on 0\.0\.0\.0:\d+, not on loopback/.test(wide.stderr()), { what: 'the warning' });
  assert.equal((await interrupt(wide)).code, 0);
  await stillThere(id);
});

test('a slow local client does not make the relay buffer without bound', { timeout: scaled(90000) }, async (t) => {
  const id = await newSession(t);
  const relay = await startConnect(id);
  try {
    const r = await rawWs(relay.port, `/devtools/browser/${id}`);
    const { ws } = r;
    ws.send(0x1, JSON.stringify({ id: 1, method: 'Target.getTargets' }));
    const page = (await ws.reply(1)).result.targetInfos.find((x) => x.type === 'page');
    ws.send(0x1, JSON.stringify({ id: 2, method: 'Target.attachToTarget', params: { targetId: page.targetId, flatten: true } }));
    const { sessionId } = (await ws.reply(2)).result;
    // 32 answers of 1 MB each asked for, none read for a while.
    ws.socket.pause();
    for (let i = 0; i < 32; i++) {
      ws.send(0x1, JSON.stringify({ id: 100 + i, sessionId, method: 'Runtime.evaluate', params: { expression: "'y'.repeat(1000000)", returnByValue: true } }));
    }
    const rss = () => {
      const m = fs.readFileSync(`/proc/${relay.child.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
      return Number(m[1]) * 1024;
    };
    // Until the answers have had time to pile up somewhere: the browser
    // answers 32 MB in well under this; the relay holds at most its buffers.
    let peak = 0;
    const until = Date.now() + scaled(3000);
    while (Date.now() < until) {
      peak = Math.max(peak, rss());
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.ok(peak < 40 * 1024 * 1024, `relay RSS stays small while its client does not read: ${peak} bytes`);
    // Then everything arrives, in order.
    ws.socket.resume();
    for (let i = 0; i < 32; i++) {
      const a = await ws.reply(100 + i);
      assert.equal(a.result.result.value.length, 1000000);
    }
    ws.socket.destroy();
    await waitForNoClient(daemon, id);
  } finally {
    assert.equal((await interrupt(relay)).code, 0);
  }
});
