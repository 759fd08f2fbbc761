'use strict';
// The cluster, as `make cluster` runs it: a throwaway PostgreSQL
// (scripts/pg-throwaway.sh), three nodes sharing it (--store, --node-url,
// --cluster-key-file, --node-timeout 3) and HAProxy round-robin in front with
// the committed deploy/haproxy.cfg, all on loopback ports of this test.
// Checked as a user sees it: an account limited to 3 sessions gets its 4th
// refused whichever node it reaches; a session acquired through one node is
// driven by Puppeteer and Playwright through the load balancer and through
// each node, its download and trace fetched through any node; a kill -9 of
// the node holding a session closes the client's WebSocket, history says
// NodeLost within the timeout, the account's limit is free again and the
// ledger agrees with the balance, while quick actions through HAProxy keep
// succeeding (only those in flight on the killed node fail, with 502/503,
// and none hangs). The attack: a client posing as a node is refused by
// every node (403 CLUSTER_KEY_INVALID), and HAProxy drops the claim.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { spawn, execFile, spawnSync } = require('node:child_process');
const WebSocket = require('ws');
const puppeteer = require('puppeteer-core');
const { chromium } = require('playwright-core');
const H = require('./harness');

const { scaled, expectError, pollUntil, REPO_ROOT } = H;
const PG_SCRIPT = path.join(REPO_ROOT, 'scripts', 'pg-throwaway.sh');
const HAPROXY_CFG = path.join(REPO_ROOT, 'deploy', 'haproxy.cfg');
const NODE_TIMEOUT_S = 3;
const PRICE = '0.01'; // credits per browser second
const PRICE_MICRO = 10000;
const LOOP_CONCURRENCY = 2; // quick actions in flight during the kill
const CALL_DEADLINE_MS = scaled(45000); // a quick action that takes longer hangs

// ---------------------------------------------------------------- the cluster

const C = { dir: null, pgDir: null, store: null, keyFile: null, nodes: [], lb: null, fixtures: null, tokens: {} };
let pgStarted = false;
let lbProc = null;

function stopPg() {
  if (!pgStarted) return;
  pgStarted = false;
  spawnSync(PG_SCRIPT, ['stop', C.pgDir], { stdio: 'ignore', timeout: 30000 });
}
function killLb() {
  if (lbProc && lbProc.exitCode === null) {
    try { process.kill(lbProc.pid, 'SIGKILL'); } catch { /* gone */ }
  }
}
// Also when the test process dies (ctest's timeout, ^C): the harness kills
// the daemons; this kills HAProxy and stops PostgreSQL.
process.on('exit', () => { killLb(); stopPg(); });

function run(cmd, args, { timeout = scaled(60000), env } = {}) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout, env: env ? { ...process.env, ...env } : process.env }, (err, stdout, stderr) => {
      if (err) {
        err.message += `\n$ ${cmd} ${args.join(' ')}\nstdout: ${stdout}\nstderr: ${stderr}`;
        return reject(err);
      }
      resolve({ stdout, stderr });
    });
  });
}

// Rows of a query on the cluster's PostgreSQL, read past the nodes (psql).
async function sql(query) {
  const { stdout } = await run('psql', [C.store, '-XAtq', '-v', 'ON_ERROR_STOP=1', '-c',
    `SELECT COALESCE(json_agg(t), '[]'::json) FROM (${query}) t`]);
  return JSON.parse(stdout.trim());
}

// An account on the shared store (admin CLI with --store) and its token.
async function account(name, { credit = null, limits = {} } = {}) {
  const args = ['account', 'create', name];
  if (credit !== null) args.push('--credit', credit);
  const { stdout } = await H.runAdmin([...args, '--store', C.store]);
  const lines = stdout.trim().split('\n');
  assert.equal(lines.length, 1, `account create: the token alone on stdout: ${stdout}`);
  if (Object.keys(limits).length) {
    const l = ['account', 'limits', name];
    for (const [k, v] of Object.entries(limits)) l.push('--set', `${k}=${v}`);
    await H.runAdmin([...l, '--store', C.store]);
  }
  return lines[0];
}

async function startLb() {
  const port = await H.freePort();
  const env = { ...process.env, PPOD_LB_BIND: `127.0.0.1:${port}` };
  C.nodes.forEach((n, i) => { env[`PPOD_NODE${i + 1}`] = `127.0.0.1:${n.port}`; });
  lbProc = spawn('haproxy', ['-f', HAPROXY_CFG, '-db'], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let log = '';
  const keep = (s) => { log = (log + s).slice(-65536); };
  lbProc.stdout.setEncoding('utf8').on('data', keep);
  lbProc.stderr.setEncoding('utf8').on('data', keep);
  const exited = new Promise((resolve) => lbProc.on('exit', (code, sig) => resolve({ code, sig })));
  await pollUntil(async () => {
    if (lbProc.exitCode !== null) throw new Error(`haproxy exited: ${log}`);
    return (await H.httpRequest(port, 'GET', '/healthz', { timeout: 2000 })).status === 200;
  }, { timeout: scaled(20000), what: 'HAProxy answering /healthz' });
  return { name: 'haproxy', port, url: `http://127.0.0.1:${port}`, log: () => log, exited };
}

// Every place a client can send a request: the load balancer and each node.
const endpoints = () => [C.lb, ...C.nodes.filter((n) => !n.dead)];

function req(ep, method, p, opts = {}) {
  return H.httpRequest(ep.port, method, p, opts);
}

async function acquire(ep, token, body = {}) {
  const res = await req(ep, 'POST', '/browser/acquire', { json: body, token, timeout: scaled(60000) });
  assert.equal(res.status, 200, `acquire through ${ep.name}: ${res.body.subarray(0, 500)}`);
  return res.json.result;
}

// The node that holds a session: the one whose tag starts its id.
async function ownerOf(id) {
  const rows = await sql('SELECT tag, url FROM nodes WHERE state NOT IN (\'lost\', \'left\')');
  const row = rows.find((r) => id.startsWith(r.tag));
  assert.ok(row, `a live node whose tag starts ${id}: ${JSON.stringify(rows)}`);
  const n = C.nodes.find((x) => x.url === row.url);
  assert.ok(n, `node ${row.url} is one of ours`);
  return n;
}

// The session's CDP WebSocket URL as a client reaching `ep` uses it.
function wsUrlAt(session, ep, token) {
  const u = new URL(session.webSocketDebuggerUrl);
  u.host = `127.0.0.1:${ep.port}`;
  u.searchParams.set('token', token);
  return u.toString();
}

before(async () => {
  for (const tool of ['haproxy', 'psql']) {
    assert.equal(spawnSync('sh', ['-c', `command -v ${tool}`]).status, 0, `${tool} is installed (make deps)`);
  }
  assert.ok(fs.existsSync(PG_SCRIPT), `${PG_SCRIPT} exists`);
  C.dir = await H.makeTempDir('ppod-cluster-');
  fs.chmodSync(C.dir, 0o755); // PostgreSQL runs as postgres and needs to reach pg/
  C.pgDir = path.join(C.dir, 'pg');
  fs.mkdirSync(C.pgDir);
  pgStarted = true;
  C.store = (await run(PG_SCRIPT, ['start', C.pgDir])).stdout.trim();
  assert.match(C.store, /^postgres(ql)?:\/\/\S+$/, 'pg-throwaway.sh prints the URL');
  C.keyFile = path.join(C.dir, 'cluster.key');
  fs.writeFileSync(C.keyFile, crypto.randomBytes(48).toString('base64'), { mode: 0o600 });
  const contexts = path.join(C.dir, 'contexts');
  fs.mkdirSync(contexts);

  C.fixtures = await H.startFixtures();
  C.tokens.limited = await account('limited', {
    limits: { maxConcurrentSessions: 3, acquisitionsPerMinute: 120 },
  });
  C.tokens.driver = await account('driver', { limits: { acquisitionsPerMinute: 120 } });
  C.tokens.payer = await account('payer', { credit: '100', limits: { maxConcurrentSessions: 1 } });
  C.tokens.loop = await account('loop', {
    limits: { quickActionsPerSecond: 100, concurrentQuickActions: 8 },
  });

  // Three nodes, started one after the other (2 cores).
  for (let i = 1; i <= 3; i++) {
    const port = await H.freePort();
    const dataDir = path.join(C.dir, `node${i}`);
    fs.mkdirSync(dataDir);
    const url = `http://127.0.0.1:${port}`;
    const daemon = await H.startDaemon({
      port,
      dataDir,
      token: C.tokens.driver,
      browsers: 2,
      allowPrivate: [C.fixtures.host],
      args: ['--store', C.store, '--node-url', url, '--node-name', `node${i}`,
        '--cluster-key-file', C.keyFile, '--node-timeout', String(NODE_TIMEOUT_S),
        '--contexts-dir', contexts, '--price-per-browser-second', PRICE],
    });
    C.nodes.push({ name: `node${i}`, port, url, daemon, dead: false });
  }
  // Each node sees the others before the tests start (placement needs them).
  await pollUntil(async () => (await sql('SELECT tag FROM nodes WHERE state NOT IN (\'lost\', \'left\')')).length === 3,
    { timeout: scaled(15000), what: 'three live nodes in the store' });
  C.lb = await startLb();
}, { timeout: scaled(240000) });

after(async () => {
  killLb();
  try {
    // The survivors drain and exit cleanly on SIGTERM.
    for (const n of C.nodes) {
      if (!n.dead && n.daemon) await n.daemon.stopClean({ timeout: scaled(30000) });
    }
  } finally {
    if (C.fixtures) await C.fixtures.close();
    stopPg();
  }
}, { timeout: scaled(120000) });

// ---------------------------------------------------------------- tests

describe('cluster: PostgreSQL, 3 nodes, HAProxy', { timeout: scaled(420000) }, () => {
  it('an account limited to 3 sessions gets its 4th refused whichever node it reaches', async () => {
    const token = C.tokens.limited;
    const held = [];
    try {
      for (let i = 0; i < 3; i++) held.push(await acquire(C.lb, token, { keep_alive: 60000 }));
      for (const ep of endpoints()) {
        const res = await req(ep, 'POST', '/browser/acquire', { json: {}, token });
        expectError(assert, res, 429, 'LIMIT_EXCEEDED', `4th session through ${ep.name}`);
      }
      // Every node lists the account's three sessions, wherever they live.
      for (const ep of endpoints()) {
        const res = await req(ep, 'GET', '/browser/sessions', { token });
        assert.equal(res.status, 200, `${ep.name}: ${res.body}`);
        const ids = res.json.result.map((s) => s.sessionId).sort();
        assert.deepEqual(ids, held.map((s) => s.sessionId).sort(), `sessions listed by ${ep.name}`);
      }
      // One released (through a node that does not hold it): the next one
      // is taken, wherever it lands.
      const first = held.shift();
      const owner = await ownerOf(first.sessionId);
      const other = C.nodes.find((n) => n !== owner);
      assert.equal((await req(other, 'DELETE', `/browser/sessions/${first.sessionId}`, { token })).status, 200);
      held.push(await acquire(C.lb, token, { keep_alive: 60000 }));
      expectError(assert, await req(C.lb, 'POST', '/browser/acquire', { json: {}, token }), 429, 'LIMIT_EXCEEDED');
    } finally {
      for (const s of held) await req(C.lb, 'DELETE', `/browser/sessions/${s.sessionId}`, { token }).catch(() => {});
    }
  });

  it('a session acquired through one node: Puppeteer and Playwright through HAProxy and each node; download and trace through any node', async () => {
    const token = C.tokens.driver;
    const entry = C.nodes[0];
    const s = await acquire(entry, token, { keep_alive: 60000, trace: true });
    const id = s.sessionId;
    const owner = await ownerOf(id);
    let released = false;
    try {
      for (const ep of endpoints()) {
        // Puppeteer over the session's WebSocket, reached through ep.
        const b = await puppeteer.connect({ browserWSEndpoint: wsUrlAt(s, ep, token), defaultViewport: null });
        try {
          const page = await b.newPage();
          const resp = await page.goto(`${C.fixtures.url}/echo?via=pptr-${ep.name}`);
          assert.equal(resp.status(), 200, `puppeteer through ${ep.name}`);
          const echo = JSON.parse(await page.$eval('#echo', (e) => e.textContent));
          assert.equal(echo.url, `/echo?via=pptr-${ep.name}`);
          await page.close();
        } finally {
          await b.disconnect();
        }
        // Playwright: discovery over HTTP, then the WebSocket, through ep.
        const pw = await chromium.connectOverCDP(`http://127.0.0.1:${ep.port}/browser/sessions/${id}`, {
          headers: { Authorization: `Bearer ${token}` },
          timeout: scaled(30000),
        });
        try {
          const page = await pw.contexts()[0].newPage();
          await page.goto(`${C.fixtures.url}/echo?via=pw-${ep.name}`);
          assert.match(await page.textContent('#echo'), new RegExp(`via=pw-${ep.name}`));
          await page.close();
        } finally {
          await pw.close();
        }
      }

      // A download made through a node that does not hold the session.
      const other = C.nodes.find((n) => n !== owner);
      const pw = await chromium.connectOverCDP(`http://127.0.0.1:${other.port}/browser/sessions/${id}`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      try {
        const page = await pw.contexts()[0].newPage();
        await page.goto(`${C.fixtures.url}/files/download.html`);
        const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#small')]);
        assert.equal(await dl.failure(), null, 'the download completes');
      } finally {
        await pw.close();
      }
      let did = null;
      for (const ep of endpoints()) {
        const list = await req(ep, 'GET', `/browser/sessions/${id}/downloads`, { token });
        assert.equal(list.status, 200, `downloads listed through ${ep.name}: ${list.body}`);
        assert.equal(list.json.result.length, 1);
        const item = list.json.result[0];
        assert.equal(item.state, 'completed');
        assert.equal(item.bytes, 100000);
        did = did || item.id;
        const file = await req(ep, 'GET', `/browser/sessions/${id}/downloads/${item.id}`, { token });
        assert.equal(file.status, 200, `download fetched through ${ep.name}`);
        assert.equal(file.body.length, 100000);
        assert.ok(file.body.equals(Buffer.alloc(100000, 0x61)), 'the bytes the fixture sent');
      }
      // (A download's id is Chromium's guid: the session's id, in its path, routes it.)
      assert.ok(did);
      // Another account sees none of it, through any node.
      for (const ep of endpoints()) {
        const res = await req(ep, 'GET', `/browser/sessions/${id}/downloads`, { token: C.tokens.loop });
        assert.equal(res.status, 404, `another account's downloads through ${ep.name}`);
      }

      // Released through another node; its trace is then read through each.
      assert.equal((await req(other, 'DELETE', `/browser/sessions/${id}`, { token })).status, 200);
      released = true;
      let first = null;
      for (const ep of endpoints()) {
        const t = await pollUntil(async () => {
          const r = await req(ep, 'GET', `/browser/traces/${id}`, { token });
          return r.status === 200 ? r : null;
        }, { timeout: scaled(15000), interval: 100, what: `trace ${id} through ${ep.name}` });
        assert.ok(t.body.subarray(0, 4).equals(Buffer.from('PK\x03\x04', 'latin1')), `a zip through ${ep.name}`);
        first = first || t.body;
        assert.ok(t.body.equals(first), `the same trace through ${ep.name}`);
        const theirs = await req(ep, 'GET', `/browser/traces/${id}`, { token: C.tokens.loop });
        assert.equal(theirs.status, 404, `another account's trace through ${ep.name}`);
      }
    } finally {
      if (!released) await req(C.lb, 'DELETE', `/browser/sessions/${id}`, { token }).catch(() => {});
    }
  });

  it('attack: a client posing as a node (X-Ppod-Via, a guessed X-Ppod-Cluster-Key) is refused by a node, and HAProxy never passes the claim on', async () => {
    const token = C.tokens.driver;
    const forged = { 'X-Ppod-Via': 'abcd', 'X-Ppod-Cluster-Key': 'A'.repeat(64), 'X-Forwarded-For': '10.9.8.7' };
    for (const n of C.nodes) {
      const r = await req(n, 'GET', '/account', { token, headers: forged });
      expectError(assert, r, 403, 'CLUSTER_KEY_INVALID', n.name);
      const noKey = await req(n, 'GET', '/account', { token, headers: { 'X-Ppod-Via': 'abcd' } });
      expectError(assert, noKey, 403, 'CLUSTER_KEY_INVALID', `${n.name}, no key`);
    }
    // Through the load balancer the headers are dropped: an ordinary request.
    for (let i = 0; i < 3; i++) {
      const r = await req(C.lb, 'GET', '/account', { token, headers: forged });
      assert.equal(r.status, 200, `through HAProxy: ${r.body}`);
      assert.equal(r.json.result.account.name, 'driver');
    }
  });

  it('kill -9 of the node holding a session: WebSocket closed, NodeLost in time, limit freed, ledger = balance; quick actions go on', async () => {
    const token = C.tokens.payer;
    const s = await acquire(C.lb, token, { keep_alive: 60000 });
    const id = s.sessionId;
    const victim = await ownerOf(id);

    // The client's CDP WebSocket, through HAProxy, answering.
    const ws = new WebSocket(wsUrlAt(s, C.lb, token), { perMessageDeflate: false });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
      ws.once('unexpected-response', (_, res) => reject(new Error(`WebSocket refused: HTTP ${res.statusCode}`)));
    });
    ws.on('error', () => {});
    const closed = new Promise((resolve) => ws.on('close', (code) => resolve({ code, at: Date.now() })));
    const reply = new Promise((resolve) => ws.once('message', (m) => resolve(JSON.parse(String(m)))));
    ws.send(JSON.stringify({ id: 1, method: 'Browser.getVersion' }));
    assert.equal((await reply).id, 1, 'CDP answers through HAProxy');
    // The session's usage row has beaten at least once (billable time).
    await pollUntil(async () => {
      const r = await sql(`SELECT u.last_heartbeat_ms FROM usage u JOIN accounts a ON a.id = u.account_id
        WHERE a.name = 'payer' AND u.end_ms IS NULL`);
      return r.length === 1 && r[0].last_heartbeat_ms !== null && r[0].last_heartbeat_ms > 0;
    }, { timeout: scaled(10000), interval: 200, what: 'a heartbeat on the session\'s usage row' });

    // Quick actions through HAProxy, LOOP_CONCURRENCY at a time, until told.
    const calls = [];
    let stop = false;
    let n = 0;
    const worker = async () => {
      while (!stop) {
        const c = { i: n++, start: Date.now(), end: 0, status: 0, error: null };
        calls.push(c);
        try {
          const r = await req(C.lb, 'POST', '/browser/content', {
            json: { url: `${C.fixtures.url}/echo?q=${c.i}` }, token: C.tokens.loop, timeout: CALL_DEADLINE_MS,
          });
          c.status = r.status;
          if (r.status === 200) assert.match(r.body.toString(), new RegExp(`q=${c.i}`));
        } catch (e) {
          c.error = e.message;
        }
        c.end = Date.now();
      }
    };
    const workers = Array.from({ length: LOOP_CONCURRENCY }, worker);
    const okCount = (from = 0) => calls.filter((c) => c.status === 200 && c.start >= from).length;
    let killAt = 0;
    try {
      await pollUntil(() => okCount() >= 3, { timeout: scaled(60000), what: 'quick actions before the kill' });

      const browsers = victim.daemon.browserPids();
      assert.ok(browsers.length > 0, 'the victim runs browsers');
      killAt = Date.now();
      victim.dead = true;
      process.kill(victim.daemon.pid, 'SIGKILL');

      // The client's WebSocket closes (HAProxy loses its server side).
      const c = await Promise.race([closed, new Promise((r) => setTimeout(() => r(null), scaled(15000)))]);
      assert.ok(c, 'the client\'s WebSocket closed within 15 s of the kill');
      // Its browsers die with it (PR_SET_PDEATHSIG, the reaper).
      await pollUntil(() => browsers.every((p) => !H.isAlive(p)),
        { timeout: scaled(15000), what: 'the killed node\'s browsers gone' });

      // History, read through a live node, says NodeLost within the timeout.
      const h = await pollUntil(async () => {
        const r = await req(C.lb, 'GET', '/browser/history', { token });
        if (r.status !== 200) return null;
        const e = r.json.result.find((x) => x.sessionId === id);
        return e && e.closeReason === 'NodeLost' ? e : null;
      }, { timeout: scaled((NODE_TIMEOUT_S + 12) * 1000), interval: 200, what: `history ${id} NodeLost` });
      const lostAfter = Date.now() - killAt;
      assert.ok(lostAfter <= scaled((NODE_TIMEOUT_S + 8) * 1000), `NodeLost ${lostAfter} ms after the kill`);
      // Closed at the last heartbeat, not at the time the loss was noticed.
      assert.ok(h.endTime <= killAt + 1500, `ended at its last heartbeat (${h.endTime - killAt} ms after the kill)`);
      assert.ok(h.endTime >= h.startTime);
      // Its id answers 410 NODE_LOST wherever it is asked, once that node's
      // view of the cluster (refreshed each heartbeat) has the loss; until
      // then a node that still tries the owner answers 502 NODE_UNREACHABLE.
      for (const ep of endpoints()) {
        const res = await pollUntil(async () => {
          const r = await req(ep, 'GET', `/browser/sessions/${id}`, { token, timeout: scaled(10000) });
          if (r.status === 502 && r.json && r.json.errors[0].code === 'NODE_UNREACHABLE') return null;
          return r;
        }, { timeout: scaled(5000), interval: 100, what: `410 from ${ep.name}` });
        expectError(assert, res, 410, 'NODE_LOST', ep.name);
      }

      // The account's one session is free again (maxConcurrentSessions = 1).
      const again = await acquire(C.lb, token, { keep_alive: 10000 });
      assert.equal((await req(C.lb, 'DELETE', `/browser/sessions/${again.sessionId}`, { token })).status, 200);

      // The ledger and the balance agree: no row open, each debited its
      // billed seconds, balance = credited - price x seconds; GET /account too.
      const [acct] = await sql('SELECT id, balance_micro FROM accounts WHERE name = \'payer\'');
      await pollUntil(async () => (await sql(`SELECT id FROM usage WHERE account_id = ${acct.id} AND end_ms IS NULL`)).length === 0,
        { timeout: scaled(10000), what: 'no open usage row' });
      const rows = await sql(`SELECT id, start_ms, end_ms, ms, price_micro, debit_micro, node FROM usage
        WHERE account_id = ${acct.id} AND price_micro IS NOT NULL ORDER BY id`);
      const [{ balance_micro: balance }] = await sql(`SELECT balance_micro FROM accounts WHERE id = ${acct.id}`);
      const [{ credited }] = await sql(`SELECT COALESCE(SUM(micro), 0) AS credited FROM credits WHERE account_id = ${acct.id}`);
      assert.ok(rows.length >= 2, `usage rows: ${JSON.stringify(rows)}`);
      let seconds = 0;
      for (const r of rows) {
        const sec = Math.ceil(Number(r.ms ?? (r.end_ms - r.start_ms)) / 1000);
        seconds += sec;
        assert.equal(Number(r.debit_micro), Number(r.price_micro) * sec, `row ${JSON.stringify(r)} debited its seconds`);
      }
      const lostRow = rows.find((r) => r.node === id.slice(0, 4));
      assert.ok(lostRow, 'the lost session\'s row carries its node');
      assert.ok(Number(lostRow.end_ms) <= killAt + 1500, `closed at its last heartbeat: ${JSON.stringify(lostRow)}`);
      assert.equal(Number(balance), Number(credited) - PRICE_MICRO * seconds, 'balance = credited - price x billed seconds');
      const me = await req(C.lb, 'GET', '/account', { token });
      assert.equal(me.status, 200);
      assert.equal(me.json.result.balance, Number(balance), 'GET /account shows the ledger\'s balance');

      // Quick actions go on on the survivors: a few more succeed after it all.
      const after = Date.now();
      await pollUntil(() => okCount(after) >= 4, { timeout: scaled(60000), what: 'quick actions after the kill' });
    } finally {
      // Whatever failed above, the loop ends and the client's socket closes.
      stop = true;
      ws.terminate();
      await Promise.all(workers);
    }
    for (const k of calls) {
      assert.ok(k.end - k.start <= CALL_DEADLINE_MS + 1000, `call ${k.i} finished within its deadline (${k.end - k.start} ms)`);
      assert.equal(k.error, null, `call ${k.i} was answered (${k.error})`);
      assert.ok([200, 502, 503].includes(k.status), `call ${k.i}: HTTP ${k.status}`);
    }
    const failed = calls.filter((k) => k.status !== 200);
    // Only those in flight on the killed node at the kill: at most one per
    // worker, each started before the kill.
    assert.ok(failed.length <= LOOP_CONCURRENCY, `failed: ${JSON.stringify(failed)}`);
    for (const k of failed) assert.ok(k.start <= killAt, `call ${k.i} failed but started after the kill`);
    assert.ok(okCount(killAt) >= 4, 'quick actions succeeded after the kill');
  });
});
