'use strict';
// The live view as a person and an agent meet it: a capability link opens a
// page in an ordinary browser (a headless Chromium of the test's own,
// outside the service's pool) that shows the tab the agent works on and,
// for an interactive link, carries the person's mouse, keyboard, paste and
// tab switches to it; the agent, connected with puppeteer.connect to the
// same session, never sees the service's own CDP sessions.
const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const puppeteer = require('puppeteer-core');
const WebSocket = require('ws');
const {
  useDaemon, usePersonBrowser, scaled, pollUntil, acquireSession, releaseSession,
} = require('./harness');


const { daemon, fixtures } = useDaemon({ args: ['--spares', '1'] });

// The person: their own browser (harness.js).
const person = usePersonBrowser();
const sessions = new Set();


after(async () => {
  for (const id of sessions) await releaseSession(daemon, id).catch(() => {});
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
// frames: wait for the first frame (else only for the page to have
// connected, or been closed, e.g. by a link that expires meanwhile).
async function viewer(url, { frames = true, sockets = false } = {}) {
  const page = await person.browser.newPage();
  // The test's own hold on the page's sockets, to drop one as a network would.
  if (sockets) {
    await page.evaluateOnNewDocument(() => {
      const WS = window.WebSocket;
      window.__sockets = [];
      window.WebSocket = function (...a) { const w = new WS(...a); window.__sockets.push(w); return w; };
      window.WebSocket.prototype = WS.prototype;
    });
  }
  await page.goto(url);
  const ready = frames
    ? () => window.__live && window.__live.frames > 0
    : () => window.__live && (window.__live.connected || window.__live.closed);
  await page.waitForFunction(ready, { timeout: scaled(15000), polling: 100 })
    .catch(async (e) => { throw new Error(`${e.message}: ${JSON.stringify(await page.evaluate(() => window.__live && { f: window.__live.frames, c: window.__live.connected, cl: window.__live.closed, m: window.__live.mode, t: window.__live.tabs }))}`); });
  return page;
}

const frames = (v) => v.evaluate(() => window.__live.frames);

// Waits for the page to say its link ended (close code 4410); on timeout the
// error carries what the page saw.
async function waitEnded(v) {
  await v.waitForFunction(() => window.__live.closed && window.__live.closed.code === 4410, { timeout: scaled(10000), polling: 100 })
    .catch(async (e) => { throw new Error(`${e.message}: ${JSON.stringify(await v.evaluate(() => ({ c: window.__live.connected, closes: window.__live.closes, f: window.__live.frames })))}`); });
}

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

// ---- one session, an agent and a person ----

let shared; // { s, agent, link, v }

async function sharedSession() {
  if (shared) return shared;
  const s = await acquire();
  const agent = await agentOn(s);
  const link = await liveLink(s.sessionId);
  const v = await viewer(link.url);
  shared = { s, agent, link, v };
  return shared;
}

after(async () => {
  if (shared) await shared.agent.browser.disconnect().catch(() => {});
});

const agentText = (agent, sel) => agent.page.$eval(sel, (e) => e.value !== undefined && e.tagName === 'INPUT' ? e.value : e.textContent);

test('a click on the canvas where the button is presses it, and the agent sees it', async () => {
  const { agent, v } = await sharedSession();
  const p = await screenPoint(v, 100, 140);
  await v.mouse.click(p.x, p.y);
  await agent.page.waitForFunction(() => document.getElementById('out').textContent === 'pressed 1',
    { timeout: scaled(10000), polling: 100 });
});

test('typed text lands in the page input; a paste too', async () => {
  const { agent, v } = await sharedSession();
  const p = await screenPoint(v, 160, 214);
  await v.mouse.click(p.x, p.y);
  await agent.page.waitForFunction(() => document.activeElement && document.activeElement.id === 'name',
    { timeout: scaled(10000), polling: 100 });
  await v.keyboard.type('Hello live');
  await agent.page.waitForFunction(() => document.getElementById('name').value === 'Hello live',
    { timeout: scaled(10000), polling: 100 });
  // A shortcut: select all, then type over it.
  await v.keyboard.down('Control');
  await v.keyboard.press('KeyA');
  await v.keyboard.up('Control');
  await v.keyboard.type('x');
  await agent.page.waitForFunction(() => document.getElementById('name').value === 'x',
    { timeout: scaled(10000), polling: 100 });
  // The person pastes from their own clipboard.
  await v.evaluate(() => {
    const dt = new DataTransfer();
    dt.setData('text/plain', ' pasted ✓');
    document.getElementById('kbd').dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
  });
  await agent.page.waitForFunction(() => document.getElementById('name').value === 'x pasted ✓',
    { timeout: scaled(10000), polling: 100 });
});

// The colour of the frame's top-left corner as last painted.
const cornerIs = (v, rgb) => v.waitForFunction((rgb) => {
  const p = window.__live.paints[window.__live.paints.length - 1];
  return p && p.rgb.every((c, i) => Math.abs(c - rgb[i]) < 40);
}, { timeout: scaled(10000), polling: 100 }, rgb);

test('the view follows the tab the agent switches to', async () => {
  const { agent, v } = await sharedSession();
  await cornerIs(v, [0, 0, 255]);
  const second = await agent.browser.newPage();
  await second.goto(`${fixtures.url}/live.html?corner=red`);
  await cornerIs(v, [255, 0, 0]);
  await v.waitForFunction(() => window.__live.tabs.length === 2, { timeout: scaled(10000), polling: 100 });
  await agent.page.bringToFront();
  await cornerIs(v, [0, 0, 255]);
  await second.bringToFront();
  await cornerIs(v, [255, 0, 0]);
  // The person switches back from the tab strip; the agent's page is in front again.
  const first = await v.evaluate(() => window.__live.tabs.find((t) => !/corner=red/.test(t.url)).targetId);
  await v.click(`.tab[data-target="${first}"] span`);
  await cornerIs(v, [0, 0, 255]);
  await second.close();
  await v.waitForFunction(() => window.__live.tabs.length === 1, { timeout: scaled(10000), polling: 100 });
});

test('two viewers at once both get frames', async () => {
  const { link, v } = await sharedSession();
  const v2 = await viewer(link.url);
  const [a0, b0] = [await frames(v), await frames(v2)];
  await v.waitForFunction((n) => window.__live.frames > n + 3, { timeout: scaled(10000), polling: 100 }, a0);
  await v2.waitForFunction((n) => window.__live.frames > n + 3, { timeout: scaled(10000), polling: 100 }, b0);
  await v2.close();
});

test('a view-only link shows frames and its input is refused by the server', async () => {
  const { s, agent } = await sharedSession();
  const ro = await liveLink(s.sessionId, { mode: 'view' });
  assert.equal(ro.mode, 'view');
  const v = await viewer(ro.url);
  assert.equal(await v.evaluate(() => window.__live.mode), 'view');
  const before = await agentText(agent, '#out');
  // What the page does not offer, a hand-made message tries: refused all the same.
  await v.evaluate(() => window.__live.send({ t: 'mouse', type: 'mousePressed', x: 100, y: 140, button: 'left', clickCount: 1 }));
  await v.evaluate(() => window.__live.send({ t: 'mouse', type: 'mouseReleased', x: 100, y: 140, button: 'left', clickCount: 1 }));
  await v.evaluate(() => window.__live.send({ t: 'text', text: 'nope' }));
  await v.waitForFunction(() => window.__live.refused.filter((r) => r.code === 'LIVE_VIEW_ONLY').length >= 3,
    { timeout: scaled(10000), polling: 100 });
  // The same messages on an interactive link would have landed by now: a
  // round trip through the agent's page proves the browser got nothing.
  assert.equal(await agentText(agent, '#out'), before);
  await v.close();
});

test('a revoked link answers 410 and its viewers are closed; another session\'s link is 404', async () => {
  const { s } = await sharedSession();
  const l = await liveLink(s.sessionId);
  const v = await viewer(l.url);
  const other = await acquire();
  let res = await daemon.request('DELETE', `/browser/sessions/${other.sessionId}/live/${l.id}`);
  assert.equal(res.status, 404);
  assert.equal(res.json.errors[0].code, 'LIVE_LINK_NOT_FOUND');
  res = await daemon.request('DELETE', `/browser/sessions/${s.sessionId}/live/${l.id}`);
  assert.equal(res.status, 200, String(res.body));
  await waitEnded(v);
  const page = await fetch(l.url);
  assert.equal(page.status, 410);
  assert.equal((await page.json()).errors[0].code, 'LIVE_LINK_REVOKED');
  await v.close();
  await release(other.sessionId);
});

test('a viewer whose socket dropped while its link was revoked says the link ended instead of reconnecting', async () => {
  const { s } = await sharedSession();
  const l = await liveLink(s.sessionId);
  const v = await viewer(l.url, { sockets: true });
  // The socket drops (as a network would), and the link is revoked before the page tries again.
  await v.evaluate(() => new Promise((r) => { const w = window.__sockets.at(-1); w.addEventListener('close', r); w.close(); }));
  const res = await daemon.request('DELETE', `/browser/sessions/${s.sessionId}/live/${l.id}`);
  assert.equal(res.status, 200, String(res.body));
  await waitEnded(v);
  const seen = await v.evaluate(() => ({ closes: window.__live.closes, sockets: window.__sockets.length, text: document.body.innerText }));
  assert.notEqual(seen.closes[0].code, 4410, 'the first close was the dropped socket');
  assert.equal(seen.sockets, 1, 'no new socket to a revoked link');
  assert.match(seen.text, /revoked/);
  await v.close();
});

test('an expired link answers 410, its viewer is closed; a link dies with its session', async () => {
  const s = await acquire();
  const l = await liveLink(s.sessionId, { ttl: 2 });
  // The link may expire before a first frame comes (a loaded machine).
  const v = await viewer(l.url, { frames: false });
  await waitEnded(v);
  const page = await fetch(l.url);
  assert.equal(page.status, 410);
  assert.equal((await page.json()).errors[0].code, 'LIVE_LINK_EXPIRED');
  await v.close();
  const l2 = await liveLink(s.sessionId);
  assert.equal((await fetch(l2.url)).status, 200);
  await release(s.sessionId);
  const gone = await fetch(l2.url);
  assert.equal(gone.status, 410);
  // An unknown capability is simply not found.
  assert.equal((await fetch(l2.url.replace(/[0-9a-f]{32}$/, '0'.repeat(32)))).status, 404);
});

test('acquire with live: true answers a working liveUrl', async () => {
  const s = await acquire({ live: true });
  assert.match(s.liveUrl, /\/live\/[0-9a-f]{32}$/);
  const page = await fetch(s.liveUrl);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type'), /text\/html/);
  const html = await page.text();
  assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=/, 'no external assets');
  await release(s.sessionId);
});

// ---- the agent is not disturbed ----

// A viewer socket of the test's own: it reads the hello, then nothing.
function stalledViewer(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws') + '/ws');
    ws.once('message', () => { ws._socket.pause(); resolve(ws); });
    ws.once('error', reject);
  });
}

async function commandLatencies(page, n = 40) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await page.evaluate(() => 1);
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  out.sort((a, b) => a - b);
  return out[Math.floor(n / 2)];
}

test('a viewer that stops reading does not slow the agent', async () => {
  const { s, agent, link } = await sharedSession();
  const base = await commandLatencies(agent.page);
  const stalled = [await stalledViewer(link.url), await stalledViewer(link.url)];
  // Let frames pile up where they would if anything queued them.
  await new Promise((r) => setTimeout(r, 500));
  const withStalled = await commandLatencies(agent.page);
  for (const ws of stalled) ws.terminate();
  // Not a timing figure (bench/live.js measures the cost of viewers): the
  // Chromium encoding frames shares the cores with the agent, but a viewer
  // that reads nothing must never hold the agent's commands up.
  assert.ok(withStalled <= base + scaled(250),
    `agent command p50 ${base.toFixed(1)} ms alone, ${withStalled.toFixed(1)} ms with stalled viewers`);
  assert.ok(s);
});

test('the agent never sees the service\'s own CDP sessions', async () => {
  const s = await acquire();
  // A raw CDP client as the agent: discovery and auto-attach on, every message kept.
  const ws = new WebSocket(`${s.webSocketDebuggerUrl}?token=${daemon.token}`);
  await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
  const seen = [];
  const waiting = new Map();
  ws.on('message', (d) => {
    const m = JSON.parse(d);
    seen.push(m);
    if (m.id && waiting.has(m.id)) { waiting.get(m.id)(m); waiting.delete(m.id); }
  });
  let next = 1;
  const send = (method, params = {}, sessionId) => new Promise((r) => {
    const id = next++;
    waiting.set(id, r);
    ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
  });
  await send('Target.setDiscoverTargets', { discover: true });
  await send('Target.setAutoAttach', { autoAttach: true, flatten: true, waitForDebuggerOnStart: false });
  const { result: { targetId } } = await send('Target.createTarget', { url: `${fixtures.url}/live.html` });
  const link = await liveLink(s.sessionId);
  const v = await viewer(link.url);
  // The person switches tabs, opens one, closes it: attaches of the service each time.
  const tabs = await v.evaluate(() => window.__live.tabs);
  const other = tabs.find((t) => t.targetId !== targetId);
  if (other) await v.evaluate((id) => window.__live.send({ t: 'tab', op: 'activate', targetId: id }), other.targetId);
  await v.evaluate(() => window.__live.send({ t: 'tab', op: 'new', url: '' }));
  await v.waitForFunction(() => window.__live.tabs.length >= 3, { timeout: scaled(10000), polling: 100 });
  await v.evaluate((id) => window.__live.send({ t: 'tab', op: 'activate', targetId: id }), targetId);
  const f = await frames(v);
  await v.waitForFunction((n) => window.__live.frames > n + 2, { timeout: scaled(10000), polling: 100 }, f);
  await send('Target.getTargets'); // a round trip: everything before it has arrived
  await v.close();
  ws.close();

  const announced = new Set();
  const perTarget = new Map();
  for (const m of seen) {
    if (m.method === 'Target.attachedToTarget') {
      const info = m.params.targetInfo;
      assert.notEqual(info.type, 'browser', 'an attach to the browser target was shown to the agent');
      const n = (perTarget.get(info.targetId) || 0) + 1;
      perTarget.set(info.targetId, n);
      assert.equal(n, 1, `two attaches to ${info.targetId} shown to the agent`);
      announced.add(m.params.sessionId);
    }
    if (m.method === 'Target.detachedFromTarget') perTarget.set(m.params.targetId, 0);
    if (m.sessionId) assert.ok(announced.has(m.sessionId), `a message of a session the agent never attached: ${JSON.stringify(m).slice(0, 200)}`);
    assert.notEqual(m.method, 'Page.screencastFrame');
  }
  assert.ok(announced.size >= 2, 'the agent\'s own auto-attach sessions are shown');
  await release(s.sessionId);
});

// ---- attacks ----

function rawViewer(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws') + '/ws');
    const texts = [];
    ws.on('message', (d, binary) => {
      const isBinary = binary !== undefined ? binary : typeof d !== 'string';
      if (!isBinary) texts.push(JSON.parse(d)); else ws.send('{"t":"ack"}');
    });
    ws.once('open', () => resolve({ ws, texts }));
    ws.once('error', reject);
  });
}

test('odd, huge and malformed input is refused and the view goes on', async () => {
  const { link, agent } = await sharedSession();
  const { ws, texts } = await rawViewer(link.url);
  const bad = [
    'not json', '[]', '{}', '{"t":5}', '{"t":"mouse"}', '{"t":"mouse","type":"mouseMoved","x":1e308}',
    '{"t":"mouse","type":"mousePressed","x":1,"y":1,"button":"evil"}', '{"t":"mouse","type":"drag","x":1,"y":1}',
    '{"t":"key","type":"keyDown","key":"' + 'k'.repeat(100) + '"}', '{"t":"key","type":"keyDown","keyCode":-1}',
    '{"t":"text","text":""}', '{"t":"text","text":7}', '{"t":"tab","op":"activate","targetId":"nope"}',
    '{"t":"tab","op":"close","targetId":"' + 'A'.repeat(200) + '"}', '{"t":"tab","op":"explode"}',
    '{"t":"text","text":"' + 'x'.repeat(5000) + '"}', '{"t":"evaluate","expression":"1"}',
    '{"t":"mouse","type":"mouseMoved","x":1,"y":1,"t":"text"}',
  ];
  for (const b of bad) ws.send(b);
  await pollUntil(() => texts.filter((m) => m.t === 'refused').length >= bad.length, { what: 'refusals' });
  for (const m of texts.filter((m) => m.t === 'refused')) assert.match(m.code, /INVALID_REQUEST|BUSY/);
  // Past 64 KiB the socket is closed; the service and the agent carry on.
  const closed = new Promise((r) => ws.once('close', (code) => r(code)));
  ws.send(JSON.stringify({ t: 'text', text: 'y'.repeat(70000) }));
  assert.equal(await closed, 1009);
  assert.equal(await agent.page.evaluate(() => 2 + 2), 4);
  const again = await rawViewer(link.url);
  await pollUntil(() => again.texts.some((m) => m.t === 'tabs'), { what: 'tabs after a bad viewer' });
  again.ws.close();
});

test('navigation to a private or file URL from the live page is refused', async () => {
  const { link, agent } = await sharedSession();
  const { ws, texts } = await rawViewer(link.url);
  const urls = ['file:///etc/passwd', 'http://169.254.169.254/latest/meta-data/', 'http://10.1.2.3/',
    'javascript:alert(1)', 'chrome://settings', 'http://[::1]:1/', 'data:text/html,<b>x</b>'];
  for (const url of urls) {
    ws.send(JSON.stringify({ t: 'navigate', url }));
    ws.send(JSON.stringify({ t: 'tab', op: 'new', url }));
  }
  await pollUntil(() => texts.filter((m) => m.t === 'refused').length >= urls.length * 2, { what: 'URL refusals' });
  for (const m of texts.filter((m) => m.t === 'refused')) assert.equal(m.code, 'FORBIDDEN_URL', JSON.stringify(m));
  ws.close();
  assert.match(agent.page.url(), /\/live\.html/);
  const pages = await agent.browser.pages();
  assert.ok(pages.every((p) => !/^(file|chrome|data|javascript):/.test(p.url())), pages.map((p) => p.url()).join());
});

test('a capability URL answers only GET, and never appears in the log', async () => {
  const { link } = await sharedSession();
  const res = await fetch(link.url, { method: 'POST', body: '{}' });
  assert.equal(res.status, 405);
  assert.equal((await fetch(`${link.url}/other`)).status, 404);
  assert.equal((await fetch(`${link.url}/ws`)).status, 400);
  const log = daemon.stderr();
  const caps = log.match(/[0-9a-f]{32}/g) || [];
  const mine = new Set([link.url.slice(-32)]);
  for (const c of caps) assert.ok(!mine.has(c), 'the capability is in the log');
  assert.match(log, /\/live\/\{capability\}/);
});

test('ppod browser:live prints a link; --view-only makes a watch-only one', async () => {
  const { execFile } = require('node:child_process');
  const PPOD = path.join(process.env.PPOD_BIN_DIR || path.join(__dirname, '..', '..', 'build'), 'ppod');
  const run = (args) => new Promise((resolve) => {
    const env = { ...process.env, PAPERPOD_URL: daemon.url, PAPERPOD_TOKEN: daemon.token };
    delete env.DISPLAY;
    delete env.WAYLAND_DISPLAY;
    execFile(PPOD, args, { env, timeout: scaled(30000) }, (err, stdout, stderr) =>
      resolve({ code: err ? err.code : 0, stdout, stderr }));
  });
  const { s } = await sharedSession();
  const out = await run(['browser:live', s.sessionId, '--view-only', '--ttl', '60', '--open']);
  assert.equal(out.code, 0, out.stderr);
  const url = out.stdout.trim();
  assert.match(url, /^http:\/\/.+\/live\/[0-9a-f]{32}$/);
  assert.match(out.stderr, /no desktop/);
  const v = await viewer(url);
  assert.equal(await v.evaluate(() => window.__live.mode), 'view');
  await v.close();
  const bad = await run(['browser:live', 'nope/../x']);
  assert.equal(bad.code, 2);
  const gone = await run(['browser:live', '0'.repeat(32)]);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /SESSION_NOT_FOUND/);
});
