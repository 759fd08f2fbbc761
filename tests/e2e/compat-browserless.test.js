'use strict';
// Browserless v2's REST routes (/chromium/{content,screenshot,pdf,scrape}
// and the unprefixed paths) as a Browserless client uses them: its
// documented example bodies (tests/fixtures/compat/browserless, each with
// its source) sent by plain HTTP with ?token=, every URL pointed at the
// fixture server, each answer checked in the shape Browserless documents.
// The acceptance rate per endpoint is printed at the end. Then the attacks:
// the token in the URL, other accounts' tokens, hostile ?timeout=, the
// launch options we do not offer, oversized bodies, the egress guard and
// the ledger, which are the /browser/* routes' own.

const { describe, it, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const {
  useDaemon, scaled, PNG_MAGIC, decodePng, FIXTURES_DIR, createAccount, httpRequest,
  acquireSession, releaseSession,
} = require('./harness');
const { sql } = require('./metricsutil');

const EXAMPLES_DIR = path.join(FIXTURES_DIR, 'compat', 'browserless');
const ENDPOINTS = ['content', 'screenshot', 'pdf', 'scrape'];
const JPEG_MAGIC = Buffer.from([0xff, 0xd8, 0xff]);
const PAGE_TITLE = 'Compat Fixture Domain';

function loadExamples() {
  return fs.readdirSync(EXAMPLES_DIR).filter((f) => f.endsWith('.json')).sort().map((f) => {
    const raw = JSON.parse(fs.readFileSync(path.join(EXAMPLES_DIR, f), 'utf8'));
    const endpoint = ENDPOINTS.find((e) => f.startsWith(`${e}-`));
    assert.ok(endpoint, `${f}: its name starts with an endpoint`);
    assert.ok(typeof raw._source === 'string' && raw._source.startsWith('https://docs.browserless.io/'),
      `${f}: _source names the Browserless docs page`);
    const body = {};
    for (const [k, v] of Object.entries(raw)) if (!k.startsWith('_')) body[k] = v;
    return { name: f.replace(/\.json$/, ''), endpoint, source: raw._source, body };
  });
}

// Every URL of an example, pointed at the fixture server (see the README).
function pointAtFixtures(v, base) {
  if (typeof v === 'string') {
    return v
      .replace(/https:\/\/jsonplaceholder\.typicode\.com\/todos\/1/g, `${base}/compat/todo.json`)
      .replace(/https:\/\/code\.jquery\.com\/[^"'\s]+\.js/g, `${base}/added.js`)
      .replace(/https:\/\/interactive-examples\.mdn\.mozilla\.net\/[^"'\s]+\.css/g, `${base}/added.css`)
      .replace(/^https:\/\/(www\.)?(example\.com|browserless\.io)\/?$/, `${base}/compat/page.html`);
  }
  if (Array.isArray(v)) return v.map((x) => pointAtFixtures(x, base));
  if (v && typeof v === 'object') {
    const o = {};
    for (const [k, x] of Object.entries(v)) o[k] = pointAtFixtures(x, base);
    return o;
  }
  return v;
}

function text(res) { return res.body.toString('utf8'); }

// ---- what Browserless documents each answer to be ----

function checkContent(ex, res) {
  assert.equal(res.status, 200, `status: ${text(res).slice(0, 300)}`);
  assert.match(String(res.headers['content-type']), /^text\/html/, 'Content-Type text/html');
  const html = text(res);
  assert.match(html, /^<!DOCTYPE html>|^<html/i, 'the body is the HTML itself, not JSON');
  if (ex.body.url) assert.ok(html.includes(PAGE_TITLE), 'the fixture page\'s text');
  if (ex.body.waitForTimeout >= 300) assert.ok(html.includes('Late arrival'), 'waited: the late element is there');
  if (ex.body.waitForEvent || ex.body.waitForFunction) assert.ok(html.includes('<h1'), 'the heading');
}

function imageSize(ex) {
  const o = ex.body.options || {};
  if (ex.body.selector || o.clip) return null; // an element's box
  const vp = ex.body.viewport || { width: 800, height: 600 }; // Puppeteer's default, Browserless'
  return { width: vp.width * (vp.deviceScaleFactor || 1), height: vp.height * (vp.deviceScaleFactor || 1), full: !!o.fullPage };
}

function checkScreenshot(ex, res) {
  assert.equal(res.status, 200, `status: ${text(res).slice(0, 300)}`);
  const o = ex.body.options || {};
  const type = o.type || 'png';
  let bytes = res.body;
  if (o.encoding === 'base64') {
    assert.match(text(res), /^[A-Za-z0-9+/]+=*$/, 'a base64 body');
    bytes = Buffer.from(text(res), 'base64');
  } else {
    assert.equal(String(res.headers['content-type']).split(';')[0], `image/${type}`, 'Content-Type');
  }
  if (type === 'jpeg') {
    assert.ok(bytes.subarray(0, 3).equals(JPEG_MAGIC), 'a JPEG');
    return;
  }
  assert.ok(bytes.subarray(0, 8).equals(PNG_MAGIC), 'a PNG');
  const png = decodePng(bytes);
  const want = imageSize(ex);
  if (!want) {
    assert.ok(png.width > 0 && png.width < 800 && png.height > 0 && png.height < 600, `an element's box: ${png.width}x${png.height}`);
  } else if (want.full) {
    assert.equal(png.width, want.width, 'full page width');
    assert.ok(png.height >= want.height, `full page height ${png.height} >= ${want.height}`);
  } else {
    assert.deepEqual([png.width, png.height], [want.width, want.height], 'the viewport\'s size');
  }
}

function checkPdf(ex, res) {
  assert.equal(res.status, 200, `status: ${text(res).slice(0, 300)}`);
  assert.equal(String(res.headers['content-type']).split(';')[0], 'application/pdf', 'Content-Type');
  assert.equal(res.body.subarray(0, 5).toString('latin1'), '%PDF-', 'a PDF');
  assert.ok(res.body.length > 500, `a PDF of some size: ${res.body.length} bytes`);
  const fmt = String((ex.body.options || {}).format || '').toLowerCase();
  // A0 is 2384 x 3370 pt, A4 595 x 842.
  const box = { a0: /\/MediaBox \[0 0 238[34]\.?\d* 33(69|70)/, a4: /\/MediaBox \[0 0 59[45]\.?\d* 84[12]/ }[fmt];
  if (box) assert.match(res.body.toString('latin1'), box, `the ${fmt} page size`);
}

function checkScrape(ex, res) {
  assert.equal(res.status, 200, `status: ${text(res).slice(0, 300)}`);
  assert.match(String(res.headers['content-type']), /^application\/json/, 'Content-Type');
  const j = res.json;
  assert.ok(j && Array.isArray(j.data), '{data: [...]}');
  assert.ok('debug' in j, '{debug} is there');
  assert.equal(j.success, undefined, 'not our envelope');
  assert.equal(j.data.length, ex.body.elements.length, 'one entry per element');
  j.data.forEach((d, i) => {
    assert.equal(d.selector, ex.body.elements[i].selector, 'the selector, in order');
    assert.ok(Array.isArray(d.results) && d.results.length > 0, `${d.selector} matched`);
    for (const r of d.results) {
      for (const k of ['height', 'width', 'top', 'left']) assert.equal(typeof r[k], 'number', `${k} is a number`);
      for (const k of ['html', 'text']) assert.equal(typeof r[k], 'string', `${k} is a string`);
      assert.ok(Array.isArray(r.attributes), 'attributes[]');
      for (const a of r.attributes) assert.deepEqual(Object.keys(a).sort(), ['name', 'value']);
    }
  });
  const by = Object.fromEntries(j.data.map((d) => [d.selector, d.results]));
  if (by.h1) {
    assert.equal(by.h1[0].text, PAGE_TITLE, 'h1 text');
    assert.deepEqual(by.h1[0].attributes.find((a) => a.name === 'class'), { name: 'class', value: 'title' });
  }
  if (by.a) assert.ok(by.a.some((r) => r.text === 'More information...'), 'the link\'s text');
  if (ex.body.debugOpts) {
    const o = ex.body.debugOpts;
    assert.ok(j.debug && Array.isArray(j.debug.console), 'debug.console[]');
    assert.ok(j.debug.network && Array.isArray(j.debug.network.inbound) && Array.isArray(j.debug.network.outbound), 'debug.network');
    // What the op captures is there; what it does not is named, not faked.
    if (o.html) assert.ok(typeof j.debug.html === 'string' && j.debug.html.includes(PAGE_TITLE), 'debug.html is the page');
    else assert.equal(j.debug.html, null);
    if (o.cookies) assert.ok(Array.isArray(j.debug.cookies), 'debug.cookies[]');
    else assert.equal(j.debug.cookies, null);
    if (o.screenshot) {
      assert.equal(typeof j.debug.screenshot, 'string');
      assert.ok(Buffer.from(j.debug.screenshot, 'base64').subarray(0, 3).equals(JPEG_MAGIC), 'debug.screenshot is a base64 JPEG');
    } else {
      assert.equal(j.debug.screenshot, null);
    }
    const unavailable = [o.console && 'console', o.network && 'network'].filter(Boolean).join(',');
    assert.equal(res.headers['x-debug-unavailable'], unavailable || undefined, 'X-Debug-Unavailable');
  } else {
    assert.equal(j.debug, null, 'debug is null without debugOpts');
  }
}

const CHECK = { content: checkContent, screenshot: checkScreenshot, pdf: checkPdf, scrape: checkScrape };

describe('Browserless-compatible routes', { timeout: scaled(600000) }, () => {
  const { daemon, fixtures } = useDaemon({ browsers: 1, timeout: scaled(60000) });
  const examples = loadExamples();
  const tally = {};
  const failures = [];

  it(`the fixtures hold ${examples.length} documented examples, at least 20, of all four endpoints`, () => {
    assert.ok(examples.length >= 20);
    for (const e of ENDPOINTS) assert.ok(examples.some((x) => x.endpoint === e), e);
  });

  examples.forEach((ex, i) => {
    // Both spellings of every path are Browserless': alternate them.
    const route = i % 2 ? `/${ex.endpoint}` : `/chromium/${ex.endpoint}`;
    it(`${ex.name}: ${route} answers as Browserless documents`, async () => {
      const t = (tally[ex.endpoint] ||= { ok: 0, total: 0 });
      t.total++;
      const body = pointAtFixtures(ex.body, fixtures.url);
      const res = await daemon.request('POST', `${route}?token=${encodeURIComponent(daemon.token)}`,
        { json: body, token: null, timeout: scaled(60000) });
      try {
        CHECK[ex.endpoint]({ ...ex, body }, res);
        t.ok++;
      } catch (e) {
        failures.push(`${ex.name} (${route}): ${res.status} ${res.headers['x-error-code'] || ''} ${text(res).slice(0, 200).replace(/\s+/g, ' ')}`);
        throw e;
      }
    });
  });

  after(() => {
    const lines = ENDPOINTS.map((e) => {
      const t = tally[e] || { ok: 0, total: 0 };
      return `  ${e.padEnd(10)} ${t.ok}/${t.total}`;
    });
    const ok = Object.values(tally).reduce((a, t) => a + t.ok, 0);
    const total = Object.values(tally).reduce((a, t) => a + t.total, 0);
    process.stdout.write(`\nBrowserless examples accepted and Browserless-shaped, per endpoint:\n${lines.join('\n')}\n  all        ${ok}/${total}\n`);
    if (failures.length) process.stdout.write(`failing:\n  ${failures.join('\n  ')}\n`);
  });

  // ---- the attacks and the shared machinery ----

  async function post(route, body, { query = `token=${encodeURIComponent(daemon.token)}`, token = null, ...opts } = {}) {
    return daemon.request('POST', query ? `${route}?${query}` : route, { json: body, token, ...opts });
  }
  function expectText(res, status, code, what) {
    assert.equal(res.status, status, `${what}: status; ${text(res).slice(0, 300)}`);
    assert.equal(res.headers['x-error-code'], code, `${what}: X-Error-Code`);
    assert.match(String(res.headers['content-type']), /^text\/plain/, `${what}: an error is plain text, as Browserless answers one`);
    assert.ok(text(res).length > 0 && !text(res).startsWith('{'), `${what}: a message, not JSON`);
    return text(res);
  }
  const page = () => ({ url: `${fixtures.url}/compat/page.html` });

  it('defaults to Puppeteer\'s 800x600 viewport, whatever /browser/screenshot\'s default is', async () => {
    const res = await post('/chromium/screenshot', page());
    assert.equal(res.status, 200);
    const png = decodePng(res.body);
    assert.deepEqual([png.width, png.height], [800, 600]);
    const ours = await daemon.request('POST', '/browser/screenshot', { json: page() });
    const o = decodePng(ours.body);
    assert.notDeepEqual([o.width, o.height], [800, 600], 'the /browser/* default is not changed by it');
  });

  it('the token in the query authenticates, and never reaches the request log', async () => {
    const res = await post('/chromium/content', page());
    assert.equal(res.status, 200);
    const line = await daemon.logLine((l) => l.route === '/chromium/content' && l.status === 200);
    assert.equal(line.path, '/chromium/content', 'the logged path has no query');
    const bad = await post('/content', page(), { query: `token=${encodeURIComponent(daemon.token)}x` });
    expectText(bad, 401, 'INVALID_TOKEN', 'a wrong token');
    await daemon.logLine((l) => l.route === '/content' && l.status === 401);
    assert.ok(!daemon.stderr().includes(daemon.token), 'the token appears nowhere in the daemon\'s output');
    // Only these routes take it from the URL.
    const ours = await daemon.request('POST', `/browser/content?token=${encodeURIComponent(daemon.token)}`, { json: page(), token: null });
    assert.equal(ours.status, 401);
    assert.equal(ours.json.errors[0].code, 'UNAUTHORIZED');
    const none = await post('/chromium/pdf', page(), { query: '' });
    expectText(none, 401, 'UNAUTHORIZED', 'no token');
    const twice = await post('/chromium/pdf', page(), { query: `token=${encodeURIComponent(daemon.token)}&token=x` });
    expectText(twice, 400, 'INVALID_REQUEST', 'two tokens');
  });

  it('another account\'s token works for that account only: its usage row, not ours', async () => {
    const other = await createAccount(daemon.dataDir, 'bl-other');
    const count = async (name) => (await sql(daemon.dataDir,
      `SELECT count(*) AS n FROM usage u JOIN accounts a ON a.id = u.account_id WHERE a.name = '${name}' AND u.kind = 'scrape' AND u.status = 200`))[0].n;
    const [mine0, other0] = [await count('test'), await count('bl-other')];
    const res = await post('/scrape', { ...page(), elements: [{ selector: 'h1' }] }, { query: `token=${encodeURIComponent(other)}` });
    assert.equal(res.status, 200, text(res));
    assert.equal(res.json.data[0].results[0].text, PAGE_TITLE);
    assert.equal(await count('bl-other'), other0 + 1, 'billed to the token\'s account');
    assert.equal(await count('test'), mine0, 'not to the other account');
    // A header and a query token: the header is the request's auth.
    const both = await daemon.request('POST', `/scrape?token=${encodeURIComponent(other)}`,
      { json: { ...page(), elements: [{ selector: 'h1' }] } });
    assert.equal(both.status, 200);
    assert.equal(await count('test'), mine0 + 1, 'the header\'s account is billed');
    assert.equal(await count('bl-other'), other0 + 1);
  });

  it('another account\'s session id is not found, whichever token carries it', async () => {
    const intruder = await createAccount(daemon.dataDir, 'bl-intruder');
    const { sessionId } = await acquireSession(daemon);
    try {
      for (const route of ['/chromium/content', '/scrape']) {
        const body = { ...page(), sessionId, ...(route === '/scrape' ? { elements: [{ selector: 'h1' }] } : {}) };
        expectText(await post(route, body, { query: `token=${encodeURIComponent(intruder)}` }),
          404, 'SESSION_NOT_FOUND', `${route} with another account's session`);
      }
      // Its own account runs in it.
      const mine = await post('/chromium/content', { ...page(), sessionId });
      assert.equal(mine.status, 200, text(mine).slice(0, 200));
      assert.ok(text(mine).includes(PAGE_TITLE));
    } finally {
      await releaseSession(daemon, sessionId);
    }
  });

  it('each route is metered under its op\'s kind, through the same ledger', async () => {
    for (const [route, kind, body] of [
      ['/chromium/screenshot', 'screenshot', page()],
      ['/pdf', 'pdf', page()],
      ['/chromium/content', 'content', page()],
      ['/chromium/scrape', 'scrape', { ...page(), elements: [{ selector: 'p' }] }],
    ]) {
      const q = `SELECT count(*) AS n FROM usage WHERE kind = '${kind}' AND status = 200 AND end_ms IS NOT NULL`;
      const before = (await sql(daemon.dataDir, q))[0].n;
      const res = await post(route, body);
      assert.equal(res.status, 200, `${route}: ${text(res).slice(0, 200)}`);
      assert.match(String(res.headers['x-browser-ms-used']), /^[0-9]+$/, `${route}: X-Browser-Ms-Used`);
      assert.equal((await sql(daemon.dataDir, q))[0].n, before + 1, `${route}: one closed ${kind} row`);
    }
  });

  it('?timeout= is the job\'s deadline: hostile values are 400, a short one ends the job with 408', async () => {
    for (const v of ['-1', '120001', '99999999999999999999', 'abc', '1e3', '', '0x10', ' 5', '5ms', '1.5']) {
      const msg = expectText(await post('/chromium/content', page(),
        { query: `token=${encodeURIComponent(daemon.token)}&timeout=${encodeURIComponent(v)}` }),
      400, 'INVALID_REQUEST', `?timeout=${v}`);
      assert.match(msg, /\?timeout= must be a whole number of milliseconds from 0 to 120000/);
    }
    expectText(await post('/content', page(), { query: `token=${encodeURIComponent(daemon.token)}&timeout=1000&timeout=2000` }),
      400, 'INVALID_REQUEST', 'two timeouts');
    const t0 = Date.now();
    const slow = await post('/chromium/content', { url: `${fixtures.url}/slow?ms=20000` },
      { query: `token=${encodeURIComponent(daemon.token)}&timeout=1500` });
    expectText(slow, 408, 'TIMEOUT', '?timeout=1500 on a page that takes 20 s');
    assert.ok(Date.now() - t0 < scaled(10000), `ended near its deadline: ${Date.now() - t0} ms`);
    const ok = await post('/chromium/content', page(), { query: `token=${encodeURIComponent(daemon.token)}&timeout=20000` });
    assert.equal(ok.status, 200);
  });

  it('launch options we do not offer are 400 UNSUPPORTED_OPTION naming the parameter, never ignored', async () => {
    for (const [q, name] of [
      ['blockAds=true', 'blockAds'], ['proxy=residential', 'proxy'], ['proxyCountry=us', 'proxyCountry'],
      ['launch=' + encodeURIComponent('{"headless":false}'), 'launch'], ['stealth=true', 'stealth'],
      ['headless=false', 'headless'], ['solveCaptchas=true', 'solveCaptchas'], ['record=true', 'record'],
    ]) {
      const msg = expectText(await post('/chromium/screenshot', page(), { query: `token=${encodeURIComponent(daemon.token)}&${q}` }),
        400, 'UNSUPPORTED_OPTION', q);
      assert.ok(msg.startsWith(`?${name}= is not supported: `), `${q}: ${msg}`);
    }
    // Unknown parameters too: a typo of timeout would otherwise be a silent 30 s.
    const msg = expectText(await post('/pdf', page(), { query: `token=${encodeURIComponent(daemon.token)}&timout=5000` }),
      400, 'UNSUPPORTED_OPTION', 'a typo');
    assert.match(msg, /\?timout= is not a parameter of this route/);
    const odd = expectText(await post('/pdf', page(), { query: `token=${encodeURIComponent(daemon.token)}&${encodeURIComponent('<script>x')}=1` }),
      400, 'UNSUPPORTED_OPTION', 'a hostile name');
    assert.ok(!odd.includes('<script>'), 'a hostile name is not echoed');
    const long = await post('/pdf', page(), { query: `token=${encodeURIComponent(daemon.token)}&a=${'x'.repeat(3000)}` });
    assert.equal(long.status, 400, `an overlong parameter: ${text(long).slice(0, 200)}`);
    // Bodies: Browserless' mocked responses are not offered either.
    const icpt = expectText(await post('/scrape', { ...page(), elements: [{ selector: 'h1' }],
      requestInterceptors: [{ pattern: '.*', response: { body: 'x', contentType: 'text/plain', status: 200 } }] }),
    400, 'UNSUPPORTED_OPTION', 'requestInterceptors');
    assert.match(icpt, /^requestInterceptors is not supported/);
  });

  it('bodies: the schema still applies; debugOpts is checked; oversized bodies are 413', async () => {
    expectText(await post('/chromium/content', { url: `${fixtures.url}/compat/page.html`, nonsense: 1 }),
      400, 'INVALID_REQUEST', 'an unknown member');
    expectText(await post('/chromium/content', {}), 400, 'INVALID_REQUEST', 'neither url nor html');
    expectText(await post('/scrape', { ...page(), elements: [{ selector: 'h1' }], debugOpts: 'all' }),
      400, 'INVALID_REQUEST', 'debugOpts not an object');
    expectText(await post('/scrape', { ...page(), elements: [{ selector: 'h1' }], debugOpts: { evil: true } }),
      400, 'INVALID_REQUEST', 'debugOpts with an unknown member');
    expectText(await post('/scrape', { ...page(), elements: [{ selector: 'h1' }], debugOpts: { html: 1 } }),
      400, 'INVALID_REQUEST', 'debugOpts.html not a boolean');
    expectText(await post('/chromium/screenshot', { ...page(), debugOpts: { html: true } }),
      400, 'INVALID_REQUEST', 'debugOpts is scrape\'s');
    expectText(await post('/chromium/scrape', { ...page(), elements: [{ selector: 'h1[' }] }),
      400, 'INVALID_SELECTOR', 'a broken selector');
    const big = await daemon.request('POST', `/chromium/content?token=${encodeURIComponent(daemon.token)}`,
      { body: Buffer.alloc(11 * 1024 * 1024, 0x20), headers: { 'Content-Type': 'application/json' }, token: null });
    expectText(big, 413, 'BODY_TOO_LARGE', 'an 11 MiB body');
    const notJson = await post('/chromium/content', undefined, { body: '{"url": ', headers: { 'Content-Type': 'application/json' } });
    expectText(notJson, 400, 'INVALID_REQUEST', 'broken JSON');
    // GET is not a method of these routes.
    const get = await httpRequest(daemon.port, 'GET', `/chromium/content?token=${encodeURIComponent(daemon.token)}`);
    assert.equal(get.status, 405);
  });

  it('scrape debugOpts: the cookies the page holds, the HTML after the scrape; only what is asked', async () => {
    const res = await post('/chromium/scrape', {
      ...page(), elements: [{ selector: 'h1' }],
      cookies: [{ name: 'bl_session', value: 'v1', url: fixtures.url }],
      debugOpts: { cookies: true, html: true },
    });
    assert.equal(res.status, 200, text(res).slice(0, 300));
    assert.ok(res.json.debug.cookies.some((c) => c.name === 'bl_session' && c.value === 'v1'), 'the cookie set by the body');
    assert.match(res.json.debug.html, /Compat Fixture Domain/);
    assert.equal(res.json.debug.screenshot, null, 'not asked');
    assert.equal(res.headers['x-debug-unavailable'], undefined, 'nothing asked is missing');
    // The same op on /browser/scrape: its answer unchanged.
    const ours = await daemon.request('POST', '/browser/scrape', { json: { ...page(), elements: [{ selector: 'h1' }] } });
    assert.deepEqual(Object.keys(ours.json).sort(), ['result', 'success']);
  });

  it('/openapi.json lists the eight paths, each with its own operationId', async () => {
    const doc = (await daemon.request('GET', '/openapi.json', { token: null })).json;
    const ids = [];
    for (const p of Object.values(doc.paths)) for (const op of Object.values(p)) if (op.operationId) ids.push(op.operationId);
    assert.equal(new Set(ids).size, ids.length, `operationIds are unique: ${ids.join(' ')}`);
    for (const e of ENDPOINTS) {
      for (const p of [`/chromium/${e}`, `/${e}`]) assert.ok(doc.paths[p] && doc.paths[p].post, p);
    }
    assert.ok(doc.paths['/chromium/content'].post.responses['200'].content['text/html']);
  });

  it('the egress guard is the same: a private destination is refused as on /browser/*', async () => {
    for (const url of ['http://169.254.169.254/latest/meta-data/', 'http://10.0.0.1/', 'file:///etc/passwd']) {
      const ours = await daemon.request('POST', '/browser/content', { json: { url } });
      if (url.startsWith('http')) assert.equal(ours.status, 403, `/browser/content ${url}`);
      else assert.ok(ours.status === 400 || ours.status === 403, `/browser/content ${url}: ${ours.status}`);
      for (const route of ['/chromium/content', '/screenshot', '/chromium/pdf', '/scrape']) {
        const body = route.endsWith('scrape') ? { url, elements: [{ selector: 'h1' }] } : { url };
        expectText(await post(route, body), ours.status, ours.json.errors[0].code, `${route} ${url}`);
      }
    }
  });
});
