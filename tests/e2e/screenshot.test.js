'use strict';
// POST /browser/screenshot against a real daemon and real Chromium. Every
// visual outcome is checked through pixels of the returned image: fixtures
// paint distinct colours for each outcome (see tests/fixtures and harness.js).

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const {
  useDaemon, decodePng, pixel, colorNear, scaled, PNG_MAGIC,
} = require('./harness');

const RED = [255, 0, 0];
const GREEN = [0, 255, 0];
const BLUE = [0, 0, 255];
const YELLOW = [255, 255, 0];
const MAGENTA = [255, 0, 255];
const CYAN = [0, 255, 255];
const WHITE = [255, 255, 255];
const GREY = [0x88, 0x88, 0x88];

function assertPixel(png, x, y, expected, what, tol = 8) {
  const got = pixel(png, x, y);
  assert.ok(colorNear(got, expected, tol),
    `${what}: pixel (${x},${y}) is rgba(${got.join(',')}), expected rgb(${expected.join(',')})`);
}

describe('POST /browser/screenshot', { timeout: scaled(180000) }, () => {
  const { daemon, fixtures } = useDaemon({ browsers: 1, timeout: scaled(60000) });

  // POST, expect 200 and return the response.
  // Each normal job takes well under a second; a hung job fails in 20 s.
  async function shot(body, { type = 'png', timeout = scaled(20000) } = {}) {
    const res = await daemon.request('POST', '/browser/screenshot', { json: body, timeout });
    assert.equal(res.status, 200,
      `expected 200, got ${res.status}: ${res.body.subarray(0, 500).toString('utf8')}`);
    assert.equal(String(res.headers['content-type']).split(';')[0].trim(), `image/${type}`);
    return res;
  }
  async function shotPng(body, opts) {
    const res = await shot(body, opts);
    assert.ok(res.body.subarray(0, 8).equals(PNG_MAGIC), 'body starts with the PNG signature');
    return decodePng(res.body);
  }

  it('returns a PNG with Content-Type image/png and a positive X-Browser-Ms-Used', async () => {
    const res = await shot({ url: `${fixtures.url}/boxes.html` });
    assert.ok(res.body.subarray(0, 8).equals(PNG_MAGIC), 'PNG signature');
    const ms = res.headers['x-browser-ms-used'];
    assert.match(String(ms), /^[0-9]+$/, `X-Browser-Ms-Used is an integer: ${ms}`);
    assert.ok(Number(ms) >= 1, `X-Browser-Ms-Used is positive: ${ms}`);
  });

  it('defaults to a 1920x1080 viewport (Cloudflare\'s) and paints the known boxes', async () => {
    const png = await shotPng({ url: `${fixtures.url}/boxes.html` });
    assert.equal(png.width, 1920);
    assert.equal(png.height, 1080);
    assertPixel(png, 50, 50, RED, 'red box');
    assertPixel(png, 250, 50, GREEN, 'green box');
    assertPixel(png, 50, 250, BLUE, 'blue box');
    assertPixel(png, 500, 350, YELLOW, '#target');
    assertPixel(png, 150, 150, WHITE, 'background between boxes');
    assertPixel(png, 1200, 700, WHITE, 'background bottom right');
  });

  it('honours viewport size and deviceScaleFactor (800x600 @2 -> 1600x1200)', async () => {
    const png = await shotPng({
      url: `${fixtures.url}/boxes.html`,
      viewport: { width: 800, height: 600, deviceScaleFactor: 2 },
    });
    assert.equal(png.width, 1600);
    assert.equal(png.height, 1200);
    // CSS (50,50) is device (100,100); CSS (150,50) is white, device (300,100).
    assertPixel(png, 100, 100, RED, 'red box, scaled');
    assertPixel(png, 500, 100, GREEN, 'green box, scaled');
    assertPixel(png, 300, 100, WHITE, 'gap between red and green, scaled');
    assertPixel(png, 1000, 700, YELLOW, '#target, scaled');
  });

  it('encodes JPEG when asked', async () => {
    const res = await shot({
      url: `${fixtures.url}/boxes.html`,
      screenshotOptions: { type: 'jpeg', quality: 80 },
    }, { type: 'jpeg' });
    assert.deepEqual([...res.body.subarray(0, 3)], [0xff, 0xd8, 0xff], 'JPEG SOI marker');
    assert.deepEqual([...res.body.subarray(-2)], [0xff, 0xd9], 'JPEG EOI marker');
  });

  it('encodes WebP when asked', async () => {
    const res = await shot({
      url: `${fixtures.url}/boxes.html`,
      screenshotOptions: { type: 'webp', quality: 80 },
    }, { type: 'webp' });
    assert.equal(res.body.subarray(0, 4).toString('latin1'), 'RIFF');
    assert.equal(res.body.subarray(8, 12).toString('latin1'), 'WEBP');
    assert.equal(res.body.readUInt32LE(4) + 8, res.body.length, 'RIFF size matches body length');
  });

  it('renders inline html', async () => {
    const png = await shotPng({
      html: '<!doctype html><html><body style="margin:0;background:#f00"></body></html>',
      viewport: { width: 640, height: 480 },
    });
    assert.equal(png.width, 640);
    assert.equal(png.height, 480);
    for (const [x, y] of [[0, 0], [320, 240], [639, 479]]) assertPixel(png, x, y, RED, 'red body');
  });

  it('shows content that JavaScript inserts after load', async () => {
    const png = await shotPng({ url: `${fixtures.url}/js-rendered.html` });
    assertPixel(png, 100, 100, MAGENTA, '#app painted by script');
    assertPixel(png, 300, 300, WHITE, 'outside #app');
  });

  it('waits for the load event (render-blocking slow stylesheet)', async () => {
    const png = await shotPng({
      url: `${fixtures.url}/slow-load.html`,
      gotoOptions: { waitUntil: 'load' },
    });
    assertPixel(png, 50, 50, GREEN, '#styled painted by the slow stylesheet');
  });

  it('waitForSelector waits for an element inserted later', async () => {
    const png = await shotPng({
      url: `${fixtures.url}/late?ms=300`,
      waitForSelector: { selector: '#late', timeout: scaled(10000) },
    });
    assertPixel(png, 100, 100, CYAN, '#late');
  });

  it('without waitForSelector a much later element is not there', async () => {
    // Control for the previous test: the element only appears after 60 s.
    const png = await shotPng({ url: `${fixtures.url}/late?ms=60000` });
    assertPixel(png, 100, 100, WHITE, 'no #late yet');
  });

  it('fullPage captures a 40000 px tall page top to bottom', { timeout: scaled(90000) }, async () => {
    const png = await shotPng({
      url: `${fixtures.url}/tall?h=40000`,
      viewport: { width: 400, height: 600 },
      screenshotOptions: { fullPage: true },
      timeout: 60000,
    }, { timeout: scaled(65000) });
    assert.equal(png.width, 400);
    assert.equal(png.height, 40000);
    assertPixel(png, 200, 10, RED, 'red box at the very top');
    assertPixel(png, 200, 90, RED, 'red box at the very top');
    assertPixel(png, 200, 20000, WHITE, 'middle of the page');
    assertPixel(png, 200, 39950, BLUE, 'blue box at the very bottom');
    assertPixel(png, 200, 39999, BLUE, 'last row is the blue box');
    assertPixel(png, 200, 39890, WHITE, 'just above the blue box');
  });

  it('selector screenshots just that element', async () => {
    const png = await shotPng({ url: `${fixtures.url}/boxes.html`, selector: '#target' });
    assert.equal(png.width, 200);
    assert.equal(png.height, 100);
    for (const [x, y] of [[2, 2], [100, 50], [197, 2], [2, 97], [197, 97]]) {
      assertPixel(png, x, y, YELLOW, '#target');
    }
  });

  it('clip returns exactly the clipped region', async () => {
    const png = await shotPng({
      url: `${fixtures.url}/boxes.html`,
      screenshotOptions: { clip: { x: 190, y: 0, width: 130, height: 110 } },
    });
    assert.equal(png.width, 130);
    assert.equal(png.height, 110);
    assertPixel(png, 5, 50, WHITE, 'left of the green box');
    assertPixel(png, 60, 50, GREEN, 'green box (page x 250)');
    assertPixel(png, 125, 50, WHITE, 'right of the green box');
    assertPixel(png, 60, 105, WHITE, 'below the green box');
  });

  it('omitBackground leaves unpainted areas transparent', async () => {
    const transparent = await shotPng({
      url: `${fixtures.url}/transparent.html`,
      screenshotOptions: { omitBackground: true },
    });
    assert.equal(pixel(transparent, 600, 400)[3], 0, 'alpha 0 where nothing is painted');
    assertPixel(transparent, 50, 50, [255, 0, 0, 255], 'opaque red box keeps alpha 255');

    const opaque = await shotPng({ url: `${fixtures.url}/transparent.html` });
    assertPixel(opaque, 600, 400, [255, 255, 255, 255], 'default background is opaque white');
  });

  it('sends userAgent, setExtraHTTPHeaders and cookies to the page', async () => {
    const echo = `${fixtures.url}/echo?check=${encodeURIComponent('ua:PpodE2E/1.0')}` +
      `&check=${encodeURIComponent('header:x-test=yes')}` +
      `&check=${encodeURIComponent('cookie:flavour=oatmeal')}`;
    const withAll = await shotPng({
      url: echo,
      userAgent: 'Mozilla/5.0 PpodE2E/1.0',
      setExtraHTTPHeaders: { 'X-Test': 'yes' },
      cookies: [{ name: 'flavour', value: 'oatmeal', url: fixtures.url }],
    });
    assertPixel(withAll, 640, 50, GREEN, 'band 1: User-Agent received');
    assertPixel(withAll, 640, 150, GREEN, 'band 2: X-Test header received');
    assertPixel(withAll, 640, 250, GREEN, 'band 3: cookie received');

    // Control: the same page without them shows every check failing.
    const without = await shotPng({ url: echo });
    assertPixel(without, 640, 50, RED, 'band 1 without userAgent');
    assertPixel(without, 640, 150, RED, 'band 2 without header');
    assertPixel(without, 640, 250, RED, 'band 3 without cookie');
  });

  it('rejectResourceTypes ["image"] blocks images', async () => {
    const blocked = await shotPng({ url: `${fixtures.url}/img.html`, rejectResourceTypes: ['image'] });
    assertPixel(blocked, 640, 360, RED, 'img onerror fired');

    const allowed = await shotPng({ url: `${fixtures.url}/img.html` });
    assertPixel(allowed, 640, 360, GREEN, 'img onload fired (control)');
    assert.ok(!colorNear(pixel(allowed, 640, 360), GREY), 'image outcome decided before the screenshot');
  });

  it('serves 4 parallel requests, each with its own page', async () => {
    const colours = [[0xff, 0x00, 0x00], [0x00, 0xff, 0x00], [0x00, 0x00, 0xff], [0xff, 0x00, 0xff]];
    const hex = (c) => '#' + c.map((v) => v.toString(16).padStart(2, '0')).join('');
    const pngs = await Promise.all(colours.map((c) => shotPng({
      html: `<!doctype html><html><body style="margin:0;background:${hex(c)}"></body></html>`,
      viewport: { width: 320, height: 240 },
    })));
    pngs.forEach((png, i) => {
      assert.equal(png.width, 320);
      assert.equal(png.height, 240);
      assertPixel(png, 160, 120, colours[i], `request ${i} got its own page`);
    });
  });
});
