'use strict';
// Acquired sessions as a user sees them: keep_alive expiry, isolation between
// accounts, one client at a time, the CDP policy, quick actions inside a
// session, per-account limits with exact Retry-After, and the ppod commands.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const puppeteer = require('puppeteer-core');
const CDP = require('chrome-remote-interface');
const {
  useDaemon, createAccount, makeTempDir, scaled, expectError, pollUntil,
  decodePng, pixel, colorNear, PNG_MAGIC, setLimits, acquireSession, releaseSession,
  waitForHistory, waitForNoClient, wsHandshake,
} = require('./harness');

const BIN_DIR = process.env.PPOD_BIN_DIR || path.join(__dirname, '..', '..', 'build');
const PPOD = path.join(BIN_DIR, 'ppod');
const GREEN = [0, 255, 0];
const RED = [255, 0, 0];

let tmp;
// Every session this file acquired and has not seen end: [id, token].
const acquired = new Map();

// Registered first, so it runs while the daemon is still up.
after(async () => {
  for (const [id, token] of acquired) await releaseSession(daemon, id, { token }).catch(() => {});
});

const { daemon, fixtures } = useDaemon({ args: ['--spares', '1'] });

before(async () => {
  tmp = await makeTempDir('ppod-sessions-');
});

async function acquire(body = {}, token = daemon.token) {
  const s = await acquireSession(daemon, body, { token });
  acquired.set(s.sessionId, token);
  return s;
}

async function release(id, token = daemon.token) {
  const res = await daemon.request('DELETE', `/browser/sessions/${id}`, { token });
  assert.equal(res.status, 200, `DELETE /browser/sessions/${id}: ${res.body}`);
  acquired.delete(id);
  return res;
}

function sessionIds(res) {
  assert.equal(res.status, 200, String(res.body));
  return res.json.result.map((s) => s.sessionId);
}

// A CDP client on the session (chrome-remote-interface, token in the URL).
function cdpClient(session, token = daemon.token) {
  return CDP({ local: true, target: `${session.webSocketDebuggerUrl}?token=${token}` });
}

function ppod(args, env = {}) {
  const base = { ...process.env };
  delete base.PAPERPOD_URL;
  delete base.PAPERPOD_TOKEN;
  base.XDG_CONFIG_HOME = path.join(tmp, 'no-config');
  const full = { ...base, PAPERPOD_URL: daemon.url, PAPERPOD_TOKEN: daemon.token, ...env };
  return new Promise((resolve) => {
    execFile(PPOD, args, { env: full, timeout: scaled(60000) }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, stdout, stderr });
    });
  });
}

// ------------------------------------------------------------- keep_alive

test('keep_alive: an idle session closes with BrowserIdle', { timeout: scaled(30000) }, async () => {
  const s = await acquire({ keep_alive: 1500 });
  const acquiredAt = Date.now(); // the daemon's wall clock is this machine's
  assert.equal(s.keepAliveMs, 1500);
  const listed = await daemon.request('GET', `/browser/sessions/${s.sessionId}`);
  assert.equal(listed.status, 200);
  assert.equal(listed.json.result.keepAliveMs, 1500);

  const h = await waitForHistory(daemon, s.sessionId, { timeout: scaled(15000) });
  acquired.delete(s.sessionId);
  assert.equal(h.closeReason, 'BrowserIdle');
  const idle = h.endTime - acquiredAt;
  assert.ok(idle >= 1500 - 50, `closed ${idle} ms after the acquisition, before keep_alive ran out`);
  assert.ok(idle < 1500 + scaled(4000), `closed ${idle} ms after the acquisition, long after keep_alive`);
  assert.ok(h.endTime - h.startTime >= 1500);
  expectError(assert, await daemon.request('GET', `/browser/sessions/${s.sessionId}`), 404, 'SESSION_NOT_FOUND');
  assert.ok(!sessionIds(await daemon.request('GET', '/browser/sessions')).includes(s.sessionId));
  const ws = await wsHandshake(daemon.port, `/browser/sessions/${s.sessionId}/devtools/browser?token=${daemon.token}`);
  assert.equal(ws.status, 404);
});

test('keep_alive: CDP traffic keeps a session alive; a silent client does not', { timeout: scaled(30000) }, async () => {
  const s = await acquire({ keep_alive: 1500 });
  const client = await cdpClient(s);
  const disconnected = new Promise((r) => client.once('disconnect', r));
  // 3.5 s of traffic, more than twice keep_alive.
  const end = Date.now() + 3500;
  while (Date.now() < end) {
    const v = await client.send('Browser.getVersion');
    assert.match(v.product, /Chrome/);
    await new Promise((r) => setTimeout(r, 300));
  }
  const live = await daemon.request('GET', `/browser/sessions/${s.sessionId}`);
  assert.equal(live.status, 200, `the session ended despite traffic: ${live.body}`);
  // Connected but silent: the session ends and the client is told so (its
  // WebSocket is closed), as when the session is released.
  const h = await waitForHistory(daemon, s.sessionId, { timeout: scaled(15000) });
  acquired.delete(s.sessionId);
  assert.equal(h.closeReason, 'BrowserIdle');
  const limit = scaled(3000);
  const told = await Promise.race([disconnected.then(() => true),
    new Promise((r) => { setTimeout(r, limit, false).unref(); })]);
  if (!told) await client.close().catch(() => {});
  assert.ok(told, `the session closed (BrowserIdle) but the connected client's WebSocket was still open ${limit} ms later`);
});

test('Browser.close from a client that leaves as the answer comes still ends the session (NormalClosure)', { timeout: scaled(30000) }, async () => {
  // As Puppeteer's browser.close() does: the answer comes, the socket is
  // dropped at once. No connection is then left to notice the close, yet
  // the session must end now, not after keep_alive.
  const WebSocket = require('ws');
  const s = await acquire({ keep_alive: 60000 });
  const ws = new WebSocket(`${s.webSocketDebuggerUrl}?token=${daemon.token}`);
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  const answered = new Promise((resolve, reject) => {
    ws.on('message', (m) => { if (JSON.parse(m).id === 1) { ws.terminate(); resolve(); } });
    ws.once('close', (code, why) => reject(new Error(`closed (${code} ${why}) before Browser.close was answered`)));
  });
  ws.send(JSON.stringify({ id: 1, method: 'Browser.close' }));
  await answered;
  const h = await waitForHistory(daemon, s.sessionId, { timeout: scaled(10000) });
  acquired.delete(s.sessionId);
  assert.equal(h.closeReason, 'NormalClosure');
  const gone = await daemon.request('GET', `/browser/sessions/${s.sessionId}`);
  assert.equal(gone.status, 404);
});

// ------------------------------------------------------------- accounts

test('another account gets 404 for everything of a session and cannot use it', { timeout: scaled(40000) }, async (t) => {
  const tokenB = await createAccount(daemon.dataDir, 'b');
  const s = await acquire({ keep_alive: 30000 });
  const id = s.sessionId;
  const asB = (method, p, opts = {}) => daemon.request(method, p, { ...opts, token: tokenB });
  const unknown = crypto.randomBytes(16).toString('hex');

  await t.test('B: GET, DELETE and CDP discovery answer 404 like for an id that never existed', async () => {
    for (const [method, suffix] of [['GET', ''], ['DELETE', ''], ['GET', '/json/version'],
      ['GET', '/json/version/'], ['GET', '/json/list'], ['GET', '/json']]) {
      const theirs = await asB(method, `/browser/sessions/${id}${suffix}`);
      const none = await asB(method, `/browser/sessions/${unknown}${suffix}`);
      const e = expectError(assert, theirs, 404, 'SESSION_NOT_FOUND', `B ${method} ${suffix}`);
      const e2 = expectError(assert, none, 404, 'SESSION_NOT_FOUND', `B ${method} ${suffix} (unknown id)`);
      assert.equal(e.message.replace(id, 'ID'), e2.message.replace(unknown, 'ID'));
      assert.ok(!theirs.body.toString().includes(s.webSocketDebuggerUrl));
    }
  });

  await t.test('B: the WebSocket is refused with 404, by header or ?token=', async () => {
    const p = `/browser/sessions/${id}/devtools/browser`;
    const byHeader = await wsHandshake(daemon.port, p, { headers: { Authorization: `Bearer ${tokenB}` } });
    assert.equal(byHeader.status, 404);
    assert.equal(byHeader.json && byHeader.json.errors[0].code, 'SESSION_NOT_FOUND');
    const byQuery = await wsHandshake(daemon.port, `${p}?token=${tokenB}`);
    assert.equal(byQuery.status, 404);
    await assert.rejects(puppeteer.connect({ browserWSEndpoint: `${s.webSocketDebuggerUrl}?token=${tokenB}` }));
    // Without a token, or with a bad one: 401, before anything about the session.
    assert.equal((await wsHandshake(daemon.port, p)).status, 401);
    assert.equal((await wsHandshake(daemon.port, `${p}?token=not-a-token`)).status, 401);
  });

  await t.test('B: not in B\'s sessions, limits or history', async () => {
    assert.deepEqual(sessionIds(await asB('GET', '/browser/sessions')), []);
    const lim = await asB('GET', '/browser/limits');
    assert.equal(lim.status, 200);
    assert.deepEqual(lim.json.result.activeSessions, []);
    assert.ok(sessionIds(await daemon.request('GET', '/browser/sessions')).includes(id), 'A sees it');
  });

  await t.test('B: a quick action with A\'s sessionId is refused and loads nothing', async () => {
    const before = fixtures.requests.length;
    const res = await asB('POST', '/browser/content', { json: { url: `${fixtures.url}/echo?who=b`, sessionId: id } });
    expectError(assert, res, 404, 'SESSION_NOT_FOUND');
    const shot = await asB('POST', '/browser/screenshot', { json: { url: `${fixtures.url}/echo?who=b`, sessionId: id } });
    expectError(assert, shot, 404, 'SESSION_NOT_FOUND');
    assert.equal(fixtures.requests.length, before, 'no page was fetched');
  });

  await t.test('A\'s session is untouched and A can use it; its history is A\'s alone', async () => {
    const client = await cdpClient(s);
    assert.match((await client.send('Browser.getVersion')).product, /Chrome/);
    await client.close();
    await release(id);
    const h = await waitForHistory(daemon, id);
    assert.equal(h.closeReason, 'Released');
    const hb = await asB('GET', '/browser/history');
    assert.equal(hb.status, 200);
    assert.ok(!hb.json.result.some((x) => x.sessionId === id));
  });
});

// ------------------------------------------------------------- one client

test('a second simultaneous client gets 409 SESSION_IN_USE; after the first leaves one can connect', { timeout: scaled(30000) }, async () => {
  const s = await acquire({ keep_alive: 30000 });
  const first = await cdpClient(s);
  const p = `/browser/sessions/${s.sessionId}/devtools/browser`;
  const second = await wsHandshake(daemon.port, p, { headers: { Authorization: `Bearer ${daemon.token}` } });
  assert.equal(second.status, 409);
  assert.equal(second.json && second.json.errors[0].code, 'SESSION_IN_USE');
  await assert.rejects(puppeteer.connect({ browserWSEndpoint: `${s.webSocketDebuggerUrl}?token=${daemon.token}` }));
  // The first client is unaffected.
  assert.match((await first.send('Browser.getVersion')).product, /Chrome/);
  await first.close();
  await waitForNoClient(daemon, s.sessionId);
  const third = await puppeteer.connect({ browserWSEndpoint: `${s.webSocketDebuggerUrl}?token=${daemon.token}` });
  assert.ok((await third.version()).includes('Chrome'));
  await third.disconnect();
  await release(s.sessionId);
});

// ------------------------------------------------------------- CDP policy

test('denied CDP methods are answered with an error and the browser stays healthy', { timeout: scaled(40000) }, async () => {
  const s = await acquire({ keep_alive: 30000 });
  const client = await cdpClient(s);
  try {
    const { targetId } = await client.send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await client.send('Target.attachToTarget', { targetId, flatten: true });
    await client.send('Page.enable', {}, sessionId);
    const loaded = new Promise((r) => client.once(`Page.loadEventFired.${sessionId}`, r));
    await client.send('Page.navigate', { url: `${fixtures.url}/session-form.html` }, sessionId);
    await loaded;
    const { frameTree } = await client.send('Page.getFrameTree', {}, sessionId);
    const frameId = frameTree.frame.id;
    const href = async () => (await client.send('Runtime.evaluate',
      { expression: 'location.href', returnByValue: true }, sessionId)).result.value;
    const targetUrls = async () => (await client.send('Target.getTargets')).targetInfos.map((x) => x.url);
    const targetsBefore = await targetUrls();

    // [method, params, flat session or undefined]
    const denied = [
      ['Browser.crash', {}],
      ['Browser.crashGpuProcess', {}],
      ['Browser.getBrowserCommandLine', {}],
      ['Browser.executeBrowserCommand', { commandId: 'openTabSearch' }],
      ['SystemInfo.getInfo', {}],
      ['SystemInfo.getProcessInfo', {}],
      ['Tethering.bind', { port: 9222 }],
      ['Target.exposeDevToolsProtocol', { targetId, bindingName: 'cdp' }],
      ['Target.setRemoteLocations', { locations: [{ host: '127.0.0.1', port: 9222 }] }],
      ['Network.loadNetworkResource',
        { frameId, url: 'file:///etc/passwd', options: { disableCache: true, includeCredentials: false } }, sessionId],
      ['Page.navigate', { url: 'file:///etc/passwd' }, sessionId],
      ['Page.navigate', { url: 'http://169.254.169.254/latest/meta-data/' }, sessionId],
      ['Target.createTarget', { url: 'http://169.254.169.254/latest/meta-data/' }],
      ['Target.createTarget', { url: 'http://10.1.2.3/' }],
      ['Target.createTarget', { url: 'http://127.0.0.1:1/' }], // loopback, port not allow-listed
      ['Target.createTarget', { url: 'file:///etc/passwd' }],
      ['Browser.crash', {}, sessionId], // not through a page session either
      ['Nonexistent.method', {}],
    ];
    for (const [method, params, sid] of denied) {
      const what = `${method} ${JSON.stringify(params)}${sid ? ' (page session)' : ''}`;
      const err = await client.send(method, params, sid).then(() => null, (e) => e);
      assert.ok(err, `${what} was not refused`);
      assert.ok(err.response, `${what}: a CDP error answer, got ${err.message}`);
      assert.equal(err.response.code, -32000, what);
      assert.match(err.response.message, /refused/, what);
      // Healthy: the browser and the page still answer.
      assert.match((await client.send('Browser.getVersion')).product, /Chrome/, `after ${what}`);
      assert.equal(await href(), `${fixtures.url}/session-form.html`, `after ${what}`);
    }
    assert.deepEqual((await targetUrls()).sort(), targetsBefore.sort(), 'no target was created');
    const live = await daemon.request('GET', `/browser/sessions/${s.sessionId}`);
    assert.equal(live.status, 200, 'the session is still live');
    // An allowed navigation still works after all that.
    const loaded2 = new Promise((r) => client.once(`Page.loadEventFired.${sessionId}`, r));
    await client.send('Page.navigate', { url: `${fixtures.url}/title.html` }, sessionId);
    await loaded2;
    assert.equal(await href(), `${fixtures.url}/title.html`);
  } finally {
    await client.close();
  }
  await release(s.sessionId);
  assert.equal((await waitForHistory(daemon, s.sessionId)).closeReason, 'Released');
});

// ------------------------------------------------------------- quick actions in a session

test('ppod browser:screenshot --session sees a cookie set earlier in the session', { timeout: scaled(40000) }, async () => {
  const s = await acquire({ keep_alive: 30000 });
  const browser = await puppeteer.connect({ browserWSEndpoint: `${s.webSocketDebuggerUrl}?token=${daemon.token}` });
  try {
    const page = await browser.newPage();
    await page.goto(`${fixtures.url}/title.html`);
    const title = await page.title();
    await page.evaluate(() => { document.cookie = 'ppod_sid=s3cret; path=/'; });
    const pagesBefore = (await browser.pages()).length;

    const echo = `${fixtures.url}/echo?check=cookie:ppod_sid=s3cret`;
    const out = path.join(tmp, 'in-session.png');
    const hit = fixtures.nextRequest('/echo');
    const r = await ppod(['browser:screenshot', echo, '--session', s.sessionId, '-o', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), out);
    assert.equal((await hit).headers.cookie, 'ppod_sid=s3cret');
    const bytes = fs.readFileSync(out);
    assert.deepEqual(bytes.subarray(0, 8), PNG_MAGIC);
    const png = decodePng(bytes);
    assert.ok(colorNear(pixel(png, 10, 50), GREEN), `cookie band green, got ${pixel(png, 10, 50)}`);

    // Without --session the quick action runs in a fresh context: no cookie.
    const plain = path.join(tmp, 'no-session.png');
    const r2 = await ppod(['browser:screenshot', echo, '-o', plain]);
    assert.equal(r2.code, 0, r2.stderr);
    assert.ok(colorNear(pixel(decodePng(fs.readFileSync(plain)), 10, 50), RED));

    // The HTTP form, /browser/content with sessionId, sees it too.
    const content = await daemon.request('POST', '/browser/content', { json: { url: `${fixtures.url}/echo`, sessionId: s.sessionId } });
    assert.equal(content.status, 200, String(content.body));
    assert.match(content.json.result, /&quot;ppod_sid&quot;: &quot;s3cret&quot;|"ppod_sid": "s3cret"/);

    // The quick actions' tabs are closed afterwards; the client's page is intact.
    await pollUntil(async () => (await browser.pages()).length === pagesBefore,
      { timeout: scaled(5000), what: 'the quick actions\' tabs closed' });
    assert.equal(await page.title(), title);
  } finally {
    await browser.disconnect();
  }
  // A quick action with a session id that is not live: 404.
  await release(s.sessionId);
  const gone = await ppod(['browser:screenshot', `${fixtures.url}/title.html`, '--session', s.sessionId, '-o', path.join(tmp, 'x.png')]);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /SESSION_NOT_FOUND/);
  assert.ok(!fs.existsSync(path.join(tmp, 'x.png')));
});

// ------------------------------------------------------------- limits

test('maxConcurrentSessions=1: a second acquire is 429 LIMIT_EXCEEDED until the first ends', { timeout: scaled(40000) }, async () => {
  const token = await createAccount(daemon.dataDir, 'c');
  await setLimits(daemon.dataDir, 'c', { maxConcurrentSessions: 1 });
  const s = await acquire({ keep_alive: 30000 }, token);
  const res = await daemon.request('POST', '/browser/acquire', { json: {}, token });
  expectError(assert, res, 429, 'LIMIT_EXCEEDED');
  assert.match(String(res.headers['retry-after']), /^[1-9][0-9]*$/);
  const lim = await daemon.request('GET', '/browser/limits', { token });
  assert.equal(lim.status, 200);
  assert.equal(lim.json.result.maxConcurrentSessions, 1);
  assert.deepEqual(lim.json.result.activeSessions, [{ id: s.sessionId }]);
  assert.equal(lim.json.result.allowedBrowserAcquisitions, 0);
  await release(s.sessionId, token);
  await waitForHistory(daemon, s.sessionId, { token });
  const again = await acquire({ keep_alive: 30000 }, token);
  await release(again.sessionId, token);
});

test('acquisitionsPerMinute=2: the third acquire is 429 RATE_LIMITED with an exact Retry-After', { timeout: scaled(50000) }, async () => {
  const token = await createAccount(daemon.dataDir, 'd');
  await setLimits(daemon.dataDir, 'd', { acquisitionsPerMinute: 2 });
  const t0 = Date.now();
  const first = await acquire({ keep_alive: 30000 }, token);
  const second = await acquire({ keep_alive: 30000 }, token);
  const third = await daemon.request('POST', '/browser/acquire', { json: { keep_alive: 30000 }, token });
  const t1 = Date.now();
  expectError(assert, third, 429, 'RATE_LIMITED');
  const retry = Number(third.headers['retry-after']);
  // The bucket holds 2 and refills one every 30 s: the next token comes
  // 30 s after the first acquisition, minus the time since.
  const lowest = Math.ceil((30000 - (t1 - t0)) / 1000);
  assert.ok(retry >= lowest && retry <= 30, `Retry-After ${third.headers['retry-after']}, want ${lowest}..30 (${t1 - t0} ms after the first)`);
  if (t1 - t0 < 1000) assert.ok(retry >= 29, `Retry-After ${retry}`);

  const lim = await daemon.request('GET', '/browser/limits', { token });
  const t2 = Date.now();
  assert.equal(lim.status, 200);
  const wait = lim.json.result.timeUntilNextAllowedBrowserAcquisition;
  assert.equal(lim.json.result.allowedBrowserAcquisitions, 0);
  assert.ok(wait <= retry * 1000 && wait > (retry - 1) * 1000 - (t2 - t1),
    `timeUntilNextAllowedBrowserAcquisition ${wait} ms disagrees with Retry-After ${retry} s`);

  // The CLI says the same (asked not to wait and retry, as it would).
  const cli = await ppod(['browser:acquire'], { PAPERPOD_TOKEN: token, PAPERPOD_RETRIES: '0' });
  assert.equal(cli.code, 1);
  assert.equal(cli.stdout, '');
  assert.match(cli.stderr, /RATE_LIMITED/);
  const m = /retry in (\d+) s/.exec(cli.stderr);
  assert.ok(m, cli.stderr);
  assert.ok(Number(m[1]) <= retry && Number(m[1]) >= retry - 1 - Math.ceil((Date.now() - t1) / 1000));

  // Releasing refunds nothing: still rate limited, not over the session cap.
  await release(first.sessionId, token);
  await release(second.sessionId, token);
  expectError(assert, await daemon.request('POST', '/browser/acquire', { json: {}, token }), 429, 'RATE_LIMITED');

  // Another account at its own limits is not slowed down.
  const t3 = Date.now();
  const other = await acquire({ keep_alive: 30000 });
  assert.ok(Date.now() - t3 < scaled(15000));
  await release(other.sessionId);
});

// ------------------------------------------------------------- ppod

test('ppod browser:acquire/connect/sessions/limits/release/history end to end', { timeout: scaled(40000) }, async () => {
  const acq = await ppod(['browser:acquire', '--keep-alive', '20000']);
  assert.equal(acq.code, 0, acq.stderr);
  const id = acq.stdout.trim();
  assert.match(id, /^[0-9a-f]{32}$/, `stdout is the id alone: ${JSON.stringify(acq.stdout)}`);
  acquired.set(id, daemon.token);

  const con = await ppod(['browser:connect', id, '--print']);
  assert.equal(con.code, 0, con.stderr);
  const ws = `ws://127.0.0.1:${daemon.port}/browser/sessions/${id}/devtools/browser`;
  assert.equal(con.stdout, `${ws}\n`);
  assert.equal(con.stderr.trim().split('\n').length, 1, `one hint line: ${con.stderr}`);
  assert.match(con.stderr, /puppeteer/i);
  assert.match(con.stderr, /connectOverCDP/);
  // The printed URL is the one a client uses.
  const browser = await puppeteer.connect({ browserWSEndpoint: `${con.stdout.trim()}?token=${daemon.token}` });
  assert.ok((await browser.version()).includes('Chrome'));
  await browser.disconnect();

  const list = await ppod(['browser:sessions']);
  assert.equal(list.code, 0, list.stderr);
  const sessions = JSON.parse(list.stdout);
  const mine = sessions.find((x) => x.sessionId === id);
  assert.ok(mine, list.stdout);
  assert.equal(mine.keepAliveMs, 20000);

  const lim = await ppod(['browser:limits']);
  assert.equal(lim.code, 0, lim.stderr);
  const limits = JSON.parse(lim.stdout);
  assert.ok(limits.activeSessions.some((x) => x.id === id), lim.stdout);
  assert.equal(typeof limits.maxConcurrentSessions, 'number');

  const rel = await ppod(['browser:release', id]);
  assert.equal(rel.code, 0, rel.stderr);
  acquired.delete(id);
  assert.match(rel.stdout, new RegExp(id));

  const gone = await ppod(['browser:connect', id]);
  assert.equal(gone.code, 1);
  assert.equal(gone.stdout, '');
  assert.match(gone.stderr, /SESSION_NOT_FOUND/);
  const again = await ppod(['browser:release', id]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /SESSION_NOT_FOUND/);

  // The history row is written as the browser is torn down, just after
  // the release is answered.
  const entry = await pollUntil(async () => {
    const hist = await ppod(['browser:history']);
    assert.equal(hist.code, 0, hist.stderr);
    return JSON.parse(hist.stdout).find((x) => x.sessionId === id);
  }, { timeout: scaled(5000), interval: 100, what: `ppod browser:history listing ${id}` });
  assert.equal(entry.closeReason, 'Released');

  const json = await ppod(['browser:acquire', '--json']);
  assert.equal(json.code, 0, json.stderr);
  const result = JSON.parse(json.stdout);
  acquired.set(result.sessionId, daemon.token);
  assert.match(result.sessionId, /^[0-9a-f]{32}$/);
  assert.equal(result.webSocketDebuggerUrl, `ws://127.0.0.1:${daemon.port}/browser/sessions/${result.sessionId}/devtools/browser`);
  assert.equal(result.keepAliveMs, 60000);
  const rel2 = await ppod(['browser:release', result.sessionId]);
  assert.equal(rel2.code, 0, rel2.stderr);
  acquired.delete(result.sessionId);

  const usage = await ppod(['browser:usage']);
  assert.equal(usage.code, 0, usage.stderr);
  const u = JSON.parse(usage.stdout);
  assert.equal(typeof u.browserMs, 'number');
  assert.ok(u.count >= 1, usage.stdout);
});
