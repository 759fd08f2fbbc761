'use strict';
// GET /account and the two commands that read it, `ppod status` and
// `ppod balance`, against the real daemon: what a signed-in user sees, and
// the exit codes and words when not signed in, when the token expired or is
// unknown, and when the server is not there. Next to each, the attacks: a
// token in the URL, another account's usage, hostile headers.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const {
  useDaemon, scaled, createAccount, createToken, freePort, pollUntil, expectError,
} = require('./harness');

const BIN_DIR = process.env.PPOD_BIN_DIR || path.join(__dirname, '..', '..', 'build');
const PPOD = path.join(BIN_DIR, 'ppod');

const { daemon } = useDaemon({ fixtures: false });
let tmp;
before(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ppod-account-')); });
after(() => { if (tmp) fs.rmSync(tmp, { recursive: true, force: true }); });

// ppod with only the environment given: no developer token leaks in, and
// no saved token unless the test saved one.
function ppod(args, env = {}) {
  const base = { ...process.env };
  delete base.PAPERPOD_URL;
  delete base.PAPERPOD_TOKEN;
  base.XDG_CONFIG_HOME = path.join(tmp, 'no-config');
  return new Promise((resolve) => {
    execFile(PPOD, args, { env: { ...base, ...env }, timeout: scaled(60000) }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, stdout, stderr });
    });
  });
}

async function account(token = daemon.token) {
  const res = await daemon.request('GET', '/account', { token });
  assert.equal(res.status, 200, res.body.toString());
  assert.equal(res.json.success, true);
  return res.json.result;
}

describe('GET /account', () => {
  it('names the account and the token, with limits and usage today', async () => {
    const r = await account();
    assert.equal(r.account.name, 'test');
    assert.equal(typeof r.account.id, 'number');
    assert.ok('email' in r.account);
    // The prefix the store keeps: the token starts with it.
    assert.ok(r.token.prefix && daemon.token.startsWith(r.token.prefix), JSON.stringify(r.token));
    assert.ok(r.token.prefix.length < daemon.token.length / 2, 'never the whole token');
    const expires = Date.parse(r.token.expiresAt);
    assert.ok(expires > Date.now() + 14 * 86400e3 && expires < Date.now() + 16 * 86400e3, r.token.expiresAt);
    assert.ok(Math.abs(r.token.expiresInSeconds * 1000 - (expires - Date.now())) < 60e3);
    assert.ok(r.balance === null || Number.isInteger(r.balance), `balance ${r.balance}`);
    // The limits are GET /browser/limits' own answer.
    const limits = (await daemon.request('GET', '/browser/limits')).json.result;
    assert.deepEqual(Object.keys(r.limits).sort(), Object.keys(limits).sort());
    assert.equal(r.limits.maxConcurrentSessions, limits.maxConcurrentSessions);
    assert.equal(new Date(r.usageToday.from).toISOString().slice(11), '00:00:00.000Z');
    for (const k of ['browserMs', 'sessions', 'quickActions', 'crawlPages']) {
      assert.ok(Number.isInteger(r.usageToday[k]) && r.usageToday[k] >= 0, k);
    }
  });

  it('counts today\'s quick actions and browser time of this account only', { timeout: scaled(90000) }, async () => {
    const other = await createAccount(daemon.dataDir, 'other-acct');
    const mine0 = (await account()).usageToday;
    const theirs0 = (await account(other)).usageToday;
    const res = await daemon.request('POST', '/browser/content', { json: { html: '<p>counted</p>' } });
    assert.equal(res.status, 200, res.body.toString());
    const mine = await pollUntil(async () => {
      const u = (await account()).usageToday;
      return u.quickActions === mine0.quickActions + 1 ? u : null;
    }, { what: 'the action in usageToday' });
    assert.ok(mine.browserMs > mine0.browserMs, JSON.stringify(mine));
    // The other account saw none of it.
    assert.deepEqual((await account(other)).usageToday, theirs0);
    assert.equal((await account(other)).account.name, 'other-acct');
  });

  it('refuses requests without a valid token', async () => {
    expectError(assert, await daemon.request('GET', '/account', { token: null }), 401, 'UNAUTHORIZED');
    expectError(assert, await daemon.request('GET', '/account', { token: 'ppod_' + 'A'.repeat(43) }), 401, 'INVALID_TOKEN');
    // A token in the URL is not taken here (it would end up in logs).
    const q = await daemon.request('GET', `/account?token=${daemon.token}`, { token: null });
    expectError(assert, q, 401, 'UNAUTHORIZED');
    expectError(assert, await daemon.request('GET', '/account', { token: 'x'.repeat(400) }), 401, 'INVALID_TOKEN');
    expectError(assert, await daemon.request('GET', '/account', { headers: { Authorization: 'Basic abc' }, token: null }), 401, 'UNAUTHORIZED');
    expectError(assert, await daemon.request('POST', '/account', { json: {} }), 405, 'METHOD_NOT_ALLOWED');
    expectError(assert, await daemon.request('GET', '/account/1'), 404, 'NOT_FOUND');
  });
});

describe('ppod status', () => {
  it('signed in: the server, its version, latency, the account and the expiry; exit 0', async () => {
    const index = (await daemon.request('GET', '/', { token: null })).json;
    const r = await ppod(['status'], { PAPERPOD_URL: daemon.url, PAPERPOD_TOKEN: daemon.token });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^server: +${daemon.url.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(r.stdout, new RegExp(`^version: +ppod-browser ${index.version.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(r.stdout, /^reachable: +yes \(\d+ ms\)$/m);
    assert.match(r.stdout, /^account: +test$/m);
    const prefix = (await account()).token.prefix;
    assert.ok(r.stdout.includes(`${prefix}...`), r.stdout);
    assert.ok(!r.stdout.includes(daemon.token), 'the token itself is never printed');
    assert.match(r.stdout, /^expires: +\d{4}-\d\d-\d\dT[\d:.]+Z \(in 1[45] days/m);
    assert.equal(r.stderr, '', 'no warning for a token with 15 days left');
  });

  it('--json says the same as data', async () => {
    const r = await ppod(['status', '--json'], { PAPERPOD_URL: daemon.url, PAPERPOD_TOKEN: daemon.token });
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.server.url, daemon.url);
    assert.equal(j.server.reachable, true);
    assert.ok(Number.isInteger(j.server.latencyMs) && j.server.latencyMs >= 0);
    assert.equal(j.signedIn, true);
    assert.equal(j.account.name, 'test');
    assert.equal(j.token.source, 'PAPERPOD_TOKEN');
  });

  it('reads the token ppod login saved', async () => {
    const cfg = path.join(tmp, 'cfg-login');
    const env = { PAPERPOD_URL: daemon.url, XDG_CONFIG_HOME: cfg };
    assert.equal((await ppod(['login', daemon.token], env)).code, 0);
    const r = await ppod(['status'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\(saved by ppod login\)/);
  });

  it('not signed in: says so and exits 1, after showing the server', async () => {
    const r = await ppod(['status'], { PAPERPOD_URL: daemon.url });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^reachable: +yes/m);
    assert.match(r.stdout, /^account: +not signed in$/m);
    assert.match(r.stderr, /not signed in: run 'ppod login <token>'/);
    const j = JSON.parse((await ppod(['status', '--json'], { PAPERPOD_URL: daemon.url })).stdout);
    assert.equal(j.signedIn, false);
    assert.equal(j.problem, 'NOT_SIGNED_IN');
  });

  it('an expired token: exit 1, EXPIRED_TOKEN named', { timeout: scaled(60000) }, async () => {
    const token = await createToken(daemon.dataDir, 'test', { ttlSeconds: 1 });
    await pollUntil(async () => (await daemon.request('GET', '/account', { token })).status === 401,
      { timeout: scaled(10000), what: 'the token to expire' });
    const r = await ppod(['status'], { PAPERPOD_URL: daemon.url, PAPERPOD_TOKEN: token });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^token: +expired \(EXPIRED_TOKEN\)/m);
    assert.match(r.stderr, /EXPIRED_TOKEN/);
    const j = JSON.parse((await ppod(['status', '--json'], { PAPERPOD_URL: daemon.url, PAPERPOD_TOKEN: token })).stdout);
    assert.equal(j.problem, 'EXPIRED_TOKEN');
    // balance fails the same way.
    const b = await ppod(['balance'], { PAPERPOD_URL: daemon.url, PAPERPOD_TOKEN: token });
    assert.equal(b.code, 1);
    assert.match(b.stderr, /EXPIRED_TOKEN/);
  });

  it('an unknown token: exit 1, INVALID_TOKEN named', async () => {
    const r = await ppod(['status'], { PAPERPOD_URL: daemon.url, PAPERPOD_TOKEN: `ppod_${'B'.repeat(43)}` });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^token: +refused \(INVALID_TOKEN\)/m);
    assert.match(r.stderr, /INVALID_TOKEN/);
  });

  it('a token that ends within 2 days: exit 0 and a warning', async () => {
    const token = await createToken(daemon.dataDir, 'test', { ttlSeconds: 3 * 3600 });
    const r = await ppod(['status'], { PAPERPOD_URL: daemon.url, PAPERPOD_TOKEN: token });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^expires: .*\(in 2 h \d+ min\)$/m);
    assert.match(r.stderr, /warning: the token expires in 2 h \d+ min/);
  });

  it('a server that is not there: exit 1 and a clear message', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const r = await ppod(['status'], { PAPERPOD_URL: url, PAPERPOD_TOKEN: daemon.token });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^reachable: +no$/m);
    assert.match(r.stderr, new RegExp(`cannot reach ${url.replace(/\./g, '\\.')}`));
    const j = JSON.parse((await ppod(['status', '--json'], { PAPERPOD_URL: url })).stdout);
    assert.equal(j.server.reachable, false);
  });

  it('a malformed URL or token is a usage error (exit 2)', async () => {
    assert.equal((await ppod(['status'], { PAPERPOD_URL: 'ftp://x' })).code, 2);
    assert.equal((await ppod(['status'], { PAPERPOD_URL: daemon.url, PAPERPOD_TOKEN: 'a b' })).code, 2);
    assert.equal((await ppod(['status', 'extra'], { PAPERPOD_URL: daemon.url })).code, 2);
  });
});

describe('ppod balance', () => {
  it('prints the balance and today\'s usage', async () => {
    const u = (await account()).usageToday;
    const r = await ppod(['balance'], { PAPERPOD_URL: daemon.url, PAPERPOD_TOKEN: daemon.token });
    assert.equal(r.code, 0, r.stderr);
    const bal = (await account()).balance;
    if (bal === null) assert.match(r.stdout, /^balance: +unmetered$/m);
    else assert.match(r.stdout, /^balance: +-?\d+\.\d{2,6}$/m);
    assert.match(r.stdout, new RegExp(`^today \\(UTC\\): +${(u.browserMs / 1000).toFixed(1)} s browser time, ${u.sessions} sessions, ${u.quickActions} quick actions, ${u.crawlPages} crawl pages$`, 'm'));
    const j = JSON.parse((await ppod(['balance', '--json'], { PAPERPOD_URL: daemon.url, PAPERPOD_TOKEN: daemon.token })).stdout);
    assert.equal(j.balance, bal);
    assert.equal(j.metered, bal !== null);
    assert.deepEqual(j.usageToday, u);
  });

  it('not signed in: exit 1', async () => {
    const r = await ppod(['balance'], { PAPERPOD_URL: daemon.url });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not signed in/);
    assert.equal(r.stdout, '');
  });
});
