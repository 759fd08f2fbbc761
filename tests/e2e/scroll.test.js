'use strict';
// scrollPage: true scrolls through the page before the action so content
// that appears only when scrolled into view is there: a full-page
// screenshot shows every section filled in, Markdown, content and scrape
// contain their text, and the page is back at the top for the capture. An
// endless feed is cut at the full-page height cap and the request ends in
// time. Without scrollPage the same page keeps its placeholders.
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const os = require('node:os');
const path = require('node:path');
const { useDaemon, decodePng, pixel, colorNear, scaled, expectError, REPO_ROOT } = require('./harness');

const PPOD = path.join(process.env.PPOD_BIN_DIR || path.join(REPO_ROOT, 'build'), 'ppod');

const GREEN = [0, 255, 0];
const GREY = [0xcc, 0xcc, 0xcc];
const RED = [255, 0, 0];
const BLUE = [0, 0, 255];

describe('scrollPage', { timeout: scaled(240000) }, () => {
  const { daemon, fixtures } = useDaemon({ browsers: 1, timeout: scaled(60000) });
  const lazy = () => `${fixtures.url}/scroll/lazy.html`;

  async function post(route, body, timeout = scaled(40000)) {
    const res = await daemon.request('POST', route, { json: body, timeout });
    assert.equal(res.status, 200, `${route}: ${res.status} ${res.body.subarray(0, 400).toString('utf8')}`);
    return res;
  }

  it('a full-page screenshot shows the sections that load when seen, top first', async () => {
    const before = decodePng((await post('/browser/screenshot', {
      url: lazy(), screenshotOptions: { fullPage: true },
    })).body);
    assert.equal(before.height, 6100);
    assert.ok(colorNear(pixel(before, 10, 5950), GREY), 'without scrollPage the last section never loaded');

    const png = decodePng((await post('/browser/screenshot', {
      url: lazy(), scrollPage: true, screenshotOptions: { fullPage: true },
    })).body);
    assert.equal(png.height, 6100);
    for (let n = 1; n <= 6; n++) {
      const y = 100 + (n - 1) * 1000 + 500;
      assert.ok(colorNear(pixel(png, 10, y), GREEN), `section ${n} loaded: rgba(${pixel(png, 10, y)})`);
    }
    // A viewport shot: the page was scrolled back to its top.
    const top = decodePng((await post('/browser/screenshot', { url: lazy(), scrollPage: true })).body);
    assert.ok(colorNear(pixel(top, 10, 50), RED), 'the header is at the top of the viewport');
  });

  it('Markdown, content and scrape include what scrolling revealed', async () => {
    const md0 = (await post('/browser/markdown', { url: lazy(), mode: 'full' })).json.result;
    assert.match(md0, /placeholder 6/);
    const md = (await post('/browser/markdown', { url: lazy(), mode: 'full', scrollPage: true })).json.result;
    for (let n = 1; n <= 6; n++) assert.match(md, new RegExp(`section ${n} loaded`));
    assert.doesNotMatch(md, /placeholder/);
    const html = (await post('/browser/content', { url: lazy(), scrollPage: true })).json.result;
    assert.match(html, /section 6 loaded/);
    const sc = (await post('/browser/scrape', {
      url: lazy(), scrollPage: true, elements: [{ selector: 'section[data-n="6"] p' }],
    })).json.result;
    assert.equal(sc[0].results[0].text, 'section 6 loaded');
  });

  it('an endless feed stops at the height cap and the request ends in time', async () => {
    const t0 = Date.now();
    const res = await post('/browser/screenshot', {
      url: `${fixtures.url}/scroll/infinite.html`, scrollPage: true, timeout: 30000,
      viewport: { width: 200, height: 1000 }, screenshotOptions: { fullPage: true },
    }, scaled(45000));
    const took = Date.now() - t0;
    const png = decodePng(res.body);
    assert.equal(png.height, 50000, 'cut at the full-page cap');
    assert.ok(colorNear(pixel(png, 10, 49000), BLUE), 'items all the way down');
    assert.ok(took < 30000, `within the request's timeout: ${took} ms`);
    // Markdown of the same feed: many items, finite, in time.
    const md = (await post('/browser/markdown', {
      url: `${fixtures.url}/scroll/infinite.html`, mode: 'full', scrollPage: true, timeout: 20000,
    }, scaled(30000))).json.result;
    const items = md.match(/item \d+/g) || [];
    assert.ok(items.length > 40, `the feed grew while scrolled: ${items.length} items`);
  });

  it('a short timeout leaves the action its time: half of what is left at most', async () => {
    const t0 = Date.now();
    const res = await daemon.request('POST', '/browser/markdown', {
      json: { url: `${fixtures.url}/scroll/infinite.html`, mode: 'full', scrollPage: true, timeout: 4000 },
      timeout: scaled(20000),
    });
    assert.equal(res.status, 200, res.body.toString());
    assert.ok(Date.now() - t0 < 4000 + 1500, `answered within its timeout: ${Date.now() - t0} ms`);
  });

  it('ppod --scroll-page asks for it', async () => {
    const env = {
      ...process.env, PAPERPOD_URL: daemon.url, PAPERPOD_TOKEN: daemon.token,
      XDG_CONFIG_HOME: path.join(os.tmpdir(), 'ppod-scroll-no-config'),
    };
    const run = (args) => new Promise((resolve) => execFile(PPOD, args, { env, timeout: scaled(40000) },
      (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr })));
    const r = await run(['browser:markdown', lazy(), '--full', '--scroll-page']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /section 6 loaded/);
  });

  it('scrollPage must be a boolean', async () => {
    const res = await daemon.request('POST', '/browser/screenshot', { json: { url: lazy(), scrollPage: 'yes' } });
    expectError(assert, res, 400, 'INVALID_REQUEST');
  });
});
