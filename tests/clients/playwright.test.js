'use strict';
// playwright-core's chromium.connectOverCDP against an acquired session, in
// both forms: the http form (discovery at /browser/sessions/{id}/json/version/
// with the Authorization header, which Playwright also sends on the
// WebSocket, or with ?token= in the URL alone: the answer's URL carries a
// connect ticket) and the ws form (the webSocketDebuggerUrl itself). Drive a
// fixture page, disconnect, reconnect and find the page as it was, then
// Browser.close ends the session (NormalClosure).
const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const { chromium } = require('playwright-core');
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

async function disconnect(browser) {
  const gone = new Promise((r) => browser.once('disconnected', r));
  // For a browser reached with connectOverCDP, close() disconnects: the
  // remote browser and the pages of its default context stay.
  await browser.close();
  await gone;
}

function findFormPage(browser) {
  const pages = browser.contexts().flatMap((c) => c.pages());
  const p = pages.find((x) => x.url() === `${fixtures.url}/session-form.html`);
  assert.ok(p, `the fixture page is among ${pages.map((x) => x.url()).join(', ')}`);
  return p;
}

async function closeSession(browser, id) {
  const cdp = await browser.newBrowserCDPSession();
  const gone = new Promise((r) => browser.once('disconnected', r));
  const reply = cdp.send('Browser.close').then(() => null, (e) => e);
  await gone;
  const h = await waitForHistory(daemon, id);
  acquired.delete(id);
  assert.equal(h.closeReason, 'NormalClosure');
  const res = await daemon.request('GET', `/browser/sessions/${id}`);
  assert.equal(res.status, 404);
  // Like Chromium itself, the service answers Browser.close before it
  // closes the connection, so the client's call succeeds.
  const err = await reply;
  assert.equal(err, null, `Browser.close was not answered: ${err && err.message.split('\n')[0]}`);
}

async function driveForm(page, name) {
  const resp = await page.goto(`${fixtures.url}/session-form.html`);
  assert.equal(resp.status(), 200);
  await page.fill('#name', name);
  await page.click('#go');
  assert.equal(await page.textContent('#out'), `hello ${name}`);
  const buf = await page.screenshot({ type: 'png' });
  assert.deepEqual(buf.subarray(0, 8), PNG_MAGIC);
  const png = decodePng(buf);
  assert.ok(colorNear(pixel(png, 50, 50), GREEN), `box is green after the click, got ${pixel(png, 50, 50)}`);
}

test('http form: connectOverCDP(http://host/browser/sessions/ID, {headers})', { timeout: scaled(60000) }, async (t) => {
  const { sessionId: id, webSocketDebuggerUrl } = await acquireSession(daemon, { keep_alive: 30000 });
  acquired.add(id);
  const httpEndpoint = `${daemon.url}/browser/sessions/${id}`;
  const headers = { Authorization: `Bearer ${daemon.token}` };

  await t.test('discovery answers with the session WebSocket URL and a connect ticket', async () => {
    for (const p of ['/json/version', '/json/version/']) {
      const res = await daemon.request('GET', `/browser/sessions/${id}${p}`);
      assert.equal(res.status, 200, `${p}: ${res.body}`);
      assert.match(res.json.webSocketDebuggerUrl, new RegExp(`^${webSocketDebuggerUrl.replace(/[.?]/g, '\\$&')}\\?ticket=[0-9a-f]{32}$`));
    }
  });

  let browser = await chromium.connectOverCDP(httpEndpoint, { headers });
  let page;

  await t.test('open a fixture page, type, click, read text, screenshot', async () => {
    assert.equal(browser.contexts().length, 1, 'the default context');
    page = await browser.contexts()[0].newPage();
    await driveForm(page, 'Grace Hopper');
  });

  await t.test('disconnect, reconnect (http form), the page is still there', async () => {
    await disconnect(browser);
    await waitForNoClient(daemon, id);
    const loads = formRequests();
    browser = await chromium.connectOverCDP(httpEndpoint, { headers });
    const again = findFormPage(browser);
    assert.equal(await again.textContent('#out'), 'hello Grace Hopper');
    assert.equal(await again.inputValue('#name'), 'Grace Hopper');
    assert.equal(await again.textContent('#clicks'), '1');
    assert.equal(formRequests(), loads, 'the page was not fetched again');
  });

  await t.test('Browser.close ends the session with NormalClosure', async () => {
    await closeSession(browser, id);
  });
});

// The URL alone, as an agent tool's --cdp-endpoint takes it: Playwright
// keeps the path and the query when it asks <path>/json/version/?token=T,
// and follows the ticket URL it is answered.
test('http form with ?token=: connectOverCDP(http://host/browser/sessions/ID?token=T), no headers', { timeout: scaled(60000) }, async (t) => {
  const { sessionId: id } = await acquireSession(daemon, { keep_alive: 30000 });
  acquired.add(id);
  const httpEndpoint = `${daemon.url}/browser/sessions/${id}?token=${daemon.token}`;
  let browser = await chromium.connectOverCDP(httpEndpoint);

  await t.test('open a fixture page, type, click, read text, screenshot', async () => {
    const page = await browser.contexts()[0].newPage();
    await driveForm(page, 'Katherine Johnson');
  });

  await t.test('disconnect, reconnect with the same URL (a fresh ticket), the page is still there', async () => {
    await disconnect(browser);
    await waitForNoClient(daemon, id);
    browser = await chromium.connectOverCDP(httpEndpoint);
    const again = findFormPage(browser);
    assert.equal(await again.textContent('#out'), 'hello Katherine Johnson');
  });

  await t.test('Browser.close ends the session with NormalClosure', async () => {
    await closeSession(browser, id);
  });
});

test('ws form: connectOverCDP(ws://.../devtools/browser), token as header or ?token=', { timeout: scaled(60000) }, async (t) => {
  const { sessionId: id, webSocketDebuggerUrl: ws } = await acquireSession(daemon, { keep_alive: 30000 });
  acquired.add(id);
  let browser = await chromium.connectOverCDP(ws, { headers: { Authorization: `Bearer ${daemon.token}` } });

  await t.test('open a fixture page, type, click, read text, screenshot', async () => {
    const page = await browser.contexts()[0].newPage();
    await driveForm(page, 'Alan Turing');
  });

  await t.test('disconnect, reconnect with ?token=, the page is still there', async () => {
    await disconnect(browser);
    await waitForNoClient(daemon, id);
    const loads = formRequests();
    browser = await chromium.connectOverCDP(`${ws}?token=${daemon.token}`);
    const again = findFormPage(browser);
    assert.equal(await again.textContent('#out'), 'hello Alan Turing');
    assert.equal(await again.textContent('#clicks'), '1');
    assert.equal(formRequests(), loads, 'the page was not fetched again');
    await again.click('#go');
    assert.equal(await again.textContent('#clicks'), '2');
  });

  await t.test('Browser.close ends the session with NormalClosure', async () => {
    await closeSession(browser, id);
  });
});

test('without the token the connection is refused', { timeout: scaled(30000) }, async () => {
  const { sessionId: id, webSocketDebuggerUrl: ws } = await acquireSession(daemon, { keep_alive: 30000 });
  acquired.add(id);
  await assert.rejects(chromium.connectOverCDP(ws, { timeout: scaled(10000) }), /401|Unexpected server response/);
  await assert.rejects(chromium.connectOverCDP(`${daemon.url}/browser/sessions/${id}`, { timeout: scaled(10000) }));
  await assert.rejects(chromium.connectOverCDP(`${daemon.url}/browser/sessions/${id}?token=wrong`, { timeout: scaled(10000) }));
  assert.equal(await releaseSession(daemon, id), 200);
  acquired.delete(id);
  const h = await waitForHistory(daemon, id);
  assert.equal(h.closeReason, 'Released');
});
