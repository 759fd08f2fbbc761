'use strict';
// Tokens and accounts that can be taken back, as an operator and a client
// see it: `token revoke`, `account disable|enable|delete` run in another
// process against the same store end the token's open CDP WebSockets within
// 2 s (close code 4001 and a reason a client can show) and its queued jobs
// (401 with the matching code); an expired token's socket ends the same way;
// `?token=` works only where a client cannot send a header; /metrics is the
// operator's; every refused WebSocket handshake is logged.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const WebSocket = require('ws');
const {
  useDaemon, scaled, createAccount, createToken, runAdmin, acquireSession,
  releaseSession, httpRequest, reached,
} = require('./harness');

const CLOSE_AUTH = 4001;
const PREFIX_LEN = 12;

// Opens the session's CDP WebSocket with ?token= and resolves once open;
// `closed` resolves with {code, reason, at}.
async function openCdp(session, token) {
  const ws = new WebSocket(`${session.webSocketDebuggerUrl}?token=${token}`, { perMessageDeflate: false });
  const closed = new Promise((resolve) => ws.once('close', (code, reason) =>
    resolve({ code, reason: reason.toString(), at: Date.now() })));
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  // The socket works for CDP before anything is taken back.
  const reply = await new Promise((resolve) => {
    ws.once('message', (d) => resolve(JSON.parse(d.toString())));
    ws.send(JSON.stringify({ id: 1, method: 'Browser.getVersion' }));
  });
  assert.ok(reply.result && reply.result.product, JSON.stringify(reply));
  return { ws, closed };
}

// A refused upgrade: the HTTP status the client sees.
function refusedUpgrade(session, token) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${session.webSocketDebuggerUrl}?token=${token}`);
    ws.once('unexpected-response', (req, res) => { resolve(res.statusCode); ws.terminate(); });
    ws.once('open', () => { resolve('open'); ws.close(); });
    ws.once('error', () => {});
  });
}


describe('tokens and accounts that can be taken back', { timeout: scaled(240000) }, () => {
  const sessions = [];

  // Registered before useDaemon(): runs while the daemon is still up.
  after(async () => {
    for (const [id, token] of sessions) await releaseSession(daemon, id, { token }).catch(() => {});
  });

  // One job thread: a slow job holds it so others queue behind it.
  const { daemon, fixtures } = useDaemon({
    browsers: 1, args: ['--concurrency', '1', '--spares', '1'], timeout: scaled(60000),
  });

  it('token revoke PREFIX closes the token\'s open WebSocket within 2 s with 4001 "token revoked"; the token is refused after', async () => {
    const token = await createToken(daemon.dataDir, 'test');
    const s = await acquireSession(daemon, { keep_alive: 60000 }, { token });
    sessions.push([s.sessionId, daemon.token]);
    const { closed } = await openCdp(s, token);
    const { stdout } = await runAdmin(['token', 'list', 'test', '--data-dir', daemon.dataDir]);
    assert.ok(stdout.includes(token.slice(0, PREFIX_LEN)), stdout);
    await runAdmin(['token', 'revoke', token.slice(0, PREFIX_LEN), '--data-dir', daemon.dataDir]);
    const revokedAt = Date.now();
    const c = await Promise.race([closed, new Promise((r) => setTimeout(() => r(null), scaled(5000)))]);
    assert.ok(c, 'the WebSocket was closed');
    assert.equal(c.code, CLOSE_AUTH);
    assert.equal(c.reason, 'token revoked');
    assert.ok(c.at - revokedAt <= scaled(2000), `closed ${c.at - revokedAt} ms after the revoke`);
    // HTTP and a new handshake are refused; the other token still works.
    const res = await daemon.request('GET', '/browser/limits', { token });
    assert.equal(res.status, 401);
    assert.equal(res.json.errors[0].code, 'TOKEN_REVOKED');
    assert.equal(await refusedUpgrade(s, token), 401);
    const log = await daemon.logLine((l) => l.msg === 'websocket refused' && l.error === 'TOKEN_REVOKED')
      .catch(() => null);
    assert.ok(log, 'the refused handshake is logged');
    assert.equal(log.account, 'test');
    assert.equal(log.session, s.sessionId);
    assert.equal(log.status, 401);
    assert.ok(!JSON.stringify(log).includes(token), 'the token is not logged');
    assert.equal((await daemon.request('GET', '/browser/limits')).status, 200);
  });

  it('an ambiguous or unknown prefix revokes nothing', async () => {
    await assert.rejects(runAdmin(['token', 'revoke', 'ppod_', '--data-dir', daemon.dataDir]), /neither a token nor a token prefix/);
    await assert.rejects(runAdmin(['token', 'revoke', 'ppod_$$$', '--data-dir', daemon.dataDir]));
    assert.equal((await daemon.request('GET', '/browser/limits')).status, 200);
  });

  it('a token that expires while its WebSocket is open: closed with 4001 "token expired" within 2 s', async () => {
    const token = await createToken(daemon.dataDir, 'test', { ttlSeconds: 4 });
    const made = Date.now();
    const s = await acquireSession(daemon, { keep_alive: 60000 }, { token });
    sessions.push([s.sessionId, daemon.token]);
    const { closed } = await openCdp(s, token);
    const c = await Promise.race([closed, new Promise((r) => setTimeout(() => r(null), scaled(10000)))]);
    assert.ok(c, 'the WebSocket was closed');
    assert.equal(c.code, CLOSE_AUTH);
    assert.equal(c.reason, 'token expired');
    assert.ok(c.at - made <= 4000 + scaled(2500), `closed ${c.at - made} ms after a 4 s token was made`);
  });

  it('account disable ends its WebSocket ("account disabled") and answers its queued job 401 ACCOUNT_DISABLED within 2 s; enable lets it back', async () => {
    const tokenB = await createAccount(daemon.dataDir, 'bea');
    const s = await acquireSession(daemon, { keep_alive: 60000 }, { token: tokenB });
    sessions.push([s.sessionId, tokenB]);
    const { closed } = await openCdp(s, tokenB);
    // The one job thread is busy with a slow page; bea's job waits behind it.
    const hit = fixtures.nextRequest('/slow');
    const slow = daemon.request('POST', '/browser/content', {
      json: { url: `${fixtures.url}/slow?ms=8000`, gotoOptions: { timeout: 20000 } }, timeout: scaled(30000),
    });
    await reached(hit, slow);
    const queued = daemon.request('POST', '/browser/content', { json: { html: '<p>bea</p>' }, token: tokenB });
    await new Promise((r) => setTimeout(r, 300)); // admitted and queued (no event to wait on)
    await runAdmin(['account', 'disable', 'bea', '--data-dir', daemon.dataDir]);
    const at = Date.now();
    const q = await queued;
    assert.equal(q.status, 401, q.body.toString());
    assert.equal(q.json.errors[0].code, 'ACCOUNT_DISABLED');
    assert.ok(Date.now() - at <= scaled(2000), `queued job answered ${Date.now() - at} ms after the disable`);
    const c = await closed;
    assert.equal(c.code, CLOSE_AUTH);
    assert.equal(c.reason, 'account disabled');
    assert.ok(c.at - at <= scaled(2000));
    assert.equal((await slow).status, 200, 'the other account\'s job was not touched');
    assert.equal((await daemon.request('GET', '/browser/limits', { token: tokenB })).json.errors[0].code, 'ACCOUNT_DISABLED');
    await runAdmin(['account', 'enable', 'bea', '--data-dir', daemon.dataDir]);
    assert.equal((await daemon.request('GET', '/browser/limits', { token: tokenB })).status, 200);
  });

  it('account delete: its tokens stop working, its name cannot get a token or be taken again, its usage is kept', async () => {
    const tokenC = await createAccount(daemon.dataDir, 'cid');
    const r = await daemon.request('POST', '/browser/content', { json: { html: '<p>cid</p>' }, token: tokenC });
    assert.equal(r.status, 200);
    await runAdmin(['account', 'delete', 'cid', '--data-dir', daemon.dataDir]);
    const res = await daemon.request('GET', '/browser/usage', { token: tokenC });
    assert.equal(res.status, 401);
    assert.equal(res.json.errors[0].code, 'ACCOUNT_DELETED');
    await assert.rejects(createToken(daemon.dataDir, 'cid'), /no account named cid/);
    await assert.rejects(createAccount(daemon.dataDir, 'cid'), /already exists/);
    const { stdout } = await runAdmin(['account', 'list', '--data-dir', daemon.dataDir]);
    assert.match(stdout, /^cid\t\S+\tdeleted$/m);
  });

  it('--max-token-ttl (default 90 days) caps token create --ttl', async () => {
    await assert.rejects(runAdmin(['token', 'create', 'test', '--ttl', '91', '--data-dir', daemon.dataDir]),
      /over the --max-token-ttl of 90 days/);
    await assert.rejects(runAdmin(['token', 'create', 'test', '--ttl', '30', '--max-token-ttl', '7', '--data-dir', daemon.dataDir]),
      /max-token-ttl of 7 days/);
    const { stdout } = await runAdmin(['token', 'create', 'test', '--ttl', '90', '--data-dir', daemon.dataDir]);
    assert.match(stdout.trim(), /^pp_sess_[A-Za-z0-9_-]{43}$/);
  });

  it('?token= is refused outside the session WebSocket and discovery URLs, and accepted there', async () => {
    for (const p of ['/browser/limits', '/browser/usage', '/browser/traces/x', '/browser/sessions']) {
      const res = await httpRequest(daemon.port, 'GET', `${p}?token=${daemon.token}`);
      assert.equal(res.status, 401, p);
      assert.match(res.json.errors[0].message, /Authorization: Bearer/, p);
    }
    const post = await httpRequest(daemon.port, 'POST', `/browser/content?token=${daemon.token}`, { json: { html: '<p>x</p>' } });
    assert.equal(post.status, 401);
    const s = await acquireSession(daemon, { keep_alive: 30000 });
    sessions.push([s.sessionId, daemon.token]);
    const v = await httpRequest(daemon.port, 'GET', `/browser/sessions/${s.sessionId}/json/version?token=${daemon.token}`);
    assert.equal(v.status, 200, v.body.toString());
    assert.ok(v.json.webSocketDebuggerUrl);
    const list = await httpRequest(daemon.port, 'GET', `/browser/sessions/${s.sessionId}/json/list?token=${daemon.token}`);
    assert.equal(list.status, 200);
    const { ws, closed } = await openCdp(s, daemon.token);
    ws.close();
    await closed;
  });

  it('a refused WebSocket upgrade never writes its ?token= to the log', async () => {
    for (const p of ['/browser/sessions/0123abcd', '/browser/sessions/0123abcd/json/version', '/browser/sessions/0123abcd/devtool']) {
      const ws = new WebSocket(`ws://127.0.0.1:${daemon.port}${p}?token=${daemon.token}`, { perMessageDeflate: false });
      const status = await new Promise((resolve) => {
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode));
        ws.on('open', () => { ws.close(); resolve(101); });
        ws.on('error', () => resolve(0));
      });
      assert.equal(status, 404, p);
    }
    await daemon.request('GET', '/healthz'); // the refusals were logged before this answer
    const log = daemon.stderr();
    assert.match(log, /websocket refused/);
    assert.ok(!log.includes(daemon.token), 'the token appears in the daemon log');
  });

  it('/metrics answers loopback peers without pids when no --metrics-token is set', async () => {
    const res = await httpRequest(daemon.port, 'GET', '/metrics');
    assert.equal(res.status, 200);
    const text = res.body.toString();
    assert.match(text, /ppod_browser_rss_bytes\{browser="\d+",role="pool"\}/);
    assert.doesNotMatch(text, /pid="/);
  });
});

describe('/metrics with --metrics-token', { timeout: scaled(60000) }, () => {
  const { daemon } = useDaemon({ browsers: 1, args: ['--metrics-token', 'scrape-secret'], fixtures: false });

  it('wants that Bearer token (an account token is not enough), and then names browser pids', async () => {
    for (const token of [null, daemon.token, 'scrape-secre', 'scrape-secretX']) {
      const res = await daemon.request('GET', '/metrics', { token });
      assert.equal(res.status, 401, String(token));
    }
    const res = await daemon.request('GET', '/metrics', { token: 'scrape-secret' });
    assert.equal(res.status, 200);
    const pids = daemon.browserPids();
    assert.ok(pids.length >= 1);
    assert.match(res.body.toString(), new RegExp(`pid="(${pids.join('|')})"`));
  });
});
