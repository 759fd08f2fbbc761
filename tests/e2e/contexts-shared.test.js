'use strict';
// Persistent contexts in a directory the operator names (--contexts-dir),
// which the nodes of a cluster share: a context saved through one node is
// loaded by a session on another (the row in the PostgreSQL store, the
// files in the shared dir). The attack side: a --contexts-dir that is a
// symbolic link, world-writable, someone else's or no directory is refused
// at start with a message that says why.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const puppeteer = require('puppeteer-core');
const {
  startDaemon, startFixtures, makeTempDir, freePort, scaled, runAdmin,
  acquireSession, releaseSession, REPO_ROOT,
} = require('./harness');

// stdout must be the token alone on one line.
function tokenFrom(stdout, what) {
  const lines = stdout.split('\n').filter((l) => l.trim() !== '');
  assert.equal(lines.length, 1, `${what}: ${JSON.stringify(stdout)}`);
  return lines[0].trim();
}

const BIN = path.join(process.env.PPOD_BIN_DIR ? path.resolve(process.env.PPOD_BIN_DIR) : path.join(REPO_ROOT, 'build'), 'ppod-browserd');

// Starts the daemon and expects it to refuse to start: its exit code and
// stderr.
function startRefused(args) {
  return new Promise((resolve, reject) => {
    const p = spawn(BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.setEncoding('utf8');
    p.stderr.on('data', (s) => { err += s; });
    const t = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`still running after 20 s (not refused)\n${err}`)); }, scaled(20000));
    p.on('exit', (code, signal) => { clearTimeout(t); resolve({ code, signal, stderr: err }); });
  });
}

async function refusedWith(dir, re) {
  const data = await makeTempDir('ppod-ctxdir-data-');
  const port = await freePort();
  const r = await startRefused(['--listen', `127.0.0.1:${port}`, '--data-dir', data, '--browsers', '1', '--contexts-dir', dir]);
  assert.notEqual(r.code, 0, `started on --contexts-dir ${dir}`);
  assert.equal(r.signal, null, r.stderr);
  assert.match(r.stderr, re, r.stderr);
}

test('--contexts-dir: a symbolic link, a world-writable dir, a file, someone else\'s dir are refused at start', { timeout: scaled(90000) }, async () => {
  const base = await makeTempDir('ppod-ctxdir-');
  const real = path.join(base, 'real');
  fs.mkdirSync(real, { mode: 0o700 });
  const link = path.join(base, 'link');
  fs.symlinkSync(real, link);
  await refusedWith(link, /contexts dir refused: .*link is a symbolic link/);
  await refusedWith(`${link}/`, /contexts dir refused: .*is a symbolic link/); // a trailing slash does not follow it

  const open = path.join(base, 'open');
  fs.mkdirSync(open);
  fs.chmodSync(open, 0o777);
  await refusedWith(open, /contexts dir refused: .*open is writable by everyone \(mode 0777/);
  fs.chmodSync(open, 0o1777); // sticky does not make it safe
  await refusedWith(open, /writable by everyone/);

  const file = path.join(base, 'file');
  fs.writeFileSync(file, 'x');
  await refusedWith(file, /contexts dir refused: .*file is not a directory/);

  if (process.getuid() === 0) {
    const theirs = path.join(base, 'theirs');
    fs.mkdirSync(theirs, { mode: 0o700 });
    fs.chownSync(theirs, 65534, 65534);
    await refusedWith(theirs, /contexts dir refused: .*theirs is owned by uid 65534/);
  }
  // Nothing was written through the link.
  assert.deepEqual(fs.readdirSync(real), []);
});

// The context's files go to --contexts-dir (made 0700), not the data dir.
test('--contexts-dir: made 0700 when missing, and the contexts\' files live there', { timeout: scaled(60000) }, async () => {
  const base = await makeTempDir('ppod-ctxdir-');
  const dir = path.join(base, 'shared', 'contexts');
  fs.mkdirSync(path.dirname(dir));
  const d = await startDaemon({ args: ['--contexts-dir', dir] });
  try {
    assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
    const res = await d.request('POST', '/browser/contexts', { json: { name: 'a' } });
    assert.equal(res.status, 200, res.body);
    const id = res.json.result.id;
    const acct = fs.readdirSync(dir);
    assert.equal(acct.length, 1);
    assert.ok(fs.statSync(path.join(dir, acct[0], id)).isDirectory());
    assert.ok(!fs.existsSync(path.join(d.dataDir, 'contexts')), 'the data dir got a contexts dir too');
  } finally {
    await d.stopClean();
  }
});

// Two nodes on one PostgreSQL store and one shared contexts dir, each with
// its own data dir: the context saved through A is loaded by a session on B.
// The account and its tokens are made by the admin CLI against the same
// store (--store), and work on both daemons.
const PG = process.env.PB_TEST_PG_URL;
test('two nodes sharing --store and --contexts-dir: a cookie set through node A is there on node B', {
  timeout: scaled(180000),
  skip: PG ? false : 'needs PostgreSQL: PB_TEST_PG_URL=postgres://... (scripts/pg-throwaway.sh start DIR prints one)',
}, async (t) => {
  // Both daemons on this one store (with PB_E2E_STORE=postgres the harness
  // would give each data dir a database of its own).
  const e2eStore = process.env.PB_E2E_STORE;
  delete process.env.PB_E2E_STORE;
  t.after(() => { if (e2eStore !== undefined) process.env.PB_E2E_STORE = e2eStore; });
  const fixtures = await startFixtures();
  const shared = path.join(await makeTempDir('ppod-ctxdir-'), 'contexts');
  const name = `shared${process.pid}`;
  const { stdout } = await runAdmin(['account', 'create', name, '--store', PG]);
  const tokenA = tokenFrom(stdout, 'account create --store');
  const tokenB = tokenFrom((await runAdmin(['token', 'create', name, '--store', PG])).stdout, 'token create --store');
  const list = await runAdmin(['account', 'list', '--store', PG]);
  assert.match(list.stdout, new RegExp(`\\b${name}\\b`));
  const common = ['--store', PG, '--contexts-dir', shared];
  const dataA = await makeTempDir('ppod-node-a-');
  const dataB = await makeTempDir('ppod-node-b-');
  const a = await startDaemon({ dataDir: dataA, token: tokenA, allowPrivate: [fixtures.host], args: common });
  let b;
  try {
    b = await startDaemon({ dataDir: dataB, token: tokenB, allowPrivate: [fixtures.host], args: common });
    const created = await a.request('POST', '/browser/contexts', { json: { name: 'app' } });
    assert.equal(created.status, 200, created.body);
    const ctx = created.json.result;
    // B lists it: the row is in the store.
    const listed = await b.request('GET', '/browser/contexts');
    assert.equal(listed.status, 200, listed.body);
    assert.ok(JSON.stringify(listed.json).includes(ctx.id), listed.body);

    const onApp = async (d, s, fn) => {
      const browser = await puppeteer.connect({ browserWSEndpoint: `${s.webSocketDebuggerUrl}?token=${d.token}`, defaultViewport: null });
      try {
        const page = await browser.newPage();
        await page.goto(`${fixtures.url}/contexts/app.html`, { waitUntil: 'load' });
        return await page.evaluate(fn);
      } finally {
        await browser.disconnect();
      }
    };
    const sa = await acquireSession(a, { context: { id: ctx.id, persist: true } });
    const before = await onApp(a, sa, () => state());
    assert.equal(before.cookie, null);
    await onApp(a, sa, () => login('ann'));
    await releaseSession(a, sa.sessionId);
    // The save is over when the context says when it was saved.
    const saved = await a.request('GET', `/browser/contexts/${ctx.id}`);
    assert.equal(saved.status, 200, saved.body);
    assert.ok(saved.json.result.savedAt, `not saved: ${saved.body}`);

    const sb = await acquireSession(b, { context: { id: ctx.id, persist: false } });
    const there = await onApp(b, sb, () => state());
    await releaseSession(b, sb.sessionId);
    assert.equal(there.cookie, 'ann', `on node B: ${JSON.stringify(there)}`);
    assert.equal(there.token, 'token-of-ann');
    // Neither data dir holds the context's files: the shared dir does.
    assert.ok(!fs.existsSync(path.join(dataA, 'contexts')));
    assert.ok(!fs.existsSync(path.join(dataB, 'contexts')));
  } finally {
    if (b) await b.stopClean();
    await a.stopClean();
    await fixtures.close();
  }
});

