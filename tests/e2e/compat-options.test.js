'use strict';
// Options that code written for Cloudflare Browser Rendering and Browserless
// sends (issue 18, items 2-4), each by its effect on a fixture page, with
// the attack next to the feature: waitForFunction / waitForEvent,
// screenshot encoding and the Accept header, pdfOptions.timeout, waitUntil
// arrays, referrerPolicy, isLandscape / hasTouch, addScriptTag type and id,
// Puppeteer's cookie fields, scrape elements[].timeout, actionTimeout, the
// default viewport, and request patterns in JavaScript's dialect.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { useDaemon, scaled, expectError, httpRequest, decodePng, PNG_MAGIC } = require('./harness');

describe('options peers\' clients send', { timeout: scaled(400000) }, () => {
  const { daemon, fixtures } = useDaemon({ browsers: 1, timeout: scaled(60000) });

  const post = (path, body, opts = {}) =>
    daemon.request('POST', path, { json: body, timeout: scaled(60000), ...opts });
  async function content(body) {
    const res = await post('/browser/content', body);
    assert.equal(res.status, 200, res.body.subarray(0, 500).toString('utf8'));
    return res.json.result;
  }
  const waits = () => `${fixtures.url}/compat-waits.html`;

  describe('waitForFunction', () => {
    it('waits until a function becomes true (800 ms after load): the answer shows the state after it', async () => {
      assert.match(await content({ url: waits() }), /<p id="fn">not yet<\/p>/, 'without the wait, not yet');
      for (const [fn, polling] of [['() => window.ready === true', 'raf'], ['window.ready', 100], ['() => !!window.ready', 'mutation']]) {
        const t0 = Date.now();
        const html = await content({ url: waits(), waitForFunction: { fn, polling } });
        assert.match(html, /<p id="fn">ready after \d+ ms<\/p>/, `${fn} (${polling})`);
        assert.ok(Date.now() - t0 >= 800, `answered after ${Date.now() - t0} ms`);
      }
    });

    it('runs out at its timeout: 408 TIMEOUT, or the page as it is with bestAttempt', async () => {
      const t0 = Date.now();
      const res = await post('/browser/content', { url: waits(), waitForFunction: { fn: 'window.ready', timeout: 300 } });
      const e = expectError(assert, res, 408, 'TIMEOUT');
      assert.match(e.message, /waitForFunction/);
      assert.ok(Date.now() - t0 < scaled(5000), `took ${Date.now() - t0} ms`);
      const html = await content({ url: waits(), waitForFunction: { fn: 'window.ready', timeout: 300 }, bestAttempt: true });
      assert.match(html, /<p id="fn">not yet<\/p>/);
    });

    it('hostile functions end at the deadline and leave the browser serving others', async () => {
      // An endless loop, at once and after the first poll; a promise that
      // never settles: each stopped at its timeout (Runtime.terminateExecution).
      for (const fn of ['() => { while (1) {} }', '(() => { for (;;) {} })()', '() => { if (window.ready) for (;;) {} return false; }', '() => new Promise(() => {})']) {
        const t0 = Date.now();
        const res = await post('/browser/content', { url: waits(), waitForFunction: { fn, timeout: 1500, polling: 50 } });
        expectError(assert, res, 408, 'TIMEOUT', fn);
        const ms = Date.now() - t0;
        assert.ok(ms < scaled(8000), `${fn}: answered after ${ms} ms`);
        const h = await httpRequest(daemon.port, 'GET', '/healthz');
        assert.equal(h.status, 200);
        // The same (only) browser serves the next job at once.
        const t1 = Date.now();
        assert.match(await content({ html: '<p id="after">still serving</p>' }), /still serving/);
        assert.ok(Date.now() - t1 < scaled(5000), `the next job took ${Date.now() - t1} ms`);
      }
      // A function that throws, a statement where an expression belongs: 422 PAGE_ERROR with the page's words.
      let e = expectError(assert, await post('/browser/content', { url: waits(), waitForFunction: { fn: "() => { throw new Error('boom-7') }" } }), 422, 'PAGE_ERROR');
      assert.match(e.message, /boom-7/);
      e = expectError(assert, await post('/browser/content', { url: waits(), waitForFunction: { fn: 'while (1) {}' } }), 422, 'PAGE_ERROR');
      assert.match(e.message, /SyntaxError/);
      // A huge truthy value is not carried back: only whether it was truthy.
      const html = await content({ html: '<p>big</p>', waitForFunction: { fn: "() => 'x'.repeat(1 << 26)" } });
      assert.ok(html.length < 1000, `answer of ${html.length} chars`);
      // Sizes and shapes the schema refuses.
      expectError(assert, await post('/browser/content', { url: waits(), waitForFunction: { fn: 'x'.repeat(100001) } }), 400, 'INVALID_REQUEST');
      expectError(assert, await post('/browser/content', { url: waits(), waitForFunction: { fn: '1', polling: 0 } }), 400, 'INVALID_REQUEST');
      expectError(assert, await post('/browser/content', { url: waits(), waitForFunction: { fn: '1', polling: 'often' } }), 400, 'INVALID_REQUEST');
      expectError(assert, await post('/browser/content', { url: waits(), waitForFunction: { polling: 'raf' } }), 400, 'INVALID_REQUEST');
    });
  });

  describe('waitForEvent', () => {
    it('waits for a custom event fired 1200 ms after load', async () => {
      const t0 = Date.now();
      const html = await content({ url: waits(), waitForEvent: { event: 'app-ready' } });
      assert.match(html, /<p id="ev">app-ready fired<\/p>/);
      assert.ok(Date.now() - t0 >= 1200, `answered after ${Date.now() - t0} ms`);
    });

    it('an event fired while the page loaded counts; one never fired is 408 at its timeout', async () => {
      const t0 = Date.now();
      // Listening only after the load would wait in vain and answer 408.
      const html = await content({ url: waits(), waitForEvent: { event: 'parsed', timeout: 5000 } });
      assert.match(html, /parsed fired/);
      assert.ok(Date.now() - t0 < scaled(5000));
      const res = await post('/browser/content', { url: waits(), waitForEvent: { event: 'never-fired', timeout: 500 } });
      const e = expectError(assert, res, 408, 'TIMEOUT');
      assert.match(e.message, /'never-fired' was not fired within 500 ms/);
      // Hostile names are data, not code.
      const odd = "x'); window.hacked = 1; ('";
      const res2 = await post('/browser/content', { url: waits(), waitForEvent: { event: odd, timeout: 200 }, bestAttempt: true });
      assert.equal(res2.status, 200);
      expectError(assert, await post('/browser/content', { url: waits(), waitForEvent: { event: 'e'.repeat(257) } }), 400, 'INVALID_REQUEST');
    });
  });

  describe('screenshots', () => {
    it('defaults to 1920x1080, Cloudflare\'s viewport', async () => {
      const res = await post('/browser/screenshot', { html: '<p>x</p>' });
      assert.equal(res.status, 200);
      const png = decodePng(res.body);
      assert.deepEqual([png.width, png.height], [1920, 1080]);
    });

    it('encoding "base64" answers the image as base64 text that decodes to the right size', async () => {
      const res = await post('/browser/screenshot', { html: '<p>x</p>', viewport: { width: 640, height: 360 }, screenshotOptions: { encoding: 'base64' } });
      assert.equal(res.status, 200);
      assert.match(String(res.headers['content-type']), /^text\/plain/);
      const text = res.body.toString('latin1');
      assert.match(text, /^[A-Za-z0-9+/]+=*$/);
      const img = Buffer.from(text, 'base64');
      assert.ok(img.subarray(0, 8).equals(PNG_MAGIC));
      const png = decodePng(img);
      assert.deepEqual([png.width, png.height], [640, 360]);
      const bin = await post('/browser/screenshot', { html: '<p>x</p>', viewport: { width: 640, height: 360 }, screenshotOptions: { encoding: 'binary' } });
      assert.equal(bin.headers['content-type'], 'image/png');
      assert.ok(bin.body.subarray(0, 8).equals(PNG_MAGIC));
    });

    it('the type follows Accept when the body does not say; a body\'s type wins', async () => {
      const shot = (headers, extra = {}) => post('/browser/screenshot', { html: '<p>x</p>', viewport: { width: 200, height: 100 }, ...extra }, { headers });
      const jpeg = await shot({ Accept: 'image/jpeg' });
      assert.equal(jpeg.headers['content-type'], 'image/jpeg');
      assert.equal(jpeg.body[0], 0xff);
      assert.equal(jpeg.body[1], 0xd8);
      const webp = await shot({ Accept: 'image/webp,*/*;q=0.8' });
      assert.equal(webp.headers['content-type'], 'image/webp');
      assert.equal(webp.body.subarray(8, 12).toString(), 'WEBP');
      for (const accept of ['*/*', 'image/*', 'text/html']) {
        const res = await shot({ Accept: accept });
        assert.equal(res.headers['content-type'], 'image/png', accept);
      }
      const won = await shot({ Accept: 'image/jpeg' }, { screenshotOptions: { type: 'png' } });
      assert.equal(won.headers['content-type'], 'image/png');
      // An Accept longer than the service reads is ignored, not a failure.
      const big = await shot({ Accept: `${'x'.repeat(1000)}, image/jpeg` });
      assert.equal(big.status, 200);
      assert.equal(big.headers['content-type'], 'image/png');
    });

    it('fromSurface, captureBeyondViewport, optimizeForSpeed and clip.scale are taken', async () => {
      for (const o of [{ fromSurface: false }, { captureBeyondViewport: false }, { optimizeForSpeed: true }]) {
        const res = await post('/browser/screenshot', { html: '<p>x</p>', viewport: { width: 300, height: 200 }, screenshotOptions: o });
        assert.equal(res.status, 200, JSON.stringify(o));
        assert.deepEqual([decodePng(res.body).width, decodePng(res.body).height], [300, 200]);
      }
      const res = await post('/browser/screenshot', { html: '<p>x</p>', screenshotOptions: { clip: { x: 0, y: 0, width: 100, height: 50, scale: 2 } } });
      assert.equal(res.status, 200);
      assert.deepEqual([decodePng(res.body).width, decodePng(res.body).height], [200, 100]);
    });

    it('isLandscape turns the screen, hasTouch gives touch points', async () => {
      const probe = '<p id="o"></p><script>document.getElementById("o").textContent = screen.orientation.type + " " + navigator.maxTouchPoints;</script>';
      assert.match(await content({ html: probe, viewport: { width: 600, height: 800 } }), /portrait-primary 0/);
      assert.match(await content({ html: probe, viewport: { width: 600, height: 800, isLandscape: true, hasTouch: true } }), /landscape-primary [1-9]/);
    });
  });

  describe('navigation', () => {
    it('waitUntil as an array waits for all of them', async () => {
      const html = await content({ url: waits(), gotoOptions: { waitUntil: ['load', 'networkidle0'] } });
      assert.match(html, /parsed fired/);
      expectError(assert, await post('/browser/content', { url: waits(), gotoOptions: { waitUntil: ['load', 'soon'] } }), 400, 'INVALID_REQUEST');
      expectError(assert, await post('/browser/content', { url: waits(), gotoOptions: { waitUntil: [] } }), 400, 'INVALID_REQUEST');
    });

    it('referrerPolicy applies to the referer sent', async () => {
      const n = Date.now();
      for (const [policy, want] of [['origin', `${fixtures.url}/`], ['no-referrer', undefined], ['unsafeUrl', `${fixtures.url}/from/here?n=${n}`]]) {
        const from = fixtures.requests.length;
        await content({ url: `${fixtures.url}/title.html?p=${policy}`, gotoOptions: { referer: `${fixtures.url}/from/here?n=${n}`, referrerPolicy: policy } });
        const got = fixtures.requests.slice(from).find((r) => r.path === '/title.html');
        assert.equal(got.headers.referer, want, policy);
      }
      expectError(assert, await post('/browser/content', { url: waits(), gotoOptions: { referrerPolicy: 'everything' } }), 400, 'INVALID_REQUEST');
    });

    it('a cookie with all of Puppeteer\'s fields set reaches the page', async () => {
      const port = Number(new URL(fixtures.url).port);
      const cookie = {
        name: 'full', value: 'v1', url: `${fixtures.url}/`, path: '/', secure: false, httpOnly: true, sameSite: 'Lax',
        expires: Math.floor(Date.now() / 1000) + 3600, priority: 'High', sameParty: false, sourceScheme: 'NonSecure', sourcePort: port,
      };
      const html = await content({ url: `${fixtures.url}/echo?check=cookie:full=v1`, cookies: [cookie] });
      assert.match(html, /data-check="cookie:full=v1" data-ok="true"/);
      // httpOnly: sent, not visible to the page's script; another is.
      const jar = await content({
        url: `${fixtures.url}/echo`, cookies: [cookie, { name: 'vis', value: '2' }],
        addScriptTag: [{ content: "document.body.insertAdjacentHTML('beforeend', '<p id=jar>[' + document.cookie + ']</p>')" }],
      });
      assert.match(jar, /<p id="jar">\[vis=2\]<\/p>/);
      const partitioned = { name: 'p', value: '1', url: `${fixtures.url}/`, partitionKey: fixtures.url };
      const res = await post('/browser/content', { url: `${fixtures.url}/echo`, cookies: [partitioned] });
      assert.ok(res.status === 200 || (res.status === 400 && /cookies/.test(res.json.errors[0].message)), res.body.toString().slice(0, 300));
      expectError(assert, await post('/browser/content', { url: waits(), cookies: [{ ...cookie, priority: 'Urgent' }] }), 400, 'INVALID_REQUEST');
      expectError(assert, await post('/browser/content', { url: waits(), cookies: [{ ...cookie, sourcePort: 70000 }] }), 400, 'INVALID_REQUEST');
    });

    it('addScriptTag takes type and id', async () => {
      const res = await post('/browser/scrape', {
        html: '<p>x</p>',
        addScriptTag: [{ content: 'document.body.dataset.ran = "module"', type: 'module', id: 'mine' }],
        elements: [{ selector: 'script#mine[type=module]' }],
      });
      assert.equal(res.status, 200);
      assert.equal(res.json.result[0].results.length, 1);
      expectError(assert, await post('/browser/content', { html: 'x', addScriptTag: [{ type: 'module' }] }), 400, 'INVALID_REQUEST');
      expectError(assert, await post('/browser/content', { html: 'x', addScriptTag: [{ url: 'a.js', content: '1' }] }), 400, 'INVALID_REQUEST');
    });

    it('scrape elements[].timeout waits for a late element', async () => {
      const body = (timeout) => ({ url: `${fixtures.url}/delayed.html`, elements: [{ selector: '#delayed', ...(timeout ? { timeout } : {}) }, { selector: 'title' }] });
      let res = await post('/browser/scrape', body(0));
      assert.equal(res.json.result[0].results.length, 0, 'without a timeout: not there yet');
      res = await post('/browser/scrape', body(5000));
      assert.equal(res.json.result[0].results.length, 1);
      assert.equal(res.json.result[0].results[0].text, 'made by a script after 500 ms');
      const t0 = Date.now();
      res = await post('/browser/scrape', { url: `${fixtures.url}/delayed.html`, elements: [{ selector: '#never', timeout: 300 }] });
      assert.equal(res.status, 200);
      assert.equal(res.json.result[0].results.length, 0);
      assert.ok(Date.now() - t0 < scaled(5000));
    });

    it('actionTimeout up to Cloudflare\'s 300000; scrollPage on every quick action', async () => {
      assert.match(await content({ html: '<p>a</p>', actionTimeout: 300000 }), /<p>a<\/p>/);
      expectError(assert, await post('/browser/content', { html: 'a', actionTimeout: 300001 }), 400, 'INVALID_REQUEST');
      for (const [path, extra] of [['/browser/screenshot', {}], ['/browser/pdf', {}], ['/browser/content', {}], ['/browser/scrape', { elements: [{ selector: 'p' }] }],
        ['/browser/links', {}], ['/browser/markdown', {}], ['/browser/snapshot', {}]]) {
        const res = await post(path, { html: '<p>scroll</p>', scrollPage: true, ...extra });
        assert.equal(res.status, 200, `${path}: ${res.body.subarray(0, 300).toString()}`);
      }
    });
  });

  describe('PDF', () => {
    it('pdfOptions.timeout ends the print with 408 at that time', async () => {
      const url = `${fixtures.url}/big-pdf.html?n=3&s=1000`;
      const ok = await post('/browser/pdf', { url, timeout: 90000, waitForSelector: { selector: '#ready' }, pdfOptions: { timeout: 60000 } });
      assert.equal(ok.status, 200);
      assert.equal(ok.body.subarray(0, 5).toString(), '%PDF-');
      const t0 = Date.now();
      const res = await post('/browser/pdf', { url, timeout: 90000, waitForSelector: { selector: '#ready' }, pdfOptions: { timeout: 20 } });
      const e = expectError(assert, res, 408, 'TIMEOUT');
      assert.match(e.message, /pdfOptions\.timeout: the PDF was not ready within 20 ms/);
      assert.ok(Date.now() - t0 < scaled(30000));
      // The browser prints the next one.
      const again = await post('/browser/pdf', { html: '<p>after</p>', pdfOptions: { omitBackground: true } });
      assert.equal(again.status, 200);
      assert.equal(again.body.subarray(0, 5).toString(), '%PDF-');
    });
  });

  describe('request patterns in JavaScript\'s dialect', () => {
    const mark = () => fixtures.requests.length;
    const fetched = (from) => {
      const paths = fixtures.requests.slice(from).filter((r) => r.search === '?from=resources').map((r) => r.path);
      return ['/added.css', '/added.js', '/dot.svg'].filter((p) => paths.includes(p));
    };
    const run = async (field, patterns) => {
      const from = mark();
      await content({ url: `${fixtures.url}/resources.html`, [field]: patterns });
      return fetched(from);
    };

    it('the peers\' documented patterns block what they name', async () => {
      assert.deepEqual(await run('rejectRequestPattern', []), ['/added.css', '/added.js', '/dot.svg']);
      // Cloudflare's docs: "/^.*\\.(css)/"; Browserless' docs: "/^.*\\.(css)" and "^.*\\.(css)".
      for (const p of ['/^.*\\.(css)/', '/^.*\\.(css)', '^.*\\.(css)']) {
        assert.deepEqual(await run('rejectRequestPattern', [p]), ['/added.js', '/dot.svg'], p);
      }
      assert.deepEqual(await run('rejectRequestPattern', ['/ADDED\\.JS/i']), ['/added.css', '/dot.svg']);
      assert.deepEqual(await run('rejectRequestPattern', ['/ADDED\\.JS/']), ['/added.css', '/added.js', '/dot.svg'], 'without i, case counts');
      assert.deepEqual(await run('rejectRequestPattern', ['(?:svg|css)\\?from=\\w+$']), ['/added.js']);
      assert.deepEqual(await run('allowRequestPattern', ['/\\/added\\.(?:css|js)\\?from=\\w+$/']), ['/added.css', '/added.js']);
    });

    it('a lookahead pattern blocks exactly the intended requests', async () => {
      // Everything from the fixture server except stylesheets.
      const p = `/^http:\\/\\/127\\.0\\.0\\.1:\\d+\\/(?!.*\\.css\\?).*from=resources$/`;
      assert.deepEqual(await run('rejectRequestPattern', [p]), ['/added.css']);
      // Negative lookbehind and lookahead together: only the script.
      assert.deepEqual(await run('allowRequestPattern', ['(?<!dot)\\.(?=js\\?)']), ['/added.js']);
    });

    it('flags and bounds: clear 400s, catastrophic literals bounded', async () => {
      let e = expectError(assert, await post('/browser/content', { html: 'x', rejectRequestPattern: ['/a/v'] }), 400, 'INVALID_PATTERN');
      assert.match(e.message, /rejectRequestPattern\[0\].*flag v/);
      e = expectError(assert, await post('/browser/content', { html: 'x', rejectRequestPattern: ['/(a)\\1/i'] }), 400, 'INVALID_PATTERN');
      assert.match(e.message, /backreference/);
      const t0 = Date.now();
      const imgs = Array.from({ length: 10 }, (_, i) => `<img src="${fixtures.url}/dot.svg?${'a'.repeat(3000)}${i}!">`).join('');
      const res = await post('/browser/content', { html: `<p id="ok">ok</p>${imgs}`, rejectRequestPattern: ['/(a+)+$/i', '/(a|aa)+$/s'] });
      assert.equal(res.status, 200);
      assert.ok(Date.now() - t0 < scaled(10000), `took ${Date.now() - t0} ms`);
    });
  });
});
