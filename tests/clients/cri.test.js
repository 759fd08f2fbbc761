'use strict';
// chrome-remote-interface against an acquired session, with raw CDP: a page
// target through Target.createTarget and a flat session, clicks and typing
// through Input, text through Runtime, a screenshot through Page; disconnect,
// reconnect and find the target as it was; Browser.close ends the session.
// The first test runs with local: true (CRI's bundled protocol
// description); the last lets CRI fetch the session's own /json/protocol,
// which describes only what the session policy allows, and builds its API
// (client.Page.navigate, ...) from that.
const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const CDP = require('chrome-remote-interface');
const {
  useDaemon, scaled, decodePng, pixel, colorNear, PNG_MAGIC,
  acquireSession, releaseSession, waitForHistory, waitForNoClient,
} = require('../e2e/harness');

const acquired = new Set();

// Registered first, so it runs while the daemon is still up.
after(async () => {
  for (const id of acquired) await releaseSession(daemon, id).catch(() => {});
});

const { daemon, fixtures } = useDaemon();

const GREEN = [0, 255, 0];

function formRequests() {
  return fixtures.requests.filter((r) => r.path === '/session-form.html').length;
}

// A connected client and helpers bound to one flat page session.
function pageHelpers(client, sessionId) {
  const send = (method, params = {}) => client.send(method, params, sessionId);
  const evaluate = async (expression) => {
    const r = await send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
    if (r.exceptionDetails) throw new Error(`evaluate ${expression}: ${JSON.stringify(r.exceptionDetails)}`);
    return r.result.value;
  };
  const center = async (sel) => evaluate(`(() => { const r = document.querySelector(${JSON.stringify(sel)})` +
    '.getBoundingClientRect(); return { x: r.left + r.width / 2, y: r.top + r.height / 2 }; })()');
  const click = async (sel) => {
    const { x, y } = await center(sel);
    for (const type of ['mousePressed', 'mouseReleased']) {
      await send('Input.dispatchMouseEvent', { type, x, y, button: 'left', clickCount: 1 });
    }
  };
  return { send, evaluate, click };
}

function nextEvent(client, name, sessionId, timeout = scaled(15000)) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { client.removeListener(name, on); reject(new Error(`no ${name} within ${timeout} ms`)); }, timeout);
    function on(params, sid) {
      if (sid !== sessionId) return;
      clearTimeout(t);
      client.removeListener(name, on);
      resolve(params);
    }
    client.on(name, on);
  });
}

test('acquire, connect, drive a page, reconnect to it, close', { timeout: scaled(60000) }, async (t) => {
  const { sessionId: id, webSocketDebuggerUrl: ws } = await acquireSession(daemon, { keep_alive: 30000 });
  acquired.add(id);
  const target = `${ws}?token=${daemon.token}`;
  let client = await CDP({ local: true, target });
  let targetId;
  let page;

  await t.test('open a fixture page in a new target', async () => {
    ({ targetId } = await client.send('Target.createTarget', { url: 'about:blank' }));
    const { sessionId } = await client.send('Target.attachToTarget', { targetId, flatten: true });
    page = pageHelpers(client, sessionId);
    await page.send('Page.enable');
    const loaded = nextEvent(client, 'Page.loadEventFired', sessionId);
    const nav = await page.send('Page.navigate', { url: `${fixtures.url}/session-form.html` });
    assert.equal(nav.errorText, undefined);
    await loaded;
    assert.equal(await page.evaluate('document.title'), 'session form');
  });

  await t.test('click, type, read text', async () => {
    await page.click('#name');
    assert.equal(await page.evaluate('document.activeElement.id'), 'name');
    await page.send('Input.insertText', { text: 'Ada' });
    for (const ch of ' L.') {
      await page.send('Input.dispatchKeyEvent', { type: 'keyDown', text: ch, key: ch });
      await page.send('Input.dispatchKeyEvent', { type: 'keyUp', key: ch });
    }
    await page.click('#go');
    assert.equal(await page.evaluate("document.querySelector('#out').textContent"), 'hello Ada L.');
    assert.equal(await page.evaluate("document.querySelector('#clicks').textContent"), '1');
  });

  await t.test('screenshot shows the clicked state', async () => {
    const { data } = await page.send('Page.captureScreenshot', { format: 'png' });
    const buf = Buffer.from(data, 'base64');
    assert.deepEqual(buf.subarray(0, 8), PNG_MAGIC);
    const png = decodePng(buf);
    assert.ok(colorNear(pixel(png, 50, 50), GREEN), `box is green after the click, got ${pixel(png, 50, 50)}`);
  });

  await t.test('disconnect, reconnect, the target is still there as it was', async () => {
    await client.close();
    await waitForNoClient(daemon, id);
    const loads = formRequests();
    client = await CDP({ local: true, target });
    const { targetInfos } = await client.send('Target.getTargets');
    const info = targetInfos.find((x) => x.targetId === targetId);
    assert.ok(info, `target ${targetId} among ${JSON.stringify(targetInfos.map((x) => x.url))}`);
    assert.equal(info.url, `${fixtures.url}/session-form.html`);
    const { sessionId } = await client.send('Target.attachToTarget', { targetId, flatten: true });
    page = pageHelpers(client, sessionId);
    assert.equal(await page.evaluate("document.querySelector('#out').textContent"), 'hello Ada L.');
    assert.equal(await page.evaluate("document.querySelector('#name').value"), 'Ada L.');
    assert.equal(formRequests(), loads, 'the page was not fetched again');
    await page.click('#go');
    assert.equal(await page.evaluate("document.querySelector('#clicks').textContent"), '2');
  });

  await t.test('Browser.close ends the session with NormalClosure', async () => {
    const gone = new Promise((r) => client.once('disconnect', r));
    const reply = client.send('Browser.close').then(() => null, (e) => e);
    await gone;
    const h = await waitForHistory(daemon, id);
    acquired.delete(id);
    assert.equal(h.closeReason, 'NormalClosure');
    const res = await daemon.request('GET', `/browser/sessions/${id}`);
    assert.equal(res.status, 404);
    await assert.rejects(CDP({ local: true, target }));
    // Like Chromium itself, the service answers Browser.close before it
    // closes the connection, so the client's call succeeds.
    const err = await reply;
    assert.equal(err, null, `Browser.close was not answered: ${err && err.message}`);
  });
});

// CRI fetches <alterPath('/json/protocol')> from host:port unless local is
// set; alterPath points it at the session's discovery URL. The target is
// the connect-ticket URL json/version answers.
test('the protocol fetched from /json/protocol drives a page through the domain API', { timeout: scaled(60000) }, async () => {
  const { sessionId: id } = await acquireSession(daemon, { keep_alive: 30000 });
  acquired.add(id);
  const base = `/browser/sessions/${id}`;
  const version = await daemon.request('GET', `${base}/json/version?token=${daemon.token}`);
  assert.equal(version.status, 200);
  const fetched = [];
  const client = await CDP({
    host: '127.0.0.1',
    port: daemon.port,
    target: version.json.webSocketDebuggerUrl,
    alterPath: (p) => {
      if (!p.startsWith('/json/')) return p; // the WebSocket path, unchanged
      fetched.push(p);
      return `${base}${p}?token=${daemon.token}`;
    },
  });
  try {
    assert.deepEqual(fetched, ['/json/protocol']);
    // Methods come from the fetched description: allowed ones are there,
    // denied ones are not (CRI's bundled copy has both).
    assert.equal(typeof client.Page.navigate, 'function');
    assert.equal(typeof client.Target.createTarget, 'function');
    assert.equal(client.Extensions, undefined);
    assert.equal(client.Browser.crash, undefined);
    const bundled = require('chrome-remote-interface/lib/protocol.json');
    assert.ok(bundled.domains.some((d) => d.domain === 'Extensions' || (d.domain === 'Browser' && d.commands.some((c) => c.name === 'crash'))));

    const { targetId } = await client.Target.createTarget({ url: 'about:blank' });
    const { sessionId } = await client.Target.attachToTarget({ targetId, flatten: true });
    await client.Page.enable(sessionId);
    const loaded = nextEvent(client, 'Page.loadEventFired', sessionId);
    const nav = await client.Page.navigate({ url: `${fixtures.url}/session-form.html` }, sessionId);
    assert.equal(nav.errorText, undefined);
    await loaded;
    const { result } = await client.Runtime.evaluate({ expression: 'document.title', returnByValue: true }, sessionId);
    assert.equal(result.value, 'session form');
  } finally {
    await client.close();
  }
  assert.equal(await releaseSession(daemon, id), 200);
  acquired.delete(id);
});
