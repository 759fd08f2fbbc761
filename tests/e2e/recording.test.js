'use strict';
// Session recordings as a user meets them: a session acquired with
// "record": true keeps what its active tab showed (frames with their time and
// URL) after it ended; the replay page plays them in an ordinary browser (a
// headless Chromium of the test's own, outside the service's pool) and seeks
// to a navigation; ?format=zip hands the frames and their index over; a
// traced session's trace gets the frames as the trace viewer's filmstrip.
// Caps: a recording past its cap, an account past its quota; the refusals:
// another account, frames out of range, path-like ids.
const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const puppeteer = require('puppeteer-core');
const {
  useDaemon, usePersonBrowser, scaled, pollUntil, acquireSession, releaseSession, createAccount, setLimits,
  expectError, waitForHistory,
} = require('./harness');
const { readZip } = require('./harness');
const { openInViewer } = require('./traceviewer');

const JPEG_MAGIC = Buffer.from([0xff, 0xd8, 0xff]);

const { daemon, fixtures } = useDaemon({ args: ['--spares', '1'] });

// The person: their own browser (harness.js).
const person = usePersonBrowser();
const sessions = new Set();


after(async () => {
  for (const id of sessions) await releaseSession(daemon, id).catch(() => {});
});

async function acquire(body, opts) {
  const s = await acquireSession(daemon, body, opts);
  sessions.add(s.sessionId);
  return s;
}

async function release(id, opts) {
  assert.equal(await releaseSession(daemon, id, opts), 200);
  sessions.delete(id);
}

async function agent(session, token = daemon.token) {
  const browser = await puppeteer.connect({
    browserWSEndpoint: `${session.webSocketDebuggerUrl}?token=${token}`,
    defaultViewport: null,
  });
  const pages = await browser.pages();
  const page = pages[0] || await browser.newPage();
  await page.setViewport({ width: 800, height: 600 });
  return { browser, page };
}

const pageUrl = (color, extra = '') => `${fixtures.url}/recording/page.html?color=${color}${extra}`;

async function index(id, token = daemon.token) {
  const res = await daemon.request('GET', `/browser/sessions/${id}/recording/index`, { token });
  assert.equal(res.status, 200, String(res.body));
  return res.json.result;
}

// Waits until the live recording holds frames of url.
async function recorded(id, url, atLeast = 3) {
  return pollUntil(async () => {
    const idx = await index(id);
    return idx.frames.filter((f) => f.url === url).length >= atLeast ? idx : null;
  }, { timeout: scaled(15000), interval: 100, what: `${atLeast} frames of ${url} recorded` });
}

// One recorded session, shared by the tests below: three pages in turn, each
// animating, driven by an agent over puppeteer.connect; traced too.
let main;
async function mainRecording() {
  if (main) return main;
  const s = await acquire({ record: true, trace: true });
  assert.match(s.recordingUrl, new RegExp(`^http://.*/browser/sessions/${s.sessionId}/recording$`));
  const a = await agent(s);
  const urls = [pageUrl('red'), pageUrl('green'), pageUrl('blue')];
  for (const u of urls) {
    await a.page.goto(u);
    await recorded(s.sessionId, u, 5);
  }
  await a.browser.disconnect();
  await release(s.sessionId);
  main = { session: s, urls };
  return main;
}

test('a recorded session keeps its frames in time order with their URLs after it ends', { timeout: scaled(90000) }, async () => {
  const { session, urls } = await mainRecording();
  const idx = await index(session.sessionId);
  assert.equal(idx.complete, true);
  assert.equal(idx.truncated, false);
  assert.ok(idx.frames.length >= 15, `${idx.frames.length} frames`);
  for (let i = 1; i < idx.frames.length; i++) {
    assert.ok(idx.frames[i].ms >= idx.frames[i - 1].ms, `frame ${i} is not after frame ${i - 1}`);
    assert.equal(idx.frames[i].n, i);
    assert.equal(idx.frames[i].offset, idx.frames[i - 1].offset + idx.frames[i - 1].length);
  }
  // At most 10 frames a second are stored.
  const span = (idx.frames.at(-1).ms - idx.frames[0].ms) / 1000;
  assert.ok(idx.frames.length <= span * 10 + 3, `${idx.frames.length} frames in ${span} s`);
  // The pages in the order the agent visited them, each a navigation mark.
  const firstOf = urls.map((u) => idx.frames.findIndex((f) => f.url === u));
  assert.ok(firstOf.every((i) => i >= 0), JSON.stringify(firstOf));
  assert.ok(firstOf[0] < firstOf[1] && firstOf[1] < firstOf[2], JSON.stringify(firstOf));
  for (const u of urls) assert.ok(idx.navigations.some((n) => n.url === u), `no navigation to ${u}`);
  assert.equal(idx.frames[0].width, 800);
  assert.equal(idx.frames[0].height, 600);
  // A frame is a JPEG of its length.
  const f = await daemon.request('GET', `/browser/sessions/${session.sessionId}/recording/frames/${firstOf[1]}`);
  assert.equal(f.status, 200);
  assert.equal(f.headers['content-type'], 'image/jpeg');
  assert.deepEqual(f.body.subarray(0, 3), JPEG_MAGIC);
  assert.equal(f.body.length, idx.frames[firstOf[1]].length);
});

test('the replay page plays the frames in order, and seeking to a navigation shows that page', { timeout: scaled(90000) }, async () => {
  const { session, urls } = await mainRecording();
  // Opened as the account's user would from a link: the token in the URL.
  const page = await person.browser.newPage();
  const res = await page.goto(`${session.recordingUrl}?token=${daemon.token}`);
  assert.equal(res.status(), 200);
  assert.match(res.headers()['content-type'], /text\/html/);
  await page.waitForFunction(() => window.__replay && window.__replay.ready, { timeout: scaled(15000) });
  const total = await page.evaluate(() => window.__replay.index.frames.length);
  // Played at 4x to the end: the frames shown never go back, and many are.
  await page.evaluate(() => window.__replay.setSpeed(4));
  await page.waitForFunction(() => !window.__replay.playing, { timeout: scaled(30000), polling: 100 });
  await page.waitForFunction((n) => window.__replay.shown === n, { timeout: scaled(10000) }, total - 1);
  const paints = await page.evaluate(() => window.__replay.paints);
  assert.ok(paints.length >= Math.min(10, total / 4), `${paints.length} of ${total} frames painted`);
  for (let i = 1; i < paints.length; i++) assert.ok(paints[i].n > paints[i - 1].n, `paint ${i}: frame ${paints[i].n} after ${paints[i - 1].n}`);
  assert.equal(paints.at(-1).n, total - 1, 'the last frame is shown at the end');
  // The timeline's marks are the navigations; a click on the green page's
  // mark shows that page's first frame. The browser may still show the page
  // before while the new one has not painted (paint holding): within a few
  // frames of the mark, all of that URL, the corner is green.
  const marks = await page.$$eval('.mark', (els) => els.map((e) => ({ frame: Number(e.dataset.frame), title: e.title })));
  const corner = () => page.evaluate(() => Array.from(document.getElementById('screen').getContext('2d').getImageData(10, 10, 1, 1).data.slice(0, 3)));
  const green = marks.find((m) => m.title.endsWith(urls[1]));
  assert.ok(green, JSON.stringify(marks));
  const handle = (await page.$$('.mark'))[marks.indexOf(green)];
  await handle.click();
  await page.waitForFunction((n) => window.__replay.shown === n, { timeout: scaled(10000) }, green.frame);
  assert.equal(await page.evaluate(() => window.__replay.url), urls[1]);
  const isGreen = (c) => c[1] > 100 && c[0] < 80 && c[2] < 80;
  let rgb = await corner();
  for (let k = 1; k <= 5 && !isGreen(rgb); k++) {
    await page.keyboard.press('ArrowRight');
    await page.waitForFunction((n) => window.__replay.shown === n, { timeout: scaled(10000) }, green.frame + k);
    assert.equal(await page.evaluate(() => window.__replay.url), urls[1]);
    rgb = await corner();
  }
  assert.ok(isGreen(rgb), `corner ${rgb} is not green within 5 frames of the mark`);
  // The last frame of the blue page (sought by frame) is blue.
  const idx = await page.evaluate(() => window.__replay.index);
  await page.evaluate((n) => window.__replay.seekFrame(n), idx.frames.length - 1);
  await page.waitForFunction((n) => window.__replay.shown === n, { timeout: scaled(10000) }, idx.frames.length - 1);
  const rgb2 = await corner();
  assert.ok(rgb2[2] > 100 && rgb2[0] < 80 && rgb2[1] < 80, `corner ${rgb2} is not blue`);
  if (process.env.PPOD_REPLAY_SHOT) {
    await page.evaluate((n) => { window.__replay.seekFrame(n); }, green.frame + 5);
    await page.screenshot({ path: process.env.PPOD_REPLAY_SHOT });
  }
  await page.close();
});

test('?format=zip holds every frame and the index', { timeout: scaled(90000) }, async () => {
  const { session } = await mainRecording();
  const idx = await index(session.sessionId);
  const res = await daemon.request('GET', `/browser/sessions/${session.sessionId}/recording?format=zip`);
  assert.equal(res.status, 200, String(res.body).slice(0, 300));
  assert.equal(res.headers['content-type'], 'application/zip');
  assert.match(res.headers['content-disposition'], /attachment; filename="recording-[0-9a-f]{32}\.zip"/);
  const zip = await readZip(res.body);
  const inZip = JSON.parse(zip.get('index.json').toString('utf8'));
  assert.equal(inZip.frames.length, idx.frames.length);
  for (const [i, f] of inZip.frames.entries()) {
    const name = `frame-${String(i + 1).padStart(5, '0')}.jpg`;
    assert.equal(f.file, name);
    const bytes = zip.get(name);
    assert.ok(bytes, `${name} missing`);
    assert.deepEqual(bytes.subarray(0, 3), JPEG_MAGIC);
    assert.equal(bytes.length, f.length);
  }
});

test('the session trace holds the frames as the trace viewer filmstrip', { timeout: scaled(120000) }, async () => {
  const { session } = await mainRecording();
  const res = await pollUntil(async () => {
    const r = await daemon.request('GET', `/browser/traces/${session.sessionId}`);
    return r.status === 200 ? r : null;
  }, { timeout: scaled(15000), what: 'the session trace' });
  const zip = await readZip(res.body);
  const events = zip.get('trace.trace').toString('utf8').trim().split('\n').map((l) => JSON.parse(l));
  const frames = events.filter((e) => e.type === 'screencast-frame');
  assert.ok(frames.length >= 10, `${frames.length} screencast-frame entries`);
  for (const f of frames) {
    const bytes = zip.get(`resources/${f.sha1}`);
    assert.ok(bytes, `resources/${f.sha1} missing`);
    assert.deepEqual(bytes.subarray(0, 3), JPEG_MAGIC);
    assert.equal(f.width, 800);
  }
  // Not every frame the browser painted: at most ~10 a second.
  const span = (frames.at(-1).timestamp - frames[0].timestamp) / 1000;
  assert.ok(frames.length <= span * 10 + 5, `${frames.length} frames in ${span} s`);
  const file = path.join(os.tmpdir(), `ppod-rec-trace-${process.pid}.zip`);
  fs.writeFileSync(file, res.body);
  try {
    const seen = await openInViewer(file);
    assert.ok(seen.filmstripFrames > 0, `the viewer shows no filmstrip: ${JSON.stringify(seen)}`);
  } finally {
    fs.rmSync(file, { force: true });
  }
});

test('another account, other routes and bad frame numbers get 404', { timeout: scaled(90000) }, async () => {
  const { session } = await mainRecording();
  const id = session.sessionId;
  const stranger = await createAccount(daemon.dataDir, 'rec-stranger');
  for (const p of ['', '/index', '/frames/0', '?format=zip']) {
    const r = await daemon.request('GET', `/browser/sessions/${id}/recording${p}`, { token: stranger });
    expectError(assert, r, 404, 'RECORDING_NOT_FOUND', `stranger ${p}`);
    assert.ok(!String(r.body).includes('frame-'), 'nothing of the recording leaks');
  }
  const idx = await index(id);
  for (const n of [idx.frames.length, 99999999]) {
    const r = await daemon.request('GET', `/browser/sessions/${id}/recording/frames/${n}`);
    expectError(assert, r, 404, 'RECORDING_NOT_FOUND', `frame ${n}`);
  }
  for (const n of ['-1', '1.5', 'abc', '0x1', '%2d1', '1/..', '', '00000000001', '0/']) {
    const r = await daemon.request('GET', `/browser/sessions/${id}/recording/frames/${n}`).catch((e) => ({ status: e.message }));
    assert.equal(r.status, 404, `frame "${n}": ${r.status} ${r.body}`);
  }
  // A NUL in the path: the HTTP layer drops the connection; never a frame.
  const nul = await daemon.request('GET', `/browser/sessions/${id}/recording/frames/1%00`).catch((e) => ({ status: e.message }));
  assert.notEqual(nul.status, 200);
  for (const bad of ['..', '..%2f..%2fetc', '%2e%2e', `1-${id}`, id.toUpperCase(), `${id}0`, 'x'.repeat(32)]) {
    const r = await daemon.request('GET', `/browser/sessions/${bad}/recording/index`).catch((e) => ({ status: e.message }));
    assert.equal(r.status, 404, `id "${bad}": ${r.status} ${r.body}`);
  }
  for (const sub of ['/recording/../index', '/recording/frames/../../index', '/recording/x']) {
    const r = await daemon.request('GET', `/browser/sessions/${id}${sub}`).catch((e) => ({ status: e.message }));
    assert.equal(r.status, 404, `${sub}: ${r.status} ${r.body}`);
  }
  // Reads only: another method reaches the session's other URLs (an ended
  // session: 404), never the recording.
  const post = await daemon.request('POST', `/browser/sessions/${id}/recording`, { json: {} });
  expectError(assert, post, 404, 'SESSION_NOT_FOUND');
  // A session never recorded has none.
  const plain = await acquire({});
  const r = await daemon.request('GET', `/browser/sessions/${plain.sessionId}/recording/index`);
  expectError(assert, r, 404, 'RECORDING_NOT_FOUND');
  await release(plain.sessionId);
  // ?token= is accepted here, and never written to the log.
  const q = await daemon.request('GET', `/browser/sessions/${id}/recording/index?token=${daemon.token}`, { token: null });
  assert.equal(q.status, 200);
  assert.ok(!daemon.stderr().includes(daemon.token), 'the token is in the log');
});

test('a recording over its cap stops storing frames and says it was truncated', { timeout: scaled(90000) }, async () => {
  const s = await acquire({ record: true, recordMaxMiB: 1 });
  const a = await agent(s);
  await a.page.goto(pageUrl('red', '&noise=1'));
  // Noise makes large frames: past 1 MiB the recording stops growing.
  let last = -1;
  await pollUntil(async () => {
    const idx = await index(s.sessionId);
    const grew = idx.bytes !== last;
    last = idx.bytes;
    return idx.bytes > 512 * 1024 && !grew ? idx : null;
  }, { timeout: scaled(30000), interval: 700, what: 'the recording to stop growing' });
  await a.browser.disconnect();
  await release(s.sessionId);
  const idx = await index(s.sessionId);
  assert.equal(idx.truncated, true);
  assert.equal(idx.truncatedReason, 'size cap');
  assert.ok(idx.bytes <= 1024 * 1024, `${idx.bytes} bytes`);
  const page = await person.browser.newPage();
  await page.goto(`${s.recordingUrl}?token=${daemon.token}`);
  await page.waitForFunction(() => window.__replay && window.__replay.ready, { timeout: scaled(15000) });
  assert.match(await page.$eval('#note', (e) => e.textContent), /truncated: size cap/);
  await page.close();
});

test('the account quota: a recording stops at it, and record is then refused with 413', { timeout: scaled(120000) }, async () => {
  const token = await createAccount(daemon.dataDir, 'rec-quota');
  await setLimits(daemon.dataDir, 'rec-quota', { recordingStorageMiB: 1 });
  const lim = await daemon.request('GET', '/browser/limits', { token });
  assert.equal(lim.json.result.recordingStorageMiB, 1);
  const s = await acquire({ record: true }, { token });
  const a = await agent(s, token);
  await a.page.goto(pageUrl('blue', '&noise=1'));
  // The quota (1 MiB) is below the recording's own cap (100 MiB): it stops there.
  let last = -1;
  await pollUntil(async () => {
    const r = await daemon.request('GET', `/browser/sessions/${s.sessionId}/recording/index`, { token });
    const grew = r.json.result.bytes !== last;
    last = r.json.result.bytes;
    return r.json.result.bytes > 512 * 1024 && !grew ? r : null;
  }, { timeout: scaled(30000), interval: 700, what: 'the recording to stop growing' });
  await a.browser.disconnect();
  await release(s.sessionId, { token });
  const idx = (await daemon.request('GET', `/browser/sessions/${s.sessionId}/recording/index`, { token })).json.result;
  assert.equal(idx.truncated, true);
  assert.match(idx.truncatedReason, /account quota \(recordingStorageMiB\)/);
  assert.ok(idx.bytes <= 1024 * 1024, `${idx.bytes} bytes`);
  // Less than 1 MiB of the quota is free: record is refused up front.
  const refused = await daemon.request('POST', '/browser/acquire', { json: { record: true }, token });
  expectError(assert, refused, 413, 'RECORDING_QUOTA_EXCEEDED');
  // Without record the account still gets sessions; another account records.
  const plain = await acquire({}, { token });
  await release(plain.sessionId, { token });
  const other = await acquire({ record: true });
  await release(other.sessionId);
});

test('ppod browser:recording saves the zip; browser:acquire --record records', { timeout: scaled(90000) }, async () => {
  const { execFile } = require('node:child_process');
  const bin = path.join(process.env.PPOD_BIN_DIR || path.join(__dirname, '..', '..', 'build'), 'ppod');
  const env = { ...process.env, PAPERPOD_URL: daemon.url, PAPERPOD_TOKEN: daemon.token };
  const run = (args) => new Promise((resolve) => {
    execFile(bin, args, { env, timeout: scaled(60000), encoding: 'buffer' }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, stdout: stdout.toString(), stderr: stderr.toString() });
    });
  });
  const acq = await run(['browser:acquire', '--record']);
  assert.equal(acq.code, 0, acq.stderr);
  const id = acq.stdout.trim();
  assert.match(id, /^[0-9a-f]{32}$/);
  sessions.add(id);
  const a = await agent({ webSocketDebuggerUrl: `${daemon.url.replace('http', 'ws')}/browser/sessions/${id}/devtools/browser` });
  await a.page.goto(pageUrl('green'));
  await recorded(id, pageUrl('green'), 3);
  await a.browser.disconnect();
  await release(id);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ppod-rec-cli-'));
  try {
    const out = path.join(dir, 'r.zip');
    const saved = await run(['browser:recording', id, '-o', out]);
    assert.equal(saved.code, 0, saved.stderr);
    assert.equal(saved.stdout.trim(), out);
    const zip = await readZip(fs.readFileSync(out));
    const idx = JSON.parse(zip.get('index.json').toString('utf8'));
    assert.ok(idx.frames.length >= 3);
    assert.ok(idx.frames.every((f) => zip.get(f.file) && zip.get(f.file).subarray(0, 3).equals(JPEG_MAGIC)));
    // Not a recorded session: the error, and no file.
    const none = await run(['browser:recording', 'f'.repeat(32), '-o', path.join(dir, 'none.zip')]);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /RECORDING_NOT_FOUND/);
    assert.ok(!fs.existsSync(path.join(dir, 'none.zip')));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
