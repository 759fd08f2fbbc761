'use strict';
// Hostile pages and hostile input, as a user of the service would notice
// them: a page that storms popups, redirects forever, prints thousands of
// pages or downloads without end still gets its answer (or a clear error),
// leaves nothing behind, and cannot pile up browser targets; a client that
// sends malformed, oversized or trickling requests is answered or cut off,
// and never keeps anyone else from being served.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const WebSocket = require('ws');
const {
  useDaemon, scaled, expectError, pollUntil, httpRequest, acquireSession,
  releaseSession, PNG_MAGIC,
} = require('./harness');

const PDF_MAX_PAGES = 5;
const DOWNLOAD_MAX_MB = 1;
const SESSION_MAX_PAGES = 6;
const BODY_TIMEOUT_S = 3;

// A raw CDP client over the session's WebSocket: call() resolves with the
// whole reply ({result} or {error}), never rejects on a CDP error.
async function cdpClient(daemon, session) {
  const ws = new WebSocket(`${session.webSocketDebuggerUrl}?token=${daemon.token}`,
    { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  let next = 1;
  const waiting = new Map();
  const listeners = new Set();
  const events = [];
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString('utf8'));
    if (m.id !== undefined && waiting.has(m.id)) {
      waiting.get(m.id)(m);
      waiting.delete(m.id);
    } else {
      events.push(m);
      for (const l of listeners) l(m);
    }
  });
  return {
    events, // every event so far
    call(method, params = {}, sessionId) {
      const id = next++;
      const msg = { id, method, params };
      if (sessionId) msg.sessionId = sessionId;
      return new Promise((resolve) => { waiting.set(id, resolve); ws.send(JSON.stringify(msg)); });
    },
    // Resolves with the first event for which pred(msg) is true.
    event(pred, timeout = scaled(15000)) {
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => { listeners.delete(l); reject(new Error('no such CDP event in time')); }, timeout);
        const l = (m) => { if (pred(m)) { clearTimeout(t); listeners.delete(l); resolve(m); } };
        listeners.add(l);
      });
    },
    close: () => new Promise((resolve) => { ws.once('close', resolve); ws.close(); }),
  };
}

// Raw TCP: writes chunks `gap` ms apart; resolves when the server closes the
// connection (or after `timeout`), with what it answered and when.
function trickle(port, chunks, { gap = 1000, timeout = scaled(30000) } = {}) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const t0 = Date.now();
    let data = '';
    let sent = 0;
    let timer;
    const next = () => {
      if (s.destroyed || sent >= chunks.length) return;
      s.write(chunks[sent++]);
      timer = setTimeout(next, gap);
    };
    const giveUp = setTimeout(() => s.destroy(), timeout);
    s.on('connect', next);
    s.on('data', (d) => { data += d; });
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      clearTimeout(giveUp);
      resolve({ ms: Date.now() - t0, data, sent, closedByUs: Date.now() - t0 >= timeout });
    });
  });
}

// Files under each of the daemon's browser profiles' downloads/ dirs.
function downloadedFiles(daemon) {
  const out = [];
  const walk = (d) => {
    let entries;
    try { entries = fs.readdirSync(d, { withFileTypes: true }); } catch { return; }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p); else out.push(p);
    }
  };
  for (const profile of daemon.profileDirs()) walk(path.join(profile, 'downloads'));
  return out;
}

describe('hostile pages and hostile input', { timeout: scaled(300000) }, () => {
  const { daemon, fixtures } = useDaemon({
    browsers: 1,
    args: ['--concurrency', '1', '--queue', '0', '--pdf-max-pages', String(PDF_MAX_PAGES),
      '--download-max-mb', String(DOWNLOAD_MAX_MB), '--session-max-pages', String(SESSION_MAX_PAGES),
      '--body-timeout', String(BODY_TIMEOUT_S)],
    timeout: scaled(60000),
  });

  const post = (route, json, opts = {}) => daemon.request('POST', route, { json, timeout: scaled(40000), ...opts });

  describe('caps on hostile pages', () => {
    it('a storm of popups (with and without opener) and shared workers: no popup lives, workers stop at the cap, the job answers', async () => {
      const t0 = Date.now();
      const n = 15; // 45 targets: popups die at once, workers past 20 targets do
      const res = await post('/browser/content', {
        url: `${fixtures.url}/security/storm.html?n=${n}`,
        waitForSelector: { selector: '#done', timeout: 10000 },
      });
      assert.equal(res.status, 200, res.body.toString().slice(0, 500));
      const m = /<p id="alive">(\d+)<\/p>/.exec(res.json.result);
      const w = /<p id="workers">(\d+)<\/p>/.exec(res.json.result);
      assert.ok(m && w, 'the storm page reported what was alive');
      assert.equal(Number(m[1]), 0, 'popups still alive 2 s into the storm');
      assert.ok(Number(w[1]) < n, `all ${n} shared workers still alive: nothing capped them`);
      assert.ok(Date.now() - t0 < scaled(15000), `took ${Date.now() - t0} ms`);
      // The browser is fine for the next job.
      const shot = await post('/browser/screenshot', { url: `${fixtures.url}/boxes.html` });
      assert.equal(shot.status, 200);
      assert.ok(shot.body.subarray(0, 8).equals(PNG_MAGIC));
    });

    it('an HTTP redirect chain of 20 or more is 422 TOO_MANY_REDIRECTS; 19 are followed', async () => {
      const ok = await post('/browser/content', { url: `${fixtures.url}/redirect?n=19` });
      assert.equal(ok.status, 200, ok.body.toString().slice(0, 300));
      assert.match(ok.json.result, /end of the chain/);
      const res = await post('/browser/content', { url: `${fixtures.url}/redirect?n=30` });
      expectError(assert, res, 422, 'TOO_MANY_REDIRECTS');
    });

    // (A meta refresh happens after load: waiting for load ends there, so the
    // loop is only reached by waiting for the network to go idle.)
    for (const [name, file, waitUntil] of [['script', 'js-redirect-loop.html', 'load'],
      ['meta refresh', 'meta-refresh-loop.html', 'networkidle0']]) {
      it(`a page that replaces itself forever by ${name} ends with 422 TOO_MANY_REDIRECTS well before its deadline`, async () => {
        const t0 = Date.now();
        const res = await post('/browser/content', {
          url: `${fixtures.url}/security/${file}`, timeout: 60000, gotoOptions: { waitUntil, timeout: 60000 },
        });
        expectError(assert, res, 422, 'TOO_MANY_REDIRECTS');
        assert.match(res.json.errors[0].message, /more than 20 times/);
        assert.ok(Date.now() - t0 < scaled(30000), `took ${Date.now() - t0} ms`);
      });
    }

    it('a screenshot past 128 M device pixels is 400 PAGE_TOO_LARGE before anything is captured (clip, element, full page at 4x)', async () => {
      for (const body of [
        { html: '<p>x</p>', viewport: { width: 800, height: 600, deviceScaleFactor: 4 },
          screenshotOptions: { clip: { x: 0, y: 0, width: 16000, height: 3000 } } },
        { html: '<div id="big" style="width:12000px;height:4000px;background:#0f0"></div>',
          viewport: { width: 800, height: 600, deviceScaleFactor: 3 }, selector: '#big' },
        { url: `${fixtures.url}/tall?h=20000`, viewport: { width: 2000, height: 600, deviceScaleFactor: 4 },
          screenshotOptions: { fullPage: true } },
      ]) {
        const res = await post('/browser/screenshot', body);
        expectError(assert, res, 400, 'PAGE_TOO_LARGE', JSON.stringify(body).slice(0, 80));
        assert.match(res.json.errors[0].message, /device px, over the cap/);
      }
    });

    it('a plain screenshot (no clip, no full page) of a viewport past the cap is 400 PAGE_TOO_LARGE at once, for /snapshot and /content too', async () => {
      const huge = { width: 16384, height: 16384, deviceScaleFactor: 1 };
      const retina = { width: 8000, height: 5000, deviceScaleFactor: 4 };
      const before = daemon.browserPids();
      for (const [route, body] of [
        ['/browser/screenshot', { html: '<p>x</p>', viewport: huge }],
        ['/browser/screenshot', { html: '<p>x</p>', viewport: retina, screenshotOptions: { type: 'jpeg', quality: 50 } }],
        ['/browser/snapshot', { html: '<p>x</p>', viewport: huge }],
        ['/browser/content', { html: '<p>x</p>', viewport: retina }],
      ]) {
        const t0 = Date.now();
        const res = await post(route, body);
        expectError(assert, res, 400, 'PAGE_TOO_LARGE', `${route} ${JSON.stringify(body.viewport)}`);
        assert.match(res.json.errors[0].message, /viewport: .* device px, over the cap/);
        assert.ok(Date.now() - t0 < scaled(2000), `${route} took ${Date.now() - t0} ms`);
      }
      assert.deepEqual(daemon.browserPids(), before, 'no browser was replaced');
      // At the cap's edge a plain screenshot is still taken.
      const ok = await post('/browser/screenshot', { html: '<p>x</p>', viewport: { width: 4000, height: 4000, deviceScaleFactor: 2 },
        screenshotOptions: { type: 'jpeg', quality: 10 } });
      assert.equal(ok.status, 200, ok.body.toString().slice(0, 300));
    });

    const pagesHtml = (n) => '<style>div{break-after:page}</style>' +
      Array.from({ length: n }, (_, i) => `<div>page ${i + 1}</div>`).join('');

    it(`a PDF of more than --pdf-max-pages (${PDF_MAX_PAGES}) pages is 413 PDF_TOO_LARGE; at the cap it is printed`, async () => {
      const ok = await post('/browser/pdf', { html: pagesHtml(PDF_MAX_PAGES) });
      assert.equal(ok.status, 200, ok.body.toString().slice(0, 300));
      assert.equal(ok.body.subarray(0, 5).toString(), '%PDF-');
      const pages = (ok.body.toString('latin1').match(/\/Type\s*\/Page[^s]/g) || []).length;
      assert.equal(pages, PDF_MAX_PAGES);
      const res = await post('/browser/pdf', { html: pagesHtml(400) });
      expectError(assert, res, 413, 'PDF_TOO_LARGE');
      assert.match(res.json.errors[0].message, new RegExp(`more than ${PDF_MAX_PAGES} pages`));
      // Asking for pages within the cap is the way out.
      const some = await post('/browser/pdf', { html: pagesHtml(400), pdfOptions: { pageRanges: '1-3' } });
      assert.equal(some.status, 200);
    });
  });

  describe('downloads', () => {
    it('a page that downloads gets its answer, and the download is gone after the job', async () => {
      const done = new Promise((resolve) => fixtures.events.once('download', resolve));
      const res = await post('/browser/content', {
        url: `${fixtures.url}/security/download.html?bytes=200000`,
        waitForSelector: { selector: '#clicked' },
        // The page cannot tell when its download is done: the job lingers so
        // that this one completes (a job that ends first cancels it).
        waitForTimeout: 1500,
      });
      assert.equal(res.status, 200, res.body.toString().slice(0, 300));
      assert.match(res.json.result, /id="clicked"/);
      const d = await done;
      assert.equal(d.complete, true, `the download was allowed to complete (${d.sent} bytes sent)`);
      await pollUntil(() => downloadedFiles(daemon).length === 0, { what: 'the job\'s downloads wiped' });
      // The browser's downloads dir exists (the download had a place to go)
      // and is 0700, like the profile it is in.
      const dirs = daemon.profileDirs().map((p) => path.join(p, 'downloads')).filter((d) => fs.existsSync(d));
      assert.ok(dirs.length >= 1, 'a downloads dir in the pool browser\'s profile');
      for (const d of dirs) assert.equal(fs.statSync(d).mode & 0o777, 0o700, d);
    });

    it(`a download announced over --download-max-mb (${DOWNLOAD_MAX_MB}) is cancelled at once`, async () => {
      const done = new Promise((resolve) => fixtures.events.once('download', resolve));
      const res = await post('/browser/content', {
        url: `${fixtures.url}/security/download.html?bytes=${8 << 20}&ms=20`,
        waitForSelector: { selector: '#clicked' },
        waitForTimeout: 1000,
      });
      assert.equal(res.status, 200, res.body.toString().slice(0, 300));
      const d = await done;
      assert.equal(d.complete, false, 'the oversized download was cut off');
      assert.ok(d.sent <= (DOWNLOAD_MAX_MB << 20), `the browser took ${d.sent} bytes before cancelling`);
    });

    it(`a download growing past --download-max-mb (${DOWNLOAD_MAX_MB}), size unannounced, is cancelled while the job goes on`, async () => {
      const done = new Promise((resolve) => fixtures.events.once('download', resolve));
      const res = await post('/browser/content', {
        url: `${fixtures.url}/security/download.html?bytes=${8 << 20}&ms=20&chunked=1`,
        waitForSelector: { selector: '#clicked' },
        waitForTimeout: 4000,
      });
      assert.equal(res.status, 200, res.body.toString().slice(0, 300));
      const d = await done;
      assert.equal(d.complete, false, 'the oversized download was cut off');
      assert.ok(d.sent > (DOWNLOAD_MAX_MB << 20) && d.sent < (4 << 20), `the browser took ${d.sent} bytes before cancelling (allowed, then cut past the cap)`);
      await pollUntil(() => downloadedFiles(daemon).length === 0, { what: 'the job\'s downloads wiped' });
    });
  });

  describe('acquired sessions', () => {
    let session;
    let client;
    before(async () => {
      session = await acquireSession(daemon, { keep_alive: 60000 });
      client = await cdpClient(daemon, session);
    });
    after(async () => {
      if (client) await client.close();
      if (session) await releaseSession(daemon, session.sessionId);
    });

    it(`Target.createTarget past ${SESSION_MAX_PAGES} live pages is refused with a CDP error; closing one makes room`, async () => {
      const made = [];
      let refused = null;
      for (let i = 0; i < SESSION_MAX_PAGES + 3 && !refused; i++) {
        const r = await client.call('Target.createTarget', { url: 'about:blank' });
        if (r.error) refused = r.error; else made.push(r.result.targetId);
      }
      assert.ok(refused, 'a createTarget was refused');
      assert.match(refused.message, /pages open/);
      assert.ok(made.length <= SESSION_MAX_PAGES, `${made.length} pages were created`);
      const { result } = await client.call('Target.getTargets');
      const pages = result.targetInfos.filter((t) => t.type === 'page');
      assert.ok(pages.length <= SESSION_MAX_PAGES + 1, `${pages.length} pages in the browser`);
      const closed = await client.call('Target.closeTarget', { targetId: made.pop() });
      assert.ok(closed.result, JSON.stringify(closed));
      const again = await client.call('Target.createTarget', { url: 'about:blank' });
      assert.ok(again.result, `after closing one: ${JSON.stringify(again.error)}`);
      const mine = [...made, again.result.targetId];
      for (const id of mine) await client.call('Target.closeTarget', { targetId: id });
      // closeTarget answers before the page is gone: wait until it is, so the
      // next test starts from a browser without them.
      await pollUntil(async () => {
        const left = (await client.call('Target.getTargets')).result.targetInfos;
        return !left.some((t) => mine.includes(t.targetId));
      }, { what: 'the closed pages gone' });
    });

    it('a page storming popups in a session cannot take the browser past the cap', async () => {
      const before = (await client.call('Target.getTargets')).result.targetInfos.map((t) => t.targetId);
      await client.call('Target.setDiscoverTargets', { discover: true });
      const r = await client.call('Target.createTarget', { url: `${fixtures.url}/security/storm.html?n=8` });
      assert.ok(r.result, JSON.stringify(r.error));
      // Every popup the page tried (2 per round) came into being, kept or
      // closed: the storm is over.
      const popups = () => client.events.filter((m) => m.method === 'Target.targetCreated' &&
        m.params.targetInfo.type === 'page' && m.params.targetInfo.openerId === r.result.targetId).length;
      await client.event((m) => m.method === 'Target.targetInfoChanged' && /storm-child/.test(m.params.targetInfo.url));
      await pollUntil(() => popups() >= 16, { what: 'all 16 popups of the storm attempted' }).catch((e) => {
        throw new Error(`${e.message} (${popups()} seen)`);
      });
      await pollUntil(async () => {
        const { result } = await client.call('Target.getTargets');
        const pages = result.targetInfos.filter((t) => t.type === 'page');
        return pages.length <= SESSION_MAX_PAGES + 1;
      }, { timeout: scaled(10000), what: 'the session\'s pages back within the cap' }).catch(async (e) => {
        const { result } = await client.call('Target.getTargets');
        throw new Error(`${e.message}: ${JSON.stringify(result.targetInfos.map((t) => [t.type, t.url, t.openerId ? 'opener' : '']))}`);
      });
      const { result } = await client.call('Target.getTargets');
      assert.ok(result.targetInfos.filter((t) => t.type === 'page').length <= SESSION_MAX_PAGES + 1);
      await client.call('Target.setDiscoverTargets', { discover: false });
      const mine = result.targetInfos.filter((t) => t.type === 'page' && !before.includes(t.targetId)).map((t) => t.targetId);
      for (const id of mine) await client.call('Target.closeTarget', { targetId: id });
      await pollUntil(async () => {
        const left = (await client.call('Target.getTargets')).result.targetInfos;
        return !left.some((t) => mine.includes(t.targetId));
      }, { what: 'the storm\'s pages gone' });
    });

    it('a context the client made, without saying how it wants downloads, still has the size cap', async () => {
      const ctx = await client.call('Target.createBrowserContext', {});
      assert.ok(ctx.result, JSON.stringify(ctx.error));
      const served = new Promise((resolve) => fixtures.events.once('download', resolve));
      const t = await client.call('Target.createTarget', {
        url: `${fixtures.url}/security/download.html?bytes=${8 << 20}&ms=20&chunked=1`,
        browserContextId: ctx.result.browserContextId,
      });
      assert.ok(t.result, JSON.stringify(t.error));
      const d = await served;
      assert.equal(d.complete, false, 'the oversized download was cut off');
      assert.ok(d.sent > (DOWNLOAD_MAX_MB << 20) && d.sent < (4 << 20), `the browser took ${d.sent} bytes before cancelling (allowed, then cut past the cap)`);
      await client.call('Target.disposeBrowserContext', { browserContextId: ctx.result.browserContextId });
    });

    it('Browser.setDownloadBehavior with the client\'s own path succeeds, but downloads stay in the session', async () => {
      const r = await client.call('Browser.setDownloadBehavior',
        { behavior: 'allow', downloadPath: '/tmp/ppod-client-chose-this', eventsEnabled: true });
      assert.ok(r.result, JSON.stringify(r.error));
      const will = client.event((m) => m.method === 'Browser.downloadProgress' && m.params.state === 'completed');
      const t = await client.call('Target.createTarget', { url: `${fixtures.url}/security/download.html?bytes=1000` });
      assert.ok(t.result);
      await will;
      assert.equal(fs.existsSync('/tmp/ppod-client-chose-this'), false);
      assert.ok(downloadedFiles(daemon).length >= 1, 'the file is in the session\'s own dir');
      await client.call('Target.closeTarget', { targetId: t.result.targetId });
    });

    it(`a session's download over --download-max-mb (${DOWNLOAD_MAX_MB}) is cancelled`, async () => {
      const served = new Promise((resolve) => fixtures.events.once('download', resolve));
      const canceled = client.event((m) => m.method === 'Browser.downloadProgress' && m.params.state === 'canceled');
      const t = await client.call('Target.createTarget',
        { url: `${fixtures.url}/security/download.html?bytes=${8 << 20}&ms=20` });
      assert.ok(t.result, JSON.stringify(t.error));
      const c = await canceled;
      assert.ok(c.params.receivedBytes < (4 << 20), `received ${c.params.receivedBytes} bytes`);
      const d = await served;
      assert.equal(d.complete, false, 'the oversized download was cut off');
      await client.call('Target.closeTarget', { targetId: t.result.targetId });
    });
  });

  describe('hostile HTTP input', () => {
    const body = (s) => ({ body: s, headers: { 'Content-Type': 'application/json' } });

    it('invalid UTF-8 in the JSON is 400', async () => {
      const raw = Buffer.concat([Buffer.from('{"html":"'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}')]);
      const res = await daemon.request('POST', '/browser/content', body(raw));
      expectError(assert, res, 400, 'INVALID_REQUEST');
      assert.match(res.json.errors[0].message, /UTF-8/);
    });

    it('a duplicate key is 400 and names it', async () => {
      const res = await daemon.request('POST', '/browser/content',
        body('{"html":"<p>a</p>","viewport":{"width":800,"height":600,"width":900}}'));
      expectError(assert, res, 400, 'INVALID_REQUEST');
      assert.match(res.json.errors[0].message, /viewport\.width/);
    });

    it('\\u0000 inside a string is 400, not silently cut short', async () => {
      const res = await daemon.request('POST', '/browser/content', body('{"url":"http://a.example/\\u0000.b"}'));
      expectError(assert, res, 400, 'INVALID_REQUEST');
    });

    it('100k levels of nesting are 400 and the service keeps serving', async () => {
      for (const s of ['['.repeat(100000), `{"html":${'['.repeat(100000)}${']'.repeat(100000)}}`,
        `{"cookies":${'{"a":'.repeat(50000)}1${'}'.repeat(50000)}}`]) {
        const res = await daemon.request('POST', '/browser/content', body(s));
        expectError(assert, res, 400, 'INVALID_REQUEST');
      }
      assert.equal((await daemon.request('GET', '/healthz')).status, 200);
    });

    it('numbers out of range are 400 naming the field', async () => {
      for (const [json, field] of [
        ['{"html":"a","timeout":1e400}', 'timeout'],
        ['{"html":"a","timeout":-1}', 'timeout'],
        ['{"html":"a","viewport":{"width":1e20,"height":10}}', 'viewport.width'],
        ['{"html":"a","waitForTimeout":9007199254740993}', 'waitForTimeout'],
      ]) {
        const res = await daemon.request('POST', '/browser/content', body(json));
        expectError(assert, res, 400, 'INVALID_REQUEST', json);
        assert.match(res.json.errors[0].message, new RegExp(field.replace('.', '\\.')), json);
      }
    });

    it('a body of exactly 10 MiB is read and validated; one byte more is 413', async () => {
      const cap = 10 * 1024 * 1024;
      // Valid JSON padded with spaces to the cap: read whole, then judged.
      const at = Buffer.alloc(cap, 0x20);
      at.write('{"html":"<p>cap</p>"}');
      const ok = await daemon.request('POST', '/browser/content', body(at));
      assert.equal(ok.status, 200, ok.body.toString().slice(0, 300));
      const over = Buffer.alloc(cap + 1, 0x20);
      over.write('{"html":"<p>cap</p>"}');
      expectError(assert, await daemon.request('POST', '/browser/content', body(over)), 413, 'BODY_TOO_LARGE');
    });

    it('a header flood (500 headers, a 100 KiB header) is refused and the service keeps serving', async () => {
      let many = 'GET /healthz HTTP/1.1\r\nHost: x\r\n';
      for (let i = 0; i < 500; i++) many += `X-H${i}: ${'a'.repeat(20)}\r\n`;
      const huge = `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(100000)}\r\n\r\n`;
      for (const req of [`${many}\r\n`, huge]) {
        const r = await trickle(daemon.port, [req], { timeout: scaled(10000) });
        assert.equal(r.closedByUs, false, 'the server closed the connection');
        assert.ok(r.data === '' || /^HTTP\/1\.1 4(31|00|13)/.test(r.data), `answered: ${r.data.slice(0, 100)}`);
      }
      assert.equal((await daemon.request('GET', '/healthz')).status, 200);
    });

    it('slowloris: headers one byte a second and a body that trickles are cut off, and a request meanwhile is served (--concurrency 1 --queue 0)', async () => {
      const hdr = 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ' + 'a'.repeat(100) + '\r\n\r\n';
      const slowHeaders = trickle(daemon.port, hdr.split(''), { gap: 1000 });
      const head = `POST /browser/content HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${daemon.token}\r\n` +
        'Content-Type: application/json\r\nContent-Length: 200\r\n\r\n';
      const slowBody = trickle(daemon.port, [head, ...'{"html":"'.split(''), ...'a'.repeat(150).split('')], { gap: 500 });
      // Meanwhile, with one job slot and no queue, a normal request is served.
      const t0 = Date.now();
      const ok = await post('/browser/content', { html: '<p>meanwhile</p>' });
      assert.equal(ok.status, 200, ok.body.toString().slice(0, 300));
      assert.ok(Date.now() - t0 < scaled(10000));
      const [h, b] = await Promise.all([slowHeaders, slowBody]);
      assert.equal(h.closedByUs, false, 'the server cut the slow headers off');
      assert.ok(h.ms < scaled(15000), `slow headers held the connection ${h.ms} ms`);
      assert.ok(h.sent < hdr.length, 'cut off before the headers were complete');
      assert.equal(b.closedByUs, false, 'the server cut the slow body off');
      assert.ok(b.ms < (BODY_TIMEOUT_S + 3) * 1000 * (scaled(1)), `slow body held the connection ${b.ms} ms`);
      assert.ok(!/^HTTP\/1\.1 200/.test(b.data), 'no job ran for the incomplete body');
      // And the service still serves.
      assert.equal((await post('/browser/content', { html: '<p>after</p>' })).status, 200);
    });
  });
});
