'use strict';
// Persistent contexts as a user sees them: log in to an app in one session,
// come back in another and still be logged in (a persistent cookie, a
// localStorage token, an IndexedDB record); without persist nothing is
// kept; a crash keeps the last saved state; one session per context; other
// accounts see nothing; caps; a daemon restart in between; the idle path.
const { test, describe, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { execFile } = require('node:child_process');
const path = require('node:path');
const puppeteer = require('puppeteer-core');
const {
  useDaemon, startDaemon, createAccount, scaled, expectError, pollUntil, setLimits,
  acquireSession, releaseSession, waitForHistory,
} = require('./harness');

// Every session this file acquired and has not seen end: [id, {daemon, token}].
const acquired = new Map();

after(async () => {
  for (const [id, { d, token }] of acquired) await releaseSession(d, id, { token }).catch(() => {});
});

const { daemon, fixtures } = useDaemon();

let other; // a second account's token
let ready = null;
// Once, by the first test that needs it (the daemon is up by then).
function setup() {
  ready = ready || (async () => {
    await setLimits(daemon.dataDir, 'test', { acquisitionsPerMinute: 6000, maxConcurrentSessions: 20 });
    other = await createAccount(daemon.dataDir, 'other');
  })();
  return ready;
}

async function acquire(body = {}, { d = daemon, token = d.token } = {}) {
  const s = await acquireSession(d, body, { token });
  acquired.set(s.sessionId, { d, token });
  return s;
}

async function release(id, { d = daemon, token = d.token } = {}) {
  const res = await d.request('DELETE', `/browser/sessions/${id}`, { token });
  assert.equal(res.status, 200, `DELETE /browser/sessions/${id}: ${res.body}`);
  acquired.delete(id);
  return res;
}

async function createContext(body = {}, { d = daemon, token = d.token } = {}) {
  if (d === daemon) await setup();
  const res = await d.request('POST', '/browser/contexts', { json: body, token });
  assert.equal(res.status, 200, `POST /browser/contexts: ${res.body}`);
  return res.json.result;
}

async function getContext(id, { d = daemon, token = d.token } = {}) {
  const res = await d.request('GET', `/browser/contexts/${id}`, { token });
  assert.equal(res.status, 200, `GET /browser/contexts/${id}: ${res.body}`);
  return res.json.result;
}

// Runs fn(page) on the app's page in the session, through Puppeteer, then
// disconnects (the session stays).
async function withApp(session, fn, { d = daemon, token = d.token } = {}) {
  const browser = await puppeteer.connect({
    browserWSEndpoint: `${session.webSocketDebuggerUrl}?token=${token}`,
    defaultViewport: null,
  });
  try {
    const page = await browser.newPage();
    await page.goto(`${fixtures.url}/contexts/app.html`, { waitUntil: 'load' });
    return await fn(page);
  } finally {
    await browser.disconnect();
  }
}

const appState = (session, opts) => withApp(session, (page) => page.evaluate(() => state()), opts);
const appLogin = (session, user, opts) => withApp(session, (page) => page.evaluate((u) => login(u), user), opts);

const LOGGED_OUT = { cookie: null, sessionCookie: null, token: null, idb: null };
const loggedInAs = (user) => ({ cookie: user, sessionCookie: null, token: `token-of-${user}`, idb: user });

// The browser pid of a session, from the daemon's log line.
function browserPid(d, sessionId) {
  const m = new RegExp(`sessions: ${sessionId} acquired \\(browser (\\d+)\\)`).exec(d.stderr());
  assert.ok(m, `no "acquired" log line for ${sessionId}`);
  return Number(m[1]);
}

// A context logged in as user (saved with persist, then released).
async function loggedInContext(user, opts = {}) {
  const ctx = await createContext({ name: user }, opts);
  const s = await acquire({ context: { id: ctx.id, persist: true } }, opts);
  assert.deepEqual(await appLogin(s, user, opts), { ...loggedInAs(user), sessionCookie: user });
  await release(s.sessionId, opts);
  return ctx;
}

// ---------------------------------------------------------------- the API

test('create, list, get, delete: the account sees its contexts and their sizes', async () => {
  const a = await createContext({ name: 'shop' });
  assert.match(a.id, /^[0-9a-f]{32}$/);
  assert.equal(a.name, 'shop');
  assert.equal(a.bytes, 0);
  assert.equal(a.savedAt, null);
  assert.equal(a.inUse, false);
  assert.ok(Math.abs(a.createdAt - Date.now()) < 60000, `createdAt ${a.createdAt}`);
  const b = await createContext();
  assert.equal(b.name, null);

  const list = await daemon.request('GET', '/browser/contexts');
  assert.equal(list.status, 200, String(list.body));
  const ids = list.json.result.map((c) => c.id);
  assert.ok(ids.includes(a.id) && ids.includes(b.id), JSON.stringify(list.json));
  assert.deepEqual(await getContext(a.id), a);

  // Its files are in the data dir, where no browser can see them.
  assert.ok(fs.statSync(path.join(daemon.dataDir, 'contexts')).isDirectory());
  const del = await daemon.request('DELETE', `/browser/contexts/${b.id}`);
  assert.equal(del.status, 200, String(del.body));
  assert.deepEqual(del.json.result, { id: b.id, status: 'deleted' });
  expectError(assert, await daemon.request('GET', `/browser/contexts/${b.id}`), 404, 'CONTEXT_NOT_FOUND');
  expectError(assert, await daemon.request('DELETE', `/browser/contexts/${b.id}`), 404, 'CONTEXT_NOT_FOUND');
  const files = fs.readdirSync(path.join(daemon.dataDir, 'contexts'), { recursive: true });
  assert.ok(!files.some((f) => String(f).includes(b.id)), `files of a deleted context remain: ${files}`);
});

test('a name is kept as given, whatever its characters; control characters and overlong names are refused', async () => {
  for (const name of ['<script>alert(1)</script>', '../../etc/passwd', 'Ünïcødé 名前 🍪', "a'b\"c\\d;rm -rf /", '%00%2e%2e']) {
    const c = await createContext({ name });
    assert.equal(c.name, name);
    assert.equal((await getContext(c.id)).name, name);
    await daemon.request('DELETE', `/browser/contexts/${c.id}`);
  }
  for (const name of ['a\u0000b', 'line\nbreak', '', 'x'.repeat(65)]) {
    expectError(assert, await daemon.request('POST', '/browser/contexts', { json: { name } }), 400, 'INVALID_REQUEST', JSON.stringify(name));
  }
  expectError(assert, await daemon.request('POST', '/browser/contexts', { json: { name: 'a', id: 'mine' } }), 400, 'INVALID_REQUEST');
});

// -------------------------------------------------------- state that stays

test('persist: logged in once, still logged in in the next session (cookie, localStorage, IndexedDB)', { timeout: scaled(90000) }, async () => {
  const ctx = await loggedInContext('alice');
  const saved = await getContext(ctx.id);
  assert.ok(saved.bytes > 0, `bytes after a save: ${saved.bytes}`);
  assert.ok(saved.savedAt >= ctx.createdAt, `savedAt ${saved.savedAt}`);
  assert.equal(saved.inUse, false);

  // A later session on the context, without persist: still logged in. The
  // session cookie is not kept (a browser restart drops it too).
  const s = await acquire({ context: { id: ctx.id } });
  assert.deepEqual(s.context, { id: ctx.id, persist: false });
  assert.equal((await getContext(ctx.id)).inUse, true);
  assert.deepEqual(await appState(s), loggedInAs('alice'));
  // Changes without persist are not kept.
  await appLogin(s, 'mallory');
  await release(s.sessionId);
  const after = await getContext(ctx.id);
  assert.equal(after.savedAt, saved.savedAt, 'a session without persist saved');
  const s2 = await acquire({ context: { id: ctx.id } });
  assert.deepEqual(await appState(s2), loggedInAs('alice'));
  await release(s2.sessionId);

  // A session without a context starts logged out, as before.
  const plain = await acquire();
  assert.deepEqual(await appState(plain), LOGGED_OUT);
  await release(plain.sessionId);
});

test('a crash mid-session keeps the last saved state, and the context works again', { timeout: scaled(90000) }, async () => {
  const ctx = await loggedInContext('bob');
  const before = await getContext(ctx.id);
  const s = await acquire({ context: { id: ctx.id, persist: true } });
  assert.deepEqual(await appLogin(s, 'eve'), { ...loggedInAs('eve'), sessionCookie: 'eve' });
  process.kill(browserPid(daemon, s.sessionId), 'SIGKILL');
  const h = await waitForHistory(daemon, s.sessionId);
  acquired.delete(s.sessionId);
  assert.equal(h.closeReason, 'BrowserCrashed', JSON.stringify(h));
  assert.match(h.closeReasonText, /context not saved: the browser crashed/, JSON.stringify(h));
  const after = await getContext(ctx.id);
  assert.equal(after.savedAt, before.savedAt);
  assert.equal(after.bytes, before.bytes);
  assert.equal(after.inUse, false);
  const again = await acquire({ context: { id: ctx.id, persist: true } });
  assert.deepEqual(await appState(again), loggedInAs('bob'));
  await release(again.sessionId);
});

test('the idle timeout saves too', { timeout: scaled(90000) }, async () => {
  const ctx = await createContext({ name: 'idle' });
  const s = await acquire({ context: { id: ctx.id, persist: true }, keep_alive: 1500 });
  await appLogin(s, 'carol');
  const h = await waitForHistory(daemon, s.sessionId);
  acquired.delete(s.sessionId);
  assert.equal(h.closeReason, 'BrowserIdle', JSON.stringify(h));
  assert.match(h.closeReasonText, /context saved \(\d+ bytes\)/, JSON.stringify(h));
  const again = await acquire({ context: { id: ctx.id } });
  assert.deepEqual(await appState(again), loggedInAs('carol'));
  await release(again.sessionId);
});

test("the client's Browser.close ends the session and saves", { timeout: scaled(90000) }, async () => {
  const ctx = await createContext();
  const s = await acquire({ context: { id: ctx.id, persist: true } });
  const browser = await puppeteer.connect({ browserWSEndpoint: `${s.webSocketDebuggerUrl}?token=${daemon.token}` });
  const page = await browser.newPage();
  await page.goto(`${fixtures.url}/contexts/app.html`);
  await page.evaluate(() => login('dave'));
  await browser.close();
  await waitForHistory(daemon, s.sessionId);
  acquired.delete(s.sessionId);
  await pollUntil(async () => (await getContext(ctx.id)).inUse === false, { what: 'the context let go' });
  const again = await acquire({ context: { id: ctx.id } });
  assert.deepEqual(await appState(again), loggedInAs('dave'));
  await release(again.sessionId);
});

// ------------------------------------------------- one session per context

test('one session per context: 409 CONTEXT_IN_USE for a second acquire and for delete', { timeout: scaled(60000) }, async () => {
  const ctx = await createContext();
  const s = await acquire({ context: { id: ctx.id, persist: true } });
  expectError(assert, await daemon.request('POST', '/browser/acquire', { json: { context: { id: ctx.id } } }), 409, 'CONTEXT_IN_USE');
  expectError(assert, await daemon.request('DELETE', `/browser/contexts/${ctx.id}`), 409, 'CONTEXT_IN_USE');
  await release(s.sessionId);
  const del = await daemon.request('DELETE', `/browser/contexts/${ctx.id}`);
  assert.equal(del.status, 200, String(del.body));
});

test('two acquires racing on one context: one wins, the other gets 409', { timeout: scaled(60000) }, async () => {
  const ctx = await createContext();
  const body = { context: { id: ctx.id, persist: true } };
  const answers = await Promise.all([1, 2, 3].map(() => daemon.request('POST', '/browser/acquire', { json: body })));
  const won = answers.filter((r) => r.status === 200);
  assert.equal(won.length, 1, answers.map((r) => `${r.status} ${r.body}`).join('\n'));
  for (const r of answers) if (r.status !== 200) expectError(assert, r, 409, 'CONTEXT_IN_USE');
  acquired.set(won[0].json.result.sessionId, { d: daemon, token: daemon.token });
  await release(won[0].json.result.sessionId);
});

// ---------------------------------------------------------------- attacks

test("another account's context is not found: get, delete, acquire", { timeout: scaled(60000) }, async () => {
  const mine = await createContext({ name: 'mine' });
  expectError(assert, await daemon.request('GET', `/browser/contexts/${mine.id}`, { token: other }), 404, 'CONTEXT_NOT_FOUND');
  expectError(assert, await daemon.request('DELETE', `/browser/contexts/${mine.id}`, { token: other }), 404, 'CONTEXT_NOT_FOUND');
  expectError(assert, await daemon.request('POST', '/browser/acquire', { token: other, json: { context: { id: mine.id, persist: true } } }), 404, 'CONTEXT_NOT_FOUND');
  const theirs = await daemon.request('GET', '/browser/contexts', { token: other });
  assert.equal(theirs.status, 200);
  assert.ok(!theirs.json.result.some((c) => c.id === mine.id));
  // Still there for its owner.
  assert.equal((await getContext(mine.id)).name, 'mine');
});

test('malformed and path-like ids are no context, in the path and in acquire', async () => {
  await setup();
  for (const id of ['xyz', '0'.repeat(31), '0'.repeat(33), 'A'.repeat(32), '..', '..%2F..%2Fppod.db', '%2e%2e', 'contexts']) {
    for (const method of ['GET', 'DELETE']) {
      const r = await daemon.request(method, `/browser/contexts/${id}`);
      assert.equal(r.status, 404, `${method} ${id}: ${r.status} ${r.body}`);
    }
  }
  // A NUL in the path: the HTTP server drops the connection (before any
  // route); the service carries on.
  await assert.rejects(daemon.request('GET', `/browser/contexts/${'0'.repeat(31)}%00`), /socket hang up|ECONNRESET/);
  expectError(assert, await daemon.request('GET', `/browser/contexts/${'f'.repeat(32)}`), 404, 'CONTEXT_NOT_FOUND');
  for (const id of ['../../etc', 'A'.repeat(32), '0'.repeat(31), '', 5, null]) {
    expectError(assert, await daemon.request('POST', '/browser/acquire', { json: { context: { id } } }), 400, 'INVALID_REQUEST', String(id));
  }
  expectError(assert, await daemon.request('POST', '/browser/acquire', { json: { context: { persist: true } } }), 400, 'INVALID_REQUEST');
  expectError(assert, await daemon.request('POST', '/browser/acquire', { json: { context: { id: 'f'.repeat(32), path: '/etc' } } }), 400, 'INVALID_REQUEST');
  expectError(assert, await daemon.request('POST', '/browser/acquire', { json: { context: { id: 'f'.repeat(32) } } }), 404, 'CONTEXT_NOT_FOUND');
});

// ------------------------------------------------------------------- caps

test('caps: past maxContexts and contextStorageMiB the answer is 413 CONTEXT_QUOTA_EXCEEDED', { timeout: scaled(120000) }, async () => {
  const token = await createAccount(daemon.dataDir, 'capped');
  await setLimits(daemon.dataDir, 'capped', { maxContexts: 2, contextStorageMiB: 1 });
  const lim = await daemon.request('GET', '/browser/limits', { token });
  assert.equal(lim.json.result.maxContexts, 2);
  assert.equal(lim.json.result.contextStorageMiB, 1);
  const a = await createContext({}, { token });
  await createContext({}, { token });
  expectError(assert, await daemon.request('POST', '/browser/contexts', { token, json: {} }), 413, 'CONTEXT_QUOTA_EXCEEDED');

  // A save over the MiB cap is not made: the last state stays, and the
  // history says why.
  const s = await acquire({ context: { id: a.id, persist: true } }, { token });
  await withApp(s, (page) => page.evaluate(() => bloat(2 << 20)), { token });
  await release(s.sessionId, { token });
  const h = await waitForHistory(daemon, s.sessionId, { token });
  assert.match(h.closeReasonText, /context not saved: over the account's contextStorageMiB \(1 MiB\)/, JSON.stringify(h));
  assert.equal((await getContext(a.id, { token })).bytes, 0);

  // Stored bytes over a cap lowered later: creating, and acquiring with
  // persist, are refused; acquiring to read is not.
  await setLimits(daemon.dataDir, 'capped', { contextStorageMiB: 10 });
  const s2 = await acquire({ context: { id: a.id, persist: true } }, { token });
  await withApp(s2, (page) => page.evaluate(() => bloat(2 << 20)), { token });
  await release(s2.sessionId, { token });
  assert.ok((await getContext(a.id, { token })).bytes > (1 << 20));
  await setLimits(daemon.dataDir, 'capped', { contextStorageMiB: 1, maxContexts: 5 });
  expectError(assert, await daemon.request('POST', '/browser/contexts', { token, json: {} }), 413, 'CONTEXT_QUOTA_EXCEEDED');
  expectError(assert, await daemon.request('POST', '/browser/acquire', { token, json: { context: { id: a.id, persist: true } } }), 413, 'CONTEXT_QUOTA_EXCEEDED');
  const read = await acquire({ context: { id: a.id } }, { token });
  await release(read.sessionId, { token });
});

// ------------------------------------------------------------------- CLI

function ppod(args) {
  const env = { ...process.env, PAPERPOD_URL: daemon.url, PAPERPOD_TOKEN: daemon.token, XDG_CONFIG_HOME: '/nonexistent' };
  const bin = path.join(process.env.PPOD_BIN_DIR || path.join(__dirname, '..', '..', 'build'), 'ppod');
  return new Promise((resolve) => {
    execFile(bin, args, { env, timeout: scaled(60000) }, (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr }));
  });
}

test('ppod browser:contexts create/get/delete and browser:acquire --context --persist', { timeout: scaled(60000) }, async () => {
  await setup();
  const made = await ppod(['browser:contexts', 'create', 'from the cli']);
  assert.equal(made.code, 0, made.stderr);
  const id = made.stdout.trim();
  assert.match(id, /^[0-9a-f]{32}$/);
  const list = await ppod(['browser:contexts']);
  assert.equal(list.code, 0, list.stderr);
  assert.ok(JSON.parse(list.stdout).some((c) => c.id === id && c.name === 'from the cli'), list.stdout);
  const acq = await ppod(['browser:acquire', '--context', id, '--persist', '--json']);
  assert.equal(acq.code, 0, acq.stderr);
  const s = JSON.parse(acq.stdout);
  acquired.set(s.sessionId, { d: daemon, token: daemon.token });
  assert.deepEqual(s.context, { id, persist: true });
  const busy = await ppod(['browser:contexts', 'delete', id]);
  assert.notEqual(busy.code, 0);
  assert.match(busy.stderr, /CONTEXT_IN_USE/);
  await release(s.sessionId);
  const got = await ppod(['browser:contexts', 'get', id]);
  assert.equal(got.code, 0, got.stderr);
  assert.ok(JSON.parse(got.stdout).bytes > 0, got.stdout);
  const bad = await ppod(['browser:contexts', 'delete', '../../x']);
  assert.equal(bad.code, 2, bad.stderr);
  const del = await ppod(['browser:contexts', 'delete', id]);
  assert.equal(del.code, 0, del.stderr);
  assert.equal(del.stdout, `deleted ${id}\n`);
});

// -------------------------------------------------------------- a restart

describe('across a daemon restart', () => {
  test('a context and its login survive a restart; a shutdown saves; a kill -9 does not leave it held', { timeout: scaled(180000) }, async () => {
    let d = await startDaemon({ allowPrivate: [fixtures.host] });
    const { dataDir, token } = d;
    try {
      const ctx = await loggedInContext('frank', { d });
      // Shut down with a persist session open: the shutdown saves it.
      const s = await acquire({ context: { id: ctx.id, persist: true } }, { d });
      await appLogin(s, 'grace', { d });
      acquired.delete(s.sessionId);
      await d.stopClean();

      d = await startDaemon({ dataDir, token, allowPrivate: [fixtures.host] });
      const got = await getContext(ctx.id, { d });
      assert.equal(got.inUse, false);
      assert.ok(got.bytes > 0);
      const s2 = await acquire({ context: { id: ctx.id, persist: true } }, { d });
      assert.deepEqual(await appState(s2, { d }), loggedInAs('grace'));

      // The daemon dies with the context held: the next run lets go of it,
      // and the state is the last saved one.
      await appLogin(s2, 'heidi', { d });
      acquired.delete(s2.sessionId);
      await d.stop('SIGKILL');
      d = await startDaemon({ dataDir, token, allowPrivate: [fixtures.host] });
      assert.equal((await getContext(ctx.id, { d })).inUse, false);
      const s3 = await acquire({ context: { id: ctx.id } }, { d });
      assert.deepEqual(await appState(s3, { d }), loggedInAs('grace'));
      await release(s3.sessionId, { d });
    } finally {
      await d.stopClean();
    }
  });
});
