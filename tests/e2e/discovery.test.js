'use strict';
// Discovery from an http URL, as a client that starts from one sees it:
// /browser/sessions/{id}/json/version called with a credential answers a
// webSocketDebuggerUrl carrying a connect ticket (single use, 60 s, bound to
// the account and the session) that opens the session's WebSocket with no
// other credential; a used, unknown or foreign ticket is 401 INVALID_TICKET;
// a ticket never reaches the daemon's log; Authorization on the upgrade
// works as before. /json/protocol describes only what the session policy
// allows. And what an operator reads when an agent failed: refused calls,
// the last refusal and the client's comings and goings, in /browser/history
// and in the log.

const { describe, it, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const WebSocket = require('ws');
const {
  useDaemon, scaled, createAccount, runAdmin, acquireSession, releaseSession,
  httpRequest, wsHandshake, expectError, waitForHistory, waitForNoClient,
} = require('./harness');

const TICKET_URL = /^ws:\/\/127\.0\.0\.1:(\d+)\/browser\/sessions\/([0-9a-f]+)\/devtools\/browser\?ticket=([0-9a-f]{32})$/;

const jsonLines = (daemon) => daemon.stderr().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));

// Opens a CDP WebSocket; resolves {ws, send, closed} once open, or rejects
// with the refusal's status.
function openCdp(url, headers = {}) {
  const ws = new WebSocket(url, { perMessageDeflate: false, headers });
  const closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
  let next = 1;
  const pending = new Map();
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString());
    if (m.id && pending.has(m.id)) {
      pending.get(m.id)(m);
      pending.delete(m.id);
    }
  });
  const send = (method, params = {}) => new Promise((resolve) => {
    const id = next++;
    pending.set(id, resolve);
    ws.send(JSON.stringify({ id, method, params }));
  });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, send, closed }));
    ws.once('unexpected-response', (_req, res) => { reject(new Error(`HTTP ${res.statusCode}`)); ws.terminate(); });
    ws.once('error', reject);
  });
}

describe('connect tickets and /json/protocol', { timeout: scaled(180000) }, () => {
  const sessions = [];
  const tickets = [];
  let other; // another account's token

  // An account may hold 3 sessions: each test releases what it acquired.
  const releaseAll = async () => {
    for (const [id, token] of sessions.splice(0)) await releaseSession(daemon, id, { token }).catch(() => {});
  };
  afterEach(releaseAll);
  after(releaseAll);

  const { daemon } = useDaemon({ browsers: 1, fixtures: false });

  before(async () => {
    other = await createAccount(daemon.dataDir, 'other');
  });

  async function acquire(token = daemon.token) {
    const s = await acquireSession(daemon, { keep_alive: 60000 }, { token });
    sessions.push([s.sessionId, token]);
    return s;
  }

  // json/version as a client calls it; the ticket URL it answers.
  async function ticketUrl(id, { token = daemon.token, query = true, headers = {} } = {}) {
    const p = `/browser/sessions/${id}/json/version${query ? `?token=${token}` : ''}`;
    const res = await httpRequest(daemon.port, 'GET', p, { token: query ? undefined : token, headers });
    assert.equal(res.status, 200, res.body.toString());
    const url = res.json.webSocketDebuggerUrl;
    const m = TICKET_URL.exec(url) || /ticket=([0-9a-f]{32})/.exec(url);
    if (m) tickets.push(m[m.length - 1]);
    return url;
  }

  const pathOf = (url) => url.replace(/^wss?:\/\/[^/]+/, '');

  it('json/version with ?token= or a header answers a ticket URL that opens the session once', async () => {
    const s = await acquire();
    for (const opts of [{ query: true }, { query: false }]) {
      const url = await ticketUrl(s.sessionId, opts);
      const m = TICKET_URL.exec(url);
      assert.ok(m, url);
      assert.equal(Number(m[1]), daemon.port);
      assert.equal(m[2], s.sessionId);
      assert.ok(!url.includes(daemon.token), 'the account token is not in the URL');

      const c = await openCdp(url); // no other credential
      const v = await c.send('Browser.getVersion');
      assert.ok(v.result && v.result.product, JSON.stringify(v));
      c.ws.close();
      await c.closed;
      await waitForNoClient(daemon, s.sessionId);

      // The same URL again: used up.
      const again = await wsHandshake(daemon.port, pathOf(url));
      const e = expectError(assert, again, 401, 'INVALID_TICKET', 'second use');
      assert.match(e.message, /unknown or was already used/);
    }
    // The trailing-slash form Playwright asks for answers the same way.
    const res = await httpRequest(daemon.port, 'GET', `/browser/sessions/${s.sessionId}/json/version/?token=${daemon.token}`);
    assert.equal(res.status, 200);
    assert.match(res.json.webSocketDebuggerUrl, TICKET_URL);
  });

  it('names the host as the client reached it, and wss behind a TLS proxy', async () => {
    const s = await acquire();
    let url = await ticketUrl(s.sessionId, { headers: { Host: 'ppod.example:8443' } });
    assert.match(url, new RegExp(`^ws://ppod\\.example:8443/browser/sessions/${s.sessionId}/devtools/browser\\?ticket=[0-9a-f]{32}$`));
    url = await ticketUrl(s.sessionId, { headers: { Host: 'ppod.example', 'X-Forwarded-Proto': 'https' } });
    assert.match(url, /^wss:\/\/ppod\.example\/browser\/sessions\//);
  });

  it('an unknown ticket, a ticket of another session and one used up by a failed upgrade are 401', async () => {
    const a = await acquire();
    const b = await acquire();
    const made = crypto.randomBytes(16).toString('hex');
    for (const t of [made, 'x', '', made.toUpperCase(), `${made}0`]) {
      const r = await wsHandshake(daemon.port, `/browser/sessions/${a.sessionId}/devtools/browser?ticket=${t}`);
      expectError(assert, r, 401, 'INVALID_TICKET', `ticket "${t}"`);
    }
    // Issued for b, presented at a: refused, and used up all the same.
    const forB = await ticketUrl(b.sessionId);
    const atA = pathOf(forB).replace(b.sessionId, a.sessionId);
    const r = await wsHandshake(daemon.port, atA);
    const e = expectError(assert, r, 401, 'INVALID_TICKET');
    assert.match(e.message, /another session/);
    expectError(assert, await wsHandshake(daemon.port, pathOf(forB)), 401, 'INVALID_TICKET', 'after a failed use');
    // A ticket wins over a token in the same URL: a bad one is refused.
    expectError(assert, await wsHandshake(daemon.port,
      `/browser/sessions/${a.sessionId}/devtools/browser?ticket=${made}&token=${daemon.token}`), 401, 'INVALID_TICKET');
  });

  it('another account: cannot get a ticket for the session, and its own ticket does not open it', async () => {
    const mine = await acquire();
    const theirs = await acquire(other);
    expectError(assert, await httpRequest(daemon.port, 'GET',
      `/browser/sessions/${mine.sessionId}/json/version?token=${other}`), 404, 'SESSION_NOT_FOUND');
    expectError(assert, await httpRequest(daemon.port, 'GET',
      `/browser/sessions/${mine.sessionId}/json/protocol?token=${other}`), 404, 'SESSION_NOT_FOUND');
    const url = await ticketUrl(theirs.sessionId, { token: other });
    const r = await wsHandshake(daemon.port, pathOf(url).replace(theirs.sessionId, mine.sessionId));
    expectError(assert, r, 401, 'INVALID_TICKET');
  });

  it('a ticket whose token was revoked since is refused with TOKEN_REVOKED', async () => {
    const s = await acquire();
    const tok = await daemon.createToken();
    const url = await ticketUrl(s.sessionId, { token: tok });
    await runAdmin(['token', 'revoke', tok, '--data-dir', daemon.dataDir]);
    expectError(assert, await wsHandshake(daemon.port, pathOf(url)), 401, 'TOKEN_REVOKED');
  });

  it('an account holds at most 16 tickets: the oldest goes first', async () => {
    const s = await acquire();
    const first = await ticketUrl(s.sessionId);
    for (let i = 0; i < 16; i++) await ticketUrl(s.sessionId);
    expectError(assert, await wsHandshake(daemon.port, pathOf(first)), 401, 'INVALID_TICKET', 'evicted');
    const last = await ticketUrl(s.sessionId);
    const c = await openCdp(last);
    c.ws.close();
    await c.closed;
    await waitForNoClient(daemon, s.sessionId);
  });

  it('Authorization on the upgrade still works, without a ticket', async () => {
    const s = await acquire();
    const c = await openCdp(s.webSocketDebuggerUrl, { Authorization: `Bearer ${daemon.token}` });
    assert.ok((await c.send('Browser.getVersion')).result);
    c.ws.close();
    await c.closed;
    expectError(assert, await wsHandshake(daemon.port, pathOf(s.webSocketDebuggerUrl)), 401, 'UNAUTHORIZED');
  });

  it('json/list is an empty list (pages are found over the browser WebSocket)', async () => {
    const s = await acquire();
    for (const p of ['/json', '/json/', '/json/list', '/json/list/']) {
      const res = await httpRequest(daemon.port, 'GET', `/browser/sessions/${s.sessionId}${p}?token=${daemon.token}`);
      assert.equal(res.status, 200, p);
      assert.deepEqual(res.json, []);
    }
  });

  it('json/protocol describes what the session policy allows, and nothing it denies', async () => {
    const s = await acquire();
    expectError(assert, await httpRequest(daemon.port, 'GET', `/browser/sessions/${s.sessionId}/json/protocol`), 401, 'UNAUTHORIZED');
    let body = null;
    for (const p of ['/json/protocol', '/json/protocol/']) {
      const res = await httpRequest(daemon.port, 'GET', `/browser/sessions/${s.sessionId}${p}`, { token: daemon.token });
      assert.equal(res.status, 200, p);
      assert.match(String(res.headers['content-type']), /application\/json/);
      body = body || res.body;
      assert.ok(res.body.equals(body));
    }
    const proto = JSON.parse(body.toString());
    assert.deepEqual(proto.version, { major: '1', minor: '3' });
    const domain = (n) => proto.domains.find((d) => d.domain === n);
    const commands = (n) => (domain(n) ? domain(n).commands.map((c) => c.name) : []);
    for (const m of ['Page.navigate', 'Runtime.evaluate', 'Target.createTarget', 'Target.attachToTarget', 'Input.dispatchMouseEvent']) {
      const [d, c] = m.split('.');
      assert.ok(commands(d).includes(c), `${m} is described`);
    }
    assert.ok(domain('Page').events.some((e) => e.name === 'loadEventFired'));
    assert.equal(domain('Extensions'), undefined, 'a denied domain is not described');
    assert.ok(!commands('Browser').includes('crash'), 'Browser.crash is denied, so not described');
    assert.ok(!commands('Page').includes('crash'));
    // Each command listed is one the proxy forwards: a sample of them
    // answers without "refused by ppod".
    const c = await openCdp(await ticketUrl(s.sessionId));
    for (const m of ['Browser.getVersion', 'Target.getTargets', 'Target.getBrowserContexts']) {
      const [d, n] = m.split('.');
      assert.ok(commands(d).includes(n), m);
      const r = await c.send(m);
      assert.ok(r.result, `${m}: ${JSON.stringify(r)}`);
    }
    c.ws.close();
    await c.closed;
  });

  it('no ticket ever reaches the log', async () => {
    await daemon.request('GET', '/healthz');
    const log = daemon.stderr();
    assert.ok(tickets.length >= 20, `${tickets.length} tickets seen`);
    for (const t of tickets) assert.ok(!log.includes(t), `ticket ${t} is in the daemon's log`);
    assert.ok(!log.includes(daemon.token));
    // The refused upgrades were logged, by path and code alone.
    const refused = jsonLines(daemon).filter((l) => l.msg === 'websocket refused' && l.error === 'INVALID_TICKET');
    assert.ok(refused.length >= 5, `${refused.length} refusals logged`);
    for (const l of refused) {
      assert.match(l.path, /^\/browser\/sessions\/[0-9a-f]+\/devtools\/browser$/);
      assert.equal(l.status, 401);
    }
  });
});

describe('why an agent failed: refusals and disconnects in the history and the log', { timeout: scaled(120000) }, () => {
  const { daemon } = useDaemon({ browsers: 1, fixtures: false });

  it('refusedCalls, lastRefusal, clientConnections and clientDisconnects', async () => {
    const s = await acquireSession(daemon, { keep_alive: 60000 });
    const url = `${s.webSocketDebuggerUrl}?token=${daemon.token}`;
    let c = await openCdp(url);
    const ext = await c.send('Extensions.getExtensions');
    assert.equal(ext.error.message,
      'refused by ppod: Extensions.getExtensions is not available in a session (loads and drives extensions from host paths)');
    const unknown = await c.send('Nope.nothing');
    assert.equal(unknown.error.message, 'refused by ppod: Nope.nothing is not a method ppod knows');
    // The client drops the connection and comes back.
    c.ws.terminate();
    await c.closed;
    await waitForNoClient(daemon, s.sessionId);
    c = await openCdp(url);
    const nav = await c.send('Target.createTarget', { url: 'file:///etc/passwd' });
    assert.equal(nav.error.message,
      'refused by ppod: Target.createTarget: url: only http, https and about:blank URLs may be loaded');
    assert.ok((await c.send('Browser.getVersion')).result);
    // Released while connected: the session's end, not a client leaving.
    assert.equal(await releaseSession(daemon, s.sessionId), 200);
    await c.closed;

    const h = await waitForHistory(daemon, s.sessionId);
    assert.equal(h.refusedCalls, 3);
    assert.equal(h.lastRefusal, nav.error.message);
    assert.equal(h.clientConnections, 2);
    assert.equal(h.clientDisconnects, 1);

    // The log: each refusal with its method, the client's leaving, and the
    // figures at the close.
    const lines = jsonLines(daemon).filter((l) => l.msg === 'cdp refused' && l.session === s.sessionId);
    assert.deepEqual(lines.map((l) => l.method), ['Extensions.getExtensions', 'Nope.nothing', 'Target.createTarget']);
    const log = daemon.stderr();
    assert.match(log, new RegExp(`client left ${s.sessionId} \\(account test\\)`));
    assert.match(log, new RegExp(`${s.sessionId}: 3 refused call\\(s\\), 2 client connection\\(s\\), 1 left early`));
  });

  it('a session nobody refused anything shows zeros and a null lastRefusal', async () => {
    const s = await acquireSession(daemon, { keep_alive: 60000 });
    assert.equal(await releaseSession(daemon, s.sessionId), 200);
    const h = await waitForHistory(daemon, s.sessionId);
    assert.equal(h.refusedCalls, 0);
    assert.equal(h.lastRefusal, null);
    assert.equal(h.clientConnections, 0);
    assert.equal(h.clientDisconnects, 0);
  });
});
