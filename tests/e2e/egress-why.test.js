'use strict';
// What a failed navigation says comes from what the egress proxy knows (it
// records why it refused or failed each host:port), never from the service
// connecting to the tenant's target itself. And the session browsers of one
// account share one connection cap at the proxy, so one account cannot hold
// every connection the proxy has.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const WebSocket = require('ws');
const {
  useDaemon, scaled, expectError, freePort, createAccount, acquireSession,
  releaseSession, pollUntil, httpRequest,
} = require('./harness');

// A loopback listener that is NOT allow-listed and counts every connection.
function startCounter() {
  let connections = 0;
  const server = net.createServer((s) => { connections++; s.destroy(); });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({
      port: server.address().port,
      count: () => connections,
      close: () => new Promise((r) => server.close(() => r())),
    }));
  });
}

function cdpClient(url) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  let next = 1;
  const pending = new Map();
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString('utf8'));
    if (m.id && pending.has(m.id)) {
      pending.get(m.id)(m);
      pending.delete(m.id);
    }
  });
  const opened = new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  return {
    opened,
    send(method, params = {}, sessionId) {
      const id = next++;
      const msg = { id, method, params };
      if (sessionId) msg.sessionId = sessionId;
      return new Promise((resolve) => { pending.set(id, resolve); ws.send(JSON.stringify(msg)); });
    },
    close: () => ws.close(),
  };
}

async function metric(daemon, result) {
  const res = await daemon.request('GET', '/metrics');
  const m = new RegExp(`ppod_egress_requests_total\\{result="${result}"\\} (\\d+)`).exec(res.body.toString('utf8'));
  return m ? Number(m[1]) : NaN;
}

describe('network errors come from what the egress proxy knows', () => {
  let counter, closedPort;
  const { daemon, fixtures } = useDaemon(async () => {
    counter = await startCounter();
    closedPort = await freePort();
    return {
      browsers: 1,
      allowPrivate: [`127.0.0.1:${closedPort}`],
      args: ['--egress-hosts', `counter.test=127.0.0.1,closed.test=127.0.0.1`],
    };
  });
  after(async () => {
    if (counter) await counter.close();
  });
  const post = (body) => daemon.request('POST', '/browser/content', { json: body });

  it('a name resolving to a refused loopback port is 403 FORBIDDEN_URL over http and https, with no connection to it', async () => {
    for (const scheme of ['http', 'https']) {
      const res = await post({ url: `${scheme}://counter.test:${counter.port}/` });
      const e = expectError(assert, res, 403, 'FORBIDDEN_URL', scheme);
      assert.match(e.message, /counter\.test resolves to 127\.0\.0\.1/, scheme);
    }
    // An address literal is refused before Chromium even starts.
    expectError(assert, await post({ url: `https://127.0.0.1:${counter.port}/` }), 403, 'FORBIDDEN_URL');
    assert.equal(counter.count(), 0, 'nobody connected to the refused port, neither the proxy nor the service');
  });

  it('connection refused on an allow-listed closed port, over https too: 422 ERR_CONNECTION_REFUSED', async () => {
    for (const url of [`http://127.0.0.1:${closedPort}/`, `https://127.0.0.1:${closedPort}/`]) {
      const e = expectError(assert, await post({ url }), 422, 'NAVIGATION_FAILED', url);
      assert.match(e.message, /net::ERR_CONNECTION_REFUSED/, url);
    }
  });

  it('a test script\'s goto to such a name fails its step saying the egress guard refused it',
     async () => {
       const res = await daemon.request('POST', '/browser/test', {
         json: {
           url: `${fixtures.url}/title.html`,
           steps: [{action: 'goto', url: `https://counter.test:${counter.port}/`}]
         },
       });
       assert.equal(res.status, 200, res.body.subarray(0, 500).toString('utf8'));
       const r = res.json.result;
       assert.equal(r.passed, false);
       assert.match(
           r.steps[0].error,
           /refused by the egress guard \(counter\.test resolves to 127\.0\.0\.1/);
       assert.equal(counter.count(), 0);
     });

  it('a name that does not exist: 422 ERR_NAME_NOT_RESOLVED over http and https', async () => {
    for (const url of ['http://ppod-e2e-nx.invalid/', 'https://ppod-e2e-nx.invalid/']) {
      const e = expectError(assert, await post({ url }), 422, 'NAVIGATION_FAILED', url);
      assert.match(e.message, /net::ERR_NAME_NOT_RESOLVED/, url);
    }
  });
});

describe('egress connections per account', () => {
  const CAP = 4;
  let other;
  const { daemon, fixtures } = useDaemon({
    browsers: 1,
    args: ['--spares', '2', '--egress-conns-per-account', String(CAP), '--egress-conns-per-browser', '100'],
  });
  before(async () => {
    other = await createAccount(daemon.dataDir, 'other');
  });

  it(`two sessions of one account hold at most ${CAP} connections together; another account is unaffected`, async () => {
    const capped0 = await metric(daemon, 'capped');
    const sessions = [await acquireSession(daemon), await acquireSession(daemon)];
    const clients = [];
    const hangs = () => fixtures.requests.filter((r) => r.path === '/hang' && r.search.startsWith('?s=')).length;
    try {
      for (const [k, s] of sessions.entries()) {
        const cdp = cdpClient(`${s.webSocketDebuggerUrl}?token=${daemon.token}`);
        clients.push(cdp);
        await cdp.opened;
        const t = await cdp.send('Target.createTarget', { url: 'about:blank' });
        const a = await cdp.send('Target.attachToTarget', { targetId: t.result.targetId, flatten: true });
        // Six requests that never get an answer: six connections each
        // browser would keep open (Chromium's limit per host).
        const r = await cdp.send('Runtime.evaluate', {
          expression: `for (let i = 0; i < 6; i++) fetch('${fixtures.url}/hang?s=${k}&i=' + i, { mode: 'no-cors' }).catch(() => {}); 1`,
        }, a.result.sessionId);
        assert.ok(r.result, JSON.stringify(r));
      }
      await pollUntil(async () => (await metric(daemon, 'capped')) > capped0 && hangs() >= CAP,
        { timeout: scaled(15000), what: 'the account cap to refuse a connection' });
      // Give refused requests time to show up if they got through after all.
      await new Promise((r) => setTimeout(r, 1000));
      assert.ok(hangs() <= CAP, `the fixture saw ${hangs()} hanging requests from the account's sessions`);
      assert.match(daemon.stderr(), /egress: account \d+ has \d+ connections open, its cap/);

      // The other account's quick action still goes out.
      const res = await httpRequest(daemon.port, 'POST', '/browser/content', {
        json: { url: `${fixtures.url}/title.html` }, token: other,
      });
      assert.equal(res.status, 200, res.body.subarray(0, 300).toString('utf8'));
    } finally {
      for (const c of clients) c.close();
      for (const s of sessions) await releaseSession(daemon, s.sessionId);
    }
  });
});
