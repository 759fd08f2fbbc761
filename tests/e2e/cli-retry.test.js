'use strict';
// The `ppod` CLI retries the service's 429 and 503 by itself: a daemon with
// one job slot and no queue refuses a second action while the first runs
// (429 TOO_MANY_REQUESTS, Retry-After: 1); the CLI says on stderr that it
// waits, retries, and succeeds once the slot is free, or, past its bounded
// retries, fails with the service's error.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const os = require('node:os');
const path = require('node:path');
const { useDaemon, scaled, reached, REPO_ROOT } = require('./harness');

const BIN_DIR = process.env.PPOD_BIN_DIR || path.join(REPO_ROOT, 'build');
const PPOD = path.join(BIN_DIR, 'ppod');

const { daemon, fixtures } = useDaemon({
  browsers: 1,
  args: ['--concurrency', '1', '--queue', '0'],
  timeout: scaled(60000),
});

function ppod(args, extra = {}) {
  const env = { ...process.env, PAPERPOD_URL: daemon.url, PAPERPOD_TOKEN: daemon.token, ...extra };
  env.XDG_CONFIG_HOME = path.join(os.tmpdir(), 'ppod-retry-no-config');
  return new Promise((resolve) => {
    execFile(PPOD, args, { env, timeout: scaled(60000) }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, stdout, stderr });
    });
  });
}

// Occupies the only job slot for ms; resolves once the job is running,
// with {job}, the promise of its answer.
async function holdSlot(ms) {
  const hit = fixtures.nextRequest('/slow');
  const job = daemon.request('POST', '/browser/content', {
    json: { url: `${fixtures.url}/slow?ms=${ms}` }, timeout: scaled(60000),
  });
  await reached(hit, job);
  return { job }; // not the promise itself: an async function would await it
}

test('a 429 is retried after its Retry-After, said on stderr, then succeeds', { timeout: scaled(60000) }, async () => {
  const { job } = await holdSlot(3000);
  const t0 = Date.now();
  const r = await ppod(['browser:content', `${fixtures.url}/title.html`], { PAPERPOD_RETRIES: '10' });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /ppod fixture title/);
  assert.match(r.stderr, /^ppod: too many requests \(429 TOO_MANY_REQUESTS\), retrying in 1 s \(1\/10\)$/m);
  assert.ok(Date.now() - t0 >= 1000, 'it waited as asked');
  assert.equal((await job).status, 200);
});

test('past its bounded retries the CLI fails with the service error', { timeout: scaled(60000) }, async () => {
  const { job } = await holdSlot(8000);
  const r = await ppod(['browser:content', `${fixtures.url}/title.html`], { PAPERPOD_RETRIES: '2' });
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trim().split('\n');
  assert.deepEqual(lines.slice(0, 2), [
    'ppod: too many requests (429 TOO_MANY_REQUESTS), retrying in 1 s (1/2)',
    'ppod: too many requests (429 TOO_MANY_REQUESTS), retrying in 1 s (2/2)',
  ]);
  assert.match(lines[2], /^ppod: TOO_MANY_REQUESTS: /);
  assert.equal((await job).status, 200);
});

test('the default is three retries', { timeout: scaled(60000) }, async () => {
  const { job } = await holdSlot(8000);
  const r = await ppod(['browser:content', `${fixtures.url}/title.html`]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /retrying in 1 s \(3\/3\)\nppod: TOO_MANY_REQUESTS/);
  assert.doesNotMatch(r.stderr, /\(4\/3\)/);
  await job;
});
