'use strict';
// Every documented failure of the HTTP API, as a client sees it: status,
// {success:false, errors:[{code,message}]} envelope and the error code.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const {
  startFixtures, useDaemon, createAccount, makeTempDir, freePort, pollUntil, reached,
  decodePng, pixel, colorNear, scaled, expectError, PNG_MAGIC,
} = require('./harness');

const SHOT = '/browser/screenshot';

describe('API errors', { timeout: scaled(240000) }, () => {
  let closedPort; // allow-listed, nothing listens there

  const { daemon, fixtures } = useDaemon(async () => {
    closedPort = await freePort();
    return { browsers: 1, allowPrivate: [`127.0.0.1:${closedPort}`], timeout: scaled(60000) };
  });

  const post = (json, opts = {}) => daemon.request('POST', SHOT, { json, timeout: scaled(20000), ...opts });

  describe('400 INVALID_REQUEST', () => {
    it('body is not JSON', async () => {
      const res = await daemon.request('POST', SHOT, {
        body: '{"url": "http://example.com/", oops',
        headers: { 'Content-Type': 'application/json' },
      });
      expectError(assert, res, 400, 'INVALID_REQUEST');
    });

    it('body is JSON but not an object', async () => {
      expectError(assert, await post([`${fixtures.url}/boxes.html`]), 400, 'INVALID_REQUEST');
    });

    const url = () => `${fixtures.url}/boxes.html`;
    // [title, body builder, text the message must contain (the field path)]
    const cases = [
      ['unknown top-level field', () => ({ url: url(), bogusField: 1 }), 'bogusField'],
      ['unknown nested field', () => ({ url: url(), viewport: { width: 800, height: 600, zoom: 2 } }), 'zoom'],
      ['wrong type: viewport.width as string', () => ({ url: url(), viewport: { width: '800', height: 600 } }), 'viewport.width'],
      ['wrong type: url as number', () => ({ url: 42 }), 'url'],
      ['wrong type: fullPage as string', () => ({ url: url(), screenshotOptions: { fullPage: 'yes' } }), 'screenshotOptions.fullPage'],
      ['wrong type: cookies not an array', () => ({ url: url(), cookies: { name: 'a', value: 'b' } }), 'cookies'],
      ['out of range: viewport.width 0', () => ({ url: url(), viewport: { width: 0, height: 600 } }), 'viewport.width'],
      ['out of range: viewport.height 16385', () => ({ url: url(), viewport: { width: 800, height: 16385 } }), 'viewport.height'],
      ['out of range: deviceScaleFactor 0', () => ({ url: url(), viewport: { width: 800, height: 600, deviceScaleFactor: 0 } }), 'viewport.deviceScaleFactor'],
      ['out of range: deviceScaleFactor 5', () => ({ url: url(), viewport: { width: 800, height: 600, deviceScaleFactor: 5 } }), 'viewport.deviceScaleFactor'],
      ['out of range: timeout 120001', () => ({ url: url(), timeout: 120001 }), 'timeout'],
      ['out of range: gotoOptions.timeout -1', () => ({ url: url(), gotoOptions: { timeout: -1 } }), 'gotoOptions.timeout'],
      ['out of range: quality 101', () => ({ url: url(), screenshotOptions: { type: 'jpeg', quality: 101 } }), 'screenshotOptions.quality'],
      ['bad enum: gotoOptions.waitUntil', () => ({ url: url(), gotoOptions: { waitUntil: 'sometimes' } }), 'gotoOptions.waitUntil'],
      ['bad enum: screenshotOptions.type gif', () => ({ url: url(), screenshotOptions: { type: 'gif' } }), 'screenshotOptions.type'],
      ['quality with png', () => ({ url: url(), screenshotOptions: { type: 'png', quality: 50 } }), 'quality'],
      ['quality with the default type (png)', () => ({ url: url(), screenshotOptions: { quality: 50 } }), 'quality'],
    ];
    for (const [title, body, field] of cases) {
      it(`${title} -> message names ${field}`, async () => {
        const e = expectError(assert, await post(body()), 400, 'INVALID_REQUEST', title);
        assert.ok(e.message.includes(field), `message ${JSON.stringify(e.message)} names ${field}`);
      });
    }

    it('both url and html', async () => {
      const e = expectError(assert, await post({ url: url(), html: '<p>x</p>' }), 400, 'INVALID_REQUEST');
      assert.match(e.message, /url|html/);
    });

    it('neither url nor html', async () => {
      const e = expectError(assert, await post({ viewport: { width: 800, height: 600 } }), 400, 'INVALID_REQUEST');
      assert.match(e.message, /url|html/);
    });
  });

  it('400 PAGE_TOO_LARGE for a full page taller than the maximum', async () => {
    const res = await post({
      url: `${fixtures.url}/tall?h=60000`,
      viewport: { width: 200, height: 200 },
      screenshotOptions: { fullPage: true },
    });
    expectError(assert, res, 400, 'PAGE_TOO_LARGE');
  });

  it('413 BODY_TOO_LARGE for an 11 MiB body', async () => {
    const big = JSON.stringify({ html: `<p>${'a'.repeat(11 * 1024 * 1024)}</p>` });
    const res = await daemon.request('POST', SHOT, {
      body: big,
      headers: { 'Content-Type': 'application/json' },
    });
    expectError(assert, res, 413, 'BODY_TOO_LARGE');
  });

  describe('401', () => {
    it('UNAUTHORIZED without an Authorization header', async () => {
      const res = await post({ url: `${fixtures.url}/boxes.html` }, { token: null });
      expectError(assert, res, 401, 'UNAUTHORIZED');
    });

    it('INVALID_TOKEN for garbage', async () => {
      const res = await post({ url: `${fixtures.url}/boxes.html` }, { token: 'not-a-real-token' });
      expectError(assert, res, 401, 'INVALID_TOKEN');
    });

    it('INVALID_TOKEN for a well-formed token from another data dir', async () => {
      const otherDir = await makeTempDir('ppod-e2e-other-');
      const foreign = await createAccount(otherDir, 'test');
      assert.notEqual(foreign, daemon.token);
      const res = await post({ url: `${fixtures.url}/boxes.html` }, { token: foreign });
      expectError(assert, res, 401, 'INVALID_TOKEN');
    });

    it('a token created while the daemon runs is accepted', async () => {
      const fresh = await daemon.createToken({ ttlSeconds: 3600 });
      // An invalid body: 400 proves authentication passed without a render.
      const res = await post({}, { token: fresh });
      expectError(assert, res, 400, 'INVALID_REQUEST');
    });

    it('EXPIRED_TOKEN once a --ttl-seconds 1 token runs out', async () => {
      const short = await daemon.createToken({ ttlSeconds: 1 });
      const res = await pollUntil(async () => {
        const r = await post({}, { token: short });
        if (r.status === 401) return r; // decided: must be EXPIRED_TOKEN
        expectError(assert, r, 400, 'INVALID_REQUEST', 'before expiry'); // accepted meanwhile
        return null;
      }, { timeout: scaled(15000), interval: 200, what: 'the 1 s token to expire' });
      expectError(assert, res, 401, 'EXPIRED_TOKEN');
    });
  });

  describe('403 FORBIDDEN_URL', () => {
    const urls = [
      'file:///etc/passwd',
      'javascript:alert(1)',
      'http://127.0.0.1:1/', // loopback, but this port is not allow-listed
      'http://169.254.169.254/latest/meta-data/',
      'http://[::1]/',
      'http://0x7f.1/', // 127.0.0.1 in inet_aton spelling
      'ftp://127.0.0.1/',
    ];
    for (const u of urls) {
      it(u, async () => {
        const res = await post({ url: u });
        expectError(assert, res, 403, 'FORBIDDEN_URL', u);
      });
    }

    it('a page may not navigate a frame to a forbidden address', async () => {
      // The fixture is allowed; the iframe it loads is not: the request must
      // not reach the fixture server on a different, non-allow-listed port.
      const other = await startFixtures();
      try {
        const seen = [];
        other.events.on('request', (r) => seen.push(r.path));
        const res = await post({
          html: `<!doctype html><body style="margin:0"><iframe src="${other.url}/boxes.html"></iframe></body>`,
        });
        // Either the whole job is refused or the frame is blocked; never fetched.
        assert.ok(res.status === 200 || res.status === 403, `status ${res.status}`);
        assert.deepEqual(seen, [], 'non-allow-listed loopback server was not contacted');
      } finally {
        await other.close();
      }
    });
  });

  describe('408 TIMEOUT', () => {
    it('waitForSelector that never appears (timeout 500)', async () => {
      const t0 = Date.now();
      const res = await post({
        url: `${fixtures.url}/boxes.html`,
        waitForSelector: { selector: '#never-there', timeout: 500 },
      });
      expectError(assert, res, 408, 'TIMEOUT');
      assert.ok(Date.now() - t0 < scaled(10000), `answered in ${Date.now() - t0} ms`);
    });

    it('gotoOptions.timeout 500 on a server that never answers', async () => {
      const hit = fixtures.nextRequest('/hang');
      hit.catch(() => {}); // awaited below, after the response checks
      const t0 = Date.now();
      const res = await post({ url: `${fixtures.url}/hang`, gotoOptions: { timeout: 500 } });
      expectError(assert, res, 408, 'TIMEOUT');
      assert.ok(Date.now() - t0 < scaled(10000), `answered in ${Date.now() - t0} ms`);
      await hit; // the browser really did try
    });
  });

  describe('422 NAVIGATION_FAILED', () => {
    it('connection refused on an allow-listed closed port', async () => {
      const res = await post({ url: `http://127.0.0.1:${closedPort}/` });
      const e = expectError(assert, res, 422, 'NAVIGATION_FAILED');
      assert.ok(e.message.includes('net::ERR_CONNECTION_REFUSED'), e.message);
    });

    it('unresolvable .invalid host', async () => {
      const res = await post({ url: 'http://ppod-e2e-does-not-exist.invalid/' });
      const e = expectError(assert, res, 422, 'NAVIGATION_FAILED');
      assert.ok(e.message.includes('net::ERR_NAME_NOT_RESOLVED'), e.message);
    });
  });

  describe('routing', () => {
    it('404 NOT_FOUND for an unknown route', async () => {
      expectError(assert, await daemon.request('GET', '/no/such/route'), 404, 'NOT_FOUND');
      expectError(assert, await daemon.request('POST', '/browser/no-such-op', { json: {} }), 404, 'NOT_FOUND');
    });

    it('405 METHOD_NOT_ALLOWED for a wrong method on a known route', async () => {
      expectError(assert, await daemon.request('GET', SHOT), 405, 'METHOD_NOT_ALLOWED');
      expectError(assert, await daemon.request('DELETE', SHOT), 405, 'METHOD_NOT_ALLOWED');
      expectError(assert, await daemon.request('POST', '/healthz', { json: {} }), 405, 'METHOD_NOT_ALLOWED');
    });
  });

  it('after all of the above a normal screenshot still works', async () => {
    const res = await post({ url: `${fixtures.url}/boxes.html` });
    assert.equal(res.status, 200, res.body.subarray(0, 500).toString('utf8'));
    assert.ok(res.body.subarray(0, 8).equals(PNG_MAGIC));
    const png = decodePng(res.body);
    assert.ok(colorNear(pixel(png, 50, 50), [255, 0, 0]), 'red box rendered');
    const health = await daemon.request('GET', '/healthz', { token: null });
    assert.equal(health.json.result.browsersAlive, 1, 'browser still alive');
  });
});

describe('429 TOO_MANY_REQUESTS', { timeout: scaled(90000) }, () => {
  const { daemon, fixtures } = useDaemon({
    browsers: 1,
    args: ['--concurrency', '1', '--queue', '0'],
    timeout: scaled(60000),
  });

  it('a second request while the only slot is busy and the queue is 0 is refused quickly', async () => {
    const slowHit = fixtures.nextRequest('/slow');
    const first = daemon.request('POST', SHOT, {
      json: { url: `${fixtures.url}/slow?ms=3000` },
      timeout: scaled(20000),
    });
    await reached(slowHit, first); // the first job is running (its page is loading)

    const t0 = Date.now();
    const second = await daemon.request('POST', SHOT, {
      json: { url: `${fixtures.url}/boxes.html` },
      timeout: scaled(10000),
    });
    const elapsed = Date.now() - t0;
    expectError(assert, second, 429, 'TOO_MANY_REQUESTS');
    assert.match(String(second.headers['retry-after']), /^[0-9]+$/, 'Retry-After in whole seconds');
    assert.ok(elapsed < 1000, `refused in ${elapsed} ms`);

    const res = await first;
    assert.equal(res.status, 200, 'the running job still completes');
    const png = decodePng(res.body);
    assert.ok(colorNear(pixel(png, 10, 10), [0, 255, 0]), 'slow page was rendered');
  });
});
