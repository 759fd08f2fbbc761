'use strict';
// The live view as a person and an agent meet it: a capability link opens a
// page in an ordinary browser (a headless Chromium of the test's own,
// outside the service's pool) that shows the tab the agent works on and,
// for an interactive link, carries the person's mouse, keyboard, paste and
// tab switches to it; the agent, connected with puppeteer.connect to the
// same session, never sees the service's own CDP sessions.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const puppeteer = require('puppeteer-core');
const WebSocket = require('ws');
const {
  useDaemon, scaled, pollUntil, acquireSession, releaseSession,
} = require('./harness');

const CHROMIUM = process.env.PPOD_CHROMIUM || '/usr/bin/chromium';

const { daemon, fixtures } = useDaemon({ args: ['--spares', '1'] });

let viewerBrowser;
const sessions = new Set();

before(async () => {
  viewerBrowser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu'],
    defaultViewport: { width: 1100, height: 800 },
  });
});

after(async () => {
  for (const id of sessions) await releaseSession(daemon, id).catch(() => {});
  if (viewerBrowser) await viewerBrowser.close();
});

async function acquire(body = {}) {
  const s = await acquireSession(daemon, body);
  sessions.add(s.sessionId);
  return s;
}

async function release(id) {
  await releaseSession(daemon, id);
  sessions.delete(id);
}

async function liveLink(sessionId, body = {}) {
  const res = await daemon.request('POST', `/browser/sessions/${sessionId}/live`, { json: body });
  assert.equal(res.status, 200, String(res.body));
  return res.json.result;
}

// The agent: puppeteer.connect to the session, on the fixture page.
async function agentOn(session, page = '/live.html') {
  const browser = await puppeteer.connect({
    browserWSEndpoint: `${session.webSocketDebuggerUrl}?token=${daemon.token}`,
    defaultViewport: null,
  });
  const pages = await browser.pages();
  const p = pages[0] || await browser.newPage();
  await p.setViewport({ width: 800, height: 600 });
  await p.goto(`${fixtures.url}${page}`);
  return { browser, page: p };
}

// A person: the live page in the test's own Chromium.
async function viewer(url) {
  const page = await viewerBrowser.newPage();
  await page.goto(url);
  await page.waitForFunction(() => window.__live && window.__live.frames > 0, { timeout: scaled(15000) })
    .catch(async (e) => { throw new Error(`${e.message}: ${JSON.stringify(await page.evaluate(() => window.__live && { f: window.__live.frames, c: window.__live.connected, cl: window.__live.closed, m: window.__live.mode, t: window.__live.tabs }))}`); });
  return page;
}

const frames = (v) => v.evaluate(() => window.__live.frames);

// Where a point of the remote page (CSS px) is on the viewer's screen.
async function screenPoint(v, x, y) {
  return v.evaluate((x, y) => {
    const c = document.getElementById('screen');
    const r = c.getBoundingClientRect();
    const w = c.width, h = c.height; // frame pixels; the page is 800x600 CSS px at dsf 1
    return { x: r.left + x / 800 * r.width, y: r.top + y / 600 * r.height, w, h };
  }, x, y);
}

test('an animating page sends at least 5 distinct frames in 2 s', async () => {
  const s = await acquire();
  const agent = await agentOn(s);
  const link = await liveLink(s.sessionId);
  assert.match(link.url, /^http:\/\/[^/]+\/live\/[0-9a-f]{32}$/);
  assert.equal(link.mode, 'interactive');
  const v = await viewer(link.url);
  const n0 = await frames(v);
  await new Promise((r) => setTimeout(r, 2000));
  const n1 = await frames(v);
  assert.ok(n1 - n0 >= 5, `frames in 2 s: ${n1 - n0}`);
  await v.close();
  await agent.browser.disconnect();
  await release(s.sessionId);
});
