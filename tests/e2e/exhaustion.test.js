'use strict';
// Resource exhaustion: a full disk under the data dir (and its traces),
// file descriptors run out, and a CDP client that never reads. Expected each
// time: clean errors with a code (never a crash), the service recovers when
// the resource is back, and no usage row is lost or left open.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const WebSocket = require('ws');
const {
  useDaemon, createAccount, scaled, pollUntil, expectError, isAlive,
  acquireSession, reached, PNG_MAGIC, SANITIZE,
} = require('./harness');
const { metric, sql, rssKb, fdCount } = require('./metricsutil');

const SHOT = '/browser/screenshot';

async function metricsText(daemon) {
  const r = await daemon.request('GET', '/metrics', { token: null });
  assert.equal(r.status, 200, 'GET /metrics');
  return r.body.toString('utf8');
}

// Fills the file system holding dir; returns the filler's path.
function fillDisk(dir) {
  const file = path.join(dir, 'filler.bin');
  const fd = fs.openSync(file, 'w');
  const chunks = [1 << 20, 64 << 10, 4096, 512];
  try {
    for (const size of chunks) {
      const buf = Buffer.alloc(size, 0x5a);
      for (;;) {
        try { fs.writeSync(fd, buf); } catch (e) { if (e.code === 'ENOSPC') break; throw e; }
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return file;
}

function cpuTicks(pid) {
  const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime
}

// ---------------------------------------------------------------- disk

// A small tmpfs at a fresh dir: { mnt, skip } (skip says why when mounting
// is not permitted here); unmountTmpfs undoes it.
function mountTmpfs(prefix, options) {
  const mnt = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', mnt], { stdio: 'pipe' });
  } catch (e) {
    return { mnt, skip: `cannot mount a tmpfs (needs root / CAP_SYS_ADMIN): ${String(e.stderr || e.message).trim()}` };
  }
  return { mnt, skip: null };
}

function unmountTmpfs(mnt, mounted) {
  if (!mnt) return;
  if (mounted) {
    try { execFileSync('umount', ['-l', mnt], { stdio: 'pipe' }); } catch { /* not mounted */ }
  }
  fs.rmSync(mnt, { recursive: true, force: true });
}

describe('a full disk under the data dir (tmpfs)', { timeout: scaled(90000) }, () => {
  let mnt;
  let skip = null;

  const { daemon, fixtures } = useDaemon(async () => {
    ({ mnt, skip } = mountTmpfs('ppod-e2e-full-', 'size=24m,mode=0700'));
    if (skip) return null;
    const token = await createAccount(mnt, 'test');
    return { browsers: 1, dataDir: mnt, token, args: ['--spares', '0'], timeout: scaled(40000) };
  });

  // Registered after useDaemon(): runs once the daemon has exited.
  after(async () => {
    unmountTmpfs(mnt, !skip);
  });

  it('507 STORAGE_FULL while full (traces too), 200 again once space is back; one closed usage row per 200', async (t) => {
    if (skip) return t.skip(skip);
    const shot = (extra = {}, headers = {}) => daemon.request('POST', SHOT, {
      json: { url: `${fixtures.url}/boxes.html`, viewport: { width: 300, height: 200 }, ...extra },
      headers, timeout: scaled(20000),
    });
    let ok = 0;
    const first = await shot();
    assert.equal(first.status, 200, first.body.subarray(0, 300).toString());
    ok++;

    const filler = fillDisk(mnt);
    const full = await shot({}, { 'X-Request-Id': 'disk-full-1' });
    expectError(assert, full, 507, 'STORAGE_FULL', 'a screenshot on a full disk');
    assert.equal(full.json.requestId, 'disk-full-1');
    assert.match(String(full.headers['retry-after']), /^[0-9]+$/);
    const traced = await shot({ trace: true });
    expectError(assert, traced, 507, 'STORAGE_FULL', 'a traced screenshot on a full disk');
    const health = await daemon.request('GET', '/healthz', { token: null });
    assert.equal(health.status, 200, 'the service itself is fine');
    assert.ok(metric(await metricsText(daemon), 'ppod_rejections_total', { reason: 'storage_full' }) >= 2);

    // Room for the ledger but not for a trace: plain work runs, traces wait.
    fs.truncateSync(filler, Math.max(0, fs.statSync(filler).size - (3 << 20)));
    const small = await shot();
    assert.equal(small.status, 200, `with 3 MiB free: ${small.body.subarray(0, 300)}`);
    ok++;
    expectError(assert, await shot({ trace: true }), 507, 'STORAGE_FULL', 'a trace with 3 MiB free');

    fs.unlinkSync(filler);
    const again = await shot({ trace: true });
    assert.equal(again.status, 200, `after freeing the disk: ${again.body.subarray(0, 300)}`);
    assert.ok(again.body.subarray(0, 8).equals(PNG_MAGIC));
    ok++;
    const id = again.headers['x-trace-id'];
    const zip = await daemon.request('GET', `/browser/traces/${id}`, { timeout: scaled(20000) });
    assert.equal(zip.status, 200, 'the trace was kept');

    assert.ok(isAlive(daemon.pid), 'the daemon never died');
    const rows = await sql(mnt, "SELECT count(*) AS n, sum(status = 200) AS ok, sum(end_ms IS NULL) AS open FROM usage WHERE kind = 'screenshot'");
    assert.deepEqual(rows[0], { n: ok, ok, open: 0 }, 'one closed row per answered screenshot, none for the refused');
  });

  it('the disk fills while a job runs: the answer is 200 and its usage row is closed, at its real end, once space is back', async (t) => {
    if (skip) return t.skip(skip);
    const hit = fixtures.nextRequest((r) => r.path === '/slow');
    const t0 = Date.now();
    const job = daemon.request('POST', SHOT, { json: { url: `${fixtures.url}/slow?ms=1500&fill=1` }, timeout: scaled(20000) });
    await reached(hit, job);
    const filler = fillDisk(mnt);
    const res = await job;
    const jobMs = Date.now() - t0;
    assert.equal(res.status, 200, `the work was done: ${res.body.subarray(0, 200)}`);
    const openNow = await sql(mnt, 'SELECT count(*) AS open FROM usage WHERE end_ms IS NULL');
    t.diagnostic(`rows open while the disk is full: ${openNow[0].open}`);
    fs.unlinkSync(filler);
    const row = await pollUntil(async () => {
      const r = await sql(mnt, "SELECT ms, status, end_ms IS NULL AS open FROM usage WHERE kind = 'screenshot' ORDER BY id DESC LIMIT 1");
      return r[0] && !r[0].open ? r[0] : null;
    }, { timeout: scaled(10000), interval: 200, what: 'the usage row closed after space came back' });
    assert.equal(row.status, 200);
    assert.ok(row.ms >= 1000 && row.ms <= jobMs + 500, `billed ${row.ms} ms for a job of ${jobMs} ms (its real end, not the retry's)`);
    assert.equal(metric(await metricsText(daemon), 'ppod_usage_records_open'), 0);
  });
});

describe('a full temp dir (the browsers\' profiles, tmpfs) while browsers are recycled', { timeout: scaled(90000) }, () => {
  let mnt;
  let skip = null;

  const { daemon, fixtures } = useDaemon(() => {
    ({ mnt, skip } = mountTmpfs('ppod-e2e-tmpfull-', 'size=16m,mode=1777'));
    if (skip) return null;
    return {
      browsers: 1, env: { TMPDIR: mnt }, args: ['--spares', '0', '--recycle-after', '2'], timeout: scaled(40000),
    };
  });

  // Registered after useDaemon(): runs once the daemon has exited.
  after(async () => {
    unmountTmpfs(mnt, !skip);
  });

  it('answers are 200 or a JSON error with a code, never a crash; all 200 again once space is back', async (t) => {
    if (skip) return t.skip(skip);
    const shot = (i) => daemon.request('POST', SHOT, {
      json: { url: `${fixtures.url}/boxes.html?tmp=${i}`, viewport: { width: 300, height: 200 }, timeout: 15000 },
      timeout: scaled(30000),
    });
    const filler = fillDisk(mnt);
    const seen = [];
    for (let i = 0; i < 6; i++) {
      const r = await shot(i);
      seen.push(r.status);
      if (r.status !== 200) {
        assert.ok(r.json && r.json.success === false && r.json.errors[0].code, `status ${r.status} with a JSON error: ${r.body.subarray(0, 200)}`);
        assert.ok(r.status >= 500, `a full temp dir is the service's problem, not the client's: ${r.status}`);
      }
    }
    t.diagnostic(`statuses with the temp dir full: ${seen.join(',')}`);
    assert.ok(isAlive(daemon.pid), 'the daemon survived a full temp dir');
    fs.unlinkSync(filler);
    // Recovery: replaced browsers come back; within the window every answer is 200.
    await pollUntil(async () => (await shot('wait')).status === 200, { timeout: scaled(30000), interval: 200, what: 'a 200 after freeing the temp dir' });
    for (let i = 0; i < 3; i++) assert.equal((await shot(`after${i}`)).status, 200);
    assert.equal(metric(await metricsText(daemon), 'ppod_usage_records_open'), 0);
  });
});

// ---------------------------------------------------------------- file descriptors

const NOFILE = 128;

describe(`file descriptors run out (started with RLIMIT_NOFILE ${NOFILE})`, { timeout: scaled(90000) }, () => {
  const { daemon, fixtures } = useDaemon({ browsers: 1, args: ['--spares', '0'], nofile: NOFILE, timeout: scaled(40000) });

  it('more connections than descriptors: the rest wait, the loop does not spin, work goes on and recovers', async (t) => {
    const warm = await daemon.request('POST', SHOT, { json: { url: `${fixtures.url}/boxes.html` }, timeout: scaled(20000) });
    assert.equal(warm.status, 200);
    // Idle connections, more than the whole limit.
    const socks = [];
    let refused = 0;
    await Promise.all(Array.from({ length: NOFILE + 32 }, () => new Promise((resolve) => {
      const s = net.connect(daemon.port, '127.0.0.1', () => resolve());
      s.on('error', () => { refused++; resolve(); });
      socks.push(s);
    })));
    const exhausted = () => fdCount(daemon.pid) >= NOFILE * 0.6;
    await pollUntil(exhausted, { timeout: scaled(5000), what: 'the daemon to hold its connections' });
    const c0 = cpuTicks(daemon.pid);
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 1000)); // measuring CPU over a second, not synchronising
    const cpu = (cpuTicks(daemon.pid) - c0) / 100 / ((Date.now() - t0) / 1000);
    const lines = daemon.stderr().split('\n').filter((l) => l.includes('accept')).length;
    t.diagnostic(`fds ${fdCount(daemon.pid)} of ${NOFILE}, ${refused} connects refused; daemon CPU ${(cpu * 100).toFixed(0)}%; ${lines} accept log lines`);
    assert.ok(cpu < 0.2, `daemon CPU while its connection table is full: ${(cpu * 100).toFixed(0)}% of a core`);
    assert.ok(lines < 20, `accept errors are not logged in a loop (${lines} lines)`);
    assert.ok(isAlive(daemon.pid), 'alive while out of descriptors');

    // Work already admitted is not starved of descriptors: a screenshot
    // through one of the held connections.
    const held = socks.find((s) => !s.destroyed && s.readyState === 'open');
    const viaHeld = await new Promise((resolve, reject) => {
      const body = JSON.stringify({ url: `${fixtures.url}/boxes.html?held=1` });
      let data = Buffer.alloc(0);
      held.on('data', (c) => {
        data = Buffer.concat([data, c]);
        const head = data.toString('latin1');
        const m = /content-length:\s*(\d+)/i.exec(head);
        const i = head.indexOf('\r\n\r\n');
        if (m && i >= 0 && data.length >= i + 4 + Number(m[1])) resolve(head.slice(0, 12));
      });
      held.on('error', reject);
      held.write(`POST ${SHOT} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${daemon.token}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    });
    assert.equal(viaHeld, 'HTTP/1.1 200', 'a screenshot on an accepted connection while the table is full');

    for (const s of socks) s.destroy();
    const health = await pollUntil(async () => {
      const r = await daemon.request('GET', '/healthz', { token: null, timeout: 2000 }).catch(() => null);
      return r && r.status === 200 ? r : null;
    }, { timeout: scaled(15000), what: '/healthz after the connections closed' });
    assert.equal(health.json.result.status, 'ok');
    const after = await daemon.request('POST', SHOT, { json: { url: `${fixtures.url}/boxes.html?after=1` }, timeout: scaled(20000) });
    assert.equal(after.status, 200, `a screenshot after recovery: ${after.body.subarray(0, 300)}`);
    assert.equal(metric(await metricsText(daemon), 'ppod_usage_records_open'), 0);
  });
});

// ---------------------------------------------------------------- slow CDP reader

describe('a CDP client that never reads while its page floods events', { timeout: scaled(90000) }, () => {
  const { daemon, fixtures } = useDaemon({ browsers: 1, args: ['--spares', '1'], timeout: scaled(40000) });

  it('the daemon\'s memory stays bounded (16 MiB queue, then back-pressure) and other work goes on', async (t) => {
    const s = await acquireSession(daemon, { keep_alive: 60000 });
    const ws = new WebSocket(`${daemon.url.replace('http', 'ws')}/browser/sessions/${s.sessionId}/devtools/browser?token=${daemon.token}`,
      { perMessageDeflate: false, maxPayload: 256 << 20 });
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    let next = 1;
    const waiting = new Map();
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString());
      if (m.id && waiting.has(m.id)) { waiting.get(m.id)(m); waiting.delete(m.id); }
    });
    const call = (method, params = {}, sessionId) => new Promise((resolve) => {
      const id = next++;
      waiting.set(id, resolve);
      ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    });
    const { result: { targetId } } = await call('Target.createTarget', { url: 'about:blank' });
    const { result: { sessionId } } = await call('Target.attachToTarget', { targetId, flatten: true });
    await call('Runtime.enable', {}, sessionId);

    const base = rssKb(daemon.pid);
    ws._socket.pause(); // never read again
    // ~300 MB of Runtime.consoleAPICalled events.
    ws.send(JSON.stringify({ id: next++, sessionId, method: 'Runtime.evaluate',
      params: { expression: "for (let i = 0; i < 3000; i++) console.log(i + 'x'.repeat(100000))" } }));
    let peak = base;
    const sample = () => { peak = Math.max(peak, rssKb(daemon.pid) || 0); };
    // The queue fills to its cap; RSS then stops growing.
    await pollUntil(() => { sample(); return peak - base > 12 * 1024; }, {
      timeout: scaled(20000), interval: 100, what: 'the proxy queue to fill',
    });
    for (let i = 0; i < 20; i++) { // 2 s of samples after the queue is full
      await new Promise((r) => setTimeout(r, 100));
      sample();
    }
    const t0 = Date.now();
    const health = await daemon.request('GET', '/healthz', { token: null, timeout: scaled(5000) });
    const healthMs = Date.now() - t0;
    const shot = await daemon.request('POST', SHOT, { json: { url: `${fixtures.url}/boxes.html` }, timeout: scaled(20000) });
    sample();
    t.diagnostic(`daemon RSS ${Math.round(base / 1024)} MiB before, peak ${Math.round(peak / 1024)} MiB; /healthz in ${healthMs} ms`);
    // ASan keeps freed memory in quarantine (256 MiB) and pads every block.
    const bound = SANITIZE ? 480 : 160;
    assert.ok(peak - base < bound * 1024, `daemon RSS grew ${Math.round((peak - base) / 1024)} MiB (bound ${bound} MiB for a 16 MiB queue)`);
    assert.equal(health.status, 200);
    assert.ok(healthMs < scaled(1000), `/healthz answered in ${healthMs} ms`);
    assert.equal(shot.status, 200, 'a quick action on the pool is not held up');

    // Releasing the session ends it although its client never read.
    const del = await daemon.request('DELETE', `/browser/sessions/${s.sessionId}`, { timeout: scaled(20000) });
    assert.ok(del.status === 200 || del.status === 204, `DELETE: ${del.status} ${del.body.subarray(0, 200)}`);
    ws.terminate();
    await pollUntil(async () => metric(await metricsText(daemon), 'ppod_sessions', { state: 'idle' }) === 0 &&
      metric(await metricsText(daemon), 'ppod_sessions', { state: 'connected' }) === 0,
    { timeout: scaled(10000), what: 'no session left' });
    assert.ok(isAlive(daemon.pid));
  });
});
