'use strict';
// Handoff to a person: the agent (puppeteer.connect) hands its session to a
// person and awaits it back with a long poll; the person (a headless
// Chromium of the test's own, outside the service's pool) opens the live
// link, sees the message, signs in through the live page and presses
// "Done"; the agent's wait returns and its page is signed in. Timeouts
// answer 408, a view-only link cannot hand back, another account sees
// nothing, one handoff waits at a time, and the history keeps the last one.
const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const puppeteer = require('puppeteer-core');
const {
  useDaemon, usePersonBrowser, scaled, acquireSession, releaseSession, createAccount,
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

const handoffUrl = (id, q = '') => `/browser/sessions/${id}/handoff${q}`;

async function handoff(id, body = {}) {
  const res = await daemon.request('POST', handoffUrl(id), { json: body });
  assert.equal(res.status, 200, String(res.body));
  return res.json.result;
}

async function agentOn(session, page = '/handoff-login.html') {
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

async function viewer(url) {
  const page = await person.browser.newPage();
  await page.goto(url);
  await page.waitForFunction(() => window.__live && window.__live.frames > 0, { timeout: scaled(15000), polling: 100 });
  return page;
}

async function screenPoint(v, x, y) {
  return v.evaluate((x, y) => {
    const r = document.getElementById('screen').getBoundingClientRect();
    return { x: r.left + x / 800 * r.width, y: r.top + y / 600 * r.height };
  }, x, y);
}

const cornerIs = (v, rgb) => v.waitForFunction((rgb) => {
  const p = window.__live.paints[window.__live.paints.length - 1];
  return p && p.rgb.every((c, i) => Math.abs(c - rgb[i]) < 40);
}, { timeout: scaled(10000), polling: 100 }, rgb);

let signedIn; // the session of the first test, for the history

test('the agent hands off, the person signs in on the live page and hands back; the agent\'s wait returns', async () => {
  const s = await acquire();
  const agent = await agentOn(s);
  const h = await handoff(s.sessionId, { message: 'Please log in', timeout: 120000 });
  assert.match(h.url, /^http:\/\/[^/]+\/live\/[0-9a-f]{32}$/);
  assert.match(h.handoffId, /^[0-9a-f]{16}$/);
  assert.equal(h.state, 'waiting');
  assert.ok(Date.parse(h.expiresAt) > Date.now() + 60000, h.expiresAt);

  // The agent awaits the person.
  const t0 = Date.now();
  const wait = daemon.request('GET', handoffUrl(s.sessionId, '?wait=120'), { timeout: scaled(130000) });

  // The session list says a person is awaited.
  const one = await daemon.request('GET', `/browser/sessions/${s.sessionId}`);
  assert.equal(one.json.result.handoff.state, 'waiting');
  assert.equal(one.json.result.handoff.message, 'Please log in');
  assert.equal(one.json.result.handoff.endedBy, null);
  const list = await daemon.request('GET', '/browser/sessions');
  assert.equal(list.json.result.find((x) => x.sessionId === s.sessionId).handoff.state, 'waiting');

  // One handoff at a time: a second one while this one waits is refused.
  const again = await daemon.request('POST', handoffUrl(s.sessionId), { json: { message: 'again' } });
  assert.equal(again.status, 409);
  assert.equal(again.json.errors[0].code, 'HANDOFF_PENDING');

  // The person: the message and the button are shown.
  const v = await viewer(h.url);
  await v.waitForFunction(() => getComputedStyle(document.getElementById('handoff')).display !== 'none'
    && document.getElementById('handoffmsg').textContent === 'Please log in'
    && getComputedStyle(document.getElementById('done')).display !== 'none',
  { timeout: scaled(10000), polling: 100 });
  await cornerIs(v, [128, 128, 128]);
  // Types the password into the field, through the canvas, and signs in.
  let p = await screenPoint(v, 250, 120);
  await v.mouse.click(p.x, p.y);
  await agent.page.waitForFunction(() => document.activeElement && document.activeElement.id === 'pw',
    { timeout: scaled(10000), polling: 100 });
  await v.keyboard.type('hunter2');
  p = await screenPoint(v, 160, 190);
  await v.mouse.click(p.x, p.y);
  // What the person sees: the page turned green. Then "Done".
  await cornerIs(v, [0, 192, 0]);
  // The agent has not been told yet.
  assert.equal(await Promise.race([wait.then(() => 'returned'), new Promise((r) => setTimeout(() => r('waiting'), 200))]), 'waiting');
  await v.click('#done');

  const res = await wait;
  assert.equal(res.status, 200, String(res.body));
  assert.equal(res.json.result.state, 'completed');
  assert.equal(res.json.result.endedBy, 'person');
  assert.equal(res.json.result.handoffId, h.handoffId);
  assert.ok(Date.now() - t0 < scaled(60000));
  // The agent's page is signed in, with the person's password.
  assert.equal(await agent.page.$eval('#status', (e) => e.textContent), 'signed in');
  assert.equal(await agent.page.$eval('#pw', (e) => e.value), 'hunter2');
  assert.equal(await agent.page.title(), 'Welcome');

  // The person's control ended with the handoff: the page says so and the link is dead.
  await v.waitForFunction(() => window.__live.closed && window.__live.closed.code === 4410, { timeout: scaled(10000), polling: 100 });
  assert.match(await v.$eval('#note', (e) => e.textContent), /Handed back/);
  assert.equal((await fetch(h.url)).status, 410);
  await v.close();

  // Asked again, without waiting; and the agent's DELETE changes nothing now.
  let r = await daemon.request('GET', handoffUrl(s.sessionId));
  assert.equal(r.status, 200);
  assert.equal(r.json.result.endedBy, 'person');
  r = await daemon.request('DELETE', handoffUrl(s.sessionId));
  assert.equal(r.status, 200);
  assert.equal(r.json.result.endedBy, 'person');
  r = await daemon.request('GET', `/browser/sessions/${s.sessionId}`);
  assert.equal(r.json.result.handoff.state, 'completed');
  assert.equal(r.json.result.handoff.endedBy, 'person');

  await agent.browser.disconnect();
  signedIn = s.sessionId;
  await release(s.sessionId);
});

test('a viewer whose socket drops just after the handoff ended says how it ended, not "reconnecting"', async () => {
  const s = await acquire();
  const h = await handoff(s.sessionId, { message: 'Check this', timeout: 60000 });
  const v = await person.browser.newPage();
  // As a network would: the connection is lost right after the page is told
  // the handoff ended, so its close reaches the page as 1006 (no close frame)
  // instead of the server's 4410.
  await v.evaluateOnNewDocument(() => {
    const WS = window.WebSocket;
    window.__sockets = [];
    window.WebSocket = function (...a) {
      const w = new WS(...a);
      window.__sockets.push(w);
      let told = false;
      let onclose = null;
      w.addEventListener('message', (ev) => {
        if (typeof ev.data === 'string' && ev.data.includes('"state":"completed"')) told = true;
      });
      Object.defineProperty(w, 'onclose', { get: () => onclose, set: (f) => { onclose = f; } });
      w.addEventListener('close', (ev) => { if (onclose) onclose(told ? { code: 1006, reason: '' } : ev); });
      return w;
    };
    window.WebSocket.prototype = WS.prototype;
  });
  await v.goto(h.url);
  await v.waitForFunction(() => window.__live && window.__live.frames > 0, { timeout: scaled(15000), polling: 100 });
  const r = await daemon.request('DELETE', handoffUrl(s.sessionId));
  assert.equal(r.status, 200, String(r.body));
  await v.waitForFunction(() => window.__live.closed && window.__live.closed.code === 4410, { timeout: scaled(10000), polling: 100 });
  const seen = await v.evaluate(() => ({ closes: window.__live.closes, sockets: window.__sockets.length, note: document.getElementById('note').textContent }));
  assert.equal(seen.closes[0].code, 1006, `the connection was lost first: ${JSON.stringify(seen.closes)}`);
  assert.equal(seen.sockets, 1, 'no new socket to an ended link');
  assert.match(seen.note, /The agent took the session back/);
  await v.close();
  await release(s.sessionId);
});

test('a handoff that times out answers 408 HANDOFF_TIMEOUT to the waiting agent; its link expires', async () => {
  const s = await acquire();
  const h = await handoff(s.sessionId, { message: 'Solve the CAPTCHA', timeout: 1500 });
  const t0 = Date.now();
  const res = await daemon.request('GET', handoffUrl(s.sessionId, '?wait=60'), { timeout: scaled(70000) });
  const took = Date.now() - t0;
  assert.equal(res.status, 408, String(res.body));
  assert.equal(res.json.errors[0].code, 'HANDOFF_TIMEOUT');
  assert.ok(took < scaled(10000), `took ${took} ms`);
  assert.equal((await fetch(h.url)).status, 410);
  const one = await daemon.request('GET', `/browser/sessions/${s.sessionId}`);
  assert.equal(one.json.result.handoff.state, 'timeout');
  assert.equal(one.json.result.handoff.endedBy, 'timeout');
  // A new handoff may follow an ended one.
  const h2 = await handoff(s.sessionId, { timeout: 60000 });
  assert.notEqual(h2.handoffId, h.handoffId);
  // A short wait while it still waits answers 200 waiting.
  const w = await daemon.request('GET', handoffUrl(s.sessionId, '?wait=1'));
  assert.equal(w.status, 200);
  assert.equal(w.json.result.state, 'waiting');
  await release(s.sessionId);
});

test('a view-only viewer cannot hand back; the agent can take the session back with DELETE', async () => {
  const s = await acquire();
  const agent = await agentOn(s);
  const h = await handoff(s.sessionId, { message: 'Check the form' });
  const ro = await daemon.request('POST', `/browser/sessions/${s.sessionId}/live`, { json: { mode: 'view' } });
  assert.equal(ro.status, 200);
  const v = await viewer(ro.json.result.url);
  // The message shows, the button does not; a hand-made handback is refused by the server.
  await v.waitForFunction(() => document.getElementById('handoffmsg').textContent === 'Check the form'
    && getComputedStyle(document.getElementById('done')).display === 'none', { timeout: scaled(10000), polling: 100 });
  await v.evaluate(() => window.__live.send({ t: 'handback' }));
  await v.waitForFunction(() => window.__live.refused.some((r) => r.code === 'LIVE_VIEW_ONLY'), { timeout: scaled(10000), polling: 100 });
  let r = await daemon.request('GET', handoffUrl(s.sessionId));
  assert.equal(r.json.result.state, 'waiting');

  // The agent waits, then takes it back itself: the wait answers at once.
  const wait = daemon.request('GET', handoffUrl(s.sessionId, '?wait=60'), { timeout: scaled(70000) });
  await new Promise((resolve) => setTimeout(resolve, 300)); // let it park
  const t0 = Date.now();
  r = await daemon.request('DELETE', handoffUrl(s.sessionId));
  assert.equal(r.status, 200);
  assert.equal(r.json.result.endedBy, 'agent');
  const w = await wait;
  assert.ok(Date.now() - t0 < scaled(3000));
  assert.equal(w.status, 200);
  assert.equal(w.json.result.state, 'completed');
  assert.equal(w.json.result.endedBy, 'agent');
  // The handoff's link is revoked; the view-only link lives on, and the page was told.
  assert.equal((await fetch(h.url)).status, 410);
  await v.waitForFunction(() => window.__live.handoff && window.__live.handoff.state === 'completed'
    && getComputedStyle(document.getElementById('handoff')).display === 'none', { timeout: scaled(10000), polling: 100 });
  // An interactive viewer's handback with nothing waiting is refused.
  const il = await daemon.request('POST', `/browser/sessions/${s.sessionId}/live`, { json: {} });
  const v2 = await viewer(il.json.result.url);
  await v2.evaluate(() => window.__live.send({ t: 'handback' }));
  await v2.waitForFunction(() => window.__live.refused.some((x) => x.code === 'HANDOFF_NOT_FOUND'), { timeout: scaled(10000), polling: 100 });
  await v.close();
  await v2.close();
  await agent.browser.disconnect();
  await release(s.sessionId);
});

test('attacks: another account gets 404, no handoff is 404, bad bodies and waits are 400', async () => {
  const s = await acquire();
  let r = await daemon.request('GET', handoffUrl(s.sessionId));
  assert.equal(r.status, 404);
  assert.equal(r.json.errors[0].code, 'HANDOFF_NOT_FOUND');
  r = await daemon.request('DELETE', handoffUrl(s.sessionId));
  assert.equal(r.status, 404);
  assert.equal(r.json.errors[0].code, 'HANDOFF_NOT_FOUND');
  for (const body of [{ timeout: 5 }, { timeout: 3600001 }, { message: 7 }, { message: 'x'.repeat(1001) }, { url: 'http://x' }]) {
    r = await daemon.request('POST', handoffUrl(s.sessionId), { json: body });
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.json.errors[0].code, 'INVALID_REQUEST');
  }
  const h = await handoff(s.sessionId, { message: '<img src=x onerror=alert(1)>' });
  for (const q of ['?wait=-1', '?wait=301', '?wait=abc', '?wait=1e3']) {
    r = await daemon.request('GET', handoffUrl(s.sessionId, q));
    assert.equal(r.status, 400, q);
  }
  const other = await createAccount(daemon.dataDir, 'other');
  for (const [m, q] of [['POST', ''], ['GET', ''], ['GET', '?wait=5'], ['DELETE', '']]) {
    r = await daemon.request(m, handoffUrl(s.sessionId, q), { token: other, json: m === 'POST' ? {} : undefined });
    assert.equal(r.status, 404, `${m} ${q}`);
    assert.equal(r.json.errors[0].code, 'SESSION_NOT_FOUND');
  }
  // Still waiting: the other account ended nothing. The message is shown as text, not markup.
  r = await daemon.request('GET', handoffUrl(s.sessionId));
  assert.equal(r.json.result.state, 'waiting');
  const v = await viewer(h.url);
  await v.waitForFunction(() => document.getElementById('handoffmsg').textContent === '<img src=x onerror=alert(1)>', { timeout: scaled(10000), polling: 100 });
  assert.equal(await v.evaluate(() => document.querySelectorAll('#handoffmsg img').length), 0);
  await v.close();
  // Waits are capped a session (8), so one tenant cannot hold them all.
  const waits = [];
  for (let i = 0; i < 8; i++) waits.push(daemon.request('GET', handoffUrl(s.sessionId, '?wait=30'), { timeout: scaled(40000) }));
  await new Promise((resolve) => setTimeout(resolve, 500));
  r = await daemon.request('GET', handoffUrl(s.sessionId, '?wait=30'));
  assert.equal(r.status, 503);
  assert.equal(r.json.errors[0].code, 'BUSY');
  r = await daemon.request('DELETE', handoffUrl(s.sessionId));
  assert.equal(r.json.result.endedBy, 'agent');
  for (const w of await Promise.all(waits)) assert.equal(w.json.result.endedBy, 'agent');
  await handoff(s.sessionId, { message: 'once more' });
  // The session ends while the agent waits: the wait is answered, not left hanging.
  const wait = daemon.request('GET', handoffUrl(s.sessionId, '?wait=60'), { timeout: scaled(70000) });
  await new Promise((resolve) => setTimeout(resolve, 300));
  await release(s.sessionId);
  const w = await wait;
  assert.equal(w.status, 404);
  assert.equal(w.json.errors[0].code, 'SESSION_NOT_FOUND');
});

test('the history keeps the last handoff and who ended it', async () => {
  assert.ok(signedIn, 'the first test ran');
  const r = await daemon.request('GET', '/browser/history');
  assert.equal(r.status, 200);
  const row = r.json.result.find((x) => x.sessionId === signedIn);
  assert.deepEqual(row.handoff, { state: 'completed', endedBy: 'person' });
  const rows = r.json.result.filter((x) => x.handoff);
  assert.ok(rows.some((x) => x.handoff.state === 'completed' && x.handoff.endedBy === 'agent'));
  assert.ok(rows.some((x) => x.handoff.state === 'waiting' && x.handoff.endedBy === null));
});

test('ppod browser:handoff prints the URL and, with --wait, waits for the person', async () => {
  const path = require('node:path');
  const { spawn } = require('node:child_process');
  const PPOD = path.join(process.env.PPOD_BIN_DIR || path.join(__dirname, '..', '..', 'build'), 'ppod');
  const env = { ...process.env, PAPERPOD_URL: daemon.url, PAPERPOD_TOKEN: daemon.token };
  const run = (args, onLine) => new Promise((resolve) => {
    const p = spawn(PPOD, args, { env });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => {
      stdout += d;
      if (onLine && stdout.includes('\n')) { const f = onLine; onLine = null; f(stdout.split('\n')[0]); }
    });
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  const s = await acquire();
  let v;
  const out = await run(['browser:handoff', s.sessionId, '--message', 'Sign in please', '--timeout', '60000', '--wait'],
    async (url) => {
      assert.match(url, /^http:\/\/.+\/live\/[0-9a-f]{32}$/);
      v = await viewer(url);
      await v.waitForFunction(() => document.getElementById('handoffmsg').textContent === 'Sign in please', { timeout: scaled(10000), polling: 100 });
      await v.click('#done');
    });
  assert.equal(out.code, 0, out.stderr);
  const result = JSON.parse(out.stdout.split('\n').slice(1).join('\n'));
  assert.equal(result.state, 'completed');
  assert.equal(result.endedBy, 'person');
  await v.close();
  const late = await run(['browser:handoff', s.sessionId, '--timeout', '1000', '--wait']);
  assert.equal(late.code, 1);
  assert.match(late.stderr, /HANDOFF_TIMEOUT/);
  const bad = await run(['browser:handoff', s.sessionId, '--timeout', '5']);
  assert.equal(bad.code, 2);
  await release(s.sessionId);
});

test('a long poll longer than the server\'s idle timeout (30 s) is held, then answers waiting', async () => {
  const s = await acquire();
  await handoff(s.sessionId, { timeout: 120000 });
  const t0 = Date.now();
  const r = await daemon.request('GET', handoffUrl(s.sessionId, '?wait=35'), { timeout: scaled(60000) });
  const took = Date.now() - t0;
  assert.equal(r.status, 200, String(r.body));
  assert.equal(r.json.result.state, 'waiting');
  assert.ok(took >= 34500 && took < 35000 + scaled(5000), `took ${took} ms`);
  await release(s.sessionId);
});

test('a session waiting for a person is not idled out; once handed back, keep_alive applies again', async () => {
  const s = await acquire({ keep_alive: 1500 });
  const agent = await agentOn(s);
  await agent.browser.disconnect(); // the agent goes quiet: only the person acts now
  await handoff(s.sessionId, { timeout: 60000 });
  const w = await daemon.request('GET', handoffUrl(s.sessionId, '?wait=4'), { timeout: scaled(20000) });
  assert.equal(w.json.result.state, 'waiting');
  let r = await daemon.request('GET', `/browser/sessions/${s.sessionId}`);
  assert.equal(r.status, 200, 'alive after 4 s with keep_alive 1.5 s');
  r = await daemon.request('DELETE', handoffUrl(s.sessionId));
  assert.equal(r.status, 200);
  const gone = await daemon.request('GET', handoffUrl(s.sessionId, '?wait=10'), { timeout: scaled(20000) });
  // Idled out: the long poll of an ended handoff answers at once; the session then goes.
  assert.equal(gone.status, 200);
  const t0 = Date.now();
  for (;;) {
    r = await daemon.request('GET', `/browser/sessions/${s.sessionId}`);
    if (r.status === 404) break;
    assert.ok(Date.now() - t0 < scaled(10000), 'the session idled out');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  sessions.delete(s.sessionId);
});
