'use strict';
// puppeteer-core against an acquired session: acquire, puppeteer.connect with
// the token in the URL, drive a fixture page, disconnect, reconnect and find
// the page as it was, then Browser.close ends the session (NormalClosure).
const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const puppeteer = require('puppeteer-core');
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
const BLUE = [0, 0, 255];

function formRequests() {
  return fixtures.requests.filter((r) => r.path === '/session-form.html').length;
}

test('acquire, connect, drive a page, reconnect to it, close', { timeout: scaled(60000) }, async (t) => {
  const session = await acquireSession(daemon, { keep_alive: 30000 });
  acquired.add(session.sessionId);
  const id = session.sessionId;
  assert.match(id, /^[0-9a-f]{32}$/);
  assert.equal(session.webSocketDebuggerUrl,
    `ws://127.0.0.1:${daemon.port}/browser/sessions/${id}/devtools/browser`);
  assert.equal(session.keepAliveMs, 30000);
  const endpoint = `${session.webSocketDebuggerUrl}?token=${daemon.token}`;

  let browser = await puppeteer.connect({ browserWSEndpoint: endpoint, defaultViewport: { width: 800, height: 600 } });
  let page;

  await t.test('the service shows the client connected', async () => {
    const res = await daemon.request('GET', `/browser/sessions/${id}`);
    assert.equal(res.status, 200, res.body.toString());
    assert.equal(res.json.result.sessionId, id);
    assert.equal(typeof res.json.result.connectionId, 'string');
  });

  await t.test('open a fixture page, type, click, read text', async () => {
    page = await browser.newPage();
    const resp = await page.goto(`${fixtures.url}/session-form.html`);
    assert.equal(resp.status(), 200);
    assert.equal(await page.title(), 'session form');
    await page.type('#name', 'Ada Lovelace');
    await page.click('#go');
    assert.equal(await page.$eval('#out', (e) => e.textContent), 'hello Ada Lovelace');
    assert.equal(await page.$eval('#name', (e) => e.value), 'Ada Lovelace');
  });

  await t.test('screenshot shows the clicked state', async () => {
    const buf = Buffer.from(await page.screenshot({ type: 'png' }));
    assert.deepEqual(buf.subarray(0, 8), PNG_MAGIC);
    const png = decodePng(buf);
    assert.equal(png.width, 800);
    assert.equal(png.height, 600);
    assert.ok(colorNear(pixel(png, 50, 50), GREEN), `box is green after the click, got ${pixel(png, 50, 50)}`);
    assert.ok(!colorNear(pixel(png, 50, 50), BLUE));
  });

  await t.test('disconnect leaves the session alive; reconnect finds the page as it was', async () => {
    const disconnected = new Promise((r) => browser.once('disconnected', r));
    await browser.disconnect();
    await disconnected;
    const info = await waitForNoClient(daemon, id);
    assert.equal(info.sessionId, id);

    const loads = formRequests();
    browser = await puppeteer.connect({ browserWSEndpoint: endpoint, defaultViewport: null });
    const pages = await browser.pages();
    const again = pages.find((p) => p.url() === `${fixtures.url}/session-form.html`);
    assert.ok(again, `the fixture page is among ${pages.map((p) => p.url()).join(', ')}`);
    // The same document, not a reload: its state is still there.
    assert.equal(await again.$eval('#out', (e) => e.textContent), 'hello Ada Lovelace');
    assert.equal(await again.$eval('#clicks', (e) => e.textContent), '1');
    assert.equal(formRequests(), loads, 'the page was not fetched again');
    await again.click('#go');
    assert.equal(await again.$eval('#clicks', (e) => e.textContent), '2');
    page = again;
  });

  await t.test('Browser.close ends the session: NormalClosure in the history', async () => {
    const disconnected = new Promise((r) => browser.once('disconnected', r));
    await browser.close();
    await disconnected;
    const h = await waitForHistory(daemon, id);
    acquired.delete(id);
    assert.equal(h.closeReason, 'NormalClosure');
    assert.ok(h.endTime >= h.startTime);
    assert.ok(h.browserMs > 0);
    const res = await daemon.request('GET', `/browser/sessions/${id}`);
    assert.equal(res.status, 404);
    const list = await daemon.request('GET', '/browser/sessions');
    assert.ok(!list.json.result.some((s) => s.sessionId === id));
    // Reconnecting to a closed session is refused.
    await assert.rejects(puppeteer.connect({ browserWSEndpoint: endpoint }));
  });
});

// browserURL, as chrome-devtools-mcp --browserUrl passes it. puppeteer-core
// 24 fetches new URL('/json/version', browserURL): the root path, without
// the query, so no credential can ride along; 25 (the copy the agent tools
// bundle) appends /json/version to the path and keeps the query, and
// follows the connect ticket the answer carries.
test('browserURL: puppeteer-core 25 with http://host/browser/sessions/ID?token=T', { timeout: scaled(60000) }, async (t) => {
  const puppeteer25 = require('puppeteer-core-25');
  const { sessionId: id } = await acquireSession(daemon, { keep_alive: 30000 });
  acquired.add(id);
  const browserURL = `${daemon.url}/browser/sessions/${id}?token=${daemon.token}`;
  let browser = await puppeteer25.connect({ browserURL, defaultViewport: { width: 800, height: 600 } });

  await t.test('drive a fixture page', async () => {
    const page = await browser.newPage();
    const resp = await page.goto(`${fixtures.url}/session-form.html`);
    assert.equal(resp.status(), 200);
    await page.type('#name', 'Hedy Lamarr');
    await page.click('#go');
    assert.equal(await page.$eval('#out', (e) => e.textContent), 'hello Hedy Lamarr');
  });

  await t.test('reconnect through the same URL: a fresh ticket, the same page', async () => {
    await browser.disconnect();
    await waitForNoClient(daemon, id);
    browser = await puppeteer25.connect({ browserURL, defaultViewport: null });
    const pages = await browser.pages();
    const again = pages.find((p) => p.url() === `${fixtures.url}/session-form.html`);
    assert.ok(again);
    assert.equal(await again.$eval('#out', (e) => e.textContent), 'hello Hedy Lamarr');
    await browser.disconnect();
    await waitForNoClient(daemon, id);
  });

  await t.test('puppeteer-core 24 cannot carry the credential: its discovery asks the root path', async () => {
    await assert.rejects(puppeteer.connect({ browserURL }), /json\/version|404|Failed to fetch/);
    const res = await daemon.request('GET', `/browser/sessions/${id}`);
    assert.equal(res.status, 200);
  });
  assert.equal(await releaseSession(daemon, id), 200);
  acquired.delete(id);
});
