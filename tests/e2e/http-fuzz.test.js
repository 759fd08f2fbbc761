'use strict';
// The HTTP layer against any client, before and after authentication: no
// sequence of requests on a connection, however malformed, pipelined, cut
// short or early-refused, may stop the daemon or keep /healthz from
// answering. The first test is the crash that was found (three multipart
// POSTs to an unknown route on one kept-alive connection aborted the daemon
// in lws's timer list); the second is a seeded random fuzz, bounded by
// PPOD_HTTP_FUZZ_SECONDS (default 20; run it longer by hand, e.g.
// PPOD_HTTP_FUZZ_SECONDS=600 PPOD_HTTP_FUZZ_SEED=123).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const zlib = require('node:zlib');
const { useDaemon, httpRequest, scaled } = require('./harness');

const FUZZ_SECONDS = Number(process.env.PPOD_HTTP_FUZZ_SECONDS || 20);
const SEED = Number(process.env.PPOD_HTTP_FUZZ_SEED || Date.now() % 1000000);
const PARALLEL = 6;

// mulberry32: a small seeded generator, so a failing run can be replayed.
function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n) => Math.floor(next() * n),
    pick: (v) => v[Math.floor(next() * v.length)],
    chance: (p) => next() < p,
  };
}

const PATHS = [
  '/nope', '/healthz', '/metrics', '/openapi.json', '/browser/limits', '/browser/usage',
  '/browser/history', '/browser/sessions', '/browser/sessions/abc', '/browser/sessions/abc/json/version',
  '/browser/sessions/abc/devtools/browser', '/browser/traces/abc', '/browser/traces/../../etc/passwd',
  '/browser/screenshot', '/browser/content', '/browser/markdown', '/browser/test', '/browser/acquire',
  '/browser/content?token=TOKEN', '/healthz?x=' + 'y'.repeat(3000), '/%00', '*', '/a/../../b',
  '/browser/screenshot/', '//healthz',
];
const METHODS = ['GET', 'POST', 'POST', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'BREW', 'CONNECT'];

function chunked(buf, r) {
  const parts = [];
  let i = 0;
  while (i < buf.length) {
    const n = Math.min(buf.length - i, 1 + r.int(3000));
    parts.push(Buffer.from(n.toString(16) + (r.chance(0.1) ? ';ext=1' : '') + '\r\n'), buf.subarray(i, i + n), Buffer.from('\r\n'));
    i += n;
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}

function multipart(size, boundary) {
  return Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n` +
      'Content-Type: application/octet-stream\r\n\r\n'),
    Buffer.alloc(size, 0x61),
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
}

// One request as raw bytes. `cut` (bytes) means the connection stops
// sending there; `wait100` means the body is held until a 100 Continue.
function makeRequest(r, token) {
  const method = r.pick(METHODS);
  let path = r.pick(PATHS).replace('TOKEN', token);
  const http10 = r.chance(0.1);
  const headers = [['Host', '127.0.0.1']];
  const auth = r.int(5);
  if (auth === 1) headers.push(['Authorization', `Bearer ${token}`]);
  if (auth === 2) headers.push(['Authorization', 'Bearer nope']);
  if (auth === 3) headers.push(['Authorization', 'Basic dTpw']);
  let body = null;
  let type = null;
  switch (r.int(8)) {
    case 0: break;
    case 1: body = Buffer.from(JSON.stringify({ html: '<p>fuzz</p>', gotoOptions: { timeout: 3000 } })); type = 'application/json'; break;
    case 2: { const b = `----fuzz${r.int(1e6)}`; body = multipart(r.int(12000), b); type = `multipart/form-data; boundary=${b}`; break; }
    case 3: body = Buffer.from('a=1&b=' + 'x'.repeat(r.int(9000))); type = 'application/x-www-form-urlencoded'; break;
    case 4: body = zlib.gzipSync(Buffer.from(JSON.stringify({ html: 'x'.repeat(r.int(5000)) }))); type = 'application/json'; headers.push(['Content-Encoding', 'gzip']); break;
    case 5: body = Buffer.from('{"html":"<p>a</p>","html":"b"}'); type = 'application/json'; break;
    case 6: body = Buffer.alloc(r.int(70000), 0x7b); type = 'application/json'; break;
    default: body = Buffer.from([...Array(r.int(2000))].map(() => r.int(256))); type = r.pick(['text/plain', 'application/json', 'x/y']); break;
  }
  if (type) headers.push(['Content-Type', type]);
  let encoded = body;
  const te = body && !http10 && r.chance(0.3);
  if (body) {
    if (te) {
      headers.push(['Transfer-Encoding', 'chunked']);
      encoded = chunked(body, r);
    } else {
      const lie = r.int(10);
      const len = lie === 0 ? body.length + r.int(100) : lie === 1 ? Math.max(0, body.length - r.int(100)) : body.length;
      headers.push(['Content-Length', String(len)]);
    }
  }
  const wait100 = body && r.chance(0.15);
  if (wait100) headers.push(['Expect', '100-continue']);
  if (http10 && r.chance(0.5)) headers.push(['Connection', 'keep-alive']);
  if (!http10 && r.chance(0.1)) headers.push(['Connection', 'close']);
  // Bogus headers.
  switch (r.int(14)) {
    case 0: headers.push(['Content-Length', '5']); break;
    case 1: headers.push(['Content-Length', '-1']); break;
    case 2: headers.push(['Content-Length', '99999999999999999999']); break;
    case 3: headers.push(['Transfer-Encoding', 'gzip, chunked']); break;
    case 4: headers.push(['X-Long', 'v'.repeat(r.int(12000))]); break;
    case 5: headers.push(['Bad Header', 'x']); break;
    case 6: headers.push(['X-Fold', 'a\r\n  b']); break;
    case 7: headers.push(['X-Bin', '\u00ff\u0001\u007f']); break;
    case 8: headers.push(['X-Request-Id', 'r'.repeat(r.int(300))]); break;
    case 9: headers.push(['Upgrade', 'websocket'], ['Connection', 'Upgrade'], ['Sec-WebSocket-Version', '13'], ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ==']); break;
    case 10: headers.push(['Transfer-Encoding', 'chunked']); break;
    default: break;
  }
  const head = `${method} ${path} HTTP/1.${http10 ? 0 : 1}\r\n` + headers.map(([k, v]) => `${k}: ${v}`).join('\r\n') + '\r\n\r\n';
  const bytes = encoded ? Buffer.concat([Buffer.from(head, 'latin1'), encoded]) : Buffer.from(head, 'latin1');
  const cut = r.chance(0.12) ? r.int(bytes.length) : null;
  return { bytes, head: Buffer.byteLength(head, 'latin1'), cut, wait100, desc: `${method} ${path.slice(0, 60)} ${headers.length}h body=${body ? body.length : 0}${te ? ' chunked' : ''}${cut !== null ? ` cut@${cut}` : ''}${wait100 ? ' expect100' : ''}` };
}

// Plays a few requests on one connection: pipelined at once, or one by one
// in random slices, then lets the connection go however it ends.
function playConnection(port, r, token, log) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    const reqs = Array.from({ length: 1 + r.int(4) }, () => makeRequest(r, token));
    log.push(reqs.map((q) => q.desc).join(' | '));
    let got = Buffer.alloc(0);
    const finish = () => { clearTimeout(timer); sock.destroy(); resolve(got.length); };
    const timer = setTimeout(finish, 1500 + r.int(1500));
    sock.on('error', finish);
    sock.on('close', finish);
    sock.on('data', (d) => { got = Buffer.concat([got, d]).subarray(-65536); });
    const pipelined = r.chance(0.4);
    sock.on('connect', async () => {
      try {
        for (const q of reqs) {
          const upto = q.cut !== null ? q.cut : q.bytes.length;
          if (q.wait100) {
            sock.write(q.bytes.subarray(0, Math.min(q.head, upto)));
            await new Promise((res) => setTimeout(res, r.int(300)));
            if (upto > q.head) sock.write(q.bytes.subarray(q.head, upto));
          } else if (r.chance(0.3)) {
            for (let i = 0; i < upto;) {
              const n = 1 + r.int(4000);
              sock.write(q.bytes.subarray(i, Math.min(upto, i + n)));
              i += n;
              await new Promise((res) => setTimeout(res, r.int(20)));
            }
          } else {
            sock.write(q.bytes.subarray(0, upto));
          }
          if (q.cut !== null) {
            if (r.chance(0.5)) sock.end(); // half-close: the daemon may still answer
            return;
          }
          if (!pipelined) await new Promise((res) => setTimeout(res, r.int(400)));
          if (sock.destroyed) return;
        }
        if (r.chance(0.3)) sock.end();
      } catch { /* the daemon closed on us: fine */ }
    });
  });
}

// Writes `bytes` on a fresh connection and collects what comes back until
// `answers` responses arrived, the daemon closed, or 3 s passed.
function rawExchange(port, bytes, answers) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let got = '';
    const done = () => { clearTimeout(timer); sock.destroy(); resolve(got); };
    const timer = setTimeout(done, scaled(3000));
    sock.on('data', (d) => {
      got += d.toString('latin1');
      if ((got.match(/HTTP\/1\.1 \d+/g) || []).length >= answers && /\r\n\r\n[\s\S]*\}$/.test(got)) {
        setTimeout(done, 200); // anything more would be an answer too many
      }
    });
    sock.on('error', done);
    sock.on('close', done);
    sock.on('connect', () => sock.write(bytes));
  });
}

async function healthy(daemon) {
  const t0 = Date.now();
  const res = await httpRequest(daemon.port, 'GET', '/healthz', { timeout: scaled(3000) });
  assert.equal(res.status, 200);
  return Date.now() - t0;
}

describe('HTTP layer under hostile clients', () => {
  // Its after() hook wants a clean exit: under ASan a leak or a
  // use-after-free fails it.
  const { daemon } = useDaemon({ browsers: 1, args: ['--body-timeout', '2'], fixtures: false });

  it('three multipart POSTs to an unknown route on one kept-alive connection are three 404s, and the daemon lives', async () => {
    // Node's fetch keeps the connection alive and sends FormData as
    // multipart/form-data: exactly what aborted the daemon before authentication.
    for (let i = 0; i < 5; i++) {
      const fd = new FormData();
      fd.append('file', new Blob([Buffer.alloc(6000, 0x61)]), 'a.bin');
      const res = await fetch(`${daemon.url}/nope`, { method: 'POST', body: fd });
      assert.equal(res.status, 404, `request ${i + 1}`);
      assert.equal((await res.json()).errors[0].code, 'NOT_FOUND');
    }
    // The same with the other early answers: 401 (no token) and 400.
    for (let i = 0; i < 3; i++) {
      const fd = new FormData();
      fd.append('file', new Blob([Buffer.alloc(6000, 0x62)]), 'b.bin');
      const res = await fetch(`${daemon.url}/browser/screenshot`, { method: 'POST', body: fd });
      assert.equal(res.status, 401, `unauthenticated request ${i + 1}`);
      await res.arrayBuffer();
    }
    for (let i = 0; i < 3; i++) {
      const fd = new FormData();
      fd.append('file', new Blob([Buffer.alloc(6000, 0x63)]), 'c.bin');
      const res = await fetch(`${daemon.url}/browser/screenshot`, {
        method: 'POST', body: fd, headers: { Authorization: `Bearer ${daemon.token}` },
      });
      assert.equal(res.status, 400, `authenticated multipart request ${i + 1}`);
      await res.arrayBuffer();
    }
    await healthy(daemon);
    assert.doesNotMatch(daemon.stderr(), /Assertion|AddressSanitizer|runtime error/);
  });

  it('a body behind an early answer is never read as a request, and chunked bodies are refused at once', async () => {
    // A smuggled request inside a refused body: exactly one answer (the 404),
    // then the real next request.
    const inner = 'GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n';
    const out = await rawExchange(daemon.port,
      `POST /nope HTTP/1.1\r\nHost: a\r\nContent-Length: ${inner.length}\r\n\r\n${inner}` +
      'GET /openapi.json HTTP/1.1\r\nHost: a\r\n\r\n', 2);
    assert.deepEqual(out.match(/HTTP\/1\.1 \d+/g), ['HTTP/1.1 404', 'HTTP/1.1 200']);
    assert.match(out, /"openapi"/);
    // libwebsockets 4.1 cannot frame a chunked request body: 411 and close,
    // never a hang or the chunks parsed as a request.
    const t0 = Date.now();
    const chunked = await rawExchange(daemon.port,
      'POST /browser/content HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n' +
      `${inner.length.toString(16)}\r\n${inner}\r\n0\r\n\r\n`, 2);
    assert.deepEqual(chunked.match(/HTTP\/1\.1 \d+/g), ['HTTP/1.1 411']);
    assert.match(chunked, /LENGTH_REQUIRED/);
    assert.ok(Date.now() - t0 < scaled(2000), `411 took ${Date.now() - t0} ms`);
    // A client that waits for 100 Continue before its body gets a refusal
    // at once, not after the body timeout.
    const t1 = Date.now();
    const waiting = await rawExchange(daemon.port,
      'POST /browser/screenshot HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n', 1);
    assert.deepEqual(waiting.match(/HTTP\/1\.1 \d+/g), ['HTTP/1.1 401']);
    assert.ok(Date.now() - t1 < scaled(1500), `401 took ${Date.now() - t1} ms`);
  });

  it('a pipelined request with a body behind another does not wedge the I/O thread', async () => {
    // libwebsockets 4.1.6 looped forever on the stashed request's body: the
    // daemon stopped answering anyone and ignored SIGTERM.
    const out = await rawExchange(daemon.port,
      'GET /openapi.json HTTP/1.1\r\nHost: a\r\n\r\n' +
      'POST /nope HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello', 2);
    assert.equal((out.match(/HTTP\/1\.1 \d+/g) || [])[0], 'HTTP/1.1 200');
    assert.ok(await healthy(daemon) < scaled(1000));
    // Two pipelined POSTs: the first is answered; the second may be refused
    // by closing, never by a hang.
    const two = await rawExchange(daemon.port,
      'POST /nope HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello' +
      'POST /nope HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello', 2);
    assert.equal((two.match(/HTTP\/1\.1 \d+/g) || [])[0], 'HTTP/1.1 404');
    assert.ok(await healthy(daemon) < scaled(1000));
  });

  it(`a ${FUZZ_SECONDS} s random mix of malformed, pipelined and cut-short requests never stops the daemon (seed ${SEED})`, async () => {
    const r = rng(SEED);
    const end = Date.now() + FUZZ_SECONDS * 1000;
    let conns = 0;
    let worstHealthMs = 0;
    const log = [];
    while (Date.now() < end) {
      const batch = [];
      for (let i = 0; i < PARALLEL; i++) batch.push(playConnection(daemon.port, rng(r.int(2 ** 31)), daemon.token, log));
      await Promise.all(batch);
      conns += batch.length;
      try {
        worstHealthMs = Math.max(worstHealthMs, await healthy(daemon));
      } catch (e) {
        throw new Error(`after ${conns} connections (seed ${SEED}): ${e.message}\nlast connections:\n` +
          `${log.slice(-PARALLEL).join('\n')}\n--- daemon stderr ---\n${daemon.stderr().slice(-4000)}`);
      }
      if (log.length > 200) log.splice(0, log.length - 50);
    }
    process.stderr.write(`http-fuzz: ${conns} connections, seed ${SEED}, slowest /healthz ${worstHealthMs} ms\n`);
    assert.ok(conns >= PARALLEL);
    assert.doesNotMatch(daemon.stderr(), /Assertion|AddressSanitizer|runtime error/);
    // Real work still gets done afterwards.
    const res = await daemon.request('POST', '/browser/content', { json: { html: '<p id="x">after the fuzz</p>' } });
    assert.equal(res.status, 200);
    assert.match(res.body.toString(), /after the fuzz/);
  });
});
