// Nodes of a cluster (core/nodes.c, daemon/cluster.c, http/cluster.c): two
// daemons on one throwaway PostgreSQL. A session lives on the node that
// minted its id (the id starts with the node's tag); the other node lists it;
// when its node is killed (kill -9), the other node declares it lost within
// --node-timeout: the history says NodeLost, its ledger row is closed, its
// id answers 410 NODE_LOST to its own account and 404 to anyone else, and
// the account can acquire again. A drained node (SIGTERM) leaves: its row
// says so. Attack: a cluster key file others can read is refused at start.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { execFileSync } = require('node:child_process');
const {
  REPO_ROOT, startDaemon, expectError, makeTempDir, freePort, pollUntil, runAdmin, scaled,
} = require('./harness');

const PG_SCRIPT = path.join(REPO_ROOT, 'scripts', 'pg-throwaway.sh');
const haveInitdb = fs.readdirSync('/usr/lib/postgresql', { withFileTypes: true })
  .some((d) => fs.existsSync(path.join('/usr/lib/postgresql', d.name, 'bin', 'initdb')));

let pgDir;
let url;
let keyFile;
const nodes = [];

function psql(sql) {
  return execFileSync('psql', [url, '-Atc', sql], { encoding: 'utf8' }).trim();
}

async function account(name) {
  const dir = await makeTempDir('ppod-e2e-admin-');
  const { stdout } = await runAdmin(['account', 'create', name, '--data-dir', dir],
    { env: { PPOD_STORE: url } });
  return stdout.trim();
}

async function node(name, { timeout = 3 } = {}) {
  const port = await freePort();
  const d = await startDaemon({
    port,
    browsers: 1,
    // A node stalled inside a write transaction holds the fleet-wide write
    // lock until the store's default idle-in-transaction bound (5 s, set by
    // core/db_pg.c on every connection) ends it: the URL is the plain one.
    args: ['--store', url, '--node-url', `http://127.0.0.1:${port}`, '--node-name', name,
      '--cluster-key-file', keyFile, '--node-timeout', String(timeout)],
  });
  const m = /cluster node \S+, tag ([0-9a-f]{4})/.exec(d.stderr());
  assert.ok(m, `the node says its tag\n${d.stderr().slice(-2000)}`);
  d.tag = m[1];
  nodes.push(d);
  return d;
}

test('cluster nodes', { skip: !haveInitdb && 'no PostgreSQL server installed', timeout: scaled(180000) }, async (t) => {
  pgDir = await makeTempDir('ppod-e2e-pg-');
  url = execFileSync(PG_SCRIPT, ['start', pgDir], { encoding: 'utf8' }).trim().split('\n').pop();
  keyFile = path.join(await makeTempDir('ppod-e2e-key-'), 'cluster.key');
  fs.writeFileSync(keyFile, crypto.randomBytes(24).toString('hex') + '\n', { mode: 0o600 });
  t.after(async () => {
    for (const d of nodes) await d.stop('SIGKILL').catch(() => {});
    try { execFileSync(PG_SCRIPT, ['stop', pgDir]); } catch { /* gone */ }
  });
  const owner = await account('owner');
  const other = await account('other');

  await t.test('a key file others can read is refused at start', async () => {
    const loose = path.join(path.dirname(keyFile), 'loose.key');
    fs.writeFileSync(loose, fs.readFileSync(keyFile), { mode: 0o644 });
    fs.chmodSync(loose, 0o644);
    const port = await freePort();
    await assert.rejects(
      runAdmin(['--listen', `127.0.0.1:${port}`, '--data-dir', await makeTempDir('ppod-e2e-data-'),
        '--store', url, '--node-url', `http://127.0.0.1:${port}`, '--cluster-key-file', loose]),
      (e) => /lets others read it; chmod 600/.test(e.message));
    const short = path.join(path.dirname(keyFile), 'short.key');
    fs.writeFileSync(short, 'tooshort\n', { mode: 0o600 });
    await assert.rejects(
      runAdmin(['--listen', `127.0.0.1:${port}`, '--data-dir', await makeTempDir('ppod-e2e-data-'),
        '--store', url, '--node-url', `http://127.0.0.1:${port}`, '--cluster-key-file', short]),
      (e) => /must be 32\.\.4096 bytes/.test(e.message));
    // A cluster key without --node-url (cluster mode is --node-url).
    await assert.rejects(
      runAdmin(['--listen', `127.0.0.1:${port}`, '--data-dir', await makeTempDir('ppod-e2e-data-'),
        '--store', url, '--cluster-key-file', keyFile]),
      (e) => /needs? --node-url/.test(e.message));
  });

  const a = await node('A');
  const b = await node('B');
  assert.notEqual(a.tag, b.tag);
  assert.equal(psql(`SELECT state FROM nodes WHERE tag = '${a.tag}'`), 'up');

  // A session on A: its id carries A's tag; B lists it (from the store).
  const acq = await a.request('POST', '/browser/acquire', { json: {}, token: owner });
  assert.equal(acq.status, 200, acq.body.toString());
  const id = acq.json.result.sessionId;
  assert.match(id, /^[0-9a-f]{32}$/);
  assert.equal(id.slice(0, 4), a.tag, 'the id names its node');
  await pollUntil(async () => {
    const r = await b.request('GET', '/browser/sessions', { token: owner });
    return r.status === 200 && r.json.result.some((s) => s.sessionId === id && s.node === a.tag);
  }, { what: 'B lists the session A holds, with its node' });
  const seenByOther = await b.request('GET', '/browser/sessions', { token: other });
  assert.deepEqual(seenByOther.json.result, [], 'another account sees none of it');

  // A trace made on A: its id names A too.
  const traced = await a.request('POST', '/browser/content',
    { json: { html: '<p>traced</p>', trace: true }, token: owner, timeout: scaled(30000) });
  assert.equal(traced.status, 200, traced.body.toString());
  const traceId = traced.headers['x-trace-id'];
  assert.equal(traceId.slice(0, 4), a.tag, 'a trace id names its node');

  await t.test('kill -9 of the node: its session is lost, closed, and answered 410', async () => {
    const killedAt = Date.now();
    process.kill(-a.pid, 'SIGKILL'); // the daemon's process group: it and its browsers
    await a.exited;
    let lostAt = 0;
    await pollUntil(async () => {
      const r = await b.request('GET', `/browser/sessions/${id}`, { token: owner });
      if (r.status === 410) {
        const e = expectError(assert, r, 410, 'NODE_LOST');
        assert.match(e.message, /stopped answering/);
        lostAt = Date.now();
        return true;
      }
      return false;
    }, { timeout: scaled(15000), interval: 100, what: '410 NODE_LOST from B' });
    t.diagnostic(`410 NODE_LOST ${lostAt - killedAt} ms after kill -9 (--node-timeout 3)`);
    assert.ok(lostAt - killedAt <= scaled(3000 + 2000),
      `declared lost ${lostAt - killedAt} ms after the kill (timeout 3 s)`);
    assert.equal(psql(`SELECT state FROM nodes WHERE tag = '${a.tag}'`), 'lost');

    // Another account's guess at that id: 404, as for any id it does not own.
    const guess = await b.request('GET', `/browser/sessions/${id}`, { token: other });
    expectError(assert, guess, 404, 'SESSION_NOT_FOUND');
    // An id of a node nobody holds: 404.
    const nobody = (parseInt(a.tag, 16) ^ parseInt(b.tag, 16) ^ 0x5a5a).toString(16).padStart(4, '0');
    const unknown = await b.request('GET', `/browser/sessions/${nobody}${id.slice(4)}`, { token: owner });
    assert.equal(unknown.status, 404);

    // A quick action in the lost session, and the lost node's trace: 410.
    const inLost = await b.request('POST', '/browser/content',
      { json: { sessionId: id, html: '<p>x</p>' }, token: owner });
    expectError(assert, inLost, 410, 'NODE_LOST');
    const inLostOther = await b.request('POST', '/browser/content',
      { json: { sessionId: id, html: '<p>x</p>' }, token: other });
    assert.notEqual(inLostOther.status, 410, 'another account learns nothing of that session');
    const tr = await b.request('GET', `/browser/traces/${traceId}`, { token: owner });
    expectError(assert, tr, 410, 'NODE_LOST');

    // History: closed NodeLost, not after A's last heartbeat.
    const h = await b.request('GET', '/browser/history', { token: owner });
    const row = h.json.result.find((s) => s.sessionId === id);
    assert.ok(row, 'the lost session is in the history');
    assert.equal(row.closeReason, 'NodeLost');
    assert.ok(row.endTime >= row.startTime && row.endTime <= killedAt + 1000);
    // The ledger: no row of A's still open.
    assert.equal(psql(`SELECT COUNT(*) FROM usage WHERE node = '${a.tag}' AND end_ms IS NULL`), '0');
    assert.equal(psql(`SELECT COUNT(*) FROM sessions WHERE node = '${a.tag}' AND end_ms IS NULL`), '0');
    // Not listed any more, and the account acquires again.
    const list = await b.request('GET', '/browser/sessions', { token: owner });
    assert.ok(!list.json.result.some((s) => s.sessionId === id));
    const again = await b.request('POST', '/browser/acquire', { json: {}, token: owner });
    assert.equal(again.status, 200, again.body.toString());
    assert.equal(again.json.result.sessionId.slice(0, 4), b.tag);
    const rel = await b.request('DELETE', `/browser/sessions/${again.json.result.sessionId}`, { token: owner });
    assert.equal(rel.status, 200);
  });

  await t.test('a node that stalled past the timeout ends its sessions and exits', async () => {
    const c = await node('C');
    const acqC = await c.request('POST', '/browser/acquire', { json: {}, token: owner });
    assert.equal(acqC.status, 200, acqC.body.toString());
    const { sessionId: cid, webSocketDebuggerUrl } = acqC.json.result;
    const WebSocket = require('ws');
    const ws = new WebSocket(webSocketDebuggerUrl, { headers: { Authorization: `Bearer ${owner}` } });
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    const closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString(), at: new Date().toISOString() })));
    process.kill(c.pid, 'SIGSTOP'); // the daemon only: a stall, not a death
    try {
      await pollUntil(async () => psql(`SELECT state FROM nodes WHERE tag = '${c.tag}'`) === 'lost',
        { timeout: scaled(15000), interval: 200, what: 'B declares the stalled node lost' });
    } finally {
      process.kill(c.pid, 'SIGCONT');
    }
    const r = await b.request('GET', `/browser/sessions/${cid}`, { token: owner });
    expectError(assert, r, 410, 'NODE_LOST');
    // It wakes up, finds its row lost, ends its session and exits 3.
    const how = await closed;
    if (process.env.PPOD_E2E_VERBOSE === '1') t.diagnostic(`closed ${JSON.stringify(how)}`);
    assert.equal(how.code, 1011);
    assert.equal(how.reason, 'NodeLost');
    const exit = await c.exited;
    if (process.env.PPOD_E2E_VERBOSE === '1')
      t.diagnostic(c.stderr().split('\n').filter((l) => /nodes:|stopp|sessions:/.test(l)).join('\n'));
    assert.equal(exit.code, 3, c.stderr().slice(-3000));
    assert.match(c.stderr(), /this node was declared lost: 1 session\(s\) ended/);
    assert.equal(psql(`SELECT state FROM nodes WHERE tag = '${c.tag}'`), 'lost', 'never resurrected');
    const h = await b.request('GET', '/browser/history', { token: owner });
    assert.equal(h.json.result.find((x) => x.sessionId === cid).closeReason, 'NodeLost');
  });

  await t.test('SIGTERM drains the node and it leaves', async () => {
    await b.stopClean();
    assert.equal(psql(`SELECT state FROM nodes WHERE tag = '${b.tag}'`), 'left');
    assert.notEqual(psql(`SELECT ended_ms FROM nodes WHERE tag = '${b.tag}'`), '');
  });
});
