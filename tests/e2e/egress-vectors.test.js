'use strict';
// Egress vectors that tests/e2e/egress.test.js does not cover (it has the
// page-side ones: img, iframe, fetch, XHR, WebSocket, EventSource, worker,
// beacon, stylesheet, redirects): an acquired session's own Page.navigate and
// Target.createTarget, the service's files framed by a page, and every
// non-web scheme at the API and in a test script's goto. A "secret" loopback
// server that is not allow-listed must see nothing at all.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const WebSocket = require('ws');
const {
  useDaemon, scaled, expectError, acquireSession, releaseSession, decodePng, pixel, pollUntil,
} = require('./harness');

function startSecret() {
  const hits = [];
  const server = http.createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end('<h1>the secret</h1>');
  });
  server.on('connection', (s) => { hits.push('connection'); s.on('error', () => {}); });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({
      url: `http://127.0.0.1:${server.address().port}`,
      hits,
      close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
    }));
  });
}

async function cdpClient(daemon, session) {
  const ws = new WebSocket(`${session.webSocketDebuggerUrl}?token=${daemon.token}`, { perMessageDeflate: false });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  let next = 1;
  const waiting = new Map();
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString('utf8'));
    if (m.id !== undefined && waiting.has(m.id)) { waiting.get(m.id)(m); waiting.delete(m.id); }
  });
  return {
    call(method, params = {}, sessionId) {
      const id = next++;
      return new Promise((resolve) => {
        waiting.set(id, resolve);
        ws.send(JSON.stringify(sessionId ? { id, method, params, sessionId } : { id, method, params }));
      });
    },
    close: () => new Promise((resolve) => { ws.once('close', resolve); ws.close(); }),
  };
}

// Every pixel of the rectangle is white: nothing was drawn there.
function blank(png, x0, y0, w, h) {
  for (let y = y0; y < y0 + h; y += 2) {
    for (let x = x0; x < x0 + w; x += 2) {
      const [r, g, b] = pixel(png, x, y);
      if (r < 250 || g < 250 || b < 250) return `(${x},${y}) is ${r},${g},${b}`;
    }
  }
  return null;
}

describe('egress vectors', { timeout: scaled(180000) }, () => {
  let secret;

  const { daemon, fixtures } = useDaemon({ browsers: 1, timeout: scaled(60000) });

  before(async () => {
    secret = await startSecret();
  });

  // Registered after useDaemon(): runs once the daemon has exited.
  after(async () => {
    if (secret) {
      assert.deepEqual(secret.hits, [], 'the secret server was never reached');
      await secret.close();
    }
  });

  // Schemes and spellings no page may be loaded from.
  const refused = () => [
    'view-source:http://example.com/',
    `view-source:${secret.url}/`,
    'chrome://settings/',
    'chrome://gpu',
    'devtools://devtools/bundled/inspector.html',
    'javascript:alert(document.cookie)',
    'blob:http://example.com/5d8b1f3a-7c7e-4b1a-9c8a-3f2b1e0d9c7a',
    'filesystem:http://example.com/temporary/x',
    'FILE:///etc/passwd',
    'File:///etc/passwd',
    'file://localhost/etc/passwd',
    'file://server/share/x',
    '\\\\server\\share\\x',
    '//server/share/x',
    `${secret.url}/`,
  ];

  it('every such URL is 403 FORBIDDEN_URL at the API', async () => {
    for (const url of refused()) {
      const res = await daemon.request('POST', '/browser/content', { json: { url } });
      if (res.status === 400) {
        expectError(assert, res, 400, 'INVALID_REQUEST', url); // not a URL at all
      } else {
        expectError(assert, res, 403, 'FORBIDDEN_URL', url);
      }
    }
  });

  it('and as a test script\'s goto: 403 FORBIDDEN_URL naming the step, before anything runs', async () => {
    for (const url of refused()) {
      const res = await daemon.request('POST', '/browser/test', {
        json: { url: `${fixtures.url}/title.html`, steps: [{ action: 'wait', ms: 0 }, { action: 'goto', url }] },
      });
      const e = res.status === 400 ? expectError(assert, res, 400, 'INVALID_REQUEST', url)
        : expectError(assert, res, 403, 'FORBIDDEN_URL', url);
      assert.match(e.message, /^steps\[1\]\.url: /, url);
    }
  });

  it('a page framing file:///etc/passwd shows nothing of it', async () => {
    for (const body of [{ url: `${fixtures.url}/security/file-iframe.html` },
      { html: '<style>html,body{margin:0;background:#fff}iframe{border:0;display:block}</style>' +
        '<iframe src="file:///etc/passwd" width="800" height="300"></iframe>' +
        '<iframe src="FILE:///etc/hostname" width="800" height="100"></iframe>' }]) {
      const shot = await daemon.request('POST', '/browser/screenshot', { json: { ...body, viewport: { width: 800, height: 400 } } });
      assert.equal(shot.status, 200, shot.body.toString().slice(0, 300));
      const why = blank(decodePng(shot.body), 0, 0, 800, 400);
      assert.equal(why, null, `something was drawn where the file frames are: ${why}`);
      const res = await daemon.request('POST', '/browser/test', {
        json: { ...body, steps: [{ action: 'evaluate', expression:
          '[...document.querySelectorAll("iframe")].map(f => { try { const d = f.contentDocument; return d && d.body ? d.body.innerText : ""; } catch (e) { return ""; } }).join("")' }] },
      });
      assert.equal(res.status, 200);
      assert.equal(res.json.result.passed, true, JSON.stringify(res.json.result.steps));
      assert.doesNotMatch(String(res.json.result.steps[0].value), /root:|nobody:/);
    }
  });

  describe('an acquired session', () => {
    let session;
    let client;
    before(async () => {
      session = await acquireSession(daemon, { keep_alive: 60000 });
      client = await cdpClient(daemon, session);
    });
    after(async () => {
      if (client) await client.close();
      if (session) await releaseSession(daemon, session.sessionId);
    });

    const targets = () => [`${secret.url}/`, 'file:///etc/passwd', 'FILE:///etc/passwd', `view-source:${secret.url}/`,
      'chrome://version', 'javascript:1'];

    it('Target.createTarget to the secret or a file is refused with a CDP error', async () => {
      for (const url of targets()) {
        const r = await client.call('Target.createTarget', { url });
        assert.ok(r.error, `${url}: ${JSON.stringify(r.result)}`);
        assert.match(r.error.message, /refused by ppod|not allowed|forbidden/i, url);
      }
    });

    it('Page.navigate to the secret or a file is refused with a CDP error, and the page stays where it was', async () => {
      const t = await client.call('Target.createTarget', { url: `${fixtures.url}/title.html` });
      assert.ok(t.result, JSON.stringify(t.error));
      const a = await client.call('Target.attachToTarget', { targetId: t.result.targetId, flatten: true });
      const sid = a.result.sessionId;
      const href = async () => (await client.call('Runtime.evaluate', { expression: 'location.href', returnByValue: true }, sid)).result.result.value;
      await pollUntil(async () => (await href()) === `${fixtures.url}/title.html`, { what: 'the allowed page loaded' });
      for (const url of targets()) {
        const r = await client.call('Page.navigate', { url }, sid);
        assert.ok(r.error, `${url}: ${JSON.stringify(r.result)}`);
      }
      assert.equal(await href(), `${fixtures.url}/title.html`);
      await client.call('Target.closeTarget', { targetId: t.result.targetId });
    });
  });
});
