'use strict';
// Credits: an account's balance in micro-credits, debited per started
// browser second from the usage ledger's rows at --price-per-browser-second.
// What a user notices: work refused up front with 402 INSUFFICIENT_CREDITS
// when the balance cannot pay one second; a session closed (WebSocket 4402,
// history CreditsExhausted) at the heartbeat that empties the balance; a
// quick action in flight finished and billed whole; the balance and the
// ledger agreeing after a kill -9; unmetered accounts (every account from
// before credits) untouched; hostile amounts refused; one account never
// spending another's credit.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { execFile } = require('node:child_process');
const WebSocket = require('ws');
const PPOD = path.join(process.env.PPOD_BIN_DIR || path.join(__dirname, '..', '..', 'build'), 'ppod');
const {
  useDaemon, startDaemon, startFixtures, runAdmin, scaled, pollUntil, expectError,
  acquireSession, waitForHistory, PNG_MAGIC, storeRows,
} = require('./harness');

// 0.01 credits per browser second: 10000 micro. Small numbers of seconds
// then read plainly in the amounts.
const PRICE = '0.01';
const PRICE_MICRO = 10000;
const ARGS = ['--price-per-browser-second', PRICE, '--spares', '2'];

// Rows of a query on the daemon's store, read past it (sqlite3 or psql).
function sql(dataDir, query) {
  return storeRows(dataDir, query);
}

// `account show NAME` as {key: value}.
async function show(dataDir, name) {
  const { stdout } = await runAdmin(['account', 'show', name, '--data-dir', dataDir]);
  const o = {};
  for (const line of stdout.trim().split('\n')) {
    const i = line.indexOf('=');
    o[line.slice(0, i)] = line.slice(i + 1);
  }
  return o;
}

// A new account with a credit (a string of credits, or null: unmetered)
// and its token.
async function account(dataDir, name, credit) {
  const args = ['account', 'create', name];
  if (credit !== null) args.push('--credit', credit);
  const { stdout } = await runAdmin([...args, '--data-dir', dataDir]);
  const lines = stdout.trim().split('\n');
  assert.equal(lines.length, 1, `account create: the token alone on stdout: ${stdout}`);
  return lines[0];
}

// Runs `ppod-browserd ARGS`; {code, stdout, stderr} whatever the exit.
function admin(args) {
  return runAdmin(args).then((r) => ({ code: 0, ...r }), (e) => ({ code: e.code, stdout: '', stderr: e.message }));
}

// The ledger's own figures for an account: every debited row's billed
// seconds (per started second) and debit, the grants, and the balance.
async function ledger(dataDir, name) {
  const [a] = await sql(dataDir, `SELECT id, balance_micro FROM accounts WHERE name = '${name}'`);
  const rows = await sql(dataDir, `SELECT id, kind, start_ms, end_ms, ms, last_heartbeat_ms, price_micro, debit_micro
    FROM usage WHERE account_id = ${a.id} AND price_micro IS NOT NULL ORDER BY id`);
  const [g] = await sql(dataDir, `SELECT COALESCE(SUM(micro), 0) AS credited FROM credits WHERE account_id = ${a.id}`);
  const billedMs = (r) => (r.end_ms !== null ? r.ms : (r.last_heartbeat_ms ?? r.start_ms) - r.start_ms);
  const seconds = rows.reduce((n, r) => n + Math.ceil(billedMs(r) / 1000), 0);
  return { id: a.id, balance: a.balance_micro, credited: g.credited, rows, seconds, billedMs };
}

// balance = credited - price x billed seconds, and each row's debit is its
// own billed seconds at the price.
function assertAgrees(l, what) {
  for (const r of l.rows) {
    assert.equal(r.debit_micro, r.price_micro * Math.ceil(l.billedMs(r) / 1000),
      `${what}: row ${r.id} debited its billed seconds: ${JSON.stringify(r)}`);
  }
  assert.equal(l.balance, l.credited - PRICE_MICRO * l.seconds,
    `${what}: balance = credited - price x billed seconds (${JSON.stringify({ ...l, billedMs: undefined })})`);
}

// The session's CDP WebSocket with the account's token: resolves {code,
// reason, at} when it closes.
async function openCdp(daemon, session, token) {
  const ws = new WebSocket(`${session.webSocketDebuggerUrl}?token=${token}`, { perMessageDeflate: false });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
    ws.once('unexpected-response', (req, res) => reject(new Error(`WebSocket refused: HTTP ${res.statusCode}`)));
  });
  ws.on('error', () => {});
  const closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: String(reason), at: Date.now() })));
  return { ws, closed };
}

describe('credits', { timeout: scaled(180000) }, () => {
  const { daemon, fixtures } = useDaemon({ args: ARGS });

  it('an unmetered account (made without a credit, as every account before credits) is never refused nor debited', async () => {
    const s = await show(daemon.dataDir, 'test');
    assert.equal(s.metered, 'no');
    assert.equal(s.balance, 'unlimited');
    const res = await daemon.request('POST', '/browser/screenshot', { json: { url: `${fixtures.url}/boxes.html` } });
    assert.equal(res.status, 200, res.body.subarray(0, 300).toString());
    assert.ok(res.body.subarray(0, 8).equals(PNG_MAGIC));
    const after = await show(daemon.dataDir, 'test');
    assert.equal(after.metered, 'no');
    assert.equal(after.debitedRows, '0', 'its rows carry no price');
  });

  it('402 INSUFFICIENT_CREDITS before any work when the balance cannot pay one second', async () => {
    const token = await account(daemon.dataDir, 'empty', '0');
    const marker = `credits-refused-${Date.now()}`;
    const url = `${fixtures.url}/boxes.html?${marker}`;
    const work = [
      ['/browser/screenshot', { url }],
      ['/browser/content', { url }],
      ['/browser/acquire', {}],
      ['/browser/test', { url, steps: [{ action: 'expectTitle', title: 'x' }] }],
      ['/browser/crawl', { url }],
    ];
    const check = async (ctx) => {
      for (const [route, body] of work) {
        const res = await daemon.request('POST', route, { json: body, token });
        const e = expectError(assert, res, 402, 'INSUFFICIENT_CREDITS', `${ctx} ${route}`);
        assert.match(e.message, /cannot pay for one second of browser time \(0\.01 credits\); add credits/);
        assert.equal(res.headers['retry-after'], undefined, 'no Retry-After: waiting does not help');
      }
    };
    await check('balance 0');
    // Less than one second's price is still not enough.
    const credited = await admin(['account', 'credit', 'empty', '0.009999', '--data-dir', daemon.dataDir]);
    assert.equal(credited.code, 0, credited.stderr);
    assert.equal(credited.stdout.trim(), '0.009999', 'account credit prints the new balance');
    await check('balance 0.009999');
    // The account sees its balance: GET /account and `ppod balance`.
    const acct = await daemon.request('GET', '/account', { token });
    assert.equal(acct.status, 200);
    const r = JSON.parse(acct.body).result;
    assert.equal(r.balance, 9999, 'GET /account: the balance in micro-credits');
    assert.equal(r.balanceCredits, '0.009999');
    const bal = await new Promise((resolve) => execFile(PPOD, ['balance'],
      { env: { ...process.env, PAPERPOD_URL: daemon.url, PAPERPOD_TOKEN: token, XDG_CONFIG_HOME: daemon.dataDir } },
      (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr })));
    assert.equal(bal.code, 0, bal.stderr);
    assert.match(bal.stdout, /^balance: +0\.009999$/m, bal.stdout);
    // Nothing was fetched, nothing was metered.
    assert.ok(!fixtures.requests.some((r) => (r.search || '').includes(marker)), 'no page was loaded for a refused request');
    const l = await ledger(daemon.dataDir, 'empty');
    assert.equal(l.rows.length, 0, 'no ledger row for refused work');
    // Reads still answer: an account out of credits can look at itself.
    const sessions = await daemon.request('GET', '/browser/sessions', { token });
    assert.equal(sessions.status, 200);
    // One micro-credit more pays exactly one second: the work runs.
    assert.equal((await admin(['account', 'credit', 'empty', '+0.000001', '--data-dir', daemon.dataDir])).code, 0);
    const ok = await daemon.request('POST', '/browser/screenshot', { json: { url: `${fixtures.url}/boxes.html` }, token });
    assert.equal(ok.status, 200, ok.body.subarray(0, 300).toString());
    assertAgrees(await ledger(daemon.dataDir, 'empty'), 'after one paid screenshot');
  });

  it('a balance of exactly 3 s: the session is closed at the beat that empties it (WebSocket 4402, history CreditsExhausted), billed 3 s, balance 0', async () => {
    const token = await account(daemon.dataDir, 'three', '0.03');
    const t0 = Date.now();
    const session = await acquireSession(daemon, { keep_alive: 60000 }, { token });
    const { closed } = await openCdp(daemon, session, token);
    const info = await closed;
    const took = info.at - t0;
    assert.equal(info.code, 4402, `close code: ${JSON.stringify(info)}`);
    assert.match(info.reason, /CreditsExhausted/);
    // Paid to 3 s, closed up to 0.3 s before the paid time ends (the margin
    // of the last beat), never in a fourth second it could not pay.
    assert.ok(took >= 2000 && took < 3000 + scaled(2000), `closed ${took} ms after the acquisition began`);
    const h = await waitForHistory(daemon, session.sessionId, { token });
    assert.equal(h.closeReason, 'CreditsExhausted', JSON.stringify(h));
    const l = await ledger(daemon.dataDir, 'three');
    assertAgrees(l, 'after exhaustion');
    assert.equal(l.balance, 0, 'the balance covered exactly the session');
    assert.equal(l.seconds, 3, 'three seconds billed');
    const row = l.rows.find((r) => r.kind === 'session');
    assert.ok(row.ms > 2000 && row.ms <= 3000, `the session's row ran into its third second only: ${JSON.stringify(row)}`);
    assert.equal(row.end_ms !== null, true, 'closed');
    console.log(`# 3 s of credit: the WebSocket closed ${took} ms after the acquisition began; row ${row.ms} ms`);
    const s = await show(daemon.dataDir, 'three');
    assert.equal(s.balance, '0.00');
    assert.equal(s.billedSeconds, '3');
    expectError(assert, await daemon.request('POST', '/browser/acquire', { json: {}, token }), 402, 'INSUFFICIENT_CREDITS');
  });

  it('a quick action in flight when the balance runs out is finished and billed whole; the balance goes below zero and the next request is refused', async () => {
    const token = await account(daemon.dataDir, 'onesec', '0.01');
    const res = await daemon.request('POST', '/browser/content', {
      json: { url: `${fixtures.url}/slow?ms=2300`, timeout: 20000 }, token, timeout: scaled(30000),
    });
    assert.equal(res.status, 200, res.body.subarray(0, 300).toString());
    const l = await ledger(daemon.dataDir, 'onesec');
    assertAgrees(l, 'after the slow action');
    assert.ok(l.seconds >= 3, `2.3 s and more billed as ${l.seconds} started seconds`);
    assert.equal(l.balance, PRICE_MICRO * (1 - l.seconds), 'the overdraft is what the action ran past its credit');
    const s = await show(daemon.dataDir, 'onesec');
    assert.match(s.balance, /^-0\.0[2-9]/, `negative balance shown: ${s.balance}`);
    expectError(assert, await daemon.request('POST', '/browser/screenshot', { json: { url: `${fixtures.url}/boxes.html` }, token }),
      402, 'INSUFFICIENT_CREDITS');
  });

  it('two sessions racing for the last 4 s: both closed as CreditsExhausted, the overdraft within one heartbeat per session', async () => {
    const token = await account(daemon.dataDir, 'race', '0.04');
    const [a, b] = await Promise.all([
      acquireSession(daemon, { keep_alive: 60000 }, { token }),
      acquireSession(daemon, { keep_alive: 60000 }, { token }),
    ]);
    const [ca, cb] = await Promise.all([openCdp(daemon, a, token), openCdp(daemon, b, token)]);
    const [ia, ib] = await Promise.all([ca.closed, cb.closed]);
    assert.equal(ia.code, 4402, JSON.stringify(ia));
    assert.equal(ib.code, 4402, JSON.stringify(ib));
    for (const s of [a, b]) {
      const h = await waitForHistory(daemon, s.sessionId, { token });
      assert.equal(h.closeReason, 'CreditsExhausted');
    }
    const l = await ledger(daemon.dataDir, 'race');
    assertAgrees(l, 'after the race');
    // The bound: each session may run past the balance until its next beat,
    // at most 5 s (billed as up to 6 started seconds). The beats are planned
    // for the account's sessions together (each one's unpaid time counted as
    // spent), so on a quiet machine it is 0.
    assert.ok(l.balance >= -2 * 6 * PRICE_MICRO, `overdraft within the bound: ${l.balance}`);
    assert.ok(l.balance < PRICE_MICRO, 'nothing left that could pay another second');
    console.log(`# race for 4 s between two sessions: ${l.seconds} s billed, balance ${l.balance} micro`);
  });

  it('an account cannot spend another\'s credit: its work debits only itself, another\'s session is not found', async () => {
    const richToken = await account(daemon.dataDir, 'rich', '1.00');
    const poorToken = await account(daemon.dataDir, 'poor', '0.02');
    const session = await acquireSession(daemon, { keep_alive: 60000 }, { token: richToken });
    const richBefore = await ledger(daemon.dataDir, 'rich');
    // The poor account names the rich one's session: not found (as none).
    expectError(assert, await daemon.request('POST', '/browser/screenshot', {
      json: { url: `${fixtures.url}/boxes.html`, sessionId: session.sessionId }, token: poorToken,
    }), 404, 'SESSION_NOT_FOUND');
    const cdp = await daemon.request('GET', `/browser/sessions/${session.sessionId}/json/version`, { token: poorToken });
    assert.equal(cdp.status, 404);
    // Its own work is its own.
    const ok = await daemon.request('POST', '/browser/screenshot', { json: { url: `${fixtures.url}/boxes.html` }, token: poorToken });
    assert.equal(ok.status, 200);
    const poor = await ledger(daemon.dataDir, 'poor');
    assertAgrees(poor, 'poor');
    assert.ok(poor.balance < 20000, 'the poor account paid for its screenshot');
    await daemon.request('DELETE', `/browser/sessions/${session.sessionId}`, { token: richToken });
    const rich = await ledger(daemon.dataDir, 'rich');
    assertAgrees(rich, 'rich');
    assert.equal(rich.credited - rich.balance, PRICE_MICRO * rich.seconds, 'the rich account paid for its own session only');
    assert.ok(rich.rows.every((r) => richBefore.rows.some((o) => o.id === r.id)), 'no row of the poor account\'s work on the rich one');
  });

  it('a quick action inside an acquired session is not billed twice: the session\'s row pays that browser\'s time', async () => {
    const token = await account(daemon.dataDir, 'insession', '1.00');
    const session = await acquireSession(daemon, { keep_alive: 60000 }, { token });
    for (let i = 0; i < 3; i++) {
      const res = await daemon.request('POST', '/browser/screenshot', {
        json: { url: `${fixtures.url}/boxes.html`, sessionId: session.sessionId }, token,
      });
      assert.equal(res.status, 200, res.body.subarray(0, 300).toString());
    }
    await daemon.request('DELETE', `/browser/sessions/${session.sessionId}`, { token });
    const l = await ledger(daemon.dataDir, 'insession');
    assertAgrees(l, 'in session');
    assert.deepEqual(l.rows.map((r) => r.kind), ['session'], 'only the session\'s row is debited');
    const [shots] = await sql(daemon.dataDir, `SELECT COUNT(*) AS n, SUM(CASE WHEN price_micro IS NULL AND end_ms IS NOT NULL THEN 1 ELSE 0 END) AS free
      FROM usage WHERE account_id = ${l.id} AND kind = 'screenshot'`);
    assert.equal(shots.n, 3, 'each screenshot is still in the usage ledger');
    assert.equal(shots.free, 3, 'none of them debited');
    // Without a session the same screenshot is debited, as any quick action.
    const alone = await daemon.request('POST', '/browser/screenshot', { json: { url: `${fixtures.url}/boxes.html` }, token });
    assert.equal(alone.status, 200);
    const after = await ledger(daemon.dataDir, 'insession');
    assert.deepEqual(after.rows.map((r) => r.kind), ['session', 'screenshot']);
    assertAgrees(after, 'after one screenshot alone');
  });

  it('hostile amounts are refused whole and change nothing', async () => {
    await account(daemon.dataDir, 'target', '1.00');
    const bad = ['1e9', 'NaN', '-NaN', 'inf', '-0', '0', '0.0000001', '1.0000000', '99999999999999999999',
      '18446744073709551617', '1000000000.000001', '0x10', '', ' 5', '5 ', '+-1', '--1', '5.', '.5', '1,5', '1.2.3',
      '٣', '5\n6'];
    for (const amount of bad) {
      const r = await admin(['account', 'credit', 'target', amount, '--data-dir', daemon.dataDir]);
      assert.equal(r.code, 2, `"${amount}" refused as a usage error: ${r.stderr.slice(0, 300)}`);
    }
    // An amount that parses but would take the balance past the cap.
    const big = await admin(['account', 'credit', 'target', '1000000000', '--data-dir', daemon.dataDir]);
    assert.equal(big.code, 1);
    assert.match(big.stderr, /nothing changed/);
    const neg = await admin(['account', 'create', 'negative', '--credit', '-1', '--data-dir', daemon.dataDir]);
    assert.equal(neg.code, 2, 'a negative starting credit is refused');
    const s = await show(daemon.dataDir, 'target');
    assert.equal(s.balanceMicro, '1000000');
    assert.equal(s.creditedMicro, '1000000', 'no grant was recorded for a refused amount');
    const dec = await admin(['account', 'credit', 'target', '-1.50', '--data-dir', daemon.dataDir]);
    assert.equal(dec.code, 0, dec.stderr);
    assert.equal(dec.stdout.trim(), '-0.50');
    // Flags: the price is checked the same way.
    for (const price of ['1e-4', '-0.0001', 'NaN', '0.0000001', '1001']) {
      const r = await admin(['--price-per-browser-second', price, 'account', 'list', '--data-dir', daemon.dataDir]);
      assert.equal(r.code, 2, `--price-per-browser-second ${price}: ${r.stderr.slice(0, 200)}`);
    }
  });
});

// kill -9 of the service mid-session: the restart closes the session's row
// at its last heartbeat, whose debit was made in the same transaction; the
// balance is the one the killed service left, and agrees with the ledger.
describe('credits across kill -9 and restart', { timeout: scaled(120000) }, () => {
  let fixtures;
  let daemon;
  let restarted;

  before(async () => {
    fixtures = await startFixtures();
    daemon = await startDaemon({ allowPrivate: [fixtures.host], args: ARGS });
  }, { timeout: scaled(60000) });

  after(async () => {
    if (daemon) await daemon.stop('SIGKILL');
    if (restarted) await restarted.stopClean();
    if (fixtures) await fixtures.close();
  });

  it('no debit lost, none doubled: ledger rows and balance agree after the restart', async () => {
    const db = daemon.dataDir;
    const token = await account(db, 'k9', '1.00'); // 100 s
    const session = await acquireSession(daemon, { keep_alive: 60000 }, { token });
    await openCdp(daemon, session, token);
    // A quick action runs too (its row is beaten every 2 s by the ledger).
    const inflight = daemon.request('POST', '/browser/content', {
      json: { url: `${fixtures.url}/slow?ms=20000&k9=1`, timeout: 30000 }, token, timeout: scaled(40000),
    });
    inflight.catch(() => {});
    // Both rows beaten and debited at least once.
    await pollUntil(async () => {
      const l = await ledger(db, 'k9');
      return l.rows.length === 2 && l.rows.every((r) => r.last_heartbeat_ms !== null && r.debit_micro > 0);
    }, { timeout: scaled(15000), interval: 200, what: 'a debited heartbeat on both rows' });
    process.kill(daemon.pid, 'SIGKILL');
    await daemon.exited;
    await assert.rejects(inflight);
    // What the killed service committed.
    const killed = await ledger(db, 'k9');
    assert.equal(killed.rows.filter((r) => r.end_ms === null).length, 2, 'both rows left open by the kill');
    assertAgrees(killed, 'as the kill left it');

    restarted = await startDaemon({ allowPrivate: [fixtures.host], args: ARGS, dataDir: db, token: daemon.token });
    const l = await ledger(db, 'k9');
    assert.deepEqual(l.rows.filter((r) => r.end_ms === null), [], 'no row left open');
    for (const r of l.rows) {
      const was = killed.rows.find((o) => o.id === r.id);
      assert.equal(r.end_ms, was.last_heartbeat_ms, `row ${r.id} closed at its last heartbeat`);
      assert.equal(r.debit_micro, was.debit_micro, `row ${r.id}: its debit was made once, at that heartbeat`);
    }
    assertAgrees(l, 'after the restart');
    assert.equal(l.balance, killed.balance, 'the restart debited nothing more, and lost nothing');
    const s = await show(db, 'k9');
    assert.equal(Number(s.balanceMicro), l.balance);
    assert.equal(s.openRows, '0');
    // A second restart changes nothing.
    await restarted.stopClean();
    restarted = await startDaemon({ allowPrivate: [fixtures.host], args: ARGS, dataDir: db, token: daemon.token });
    const again = await ledger(db, 'k9');
    assert.equal(again.balance, l.balance);
    assert.deepEqual(again.rows, l.rows);
    // And the account goes on spending what is left.
    const res = await restarted.request('POST', '/browser/screenshot', { json: { url: `${fixtures.url}/boxes.html` }, token });
    assert.equal(res.status, 200);
    assertAgrees(await ledger(db, 'k9'), 'after more work');
  });
});
