'use strict';
// The API describing itself: GET / (the index) and GET /docs (the reference
// page) against the real daemon, the page opened in a headless Chromium of
// the test's own as a person would. Every operation /openapi.json lists
// (the route table's documented rows) is on the page with a curl example;
// the page loads nothing but itself, logs no error, and works without
// script.
const { describe, it, before } = require('node:test');
const assert = require('node:assert/strict');
const { useDaemon, usePersonBrowser, expectError, scaled } = require('./harness');

const { daemon } = useDaemon({ fixtures: false });
const person = usePersonBrowser();

let openapi;
// Every operation of the document, as "METHOD /path".
let operations;
async function loadOpenapi() {
  if (openapi) return;
  const res = await daemon.request('GET', '/openapi.json', { token: null });
  assert.equal(res.status, 200);
  openapi = res.json;
  operations = [];
  for (const [p, item] of Object.entries(openapi.paths)) {
    for (const m of Object.keys(item)) operations.push(`${m.toUpperCase()} ${p}`);
  }
}

describe('GET /', () => {
  before(loadOpenapi);
  it('answers the index as JSON, its links live', async () => {
    const res = await daemon.request('GET', '/', { token: null });
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^application\/json/);
    const j = res.json;
    assert.equal(j.name, 'ppod-browser');
    assert.equal(j.version, openapi.info.version);
    assert.ok(j.description.length > 20);
    assert.equal(j.links.docs, '/docs');
    assert.equal(j.links.openapi, '/openapi.json');
    assert.equal(j.links.health, '/healthz');
    assert.equal(j.links.mcp, '/mcp');
    // Every link is a route of the document, and the GET ones answer.
    for (const link of Object.values(j.links)) {
      assert.ok(openapi.paths[link], `${link} is in /openapi.json`);
      if (openapi.paths[link].get && link !== '/account') {
        assert.equal((await daemon.request('GET', link, { token: null })).status, 200, link);
      }
    }
  });

  it('sends a browser (Accept: text/html) to /docs', async () => {
    const res = await daemon.request('GET', '/', {
      token: null,
      headers: { Accept: 'text/html,application/xhtml+xml,*/*;q=0.8' },
    });
    assert.equal(res.status, 302);
    assert.equal(res.headers.location, '/docs');
    // curl's */* and an API client's JSON get the index.
    for (const accept of ['*/*', 'application/json']) {
      const r = await daemon.request('GET', '/', { token: null, headers: { Accept: accept } });
      assert.equal(r.status, 200);
      assert.equal(r.json.name, 'ppod-browser');
    }
  });

  it('is exact: other methods and paths are refused, a token is not needed nor harmful', async () => {
    expectError(assert, await daemon.request('POST', '/', { json: {} }), 405, 'METHOD_NOT_ALLOWED');
    expectError(assert, await daemon.request('GET', '/index.html', { token: null }), 404, 'NOT_FOUND');
    expectError(assert, await daemon.request('GET', '/docs/x', { token: null }), 404, 'NOT_FOUND');
    expectError(assert, await daemon.request('DELETE', '/docs', { token: null }), 405, 'METHOD_NOT_ALLOWED');
    assert.equal((await daemon.request('GET', '/')).status, 200); // with the token
    assert.equal((await daemon.request('GET', '/', { token: 'not a token' })).status, 200);
  });
});

describe('GET /docs', () => {
  before(loadOpenapi);
  it('is a self-contained page with a strict CSP', async () => {
    const res = await daemon.request('GET', '/docs', { token: null });
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^text\/html/);
    const csp = res.headers['content-security-policy'];
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'sha256-[A-Za-z0-9+/=]+'(;|$)/);
    assert.ok(!/unsafe-inline|unsafe-eval|https?:/.test(csp), csp);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    const html = res.body.toString();
    assert.ok(!/<(link|img|iframe)\b|\bsrc=|@import|url\(/i.test(html), 'nothing to load');
    // The same bytes every time: rendered once.
    const again = await daemon.request('GET', '/docs?x=<script>', { token: null });
    assert.equal(again.status, 200);
    assert.ok(again.body.equals(res.body));
  });

  it('many clients at once get the same page, and the service stays up', async () => {
    const one = (await daemon.request('GET', '/docs', { token: null })).body;
    const all = await Promise.all(Array.from({ length: 40 }, () => daemon.request('GET', '/docs', { token: null })));
    for (const r of all) {
      assert.equal(r.status, 200);
      assert.ok(r.body.equals(one));
    }
    assert.equal((await daemon.request('GET', '/healthz', { token: null })).status, 200);
  });

  it('in a browser: every route of /openapi.json, each with a curl example; nothing else loaded, no errors', { timeout: scaled(60000) }, async () => {
    const page = await person.browser.newPage();
    const requests = [];
    const problems = [];
    page.on('request', (r) => requests.push(r.url()));
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text()); });
    page.on('pageerror', (e) => problems.push(String(e)));
    try {
      const res = await page.goto(`${daemon.url}/docs`, { waitUntil: 'load' });
      assert.equal(res.status(), 200);
      assert.deepEqual(requests, [`${daemon.url}/docs`], 'the page alone, no other request');
      const sections = await page.$$eval('section.op', (els) => els.map((s) => ({
        route: s.getAttribute('data-route'),
        heading: s.querySelector('h2').innerText,
        curl: (s.querySelector('pre.curl') || {}).innerText || '',
        ppod: [...s.querySelectorAll('pre.ppod')].map((p) => p.innerText),
        visible: s.offsetParent !== null,
      })));
      const onPage = new Map(sections.map((s) => [s.route, s]));
      assert.ok(operations.length > 40);
      for (const op of operations) {
        const s = onPage.get(op);
        assert.ok(s, `${op} is on the page`);
        const [method, p] = op.split(' ');
        assert.ok(s.heading.includes(method) && s.heading.includes(p), `${op}: ${s.heading}`);
        assert.match(s.curl, /^curl /, `${op} has a curl example`);
        assert.ok(s.curl.includes(`"$PAPERPOD_URL${p.replace(/\{(\w+)\}/g, (_, n) => n.toUpperCase())}`), `${op}: ${s.curl}`);
        assert.ok(s.visible, `${op} is shown`);
      }
      assert.equal(sections.length, operations.length, 'no section for a route that is not there');
      // The examples a user copies: a quick action's, with its body and the CLI.
      const shot = onPage.get('POST /browser/screenshot');
      assert.match(shot.curl, /-H "Authorization: Bearer \$PAPERPOD_TOKEN"/);
      assert.match(shot.curl, /-d '\{"url":"https:\/\/example.com\/"\}'/);
      assert.deepEqual(shot.ppod, ['ppod browser:screenshot https://example.com/ -o shot.png']);
      assert.deepEqual(onPage.get('GET /account').ppod, ['ppod status', 'ppod balance']);
      assert.ok(!/Authorization/.test(onPage.get('GET /healthz').curl), 'no token where none is needed');
      // The request fields, from the schema.
      const fields = await page.$$eval('section[data-route="POST /browser/screenshot"] td.f code', (c) => c.map((x) => x.innerText));
      for (const f of ['url', 'html', 'viewport.width', 'screenshotOptions.type', 'gotoOptions.waitUntil']) {
        assert.ok(fields.includes(f), `field ${f}`);
      }
      // The script runs under the CSP: the origin is filled in, the filter works.
      assert.equal(await page.$eval('#origin', (e) => e.textContent), daemon.url);
      await page.type('#filter', 'browser/screenshot');
      const shown = await page.$$eval('section.op', (els) => els.filter((s) => s.offsetParent !== null).map((s) => s.getAttribute('data-route')));
      assert.deepEqual(shown, ['POST /browser/screenshot']);
      assert.deepEqual(problems, [], 'no console errors or CSP violations');
    } finally {
      await page.close();
    }
  });

  it('works without JavaScript', { timeout: scaled(60000) }, async () => {
    const page = await person.browser.newPage();
    await page.setJavaScriptEnabled(false);
    try {
      await page.goto(`${daemon.url}/docs`, { waitUntil: 'load' });
      const routes = await page.$$eval('section.op', (els) => els.filter((s) => s.offsetParent !== null).map((s) => s.getAttribute('data-route')));
      assert.deepEqual(routes.sort(), [...operations].sort());
      // The filter needs script: it stays out of the way.
      assert.equal(await page.$eval('#filter', (e) => e.offsetParent === null), true);
      // The table of contents links to every section.
      const hrefs = await page.$$eval('nav a', (a) => a.map((x) => x.getAttribute('href')));
      const ids = await page.$$eval('section.op', (s) => s.map((x) => `#${x.id}`));
      assert.deepEqual(hrefs, ids);
      assert.equal(new Set(ids).size, ids.length, 'anchors are unique');
    } finally {
      await page.close();
    }
  });
});
