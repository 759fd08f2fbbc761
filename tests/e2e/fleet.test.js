'use strict';
// Fleet-wide account limits (core/fleet.h): two daemons on one throwaway
// PostgreSQL (scripts/pg-throwaway.sh) are one service for an account's
// limits. What a user notices: an account limited to 3 sessions gets its
// 4th refused whichever node it reaches (429 LIMIT_EXCEEDED, Retry-After 5,
// the same message a single node gives) and gets it once one is released;
// quickActionsPerSecond holds across the two nodes, refused like a single
// node's (429 RATE_LIMITED, Retry-After). And the attack: an account at its
// cap on one node cannot get past it by spreading acquisitions over nodes
// at once.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { execFile } = require('node:child_process');
const H = require('./harness');

const PG = path.join(__dirname, '..', '..', 'scripts', 'pg-throwaway.sh');

function sh(args) {
  return new Promise((resolve, reject) => {
    execFile(PG, args, { timeout: H.scaled(120000) }, (err, stdout, stderr) => {
      if (err) {
        err.message += `\n${stderr}`;
        return reject(err);
      }
      resolve(stdout.trim());
    });
  });
}

describe('fleet-wide limits on two nodes', { timeout: H.scaled(300000) }, () => {
  let pgDir, url, token, a, b;

  before(async () => {
    pgDir = await H.makeTempDir('ppod-e2e-pg-');
    url = (await sh(['start', pgDir])).split('\n').pop();
    assert.match(url, /^postgres:\/\/ppod@127\.0\.0\.1:\d+\/ppod$/);
    const { stdout } = await H.runAdmin(['account', 'create', 'fleet', '--store', url]);
    token = stdout.trim();
    // quickActionsPerSecond stays at its default until its own test: releases
    // take from the same bucket, and the session tests release in bursts.
    await H.runAdmin(['account', 'limits', 'fleet', '--set', 'maxConcurrentSessions=3',
      '--set', 'acquisitionsPerMinute=100', '--store', url]);
    // Both nodes up before any session: each one's start tidies the store.
    const opts = async () => ({ browsers: 3, args: ['--store', url, '--spares', '1'],
      dataDir: await H.makeTempDir('ppod-e2e-data-'), token });
    a = await H.startDaemon(await opts());
    b = await H.startDaemon(await opts());
  });

  after(async () => {
    if (a) await a.stop();
    if (b) await b.stop();
    if (pgDir) await sh(['stop', pgDir]);
  });

  async function refusedSession(node, what) {
    const res = await node.request('POST', '/browser/acquire', { json: {} });
    const e = H.expectError(assert, res, 429, 'LIMIT_EXCEEDED', what);
    assert.equal(e.message, 'the account already has 3 live sessions (its maximum)', what);
    assert.equal(res.headers['retry-after'], '5', what);
  }

  it('refuses the 4th session on either node, and gives it once one is released', async () => {
    const s1 = await H.acquireSession(a);
    const s2 = await H.acquireSession(a);
    const s3 = await H.acquireSession(b);
    // Each node alone is under 3 (A holds 2, B 1): only the fleet count refuses.
    await refusedSession(a, '4th on A');
    await refusedSession(b, '4th on B');
    assert.equal(await H.releaseSession(b, s3.sessionId), 200);
    const s4 = await H.acquireSession(a);
    await refusedSession(b, 'at 3 again, on B');
    for (const [node, s] of [[a, s1], [a, s2], [a, s4]])
      assert.equal(await H.releaseSession(node, s.sessionId), 200);
  });

  it('never goes past the cap when acquisitions race on both nodes', async () => {
    const tries = [a, b, a, b, a, b].map((n) => n.request('POST', '/browser/acquire', { json: {} }));
    const res = await Promise.all(tries);
    const ok = res.filter((r) => r.status === 200);
    for (const r of res.filter((x) => x.status !== 200)) H.expectError(assert, r, 429, 'LIMIT_EXCEEDED');
    assert.equal(ok.length, 3, `statuses ${res.map((r) => r.status)}`);
    for (const r of ok) {
      const id = r.json.result.sessionId;
      const st = await a.request('DELETE', `/browser/sessions/${id}`, {});
      const sb = st.status === 200 ? st : await b.request('DELETE', `/browser/sessions/${id}`, {});
      assert.equal(sb.status, 200);
    }
  });

  it('holds quickActionsPerSecond=2 across the two nodes', async () => {
    const html = '<p>fleet</p>';
    await H.runAdmin(['account', 'limits', 'fleet', '--set', 'quickActionsPerSecond=2',
      '--store', url]);
    // Let the bucket fill (2 tokens at 2/s).
    await new Promise((r) => setTimeout(r, 1100));
    const t0 = Date.now();
    const res = await Promise.all([a, b, a, b, a, b, a, b].map((n) =>
      n.request('POST', '/browser/content', { json: { html } })));
    const elapsed = (Date.now() - t0) / 1000;
    const ok = res.filter((r) => r.status === 200).length;
    for (const r of res.filter((x) => x.status !== 200)) {
      const e = H.expectError(assert, r, 429, 'RATE_LIMITED');
      assert.match(e.message, /^at most 2 quick actions per second; next in \d+ ms$/);
      assert.ok(Number(r.headers['retry-after']) >= 1, 'Retry-After');
    }
    // Each node alone lets its burst of 2 through at once (4 together); the
    // fleet's one bucket lets its burst of 2 through, plus what refilled
    // between the first and last check (the jobs start at once: well under
    // the 500 ms a third token takes).
    assert.ok(ok >= 1, 'some pass');
    assert.ok(ok <= 3, `${ok} of 8 passed (in ${elapsed}s)`);
    assert.ok(ok <= 2 + Math.floor(2 * elapsed), `${ok} passed in ${elapsed}s`);
  });
});
