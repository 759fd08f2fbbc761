'use strict';
// An acquired session's raw CDP WebSocket, driven the way an attacker holding
// a valid token would: every known way out of the method policy (non-flat
// sessions, duplicate keys, drag-and-drop files, URL changes in
// interception, context proxies, browser-side loads, huge messages) and the
// ones found reading the protocol list. A marker file on the host that any
// user may read, and a loopback "secret" server that is not allow-listed,
// must never show up: no marker byte in any message the client receives, no
// hit on the secret. The daemon stays up and the same session still works
// for ordinary commands afterwards.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const { spawn } = require('node:child_process');
const path = require('node:path');
const WebSocket = require('ws');
const {
  useDaemon, scaled, acquireSession, releaseSession, makeTempDir, pollUntil,
} = require('./harness');

function startSecret() {
  const hits = [];
  const server = http.createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end('<h1>the secret</h1>');
  });
  server.on('connection', (s) => { hits.push('connection'); s.on('error', () => {}); });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({
      url: `http://127.0.0.1:${server.address().port}`,
      hits,
      close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
    }));
  });
}

// A raw CDP client: call() resolves with the whole reply ({result} or
// {error}); raw() sends text as it is. Every message received is kept, to be
// searched for the marker.
async function cdpClient(daemon, session, seen) {
  const ws = new WebSocket(`${session.webSocketDebuggerUrl}?token=${daemon.token}`,
    { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  let next = 1;
  const waiting = new Map();
  const listeners = new Set();
  ws.on('message', (d) => {
    const text = d.toString('utf8');
    seen.push(text);
    const m = JSON.parse(text);
    if (m.id !== undefined && waiting.has(m.id)) {
      waiting.get(m.id)(m);
      waiting.delete(m.id);
    } else {
      for (const l of listeners) l(m);
    }
  });
  const closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  const client = {
    ws,
    closed,
    call(method, params = {}, sessionId) {
      const id = next++;
      const msg = { id, method, params };
      if (sessionId) msg.sessionId = sessionId;
      return new Promise((resolve) => { waiting.set(id, resolve); ws.send(JSON.stringify(msg)); });
    },
    // text must contain "$ID" where the id goes.
    raw(text) {
      const id = next++;
      return new Promise((resolve) => { waiting.set(id, resolve); ws.send(text.replace('$ID', String(id))); });
    },
    event(pred, timeout = scaled(15000)) {
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => { listeners.delete(l); reject(new Error('no such CDP event in time')); }, timeout);
        const l = (m) => { if (pred(m)) { clearTimeout(t); listeners.delete(l); resolve(m); } };
        listeners.add(l);
      });
    },
    close: () => { ws.close(); return closed; },
  };
  return client;
}

const refused = (r, what) => {
  assert.ok(r.error, `${what} was not refused: ${JSON.stringify(r).slice(0, 300)}`);
  assert.match(r.error.message, /refused by ppod/, what);
};

describe('CDP escapes from an acquired session', { timeout: scaled(300000) }, () => {
  let secret;
  let session;
  let client;
  let markerDir;
  let marker;
  let markerText;
  const seen = [];

  // Registered before useDaemon(): runs while the daemon is still up.
  after(async () => {
    if (client) await client.close();
    if (session) await releaseSession(daemon, session.sessionId);
  });

  const { daemon, fixtures } = useDaemon({ browsers: 1, timeout: scaled(60000) });

  before(async () => {
    secret = await startSecret();
    markerDir = await makeTempDir('ppod-marker-');
    fs.chmodSync(markerDir, 0o755);
    markerText = `PPOD-MARKER-${crypto.randomBytes(12).toString('hex')}`;
    marker = path.join(markerDir, 'marker.txt');
    fs.writeFileSync(marker, markerText, { mode: 0o644 });
    session = await acquireSession(daemon, { keep_alive: 120000 });
    client = await cdpClient(daemon, session, seen);
  }, { timeout: scaled(60000) });

  after(async () => {
    if (secret) await secret.close();
  });

  // A fresh page with the fixture loaded and a flat session on it.
  async function page() {
    const t = await client.call('Target.createTarget', { url: `${fixtures.url}/title.html` });
    assert.ok(t.result, JSON.stringify(t.error));
    const a = await client.call('Target.attachToTarget', { targetId: t.result.targetId, flatten: true });
    assert.ok(a.result, JSON.stringify(a.error));
    const sid = a.result.sessionId;
    const evaluate = async (expression) =>
      (await client.call('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true }, sid)).result.result.value;
    await pollUntil(async () => (await evaluate('document.readyState')) === 'complete' &&
      (await evaluate('location.href')) === `${fixtures.url}/title.html`, { what: 'the fixture page loaded' });
    return { targetId: t.result.targetId, sid, evaluate };
  }

  it('a non-flat attach is made flat, and Target.sendMessageToTarget is refused whatever it wraps', async () => {
    const p = await page();
    const a = await client.call('Target.attachToTarget', { targetId: p.targetId, flatten: false });
    assert.ok(a.result, JSON.stringify(a.error));
    const sid = a.result.sessionId;
    // Flat: the session answers commands sent with its sessionId.
    const two = await client.call('Runtime.evaluate', { expression: '1+1', returnByValue: true }, sid);
    assert.equal(two.result.result.value, 2);
    const wrapped = [
      { method: 'Page.navigate', params: { url: `file://${marker}` } },
      { method: 'Runtime.evaluate', params: { expression: 'document.body.innerText' } },
      { method: 'DOM.setFileInputFiles', params: { files: [marker], nodeId: 1 } },
      { method: 'Page.setDownloadBehavior', params: { behavior: 'allow', downloadPath: markerDir } },
      { method: 'Page.navigate', params: { url: `${secret.url}/` } },
    ];
    for (const [i, m] of wrapped.entries()) {
      refused(await client.call('Target.sendMessageToTarget', { sessionId: sid, message: JSON.stringify({ id: 1000 + i, ...m }) }),
        `sendMessageToTarget(${m.method})`);
      refused(await client.call('Target.sendMessageToTarget', { targetId: p.targetId, message: JSON.stringify({ id: 2000 + i, ...m }) }),
        `sendMessageToTarget by targetId (${m.method})`);
    }
    assert.equal(await p.evaluate('location.href'), `${fixtures.url}/title.html`);
    // setAutoAttach with flatten:false is made flat too: pages opened later
    // arrive as flat sessions, never as wrapped messages.
    const auto = await client.call('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: false, flatten: false });
    assert.ok(auto.result, JSON.stringify(auto.error));
    await client.call('Target.setAutoAttach', { autoAttach: false, waitForDebuggerOnStart: false });
    // The two attach commands that have no flatten parameter of their own
    // still work with the one the policy adds.
    const rel = await client.call('Target.autoAttachRelated', { targetId: p.targetId, waitForDebuggerOnStart: false });
    assert.ok(rel.result, JSON.stringify(rel.error));
    const bt = await client.call('Target.attachToBrowserTarget');
    assert.ok(bt.result && bt.result.sessionId, JSON.stringify(bt.error));
    const v = await client.call('Browser.getVersion', {}, bt.result.sessionId);
    assert.ok(v.result && v.result.product, JSON.stringify(v.error));
    refused(await client.call('Browser.crash', {}, bt.result.sessionId), 'Browser.crash in the browser session');
    await client.call('Target.detachFromTarget', { sessionId: bt.result.sessionId });
    await client.call('Target.closeTarget', { targetId: p.targetId });
  });

  it('Input.dispatchDragEvent with host files is refused; the page never sees a file', async () => {
    const p = await page();
    await p.evaluate(`window.__got = null;
      document.addEventListener('dragover', (e) => e.preventDefault());
      document.addEventListener('drop', async (e) => { e.preventDefault();
        window.__got = e.dataTransfer.files.length ? await e.dataTransfer.files[0].text() : 'no files'; });
      true`);
    for (const type of ['dragEnter', 'dragOver', 'drop']) {
      refused(await client.call('Input.dispatchDragEvent', {
        type, x: 10, y: 10, data: { items: [], files: [marker], dragOperationsMask: 1 },
      }, p.sid), `dispatchDragEvent ${type} with files`);
    }
    // The same drop without files goes through: the handler runs.
    for (const type of ['dragEnter', 'dragOver', 'drop']) {
      const r = await client.call('Input.dispatchDragEvent', {
        type, x: 10, y: 10, data: { items: [{ mimeType: 'text/plain', data: 'x' }], files: [], dragOperationsMask: 1 },
      }, p.sid);
      assert.ok(r.result, JSON.stringify(r.error));
    }
    await pollUntil(async () => (await p.evaluate('window.__got')) !== null, { what: 'the drop handler ran' });
    assert.equal(await p.evaluate('window.__got'), 'no files');
    refused(await client.call('DOM.setFileInputFiles', { files: [marker], nodeId: 1 }, p.sid), 'DOM.setFileInputFiles');
    await client.call('Target.closeTarget', { targetId: p.targetId });
  });

  it('a dropped URL the page does not take opens a tab in the browser itself: file: and loopback URLs are refused', async () => {
    // Chromium opens a text/uri-list drop nobody handles as a browser-side
    // navigation in a new tab: a file: URL there became a file: page whose
    // text Runtime.evaluate read (/etc/passwd), around Page.navigate's check.
    const p = await page();
    const drop = (url, mimeType = 'text/uri-list') => ['dragEnter', 'dragOver', 'drop'].map((type) => client.call('Input.dispatchDragEvent', {
      type, x: 10, y: 10, data: { items: [{ mimeType, data: url }], dragOperationsMask: 0xffff },
    }, p.sid));
    for (const [url, mime] of [[`file://${marker}`], ['file:///etc/passwd'], [`view-source:file://${marker}`],
      [`${secret.url}/dropped`], ['file:///etc/passwd', ' Text/URI-List'], ['file:///etc/passwd', 'text/x-moz-url']]) {
      for (const r of await Promise.all(drop(url, mime))) refused(r, `a drop of ${url} as ${mime || 'text/uri-list'}`);
    }
    // An allowed URL is still opened; a refused drop would have opened its tab first.
    const allowed = `${fixtures.url}/title.html?dropped`;
    for (const r of await Promise.all(drop(allowed))) assert.ok(r.result, JSON.stringify(r.error));
    let infos = [];
    await pollUntil(async () => {
      infos = (await client.call('Target.getTargets')).result.targetInfos;
      return infos.some((ti) => ti.url === allowed);
    }, { what: 'the tab of the allowed drop' });
    for (const ti of infos) assert.ok(!/^(file|view-source):/i.test(ti.url) && !ti.url.startsWith(secret.url), `a tab opened at ${ti.url}`);
    for (const ti of infos) if (ti.type === 'page' && (ti.url === allowed || ti.targetId === p.targetId)) await client.call('Target.closeTarget', { targetId: ti.targetId });
  });

  it('duplicate keys, \\u0000 and invalid UTF-8 are refused before the browser sees anything', async () => {
    const p = await page();
    const frames = [
      `{"id":$ID,"method":"Page.navigate","params":{"url":"about:blank","url":"file://${marker}"},"sessionId":"${p.sid}"}`,
      `{"id":$ID,"method":"Page.navigate","params":{"url":"${fixtures.url}/","url":"${secret.url}/"},"sessionId":"${p.sid}"}`,
      `{"id":$ID,"method":"Runtime.evaluate","method":"Page.navigate","params":{"expression":"1","url":"file://${marker}"},"sessionId":"${p.sid}"}`,
      `{"id":$ID,"method":"Page.navigate","params":{"url":"https://example.invalid\\u0000file://${marker}"},"sessionId":"${p.sid}"}`,
      `{"id":$ID,"method":"Target.createBrowserContext","params":{"proxyServer":"http://127.0.0.1:1","proxyServer":"direct://"}}`,
      `{"id":$ID,"method":"Page.enable","sessionId":"${p.sid}","sessionId":"nope"}`,
    ];
    for (const f of frames) refused(await client.raw(f), f);
    const bad = Buffer.concat([Buffer.from(`{"id":99999,"method":"Runtime.evaluate","params":{"expression":"'`), Buffer.from([0xc0, 0xaf]), Buffer.from(`'"},"sessionId":"${p.sid}"}`)]);
    const answered = new Promise((resolve) => {
      const onMsg = (d) => { const m = JSON.parse(d.toString()); if (m.id === 99999) { client.ws.off('message', onMsg); resolve(m); } };
      client.ws.on('message', onMsg);
    });
    client.ws.send(bad);
    refused(await answered, 'invalid UTF-8');
    assert.equal(await p.evaluate('location.href'), `${fixtures.url}/title.html`);
    await client.call('Target.closeTarget', { targetId: p.targetId });
  });

  it('a browser context cannot bring its own proxy: its pages still go through the egress guard', async () => {
    const c = await client.call('Target.createBrowserContext', { proxyServer: 'direct://', proxyBypassList: '<-loopback>' });
    assert.ok(c.result, JSON.stringify(c.error));
    const t = await client.call('Target.createTarget', { url: `${fixtures.url}/title.html`, browserContextId: c.result.browserContextId });
    assert.ok(t.result, JSON.stringify(t.error));
    const a = await client.call('Target.attachToTarget', { targetId: t.result.targetId, flatten: true });
    const sid = a.result.sessionId;
    const ev = async (expression) => (await client.call('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true }, sid)).result.result.value;
    await pollUntil(async () => (await ev('document.readyState')) === 'complete', { what: 'the page in the new context loaded' });
    // Whatever the guard answers the page (an error, or an opaque response),
    // the secret server itself is never reached.
    await ev(`fetch(${JSON.stringify(secret.url + '/')}, { mode: 'no-cors' }).then(() => 'answered', (e) => 'failed')`);
    assert.deepEqual(secret.hits, [], 'the secret server was reached from the context');
    await client.call('Target.disposeBrowserContext', { browserContextId: c.result.browserContextId });
  });

  it('browser-side loads and URL changes are refused: loadNetworkResource, continueRequest, fulfillRequest, createTarget', async () => {
    const p = await page();
    const frame = (await client.call('Page.getFrameTree', {}, p.sid)).result.frameTree.frame.id;
    for (const url of [`file://${marker}`, `${secret.url}/`]) {
      refused(await client.call('Network.loadNetworkResource', { frameId: frame, url, options: { disableCache: true, includeCredentials: false } }, p.sid),
        `loadNetworkResource ${url}`);
      refused(await client.call('Target.createTarget', { url }), `createTarget ${url}`);
      const rc = await client.call('Page.getResourceContent', { frameId: frame, url }, p.sid);
      refused(rc, `getResourceContent ${url}`);
    }
    // Interception: the paused request may not be sent elsewhere.
    await client.call('Fetch.enable', { patterns: [{ urlPattern: '*fetched*' }] }, p.sid);
    const paused = client.event((m) => m.method === 'Fetch.requestPaused' && m.sessionId === p.sid);
    await client.call('Runtime.evaluate', { expression: `window.__f = fetch('/title.html?fetched=1').then((r) => r.text(), (e) => 'failed: ' + e)` }, p.sid);
    const { params } = await paused;
    for (const url of [`file://${marker}`, `${secret.url}/`]) {
      refused(await client.call('Fetch.continueRequest', { requestId: params.requestId, url }, p.sid), `continueRequest ${url}`);
    }
    refused(await client.call('Fetch.fulfillRequest', {
      requestId: params.requestId, responseCode: 302, responseHeaders: [{ name: 'Location', value: `${secret.url}/` }],
    }, p.sid), 'fulfillRequest to the secret');
    refused(await client.call('Fetch.fulfillRequest', {
      requestId: params.requestId, responseCode: 302, responseHeaders: [{ name: 'Location', value: `file://${marker}` }],
    }, p.sid), 'fulfillRequest to a file');
    const ok = await client.call('Fetch.continueRequest', { requestId: params.requestId }, p.sid);
    assert.ok(ok.result, JSON.stringify(ok.error));
    assert.match(await p.evaluate('window.__f'), /ppod fixture title/);
    await client.call('Fetch.disable', {}, p.sid);
    await client.call('Target.closeTarget', { targetId: p.targetId });
  });

  it('downloads stay in the session: a client path is dropped', async () => {
    const target = path.join(markerDir, 'downloads');
    for (const method of ['Browser.setDownloadBehavior']) {
      const r = await client.call(method, { behavior: 'allow', downloadPath: target });
      assert.ok(r.result, JSON.stringify(r.error));
    }
    const p = await page();
    const r = await client.call('Page.setDownloadBehavior', { behavior: 'allow', downloadPath: target }, p.sid);
    assert.ok(r.result || r.error);
    const done = new Promise((resolve) => fixtures.events.once('download', resolve));
    await client.call('Page.navigate', { url: `${fixtures.url}/security/download.html?bytes=1000` }, p.sid);
    await done;
    await client.call('Target.closeTarget', { targetId: p.targetId });
    assert.equal(fs.existsSync(target), false, 'nothing was written where the client asked');
  });

  it('methods that reach the host, crash the browser or go around the policy are refused', async () => {
    const p = await page();
    const calls = [
      ['Browser.crash', {}], ['Browser.crashGpuProcess', {}], ['Page.crash', {}, p.sid],
      ['Browser.getBrowserCommandLine', {}], ['Browser.executeBrowserCommand', { commandId: 'openTabSearch' }],
      ['Target.exposeDevToolsProtocol', { targetId: p.targetId }], ['Target.setRemoteLocations', { locations: [{ host: '127.0.0.1', port: 1 }] }],
      ['Target.openDevTools', { targetId: p.targetId }],
      ['Tethering.bind', { port: 0 }], ['SystemInfo.getProcessInfo', {}], ['Extensions.loadUnpacked', { path: markerDir }],
      ['PWA.launchFilesInApp', { manifestId: 'x', files: [marker] }], ['IO.resolveBlob', { objectId: '1' }, p.sid],
      ['Storage.getUsageAndQuota', { origin: 'file://' }], ['Network.setCookie', { name: 'a', value: 'b', url: `file://${marker}` }, p.sid],
      ['Browser.grantPermissions', { permissions: ['clipboardReadWrite'], origin: 'file://' }],
      ['Tracing.start', { perfettoConfig: 'AAAA' }], ['LayerTree.loadSnapshot', { tiles: [] }, p.sid],
      ['Page.addCompilationCache', { url: `${fixtures.url}/x.js`, data: 'AAAA' }, p.sid],
      ['ServiceWorker.updateRegistration', { scopeURL: `${secret.url}/` }, p.sid],
      ['NoSuchDomain.method', {}],
    ];
    for (const [method, params, sid] of calls) refused(await client.call(method, params, sid), method);
    assert.equal(await p.evaluate('document.title'), 'ppod fixture title');
    await client.call('Target.closeTarget', { targetId: p.targetId });
  });

  it('a page of the session cannot load a host file itself (about:blank, setDocumentContent, window.open)', async () => {
    const t = await client.call('Target.createTarget', { url: 'about:blank' });
    const a = await client.call('Target.attachToTarget', { targetId: t.result.targetId, flatten: true });
    const sid = a.result.sessionId;
    const ev = async (expression) => (await client.call('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true }, sid)).result;
    const frame = (await client.call('Page.getFrameTree', {}, sid)).result.frameTree.frame.id;
    await client.call('Page.setDocumentContent', { frameId: frame, html: `<iframe id=f src="file://${marker}"></iframe><img src="file://${marker}">` }, sid);
    await ev(`window.open('file://${marker}'); true`);
    await ev(`new Promise((r) => setTimeout(r, 500))`);
    const inner = await ev(`(() => { try { return document.getElementById('f').contentDocument.body.innerText; } catch (e) { return 'blocked: ' + e.name; } })()`);
    assert.ok(!JSON.stringify(inner).includes(markerText), 'the iframe showed the marker');
    await ev(`location.href = 'file://${marker}'; true`);
    await ev(`new Promise((r) => setTimeout(r, 500))`).catch(() => {});
    const targets = (await client.call('Target.getTargets')).result.targetInfos;
    for (const ti of targets) assert.ok(!/^file:/i.test(ti.url), `a target is at ${ti.url}`);
    for (const ti of targets) if (ti.type === 'page' && ti.targetId !== t.result.targetId && ti.openerId === t.result.targetId) await client.call('Target.closeTarget', { targetId: ti.targetId });
    await client.call('Target.closeTarget', { targetId: t.result.targetId });
  });

  it('a reply larger than 64 MiB becomes a CDP error for that id; the browser lives on', async () => {
    const p = await page();
    const r = await client.call('Runtime.evaluate', { expression: "'x'.repeat(70 * 1024 * 1024)", returnByValue: true }, p.sid);
    assert.ok(r.error, 'the huge reply was not delivered');
    assert.match(r.error.message, /larger than 64 MiB/);
    assert.equal(r.sessionId, p.sid, 'the error names the flat session');
    assert.equal(await p.evaluate('6*7'), 42);
    await client.call('Target.closeTarget', { targetId: p.targetId });
  });

  it('every refusal is one JSON log line naming account, session, method and reason', () => {
    const lines = daemon.stderr().split('\n').filter((l) => l.startsWith('{') && l.includes('"cdp refused"')).map((l) => JSON.parse(l));
    const m = lines.find((l) => l.method === 'Target.sendMessageToTarget');
    assert.ok(m, `no log line for sendMessageToTarget among ${lines.length}`);
    assert.equal(m.account, 'test');
    assert.equal(m.session, session.sessionId);
    assert.match(m.reason, /refused by ppod/);
    assert.ok(m.ts);
  });

  it('a client flooding refused commands gets at most 10 log lines a second, then a count', async () => {
    // Earlier tests' counts are written with the first refusal of a later
    // second: flush them before counting.
    refused(await client.call('Browser.crash'), 'Browser.crash');
    await new Promise((r) => setTimeout(r, 1100));
    refused(await client.call('Browser.crash'), 'Browser.crash');
    await new Promise((r) => setTimeout(r, 1100));
    const before = daemon.stderr().split('\n').filter((l) => l.includes('"cdp refused"')).length;
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 200 }, () => client.call('Browser.crash')));
    const elapsed = Date.now() - t0;
    // The count is written with the next refusal in a later second (the
    // flood itself may have run into a second of its own on a busy machine).
    await new Promise((r) => setTimeout(r, 1100));
    refused(await client.call('Browser.crash'), 'Browser.crash');
    const lines = daemon.stderr().split('\n').filter((l) => l.includes('"cdp refused"')).slice(before).map((l) => JSON.parse(l));
    const seconds = Math.ceil((elapsed + 1100) / 1000) + 1;
    assert.ok(lines.length <= 10 * seconds + 2, `${lines.length} lines for 201 refusals`);
    const suppressed = lines.filter((l) => l.suppressed).reduce((a, l) => a + l.suppressed, 0);
    assert.ok(suppressed > 0, 'the suppressed refusals are counted');
    assert.equal(lines.filter((l) => !l.suppressed).length + suppressed, 201);
  });

  it('frames of 60 MiB back to back do not stall the daemon: /healthz keeps answering (p99 under 100 ms)', async () => {
    // Reading, checking, printing and writing one such frame to the browser
    // takes the best part of a second; on the I/O thread every tenant shares
    // it held /healthz for up to 2.7 s. Timed from another process: this one
    // is busy sending. The max allows for a loaded 2-core machine.
    const p = await page();
    const poller = spawn(process.execPath, ['-e', `
      const http = require('node:http'); const lat = []; let stop = false;
      process.stdin.on('data', () => { stop = true; }); process.stdin.resume();
      (async () => {
        while (!stop) {
          const t0 = process.hrtime.bigint();
          // A failed request counts as forever.
          const ok = await new Promise((r) => http.get({ host: '127.0.0.1', port: ${daemon.port}, path: '/healthz' }, (res) => { res.resume(); res.on('end', () => r(res.statusCode === 200)); }).on('error', () => r(false)));
          lat.push(ok ? Number(process.hrtime.bigint() - t0) / 1e6 : 1e9);
          await new Promise((r) => setTimeout(r, 20));
        }
        process.stdout.write(JSON.stringify(lat), () => process.exit(0));
      })();`], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    poller.stdout.on('data', (d) => { out += d; });
    const done = new Promise((r) => poller.once('exit', r));
    await new Promise((r) => setTimeout(r, 300));
    const group = 'g'.repeat(60 * 1024 * 1024);
    for (let i = 0; i < 4; i++) {
      const r = await client.call('Runtime.releaseObjectGroup', { objectGroup: group }, p.sid);
      assert.ok(r.result, JSON.stringify(r.error));
    }
    poller.stdin.write('stop\n');
    await done;
    const lat = JSON.parse(out).sort((a, b) => a - b);
    const p99 = lat[Math.floor(lat.length * 0.99)];
    const max = lat[lat.length - 1];
    assert.ok(lat.length > 20, `${lat.length} /healthz answers`);
    assert.ok(p99 < 100 && max < 1000, `/healthz p99 ${p99.toFixed(1)} ms, max ${max.toFixed(1)} ms over ${lat.length} requests`);
    assert.equal(await p.evaluate('1 + 1'), 2);
    await client.call('Target.closeTarget', { targetId: p.targetId });
  });

  it('no marker byte and no secret hit came back; the daemon and the same session still work', async () => {
    assert.deepEqual(secret.hits, [], 'the secret server was never reached');
    for (const text of seen) assert.ok(!text.includes(markerText), `the marker came back: ${text.slice(0, 200)}`);
    const h = await daemon.request('GET', '/healthz');
    assert.equal(h.status, 200);
    const p = await page();
    assert.equal(await p.evaluate('document.title'), 'ppod fixture title');
    const shot = await client.call('Page.captureScreenshot', {}, p.sid);
    assert.ok(shot.result && shot.result.data.length > 100);
    await client.call('Target.closeTarget', { targetId: p.targetId });
  });

  it('a client frame over 64 MiB closes the WebSocket with 1009; the session takes a new client', async () => {
    await client.close();
    client = await cdpClient(daemon, session, seen);
    const big = `{"id":1,"method":"Runtime.evaluate","params":{"expression":"'${'a'.repeat(64 * 1024 * 1024)}'"}}`;
    client.ws.send(big);
    const { code } = await client.closed;
    assert.equal(code, 1009);
    assert.equal((await daemon.request('GET', '/healthz')).status, 200);
    client = await pollUntil(async () => {
      try { return await cdpClient(daemon, session, seen); } catch { return null; }
    }, { what: 'a new client attached' });
    const p = await page();
    assert.equal(await p.evaluate('document.title'), 'ppod fixture title');
    await client.call('Target.closeTarget', { targetId: p.targetId });
  });
});
