'use strict';
// Observability: every answer carries an X-Request-Id (the client's when it
// is sane) that error bodies and the JSON request log repeat, and /metrics
// moves when requests are refused and when a browser is recycled.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const {
  useDaemon, pollUntil, reached, scaled, expectError, setLimits,
} = require('./harness');
const { metric, samples } = require('./metricsutil');

const SHOT = '/browser/screenshot';
const GENERATED_ID = /^[0-9a-f]{24}$/;

const METRICS_TOKEN = 'observability-metrics-secret';

async function metricsText(daemon) {
  // With the metrics token the RSS gauge names each browser's pid.
  const r = await daemon.request('GET', '/metrics', { token: METRICS_TOKEN });
  assert.equal(r.status, 200, 'GET /metrics');
  return r.body.toString('utf8');
}

// The daemon's JSON log lines (other lines are plain text).
function jsonLogLines(daemon) {
  return daemon.stderr().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
}

describe('request ids, JSON request logs and /metrics (--concurrency 1 --queue 0 --recycle-after 3)', { timeout: scaled(90000) }, () => {
  const { daemon, fixtures } = useDaemon({
    browsers: 1,
    args: ['--concurrency', '1', '--queue', '0', '--recycle-after', '3', '--spares', '0',
      '--metrics-token', METRICS_TOKEN],
    timeout: scaled(40000),
  });

  it('every answer has X-Request-Id; a sane client id is kept and repeated in the error body and the log', async () => {
    const health = await daemon.request('GET', '/healthz', { token: null });
    assert.equal(health.status, 200);
    assert.match(String(health.headers['x-request-id']), GENERATED_ID, 'generated id on a 200');

    const notFound = await daemon.request('GET', '/no/such/route', { token: null });
    expectError(assert, notFound, 404, 'NOT_FOUND');
    assert.match(String(notFound.headers['x-request-id']), GENERATED_ID);
    assert.equal(notFound.json.requestId, notFound.headers['x-request-id'], 'the error body names the same id');
    assert.equal(notFound.json.success, false, 'the envelope keeps its fields');

    const mine = 'client-Req_42.a';
    const bad = await daemon.request('POST', SHOT, { body: '{not json', headers: { 'X-Request-Id': mine } });
    expectError(assert, bad, 400, 'INVALID_REQUEST');
    assert.equal(bad.headers['x-request-id'], mine, 'the client id comes back');
    assert.equal(bad.json.requestId, mine, 'and is in the error body');

    const ok = await daemon.request('POST', SHOT, {
      json: { url: `${fixtures.url}/boxes.html` }, headers: { 'X-Request-Id': 'shot-1' }, timeout: scaled(20000),
    });
    assert.equal(ok.status, 200, ok.body.subarray(0, 300).toString());
    assert.equal(ok.headers['x-request-id'], 'shot-1');

    for (const insane of ['has space', 'x'.repeat(65), 'semi;colon', 'quote"d']) {
      const r = await daemon.request('GET', '/healthz', { token: null, headers: { 'X-Request-Id': insane } });
      assert.match(String(r.headers['x-request-id']), GENERATED_ID, `${JSON.stringify(insane)} is replaced`);
    }
    const unauth = await daemon.request('POST', SHOT, { token: null, json: { url: 'https://example.com' } });
    expectError(assert, unauth, 401, 'UNAUTHORIZED');
    assert.equal(unauth.json.requestId, unauth.headers['x-request-id']);

    // One JSON object per answered request on stderr.
    const line = await pollUntil(() => jsonLogLines(daemon).find((l) => l.requestId === mine), {
      timeout: scaled(3000), what: `a log line for ${mine}`,
    });
    assert.equal(line.method, 'POST');
    assert.equal(line.path, SHOT);
    assert.equal(line.status, 400);
    assert.equal(line.error, 'INVALID_REQUEST');
    assert.equal(line.account, 'test');
    assert.equal(line.level, 'warn');
    assert.equal(typeof line.ms, 'number');
    assert.ok(!Number.isNaN(Date.parse(line.ts)), `ts ${line.ts}`);
    const shot = jsonLogLines(daemon).find((l) => l.requestId === 'shot-1');
    assert.ok(shot, 'the screenshot was logged');
    assert.equal(shot.status, 200);
    assert.ok(shot.browserMs > 0 && shot.bytes > 0, JSON.stringify(shot));
    assert.ok(shot.ms >= shot.browserMs, JSON.stringify(shot));
  });

  it('a 429 moves ppod_rejections_total by its reason, and the refused body has the request id', async () => {
    const before = await metricsText(daemon);
    const full0 = metric(before, 'ppod_rejections_total', { reason: 'queue_full' });
    const conc0 = metric(before, 'ppod_rejections_total', { reason: 'concurrency' });
    const waits0 = metric(before, 'ppod_queue_wait_seconds_count');
    assert.equal(full0, 0, 'reasons are exported at 0 before they happen');

    // The one job thread busy: the next request has no queue to wait in.
    const hit = fixtures.nextRequest((r) => r.path === '/slow');
    const slow = daemon.request('POST', SHOT, { json: { url: `${fixtures.url}/slow?ms=1500&obs=1` }, timeout: scaled(20000) });
    await reached(hit, slow);
    const refused = await daemon.request('POST', SHOT, {
      json: { url: `${fixtures.url}/boxes.html` }, headers: { 'X-Request-Id': 'refused-1' },
    });
    expectError(assert, refused, 429, 'TOO_MANY_REQUESTS');
    assert.equal(refused.json.requestId, 'refused-1');
    // The account at its own cap: refused before the queue, reason concurrency.
    await setLimits(daemon.dataDir, 'test', { concurrentQuickActions: 1 });
    const capped = await daemon.request('POST', SHOT, { json: { url: `${fixtures.url}/boxes.html` } });
    expectError(assert, capped, 429, 'LIMIT_EXCEEDED');
    assert.equal((await slow).status, 200);
    await setLimits(daemon.dataDir, 'test', { concurrentQuickActions: 6 });

    const t = await metricsText(daemon);
    assert.equal(metric(t, 'ppod_rejections_total', { reason: 'queue_full' }), full0 + 1, 'queue_full +1');
    assert.equal(metric(t, 'ppod_rejections_total', { reason: 'concurrency' }), conc0 + 1, 'concurrency +1');
    assert.ok(metric(t, 'ppod_queue_wait_seconds_count') >= waits0 + 1, 'the admitted job recorded its queue wait');
    assert.equal(metric(t, 'ppod_queue_depth'), 0);
    assert.equal(metric(t, 'ppod_usage_records_open'), 0, 'no ledger row left open');
    const rejLog = jsonLogLines(daemon).find((l) => l.requestId === 'refused-1');
    assert.ok(rejLog && rejLog.status === 429 && rejLog.error === 'TOO_MANY_REQUESTS', JSON.stringify(rejLog));
  });

  it('a recycle shows in ppod_browser_restarts_total{cause="recycle_jobs"}, and the RSS gauge follows the new browser', async () => {
    const t0 = await metricsText(daemon);
    const rec0 = metric(t0, 'ppod_browser_restarts_total', { cause: 'recycle_jobs' });
    const pids0 = daemon.browserPids();
    for (let i = 0; i < 4; i++) {
      const r = await daemon.request('POST', SHOT, { json: { url: `${fixtures.url}/boxes.html?r=${i}` }, timeout: scaled(20000) });
      assert.equal(r.status, 200, `screenshot ${i}: ${r.body.subarray(0, 200)}`);
    }
    const t = await pollUntil(async () => {
      const text = await metricsText(daemon);
      const pids = daemon.browserPids();
      const gauge = samples(text, 'ppod_browser_rss_bytes').filter((s) => s.labels.role === 'pool');
      return metric(text, 'ppod_browser_restarts_total', { cause: 'recycle_jobs' }) > rec0 &&
        pids.length === 1 && !pids0.includes(pids[0]) &&
        gauge.length === 1 && gauge[0].labels.pid === String(pids[0]) ? text : null;
    }, { timeout: scaled(10000), what: 'a recycle counted and the RSS gauge on the new browser' });
    const gauge = samples(t, 'ppod_browser_rss_bytes').filter((s) => s.labels.role === 'pool');
    assert.ok(gauge[0].value > 10 * 1024 * 1024, `RSS of a live Chromium is tens of MiB: ${gauge[0].value}`);
    assert.equal(metric(t, 'ppod_browser_restarts_total', { cause: 'crash' }), 0, 'no crash counted');
    assert.ok(metric(t, 'ppod_browser_recycles_total') >= rec0 + 1);
    for (const state of ['connected', 'idle', 'ending']) {
      assert.equal(metric(t, 'ppod_sessions', { state }), 0, `ppod_sessions{state=${state}}`);
    }
  });
});
