'use strict';
// Health, metrics, browser crash recovery and graceful shutdown of a real
// daemon. Runs in order: the last test stops the daemon with SIGTERM.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const {
  useDaemon, pollUntil, reached, decodePng, pixel, colorNear, scaled,
  expectError, isAlive, childrenOf, cmdline, pidsMentioning, PNG_MAGIC,
} = require('./harness');

const SHOT = '/browser/screenshot';

// Value of one Prometheus sample whose labels include all of `labels`
// (label order does not matter); null when absent.
function metric(text, name, labels = {}) {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = {};
    for (const lm of (m[2] || '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) have[lm[1]] = lm[2];
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return null;
}

function findProfileDirs(root, depth = 3) {
  const out = [];
  let entries = [];
  try { entries = fs.readdirSync(root, { withFileTypes: true }); } catch { return out; }
  for (const e of entries) {
    const p = path.join(root, e.name);
    if (e.name.startsWith('ppod-profile-')) out.push(p);
    else if (e.isDirectory() && depth > 0) out.push(...findProfileDirs(p, depth - 1));
  }
  return out;
}

// Field 22 of /proc/PID/stat (clock ticks after boot), null when gone.
function startTime(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ')[19];
  } catch { return null; }
}

describe('daemon lifecycle', { timeout: scaled(180000) }, () => {
  // The last test stops the daemon with SIGTERM; the after() hook of
  // useDaemon then checks that exit.
  const { daemon, fixtures } = useDaemon({ browsers: 1, args: ['--spares', '0'], timeout: scaled(60000) });
  const profilesSeen = new Set(); // every Chromium profile dir the daemon used

  const noteProfiles = () => { for (const d of daemon.profileDirs()) profilesSeen.add(d); };
  const boxes = () => daemon.request('POST', SHOT, {
    json: { url: `${fixtures.url}/boxes.html` },
    timeout: scaled(20000),
  });
  const assertBoxes = (res, what) => {
    assert.equal(res.status, 200, `${what}: ${res.status} ${res.body.subarray(0, 500).toString('utf8')}`);
    assert.ok(res.body.subarray(0, 8).equals(PNG_MAGIC), `${what}: PNG`);
    assert.ok(colorNear(pixel(decodePng(res.body), 50, 50), [255, 0, 0]), `${what}: red box rendered`);
  };

  before(() => {
    noteProfiles();
  });

  it('GET /healthz needs no auth and reports the browser pool', async () => {
    const res = await daemon.request('GET', '/healthz', { token: null });
    assert.equal(res.status, 200);
    assert.equal(res.json.success, true);
    assert.equal(res.json.result.status, 'ok');
    assert.equal(res.json.result.browsers, 1);
    assert.equal(res.json.result.browsersAlive, 1);
  });

  it('GET /metrics counts screenshots and live browsers', async () => {
    const read = async () => {
      const r = await daemon.request('GET', '/metrics', { token: null });
      assert.equal(r.status, 200);
      assert.match(String(r.headers['content-type']), /^text\/plain/);
      return r.body.toString('utf8');
    };
    const okShots = (t) => metric(t, 'ppod_http_requests_total', { route: SHOT, status: '200' }) ?? 0;

    const before = okShots(await read());
    assertBoxes(await boxes(), 'screenshot');
    // The counter may be bumped just after the response is written: poll.
    const text = await pollUntil(async () => {
      const t = await read();
      return okShots(t) >= before + 1 ? t : null;
    }, { timeout: scaled(5000), what: 'ppod_http_requests_total{route="/browser/screenshot",status="200"} to grow' });
    assert.ok(okShots(text) >= 1);
    assert.equal(metric(text, 'ppod_browsers_alive'), 1, 'ppod_browsers_alive');
    assert.equal(metric(text, 'ppod_jobs_running'), 0, 'ppod_jobs_running when idle');
    assert.equal(metric(text, 'ppod_queue_depth'), 0, 'ppod_queue_depth when idle');
    assert.ok(metric(text, 'ppod_job_duration_seconds_count') >= 1, 'ppod_job_duration_seconds_count');
    assert.ok(metric(text, 'ppod_job_duration_seconds_bucket', { le: '+Inf' }) >= 1, 'le="+Inf" bucket');
  });

  it('kill -9 of the browser mid-job gives 502 BROWSER_CRASHED, and the next job works', async () => {
    const browsers = daemon.browserPids();
    assert.equal(browsers.length, 1, `one Chromium browser process under the daemon: ${browsers}`);
    const victim = browsers[0];
    assert.ok(cmdline(victim).join(' ').includes('chromium'), 'victim is Chromium');
    noteProfiles();

    const hit = fixtures.nextRequest('/slow');
    const inflight = daemon.request('POST', SHOT, {
      json: { url: `${fixtures.url}/slow?ms=5000` },
      timeout: scaled(15000),
    });
    await reached(hit, inflight); // the job is navigating
    const t0 = Date.now();
    process.kill(victim, 'SIGKILL');
    const res = await inflight;
    const elapsed = Date.now() - t0;
    expectError(assert, res, 502, 'BROWSER_CRASHED');
    assert.ok(elapsed < scaled(3000), `crash reported ${elapsed} ms after the kill`);

    assertBoxes(await boxes(), 'first screenshot after the crash');
    assert.ok(!isAlive(victim), 'killed browser is gone');
    const now = daemon.browserPids();
    assert.equal(now.length, 1, `a new browser runs: ${now}`);
    assert.notEqual(now[0], victim);
    const health = await daemon.request('GET', '/healthz', { token: null });
    assert.equal(health.json.result.browsersAlive, 1);
    noteProfiles();
  });

  it('SIGTERM lets the in-flight job finish, then exits 0 leaving no Chromium or profile behind', async () => {
    noteProfiles();
    const descendants = childrenOf(daemon.pid);
    const chromiums = descendants.filter((p) => cmdline(p).join(' ').includes('chromium'));
    // Start times tell a pid still held (even as a zombie) from one reused.
    const started = new Map(descendants.map((p) => [p, startTime(p)]));
    assert.ok(chromiums.length >= 1, 'Chromium runs under the daemon before stop');
    assert.ok(profilesSeen.size >= 1, 'the daemon uses ppod-profile-* dirs');
    const current = daemon.profileDirs();
    assert.ok(current.length >= 1 && current.every((d) => fs.existsSync(d)), `profiles exist before stop: ${current}`);

    const hit = fixtures.nextRequest('/slow');
    const inflight = daemon.request('POST', SHOT, {
      json: { url: `${fixtures.url}/slow?ms=1500` },
      timeout: scaled(15000),
    });
    await reached(hit, inflight);
    const stopped = daemon.stop('SIGTERM');

    // New work is refused once the signal is handled: 503 SHUTTING_DOWN, or
    // the listener is already closed. Until then the daemon answers as usual.
    const refusal = await pollUntil(async () => {
      try {
        const r = await daemon.request('POST', SHOT, { json: {}, timeout: 2000 });
        return r.status === 400 ? null : { res: r };
      } catch (e) {
        if (e.code === 'ECONNREFUSED' || e.code === 'ECONNRESET') return { err: e };
        throw e;
      }
    }, { timeout: scaled(5000), interval: 25, what: 'new requests to be refused after SIGTERM' });
    if (refusal.res) expectError(assert, refusal.res, 503, 'SHUTTING_DOWN');

    const res = await inflight;
    assert.equal(res.status, 200, `in-flight job: ${res.status} ${res.body.subarray(0, 500).toString('utf8')}`);
    assert.ok(colorNear(pixel(decodePng(res.body), 10, 10), [0, 255, 0]), 'the slow page was rendered');

    const code = await stopped;
    // At once, with no grace: the daemon exits only after every process it
    // started has exited and been reaped.
    const held = descendants.filter((p) => started.get(p) !== null && startTime(p) === started.get(p));
    assert.deepEqual(held, [], `processes of the daemon still there when it exited: ${held}`);
    assert.equal(code, 0, `exit code\n${daemon.stderr().slice(-4000)}`);

    // Helpers can trail the browser by a moment after the daemon exits.
    // Besides the recorded descendants, any process naming one of the
    // profile dirs counts (crashpad handlers re-parent to init).
    const leftovers = () => [...new Set([
      ...descendants.filter(isAlive),
      ...pidsMentioning(profilesSeen),
    ])];
    await pollUntil(() => leftovers().length === 0, {
      timeout: scaled(3000),
      what: 'former daemon descendants and Chromium helpers to exit',
    }).catch((e) => {
      const left = leftovers().map((p) => `${p}: ${cmdline(p).join(' ').slice(0, 200)}`);
      assert.fail(`${e.message}\nstill running:\n${left.join('\n')}`);
    });

    const leftover = [...profilesSeen].filter((d) => fs.existsSync(d));
    assert.deepEqual(leftover, [], 'profile dirs removed');
    assert.deepEqual(findProfileDirs(daemon.dataDir), [], 'no profile dirs in the data dir');
    assert.deepEqual(findProfileDirs(daemon.tmpDir, 0), [], 'no profile dirs in the daemon TMPDIR');
  });
});
