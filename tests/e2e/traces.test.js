'use strict';
// Traces ("trace": true on a quick action or /browser/test, acquire
// {trace: true} for a whole session, `ppod --trace FILE.zip`), checked the way
// people use them: the zip opens in playwright-core's own trace viewer with
// actions and network entries and no viewer errors (./traceviewer.js),
// network.har passes har-validator, chrome-trace.json has what DevTools'
// Performance panel shows (navigation, paints, screenshots). Secrets a page
// sends (a cookie and an Authorization header made at run time, and the
// request's own cookie) appear nowhere in the zip, and another account cannot
// read a trace.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const fsp = require('node:fs/promises');
const path = require('node:path');
const { execFile } = require('node:child_process');
const puppeteer = require('puppeteer-core');
const harValidator = require('har-validator');
const {
  useDaemon, makeTempDir, scaled, createAccount, acquireSession, releaseSession,
  pollUntil, readZip, setLimits, PNG_MAGIC, REPO_ROOT,
} = require('./harness');
const { openInViewer } = require('./traceviewer');

const PPOD = path.join(process.env.PPOD_BIN_DIR ? path.resolve(process.env.PPOD_BIN_DIR)
  : path.join(REPO_ROOT, 'build'), 'ppod');
const ZIP_MAGIC = Buffer.from('PK\x03\x04', 'latin1');
const PARTS = ['trace.trace', 'trace.network', 'network.har', 'chrome-trace.json', 'cdp.jsonl'];
const VIEWER_TIMEOUT = scaled(15000);

const text = (buf) => buf.toString('utf8');
const lines = (buf) => text(buf).split('\n').filter((l) => l.trim() !== '');

// har-validator rejects with the list of schema errors; show them.
async function validateHar(har, what) {
  try {
    await harValidator.har(har);
  } catch (e) {
    assert.fail(`${what}: network.har is not valid HAR 1.2: ${e.message} ` +
      JSON.stringify(e.errors || []).slice(0, 1500));
  }
}

describe('traces', { timeout: scaled(240000) }, () => {
  // Sessions still open are released while the daemon is up: this after()
  // runs before the one useDaemon registers.
  after(async () => {
    for (const id of sessions) await releaseSession(daemon, id).catch(() => {});
  });
  const { daemon, fixtures } = useDaemon({ browsers: 1, timeout: scaled(60000) });
  let tmp;
  let otherToken;
  const sessions = new Set();

  before(async () => {
    tmp = await makeTempDir('ppod-e2e-traces-');
    otherToken = await createAccount(daemon.dataDir, 'other');
  }, { timeout: scaled(60000) });

  const bodyText = (res) => res.body.subarray(0, 800).toString('utf8');

  // GET /browser/traces/{id}: the zip, saved for the viewer, and its entries.
  async function fetchTrace(id, name) {
    const res = await daemon.request('GET', `/browser/traces/${id}`);
    assert.equal(res.status, 200, `GET /browser/traces/${id}: ${bodyText(res)}`);
    assert.match(String(res.headers['content-type']), /^application\/zip/);
    assert.deepEqual(res.body.subarray(0, 4), ZIP_MAGIC, 'the trace is a zip');
    const zipPath = path.join(tmp, `${name}.zip`);
    await fsp.writeFile(zipPath, res.body);
    return { id, zipPath, zip: res.body, files: await readZip(res.body) };
  }

  // POST with trace: true; the answer and the trace it names.
  async function traced(route, body, name) {
    const res = await daemon.request('POST', route, { json: { ...body, trace: true }, timeout: scaled(30000) });
    assert.equal(res.status, 200, `POST ${route}: ${bodyText(res)}`);
    const id = res.headers['x-trace-id'];
    assert.ok(id, `POST ${route} with trace:true answers X-Trace-Id (headers: ${JSON.stringify(res.headers)})`);
    return { res, ...(await fetchTrace(id, name)) };
  }

  // What every trace zip holds, readable by the tools it is meant for.
  async function checkParts(t, what) {
    for (const p of PARTS) assert.ok(t.files.has(p), `${what}: the zip holds ${p} (has ${[...t.files.keys()].join(', ')})`);
    const events = lines(t.files.get('trace.trace')).map((l) => JSON.parse(l));
    assert.equal(events[0].type, 'context-options', `${what}: trace.trace starts with context-options`);
    for (const l of lines(t.files.get('trace.network'))) JSON.parse(l);
    for (const l of lines(t.files.get('cdp.jsonl'))) JSON.parse(l);
    const har = JSON.parse(text(t.files.get('network.har')));
    await validateHar(har, what);
    const chrome = JSON.parse(text(t.files.get('chrome-trace.json')));
    const traceEvents = Array.isArray(chrome) ? chrome : chrome.traceEvents;
    assert.ok(Array.isArray(traceEvents), `${what}: chrome-trace.json is Trace Event format (traceEvents array)`);
    return { events, har, traceEvents };
  }

  // Opens in playwright-core's trace viewer: actions, network, no errors.
  async function viewer(zipPath, what) {
    try {
      return await openInViewer(zipPath, { timeoutMs: VIEWER_TIMEOUT });
    } catch (e) {
      // openInViewer waits for the first action title (or the viewer's error).
      throw new Error(`${what}: the trace viewer showed no action within ${VIEWER_TIMEOUT} ms: ${e.message.split('\n')[0]}`);
    }
  }

  async function checkViewer(t, what) {
    const v = await viewer(t.zipPath, what);
    assert.deepEqual(v.consoleErrors, [], `${what}: the trace viewer logged no errors`);
    assert.ok(v.actions.length > 0, `${what}: the viewer lists actions`);
    assert.ok(v.networkCount >= 1, `${what}: the viewer's network panel has entries (got ${v.networkCount})`);
    return v;
  }

  const harUrls = (har) => har.log.entries.map((e) => e.request.url);

  describe('a traced screenshot', () => {
    let t;
    let parts;
    const pageUrl = () => `${fixtures.url}/trace/page.html`;

    before(async () => {
      t = await traced('/browser/screenshot', { url: pageUrl() }, 'screenshot');
      parts = await checkParts(t, 'screenshot');
    });

    it('still answers the screenshot', () => {
      assert.deepEqual(t.res.body.subarray(0, 8), PNG_MAGIC);
    });

    it('opens in the trace viewer with page.goto and page.screenshot, network and filmstrip', async () => {
      const v = await checkViewer(t, 'screenshot');
      assert.ok(v.actions.some((a) => a.startsWith('page.goto') && a.includes('/trace/page.html')),
        `page.goto of the fixture in ${JSON.stringify(v.actions)}`);
      assert.ok(v.actions.some((a) => a.startsWith('page.screenshot')), `page.screenshot in ${JSON.stringify(v.actions)}`);
      assert.ok(v.networkCount >= 2, `the page and its image in the network panel (got ${v.networkCount})`);
      assert.ok(v.filmstripFrames >= 1, `the filmstrip shows frames (got ${v.filmstripFrames})`);
    });

    it("records the page's console message", () => {
      const logs = parts.events.filter((e) => e.type === 'console').map((e) => e.text);
      assert.ok(logs.includes('trace page ready'), `console events: ${JSON.stringify(logs)}`);
    });

    it('network.har (valid HAR 1.2) has the page and the image it loaded', () => {
      const urls = harUrls(parts.har);
      for (const want of [pageUrl(), `${fixtures.url}/dot.svg`]) {
        const e = parts.har.log.entries.find((x) => x.request.url === want);
        const sent = lines(t.files.get('cdp.jsonl')).map((l) => JSON.parse(l).msg)
          .filter((m) => m && m.method === 'Network.requestWillBeSent' && m.params.request.url === want).length;
        assert.ok(e, `${want} in network.har (has ${JSON.stringify(urls)}; ` +
          `cdp.jsonl has ${sent} Network.requestWillBeSent for it; the fixture server saw it ` +
          `${fixtures.requests.filter((r) => `${fixtures.url}${r.path}` === want).length} times)`);
        assert.equal(e.response.status, 200, want);
      }
    });

    it('chrome-trace.json has the navigation, its paints and screenshots', () => {
      const ev = parts.traceEvents;
      const names = new Set(ev.map((e) => e.name));
      assert.ok(names.has('TracingStartedInBrowser'), 'TracingStartedInBrowser (DevTools needs it to find the page)');
      const nav = ev.find((e) => e.name === 'navigationStart' && e.args && e.args.data &&
        e.args.data.documentLoaderURL === pageUrl());
      assert.ok(nav, `a navigationStart for ${pageUrl()}`);
      const navId = nav.args.data.navigationId;
      for (const paint of ['firstPaint', 'firstContentfulPaint']) {
        assert.ok(ev.some((e) => e.name === paint && e.args && e.args.data && e.args.data.navigationId === navId),
          `${paint} of that navigation`);
      }
      assert.ok(ev.some((e) => e.name === 'Paint' && e.ph === 'X'), 'Paint slices');
      const shots = ev.filter((e) => e.name === 'Screenshot');
      assert.ok(shots.length >= 1, 'Screenshot events');
      const jpeg = Buffer.from(String(shots[0].args && shots[0].args.snapshot), 'base64');
      assert.ok(jpeg.length > 100 && jpeg[0] === 0xff && jpeg[1] === 0xd8, 'a Screenshot event carries a JPEG');
    });

    it("another account cannot read it; the owner still can", async () => {
      const res = await daemon.request('GET', `/browser/traces/${t.id}`, { token: otherToken });
      assert.equal(res.status, 404, `other account: ${bodyText(res)}`);
      assert.equal(res.json && res.json.success, false);
      assert.notDeepEqual(res.body.subarray(0, 4), ZIP_MAGIC);
      const unknown = await daemon.request('GET', `/browser/traces/${'0'.repeat(32)}`);
      assert.equal(unknown.status, 404);
      assert.equal(res.json.errors[0].code, unknown.json.errors[0].code,
        "another account's trace looks like one that does not exist");
      const again = await daemon.request('GET', `/browser/traces/${t.id}`);
      assert.equal(again.status, 200);
    });
  });

  describe('a traced /browser/test script', () => {
    const steps = (expected) => [
      { action: 'click', selector: '#go' },
      { action: 'expectText', selector: '#out', equals: expected, timeout: 1000 },
    ];
    let pass;
    let fail;
    const traceOf = {};

    before(async () => {
      pass = await traced('/browser/test', { url: `${fixtures.url}/trace/page.html`, steps: steps('clicked') }, 'test-pass');
      fail = await traced('/browser/test', { url: `${fixtures.url}/trace/page.html`, steps: steps('nope') }, 'test-fail');
      traceOf.pass = await checkParts(pass, 'passing test');
      traceOf.fail = await checkParts(fail, 'failing test');
    });

    it('the scripts ran as written', () => {
      assert.equal(pass.res.json.result.passed, true, bodyText(pass.res));
      assert.equal(fail.res.json.result.passed, false, bodyText(fail.res));
      assert.equal(fail.res.json.result.steps[1].status, 'failed');
    });

    it('both traces open in the trace viewer with actions and network entries', async () => {
      traceOf.passViewer = await checkViewer(pass, 'passing test');
      await checkViewer(fail, 'failing test');
    });

    it('network.har of both has the page', () => {
      for (const k of ['pass', 'fail']) {
        assert.ok(harUrls(traceOf[k].har).includes(`${fixtures.url}/trace/page.html`), `${k}: ${harUrls(traceOf[k].har)}`);
      }
    });

    it('each step is an action in the viewer, and the failed step carries its error', async () => {
      const v = traceOf.passViewer || await viewer(pass.zipPath, 'passing test');
      assert.ok(v.actions.some((a) => /click/i.test(a)), `the click step in ${JSON.stringify(v.actions)}`);
      assert.ok(v.actions.some((a) => /expect/i.test(a)), `the expectText step in ${JSON.stringify(v.actions)}`);
      const failed = traceOf.fail.events.filter((e) => e.type === 'after' && e.error);
      const msg = (e) => (typeof e.error === 'string' ? e.error : e.error.message || JSON.stringify(e.error));
      assert.ok(failed.some((e) => msg(e).includes('nope')),
        `an action ends with the expectText failure (after events with an error: ${JSON.stringify(failed)})`);
    });
  });

  describe('a traced session driven by puppeteer-core', () => {
    let session;
    let immediate;
    let t;
    let parts;

    before(async () => {
      session = await acquireSession(daemon, { trace: true, keep_alive: 30000 });
      sessions.add(session.sessionId);
      const browser = await puppeteer.connect({
        browserWSEndpoint: `${session.webSocketDebuggerUrl}?token=${daemon.token}`,
        defaultViewport: { width: 800, height: 600 },
      });
      try {
        const page = await browser.newPage();
        const resp = await page.goto(`${fixtures.url}/trace/page.html`);
        assert.equal(resp.status(), 200);
        await page.click('#go');
        assert.equal(await page.$eval('#out', (e) => e.textContent), 'clicked');
      } finally {
        await browser.disconnect();
      }
      assert.equal(await releaseSession(daemon, session.sessionId), 200, 'release');
      sessions.delete(session.sessionId);
      immediate = await daemon.request('GET', `/browser/traces/${session.sessionId}`);
      // The remaining checks look at the trace once it is there at all.
      await pollUntil(async () => (await daemon.request('GET', `/browser/traces/${session.sessionId}`)).status === 200,
        { timeout: scaled(15000), interval: 100, what: `GET /browser/traces/${session.sessionId} -> 200` });
      t = await fetchTrace(session.sessionId, 'session');
      parts = await checkParts(t, 'session');
    });

    it('the trace is there as soon as the release has answered', () => {
      assert.equal(immediate.status, 200,
        `GET /browser/traces/{sessionId} right after DELETE /browser/sessions/{id} answered 200: ${bodyText(immediate)}`);
    });

    it("opens in the trace viewer with the client's navigation and click as actions", async () => {
      const v = await checkViewer(t, 'session');
      assert.ok(v.actions.some((a) => /navigate|goto/i.test(a)), `the navigation in ${JSON.stringify(v.actions)}`);
      assert.ok(v.actions.some((a) => /click|mouse/i.test(a)), `the click in ${JSON.stringify(v.actions)}`);
    });

    it("network.har (valid) has the page; the page's console is recorded", () => {
      assert.ok(harUrls(parts.har).includes(`${fixtures.url}/trace/page.html`), JSON.stringify(harUrls(parts.har)));
      const logs = parts.events.filter((e) => e.type === 'console').map((e) => e.text);
      assert.ok(logs.includes('trace page clicked'), `console events: ${JSON.stringify(logs)}`);
    });

    it('another account cannot read it', async () => {
      const res = await daemon.request('GET', `/browser/traces/${session.sessionId}`, { token: otherToken });
      assert.equal(res.status, 404, bodyText(res));
      assert.notDeepEqual(res.body.subarray(0, 4), ZIP_MAGIC);
    });
  });

  it('redaction: cookies and an Authorization header appear nowhere in the zip', async () => {
    // The page makes its own secrets at run time (see trace/secrets.html);
    // the fixture server's log is the only place the test learns them.
    const optCookie = crypto.randomBytes(16).toString('hex');
    const api = fixtures.nextRequest('/trace/api.json');
    const t = await traced('/browser/screenshot', {
      url: `${fixtures.url}/trace/secrets.html`,
      waitForSelector: { selector: '#done' },
      cookies: [{ name: 'opt', value: optCookie, url: fixtures.url }],
    }, 'secrets');
    const seen = await api;
    const bearer = /^Bearer ([0-9a-f]{32})$/.exec(String(seen.headers.authorization || ''));
    assert.ok(bearer, `the page's fetch carried a bearer token: ${JSON.stringify(seen.headers)}`);
    const cookies = Object.fromEntries(String(seen.headers.cookie || '').split(/;\s*/).map((c) => c.split('=')));
    assert.match(String(cookies.sid), /^[0-9a-f]{32}$/, `the page's cookie was sent: ${seen.headers.cookie}`);
    assert.equal(cookies.opt, optCookie, `the request's cookie was sent: ${seen.headers.cookie}`);

    const parts = await checkParts(t, 'secrets');
    const apiEntry = parts.har.log.entries.find((e) => e.request.url === `${fixtures.url}/trace/api.json`);
    assert.ok(apiEntry, `the fetch is in network.har: ${JSON.stringify(harUrls(parts.har))}`);
    assert.ok(apiEntry.request.headers.some((h) => /^authorization$/i.test(h.name)),
      'the Authorization header is listed (its value redacted)');

    const secrets = { 'Authorization bearer': bearer[1], 'document.cookie sid': cookies.sid, 'cookies option': optCookie };
    assert.ok(t.files.size >= PARTS.length);
    for (const [name, data] of t.files) {
      for (const [what, secret] of Object.entries(secrets)) {
        assert.equal(data.includes(secret), false, `${what} (${secret}) appears in ${name}`);
      }
    }
    for (const [what, secret] of Object.entries(secrets)) {
      assert.equal(t.zip.includes(secret), false, `${what} appears in the zip's raw bytes`);
    }
  });

  it('ppod browser:screenshot --trace FILE.zip writes a trace that opens', async () => {
    const out = path.join(tmp, 'cli.png');
    const zipPath = path.join(tmp, 'cli-trace.zip');
    const env = { ...process.env, PAPERPOD_URL: daemon.url, PAPERPOD_TOKEN: daemon.token,
      XDG_CONFIG_HOME: path.join(tmp, 'no-config') };
    const r = await new Promise((resolve) => {
      execFile(PPOD, ['browser:screenshot', `${fixtures.url}/trace/page.html`, '-o', out, '--trace', zipPath],
        { env, timeout: scaled(60000) }, (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr }));
    });
    assert.equal(r.code, 0, `ppod exit status\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    assert.deepEqual(fs.readFileSync(out).subarray(0, 8), PNG_MAGIC);
    const zip = fs.readFileSync(zipPath);
    const files = await readZip(zip);
    for (const p of PARTS) assert.ok(files.has(p), `${p} in ${[...files.keys()].join(', ')}`);
    const v = await checkViewer({ zipPath }, 'CLI trace');
    assert.ok(v.actions.some((a) => a.startsWith('page.screenshot')), JSON.stringify(v.actions));
  });

  it('trace reads are under per-account admission: a flood from one account gets 429, another account still reads its trace', async () => {
    // The other account's own trace.
    const made = await daemon.request('POST', '/browser/screenshot', {
      json: { html: '<p>mine</p>', trace: true }, token: otherToken, timeout: scaled(30000),
    });
    assert.equal(made.status, 200, bodyText(made));
    const id = made.headers['x-trace-id'];
    const flooder = await createAccount(daemon.dataDir, 'flooder');
    await setLimits(daemon.dataDir, 'flooder', { quickActionsPerSecond: 2, concurrentQuickActions: 1 });
    const flood = Array.from({ length: 40 }, () =>
      daemon.request('GET', '/browser/traces/no-such-trace', { token: flooder }));
    const mine = await daemon.request('GET', `/browser/traces/${id}`, { token: otherToken, timeout: scaled(10000) });
    const answers = await Promise.all(flood);
    const statuses = answers.map((r) => r.status);
    assert.ok(statuses.filter((x) => x === 429).length >= 30, `statuses: ${statuses.join(',')}`);
    for (const r of answers.filter((x) => x.status === 429)) {
      assert.ok(['RATE_LIMITED', 'LIMIT_EXCEEDED'].includes(r.json.errors[0].code), bodyText(r));
      assert.ok(Number(r.headers['retry-after']) >= 1);
    }
    assert.ok(statuses.every((x) => x === 429 || x === 404), `statuses: ${statuses.join(',')}`);
    assert.equal(mine.status, 200, bodyText(mine));
    assert.ok(mine.body.subarray(0, 4).equals(ZIP_MAGIC));
  });
});
