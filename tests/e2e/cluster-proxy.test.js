'use strict';
// The internal channel of a cluster (src/http/proxy.c): a session placed on
// node A is driven, fetched and watched through node B, which relays to A;
// and what a client may try against the channel. Two real daemons on
// loopback, cluster nodes on one throwaway PostgreSQL (--store, --node-url,
// --cluster-key-file: tests/e2e/clusterpair.js). Skipped only when
// PostgreSQL's server is not installed.
const nodeTest = require('node:test');
const { describe, before, after } = nodeTest;
const assert = require('node:assert/strict');
const http = require('node:http');
const WebSocket = require('ws');
const puppeteer = require('puppeteer-core');
const { chromium } = require('playwright-core');
const {
  startFixtures, scaled, pollUntil, httpRequest, decodePng, pixel, colorNear, PNG_MAGIC, SANITIZE,
} = require('./harness');
// AddressSanitizer keeps freed memory in quarantine: B's RSS then grows with
// what passed through it, bounded or not, and says nothing of the bound.
const boundedRss = (grownKiB, what) => {
  if (!SANITIZE) assert.ok(grownKiB < 16 * 1024, `B grew ${grownKiB} KiB for ${what}`);
};
const { startPair, fakeNode, havePostgres } = require('./clusterpair');

// Every test bounded: a wait that never ends fails its test, not the run.
const test = (name, fn) => nodeTest.test(name, { timeout: scaled(120000) }, fn);
// An event awaited with a deadline.
const within = (p, ms, what) => {
  let t;
  return Promise.race([p, new Promise((_, j) => { t = setTimeout(() => j(new Error(`${what}: not within ${ms} ms`)), ms); })])
    .finally(() => clearTimeout(t));
};
const opened = (ws) => within(new Promise((r, j) => { ws.once('open', r); ws.once('error', j); }), scaled(15000), 'WebSocket open');

describe('cluster proxy', { skip: !havePostgres() && 'no PostgreSQL server installed (/usr/lib/postgresql/*/bin/initdb)' }, () => {

let fixtures, pair, a, b;

before(async () => {
  fixtures = await startFixtures();
  pair = await startPair({ allowPrivate: [fixtures.host] });
  ({ a, b } = pair);
}, { timeout: scaled(180000) });

after(async () => {
  try {
    if (pair) await pair.stop({ clean: true });
  } finally {
    if (fixtures) await fixtures.close();
  }
}, { timeout: scaled(120000) });

// A's account's token, used at B: B relays, A authenticates.
const viaB = (method, p, opts = {}) => httpRequest(b.port, method, p, { token: a.token, ...opts });

async function acquireViaB(body = {}) {
  const res = await viaB('POST', '/browser/acquire', { json: body });
  assert.equal(res.status, 200, String(res.body));
  return res.json.result;
}

async function wsEndpointViaB(id) {
  const v = await viaB('GET', `/browser/sessions/${id}/json/version`);
  assert.equal(v.status, 200, String(v.body));
  return v.json.webSocketDebuggerUrl;
}

test('acquire at B is placed on A (most free capacity), and its URLs name B', async () => {
  const s = await acquireViaB();
  assert.ok(s.sessionId.startsWith(a.tag), `${s.sessionId} is A's (${a.tag})`);
  assert.match(s.webSocketDebuggerUrl, new RegExp(`^ws://127\\.0\\.0\\.1:${b.port}/`));
  // A holds it: A's own list has it, and B relayed the request.
  const listA = await a.request('GET', '/browser/sessions');
  assert.ok(listA.json.result.some((x) => x.sessionId === s.sessionId));
  assert.match(b.stderr(), new RegExp(`proxy: POST /browser/acquire -> node ${a.tag}: 200`));
  assert.equal((await viaB('DELETE', `/browser/sessions/${s.sessionId}`)).status, 200);
});

test('Puppeteer through B drives a session that lives on A', async () => {
  const s = await acquireViaB();
  const ws = await wsEndpointViaB(s.sessionId);
  assert.match(ws, new RegExp(`^ws://127\\.0\\.0\\.1:${b.port}/browser/sessions/${s.sessionId}/devtools/browser\\?ticket=`));
  const browser = await puppeteer.connect({ browserWSEndpoint: ws, defaultViewport: null });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 200, height: 100 });
    await page.goto(`${fixtures.url}/echo`);
    assert.equal(await page.title(), 'echo');
    assert.equal(await page.evaluate(() => 6 * 7), 42);
    await page.setContent('<body style="margin:0;background:#0c0">x</body>');
    const png = await page.screenshot();
    assert.ok(png.subarray(0, 8).equals(PNG_MAGIC));
    const img = decodePng(png);
    assert.equal(img.width, 200);
    assert.ok(colorNear(pixel(img, 100, 90), [0, 204, 0]), `green: ${pixel(img, 100, 90)}`);
    // A 20 MiB message from the client crosses B in pieces and arrives whole.
    const big = 'x'.repeat(20 << 20);
    assert.equal(await page.evaluate((t) => t.length, big), 20 << 20);
    await page.close();
  } finally {
    await browser.disconnect();
  }
  assert.equal((await viaB('DELETE', `/browser/sessions/${s.sessionId}`)).status, 200);
});

test('Playwright connectOverCDP through B', async () => {
  const s = await acquireViaB();
  const pw = await chromium.connectOverCDP(`http://127.0.0.1:${b.port}/browser/sessions/${s.sessionId}`, {
    headers: { Authorization: `Bearer ${a.token}` },
  });
  try {
    const page = await pw.contexts()[0].newPage();
    await page.goto(`${fixtures.url}/echo`);
    assert.equal(await page.title(), 'echo');
    assert.equal(await page.evaluate(() => 1 + 1), 2);
    await page.close();
  } finally {
    await pw.close();
  }
  assert.equal((await viaB('DELETE', `/browser/sessions/${s.sessionId}`)).status, 200);
});

test('session requests through B: read, upload a body, errors with their codes', async () => {
  const s = await acquireViaB();
  const got = await viaB('GET', `/browser/sessions/${s.sessionId}`);
  assert.equal(got.status, 200);
  assert.equal(got.json.result.sessionId, s.sessionId);
  const bytes = Buffer.alloc(300000, 7);
  const up = await viaB('POST', `/browser/sessions/${s.sessionId}/files?name=f.bin`, {
    body: bytes, headers: { 'Content-Type': 'application/octet-stream' },
  });
  assert.equal(up.status, 200, String(up.body));
  assert.equal(up.json.result.bytes, bytes.length);
  // A's answer, code and all: an unknown session under A's tag.
  const missing = await viaB('GET', `/browser/sessions/${a.tag}${'0'.repeat(28)}`);
  assert.equal(missing.status, 404);
  assert.equal(missing.json.errors[0].code, 'SESSION_NOT_FOUND');
  // A's own auth: a wrong token is A's 401.
  const bad = await viaB('GET', `/browser/sessions/${s.sessionId}`, { token: 'pp_sess_nope' });
  assert.equal(bad.status, 401);
  assert.equal((await viaB('DELETE', `/browser/sessions/${s.sessionId}`)).status, 200);
});

test('the live view through B: its page and its WebSocket', async () => {
  const s = await acquireViaB({ live: true });
  assert.ok(s.liveUrl, 'a liveUrl');
  const u = new URL(s.liveUrl);
  assert.equal(u.port, String(b.port), 'the live URL names the node the client used');
  const page = await fetch(s.liveUrl);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type'), /text\/html/);
  const direct = await fetch(`http://127.0.0.1:${a.port}${u.pathname}`);
  assert.equal(await page.text(), await direct.text(), 'the same page as at A');
  const first = await new Promise((resolve, reject) => {
    const ws = new WebSocket(s.liveUrl.replace(/^http/, 'ws') + '/ws');
    ws.once('message', (m) => { ws.close(); resolve(m); });
    ws.once('error', reject);
  });
  assert.ok(first.length > 0);
  assert.equal((await viaB('DELETE', `/browser/sessions/${s.sessionId}`)).status, 200);
});

// ---- back-pressure ----

const rssKiB = (pid) => +require('node:fs').readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1];

test('large CDP answers cross B whole, also to a client that stopped reading a while', async () => {
  const s = await acquireViaB();
  const url = `ws://127.0.0.1:${b.port}/browser/sessions/${s.sessionId}/devtools/browser?token=${a.token}`;
  const ws = new WebSocket(url, { maxPayload: 0 });
  await opened(ws);
  let next = 1;
  const pending = new Map();
  ws.on('message', (m) => {
    const o = JSON.parse(m);
    if (o.id && pending.has(o.id)) { pending.get(o.id)(o); pending.delete(o.id); }
  });
  const send = (method, params = {}, sessionId) => new Promise((resolve) => {
    const id = next++;
    pending.set(id, resolve);
    ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
  });
  const t = await send('Target.createTarget', { url: 'about:blank' });
  const att = await send('Target.attachToTarget', { targetId: t.result.targetId, flatten: true });
  const sid = att.result.sessionId;
  ws._socket.pause();
  const answers = [];
  for (let i = 0; i < 12; i++) answers.push(send('Runtime.evaluate', { expression: `'${String.fromCharCode(97 + i)}'.repeat(5 << 20)` }, sid));
  await new Promise((r) => setTimeout(r, scaled(1000)));
  ws._socket.resume();
  const got = await Promise.all(answers);
  for (const [i, o] of got.entries()) {
    const v = o.result.result.value;
    assert.equal(v.length, 5 << 20, `answer ${i}`);
    assert.equal(v[0] + v[v.length - 1], String.fromCharCode(97 + i).repeat(2));
  }
  ws.close();
  assert.equal((await viaB('DELETE', `/browser/sessions/${s.sessionId}`)).status, 200);
});

// An owner of the test's own that pours out as fast as it may: 100 MiB of
// HTTP body, or three 20 MiB binary WebSocket messages; what B holds while
// its client does not read is measured. Without the bound B would hold it
// all.
function pouringOwner() {
  return new Promise((resolve) => {
    const srv = http.createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': 100 << 20 });
      const buf = Buffer.alloc(1 << 20, 0x61);
      let i = 0;
      const pour = () => { while (i < 100) { i++; if (!res.write(buf)) return res.once('drain', pour); } res.end(); };
      pour();
    });
    const wss = new WebSocket.Server({ server: srv });
    const state = { maxBuffered: 0 };
    wss.on('connection', (ws) => {
      for (let k = 0; k < 3; k++) ws.send(Buffer.alloc(20 << 20, 0x30 + k), { binary: true });
      state.maxBuffered = ws.bufferedAmount;
      ws.on('message', (m) => ws.send(m, { binary: false }));
    });
    srv.listen(0, '127.0.0.1', () => resolve({ srv, wss, state, url: `http://127.0.0.1:${srv.address().port}` }));
  });
}

test('back-pressure: a client that stops reading holds B to a bounded buffer, HTTP and WebSocket', async () => {
  const owner = await pouringOwner();
  const fake = fakeNode(pair, 'cafe', owner.url);
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  try {
    await pollUntil(async () => (await viaB('GET', '/browser/sessions/cafe0001/json/version', { timeout: 2000 }).catch(() => ({}))).status === 200,
      { timeout: scaled(5000), what: 'B to route cafe ids' }).catch(() => {});
    // HTTP: 100 MiB, the client reads nothing for 3 s.
    const r0 = rssKiB(b.pid);
    const body = await new Promise((resolve, reject) => {
      http.get({ port: b.port, path: '/browser/sessions/cafe0001/recording.zip', agent: false }, (res) => {
        res.pause();
        setTimeout(() => {
          const grown = rssKiB(b.pid) - r0;
          let n = 0;
          res.on('data', (d) => { n += d.length; });
          res.on('end', () => resolve({ n, grown, status: res.statusCode }));
          res.resume();
        }, scaled(3000));
      }).on('error', reject);
    });
    assert.equal(body.status, 200);
    assert.equal(body.n, 100 << 20);
    boundedRss(body.grown, 'a 100 MiB answer its client did not read');
    // WebSocket: 60 MiB in three binary messages, then text both ways.
    const w0 = rssKiB(b.pid);
    const ws = new WebSocket(`ws://127.0.0.1:${b.port}/browser/sessions/cafe0001/devtools/browser`, { maxPayload: 0 });
    const msgs = [];
    ws.on('message', (m) => msgs.push({ m, isBinary: Buffer.isBuffer(m) })); // ws 7: text arrives as a string
    await opened(ws);
    ws._socket.pause();
    await sleep(scaled(3000));
    const grown = rssKiB(b.pid) - w0;
    ws._socket.resume();
    await pollUntil(() => msgs.length >= 3, { timeout: scaled(20000), what: 'three 20 MiB messages' });
    for (let k = 0; k < 3; k++) {
      assert.equal(msgs[k].isBinary, true);
      assert.equal(msgs[k].m.length, 20 << 20);
      assert.equal(msgs[k].m[0], 0x30 + k);
      assert.equal(msgs[k].m[(20 << 20) - 1], 0x30 + k);
    }
    ws.send('hello');
    await pollUntil(() => msgs.length >= 4, { timeout: scaled(5000), what: 'the echo' });
    assert.equal(msgs[3].isBinary, false);
    assert.equal(String(msgs[3].m), 'hello');
    ws.close();
    boundedRss(grown, '60 MiB its client did not read');
  } finally {
    fake.stop();
    owner.wss.close();
    owner.srv.close();
  }
});

// ---- attacks on the channel ----

// An owner of the test's own (a registered node): it shows what it was sent.
function echoOwner() {
  return new Promise((resolve) => {
    const seen = [];
    const srv = http.createServer((req, res) => {
      let n = 0;
      req.on('data', (d) => { n += d.length; });
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, headers: req.headers, body: n });
        res.writeHead(203, {
          'Content-Type': 'application/json',
          'X-Ppod-Cluster-Key': 'owner-header-must-not-pass',
          'Set-Cookie': 'x=1',
          'X-Error-Code': 'SOMETHING',
          'Retry-After': '7',
        });
        res.end(JSON.stringify({ ok: true }));
      });
    });
    srv.listen(0, '127.0.0.1', () => resolve({ srv, seen, url: `http://127.0.0.1:${srv.address().port}` }));
  });
}

test('what B sends an owner: end-to-end headers, its own, never hop-by-hop, Host or a client\'s X-Forwarded-For', async () => {
  const owner = await echoOwner();
  const fake = fakeNode(pair, 'beef', owner.url);
  try {
    const res = await pollUntil(async () => {
      const r = await httpRequest(b.port, 'POST', '/browser/sessions/beef0123/anything?token=a%26b&q=%C3%A9', {
        body: '{"a":1}',
        headers: {
          'Content-Type': 'application/json', Authorization: 'Bearer tenant-token',
          Connection: 'keep-alive, X-Hop', 'X-Hop': '1', 'Keep-Alive': 'timeout=5',
          'X-Forwarded-For': '6.6.6.6', 'X-Forwarded-Host': 'evil.example', Cookie: 'c=1',
          'Proxy-Authorization': 'Basic eA==', TE: 'trailers',
        },
      });
      return r.status === 203 ? r : null;
    }, { timeout: scaled(5000), what: 'B to route beef ids to the echo owner' });
    const got = owner.seen.at(-1);
    assert.equal(got.method, 'POST');
    assert.equal(got.url, '/browser/sessions/beef0123/anything?token=a%26b&q=%C3%A9');
    assert.equal(got.body, 7);
    assert.equal(got.headers.authorization, 'Bearer tenant-token');
    assert.equal(got.headers['content-type'], 'application/json');
    assert.equal(got.headers['x-ppod-via'], b.tag);
    assert.equal(got.headers['x-ppod-cluster-key'], pair.key);
    assert.equal(got.headers['x-forwarded-for'], '127.0.0.1', 'the client\'s own X-Forwarded-For is not relayed');
    assert.equal(got.headers['x-forwarded-host'], `127.0.0.1:${b.port}`);
    for (const h of ['x-hop', 'keep-alive', 'cookie', 'proxy-authorization', 'te'])
      assert.equal(got.headers[h], undefined, `${h} not relayed`);
    assert.notEqual(got.headers.host, `127.0.0.1:${b.port}`, 'the client\'s Host is not relayed');
    // The answer keeps what describes it, and none of the owner's internals.
    assert.equal(res.headers['x-error-code'], 'SOMETHING');
    assert.equal(res.headers['retry-after'], '7');
    assert.equal(res.headers['x-ppod-cluster-key'], undefined);
    assert.equal(res.headers['set-cookie'], undefined);
  } finally {
    fake.stop();
    owner.srv.close();
  }
});

test('a wrong or smuggled cluster key is refused with 403 CLUSTER_KEY_INVALID', async () => {
  for (const headers of [
    { 'X-Ppod-Via': a.tag, 'X-Ppod-Cluster-Key': 'guess' },
    { 'X-Ppod-Via': a.tag },
    { 'X-Ppod-Cluster-Key': pair.key.slice(0, -1) + 'x' },
    { 'X-Ppod-Cluster-Key': '' },
  ]) {
    const r = await httpRequest(b.port, 'GET', '/healthz', { headers });
    assert.equal(r.status, 403, JSON.stringify(headers));
    assert.equal(r.json.errors[0].code, 'CLUSTER_KEY_INVALID');
  }
  // The WebSocket upgrade too.
  const status = await new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${b.port}/browser/sessions/${a.tag}0000/devtools/browser`,
      { headers: { 'X-Ppod-Via': a.tag, 'X-Ppod-Cluster-Key': 'guess' } });
    ws.on('unexpected-response', (_, res) => resolve(res.statusCode));
    ws.on('open', () => resolve('open'));
    ws.on('error', () => {});
  });
  assert.equal(status, 403);
});

test('the owner\'s close code and reason reach the client through B as they would directly', async () => {
  const closeOnRelease = async (port) => {
    const s = await acquireViaB();
    const ws = new WebSocket(`ws://127.0.0.1:${port}/browser/sessions/${s.sessionId}/devtools/browser?token=${a.token}`);
    await opened(ws);
    const closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
    assert.equal((await viaB('DELETE', `/browser/sessions/${s.sessionId}`)).status, 200);
    return within(closed, scaled(15000), 'the close on release');
  };
  const direct = await closeOnRelease(a.port);
  const relayed = await closeOnRelease(b.port);
  assert.notEqual(direct.code, 1006, 'A closes with a code of its own');
  assert.deepEqual(relayed, direct);
});

test('a WebSocket the owner refuses (a bad token) is closed at B with 4000 + its status', async () => {
  const s = await acquireViaB();
  const c = await new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${b.port}/browser/sessions/${s.sessionId}/devtools/browser?token=pp_sess_nope`);
    ws.once('close', (code, reason) => resolve({ code, reason: String(reason) }));
    ws.once('error', () => {});
    setTimeout(() => reject(new Error('no close')), scaled(5000));
  });
  assert.equal(c.code, 4401, c.reason);
  assert.match(c.reason, /refused/);
  assert.equal((await viaB('DELETE', `/browser/sessions/${s.sessionId}`)).status, 200);
});

test('a relayed request is never relayed again (no loop)', async () => {
  const s = await acquireViaB();
  // At B, as if from a node: the right key, a Via. B serves it itself (it
  // does not hold the session: its own answer), A never sees it.
  const rid = `loop-${Date.now()}`;
  const r = await httpRequest(b.port, 'GET', `/browser/sessions/${s.sessionId}`, {
    token: a.token, headers: { 'X-Ppod-Via': a.tag, 'X-Ppod-Cluster-Key': pair.key, 'X-Request-Id': rid },
  });
  assert.notEqual(r.status, 200);
  assert.ok([401, 404].includes(r.status), String(r.status));
  assert.ok(!a.stderr().includes(rid), 'A never saw it');
  assert.ok(!b.stderr().includes(`proxy: GET /browser/sessions/${s.sessionId} -> node ${a.tag}: ${r.status}`));
  assert.equal((await viaB('DELETE', `/browser/sessions/${s.sessionId}`)).status, 200);
});

test('an owner that cannot be reached is a 502 NODE_UNREACHABLE at once; a lost one a 410', async () => {
  const dead = fakeNode(pair, 'dead', 'http://127.0.0.1:1');
  const lost = fakeNode(pair, 'f00d', 'http://127.0.0.1:1', 'lost');
  try {
    const r = await pollUntil(async () => {
      const x = await viaB('GET', '/browser/sessions/dead0123');
      return x.status === 502 ? x : null;
    }, { timeout: scaled(5000), what: '502 from B' });
    assert.equal(r.json.errors[0].code, 'NODE_UNREACHABLE');
    const t0 = Date.now();
    await viaB('GET', '/browser/sessions/dead0123');
    assert.ok(Date.now() - t0 < scaled(3000), 'at once, not after a timeout');
    // A lost node's trace: 410 once B authenticated the tenant (a session
    // id of a lost node is 410 only to its own account: r-nodes' cluster.c).
    const l = await pollUntil(async () => {
      const x = await httpRequest(b.port, 'GET', '/browser/traces/f00d0123', { token: b.token });
      return x.status === 410 ? x : null;
    }, { timeout: scaled(5000), what: '410 from B' });
    assert.equal(l.json.errors[0].code, 'NODE_LOST');
  } finally {
    dead.stop();
    lost.stop();
  }
});

test('the cluster key never shows in either node\'s log', () => {
  assert.ok(!a.stderr().includes(pair.key));
  assert.ok(!b.stderr().includes(pair.key));
});

// Last: it kills A.
test('A killed: the client\'s socket through B closes with 1011, its HTTP gets 502, never a hang', async () => {
  const s = await acquireViaB();
  const ws = new WebSocket(`ws://127.0.0.1:${b.port}/browser/sessions/${s.sessionId}/devtools/browser?token=${a.token}`);
  await opened(ws);
  const closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
  pair.markKilled(a);
  process.kill(-a.pid, 'SIGKILL');
  const c = await within(closed, scaled(15000), 'the close through B');
  assert.equal(c.code, 1011);
  assert.match(c.reason, /NODE_UNREACHABLE/);
  const r = await viaB('GET', `/browser/sessions/${s.sessionId}`);
  assert.ok([502, 410].includes(r.status), String(r.status));
});

});
