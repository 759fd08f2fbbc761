'use strict';
// Files in and out of an acquired session, with real clients: a file put
// into the session (POST /browser/sessions/{id}/files) reaches a page through
// Puppeteer's uploadFile, Playwright's setInputFiles and a drop; nothing
// outside the session's upload area ever does; downloads are listed and
// fetched through the API, live and after release, never by another account.
const { test, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const puppeteer = require('puppeteer-core');
const { chromium } = require('playwright-core');
const { useDaemon, scaled, acquireSession, releaseSession, createAccount } = require('./harness');

const PPOD = path.join(process.env.PPOD_BIN_DIR || path.join(__dirname, '..', '..', 'build'), 'ppod');
const MiB = 1 << 20;

const acquired = new Set();
const releaseAll = async () => {
  for (const id of [...acquired]) {
    await releaseSession(daemon, id).catch(() => {});
    acquired.delete(id);
  }
};
after(releaseAll);
// A test that failed half way leaves no session to the next one.
beforeEach(releaseAll);

// Downloads over 2 MiB are cancelled.
const { daemon, fixtures } = useDaemon({ args: ['--download-max-mb', '2'] });

async function session() {
  const s = await acquireSession(daemon, { keep_alive: 60000 });
  acquired.add(s.sessionId);
  return s.sessionId;
}

async function release(id) {
  assert.equal(await releaseSession(daemon, id), 200);
  acquired.delete(id);
}

function upload(id, name, body, { token = daemon.token, rawQuery } = {}) {
  const q = rawQuery !== undefined ? rawQuery : `name=${encodeURIComponent(name)}`;
  return daemon.request('POST', `/browser/sessions/${id}/files?${q}`, {
    body, token, headers: { 'Content-Type': 'application/octet-stream' },
  });
}

async function uploaded(id, name, body) {
  const res = await upload(id, name, body);
  assert.equal(res.status, 200, res.body.toString());
  const r = res.json.result;
  assert.equal(r.name, name);
  assert.equal(r.bytes, Buffer.byteLength(body));
  return r.path;
}

const areaOf = (p) => p.slice(0, p.indexOf('/uploads/') + '/uploads'.length);

// Every file under the area, relative.
function filesIn(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true }))
    if (!e.isDirectory()) out.push(path.relative(dir, path.join(e.parentPath || e.path, e.name)));
  return out.sort();
}

async function connectPw(id) {
  return chromium.connectOverCDP(`${daemon.url}/browser/sessions/${id}`, {
    headers: { Authorization: `Bearer ${daemon.token}` },
  });
}

async function pagePw(browser, file) {
  const ctx = browser.contexts()[0];
  const page = await ctx.newPage();
  await page.goto(`${fixtures.url}/files/${file}`);
  return page;
}

async function shown(page) {
  await page.waitForFunction(() => document.getElementById('out').textContent);
  return JSON.parse(await page.textContent('#out'));
}

// DOM.setFileInputFiles on #f through a raw CDP session: null, or the
// refusal's message.
async function setFiles(page, files) {
  const cdp = await page.context().newCDPSession(page);
  const { root } = await cdp.send('DOM.getDocument');
  const { nodeId } = await cdp.send('DOM.querySelector', { nodeId: root.nodeId, selector: '#f' });
  try {
    await cdp.send('DOM.setFileInputFiles', { nodeId, files });
    return null;
  } catch (e) {
    return e.message;
  } finally {
    await cdp.detach();
  }
}

async function drop(page, files) {
  const box = await page.locator('#drop').boundingBox();
  const cdp = await page.context().newCDPSession(page);
  const at = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
  const data = { items: [], files, dragOperationsMask: 1 };
  try {
    for (const type of ['dragEnter', 'dragOver', 'drop'])
      await cdp.send('Input.dispatchDragEvent', { type, ...at, data });
    return null;
  } catch (e) {
    return e.message;
  } finally {
    await cdp.detach();
  }
}

test('upload: Puppeteer uploadFile(path) with the returned path', { timeout: scaled(60000) }, async () => {
  const id = await session();
  const p = await uploaded(id, 'hello world.txt', 'hello from ppod');
  assert.match(p, /\/uploads\/\d+\/hello world\.txt$/);
  const s = await daemon.request('GET', `/browser/sessions/${id}`);
  assert.equal(s.status, 200);
  const browser = await puppeteer.connect({
    browserWSEndpoint: `${daemon.url.replace('http', 'ws')}/browser/sessions/${id}/devtools/browser?token=${daemon.token}`,
  });
  try {
    const page = await browser.newPage();
    await page.goto(`${fixtures.url}/files/upload.html`);
    const input = await page.$('#f');
    await input.uploadFile(p);
    await page.waitForFunction(() => document.getElementById('out').textContent);
    const got = JSON.parse(await page.$eval('#out', (e) => e.textContent));
    assert.deepEqual(got, { how: 'input', files: [{ name: 'hello world.txt', size: 15, text: 'hello from ppod' }] });
    // The same Puppeteer call with a host path is refused, and the page
    // keeps what it had.
    await assert.rejects(input.uploadFile('/etc/passwd'), /refused by ppod: DOM.setFileInputFiles: files may only name files uploaded/);
  } finally {
    await browser.disconnect();
  }
  await release(id);
});

test('upload: Playwright setInputFiles(path), two files of one name, and a drop', { timeout: scaled(60000) }, async () => {
  const id = await session();
  const a = await uploaded(id, 'same.txt', 'first');
  const b = await uploaded(id, 'same.txt', 'second, longer');
  assert.notEqual(a, b, 'two uploads of one name are two files');
  const browser = await connectPw(id);
  try {
    const page = await pagePw(browser, 'upload.html');
    await page.setInputFiles('#f', [a, b]);
    assert.deepEqual(await shown(page), {
      how: 'input',
      files: [{ name: 'same.txt', size: 5, text: 'first' }, { name: 'same.txt', size: 14, text: 'second, longer' }],
    });
    const page2 = await pagePw(browser, 'upload.html');
    assert.equal(await drop(page2, [b]), null);
    assert.deepEqual(await shown(page2), { how: 'drop', files: [{ name: 'same.txt', size: 14, text: 'second, longer' }] });
  } finally {
    await browser.close();
  }
  await release(id);
});

test('attack: files outside the session\'s own upload area are refused', { timeout: scaled(60000) }, async () => {
  const id = await session();
  const other = await session();
  const mine = await uploaded(id, 'mine.txt', 'mine');
  const theirs = await uploaded(other, 'theirs.txt', 'theirs');
  const area = areaOf(mine);
  // Planted in the area by someone other than the service's upload route:
  // a link to a host file, a hard link to one, a file the browser's uid owns.
  const victim = await uploaded(id, 'victim.txt', 'victim');
  fs.mkdirSync(`${area}/900`);
  fs.symlinkSync('/etc/passwd', `${area}/900/link`);
  let hard = null;
  try {
    fs.linkSync(victim, `${area}/900/hard`);
    hard = `${area}/900/hard`;
  } catch { /* another file system: no hard link to test */ }
  fs.writeFileSync(`${area}/900/browsers`, 'x');
  fs.chownSync(`${area}/900/browsers`, 61000, 61000);
  const browser = await connectPw(id);
  try {
    const page = await pagePw(browser, 'upload.html');
    const refused = ['/etc/passwd', `${area}/../x`, `${area}/1/../../../etc/passwd`, `${area}/900/link`,
      `${area}/900/browsers`, theirs, area, `${area}/1`];
    if (hard) refused.push(hard);
    for (const f of refused) {
      const why = await setFiles(page, [mine, f]);
      assert.match(String(why), /refused by ppod/, `${f} was not refused`);
    }
    const why = await drop(page, ['/etc/passwd']);
    assert.match(String(why), /refused by ppod/);
    assert.equal(await page.textContent('#out'), '', 'the page got no file');
    // The session's own file still goes through.
    assert.equal(await setFiles(page, [mine]), null);
    assert.deepEqual(await shown(page), { how: 'input', files: [{ name: 'mine.txt', size: 4, text: 'mine' }] });
  } finally {
    await browser.close();
  }
  // Another account cannot put files into the session.
  const stranger = await createAccount(daemon.dataDir, 'stranger-up');
  const res = await upload(id, 'x.txt', 'x', { token: stranger });
  assert.equal(res.status, 404);
  assert.equal(res.json.errors[0].code, 'SESSION_NOT_FOUND');
  await release(id);
  await release(other);
});

test('attack: upload names that are not plain file names get 400 and leave nothing', { timeout: scaled(60000) }, async () => {
  const id = await session();
  const p = await uploaded(id, 'ok.txt', 'ok');
  const area = areaOf(p);
  const before = filesIn(area);
  const bad = ['../x', 'a/b', '', '.', '..', 'x'.repeat(201), 'a\u0001b', 'a\\b', 'a\u007fb'];
  for (const name of bad) {
    const res = await upload(id, name, 'data');
    assert.equal(res.status, 400, `name ${JSON.stringify(name)}: ${res.body}`);
    assert.equal(res.json.errors[0].code, 'INVALID_REQUEST');
  }
  for (const q of ['name=%2e%2e', 'name=%2Fetc%2Fpasswd', 'other=x', '']) {
    const res = await upload(id, null, 'data', { rawQuery: q });
    assert.equal(res.status, 400, `?${q}: ${res.body}`);
  }
  // A NUL: libwebsockets drops the request before it is routed.
  const nul = await upload(id, null, 'data', { rawQuery: 'name=a%00b' }).then((r) => r.status, () => 'dropped');
  assert.ok(nul === 400 || nul === 'dropped', `?name=a%00b: ${nul}`);
  assert.deepEqual(filesIn(area), before);
  assert.equal((await upload(id, 'x'.repeat(200), 'long but fine')).status, 200);
  await release(id);
});

test('caps: a file over 50 MiB, and a session past 200 MiB or 32 files, get 413 and leave nothing', { timeout: scaled(120000) }, async () => {
  const id = await session();
  const first = await uploaded(id, 'a.bin', Buffer.alloc(50 * MiB, 1));
  const area = areaOf(first);
  let res = await upload(id, 'big.bin', Buffer.alloc(50 * MiB + 1, 2));
  assert.equal(res.status, 413);
  assert.equal(res.json.errors[0].code, 'FILE_TOO_LARGE');
  for (const n of ['b', 'c', 'd']) await uploaded(id, `${n}.bin`, Buffer.alloc(50 * MiB, 3));
  res = await upload(id, 'one-more.bin', 'x');
  assert.equal(res.status, 413);
  assert.equal(res.json.errors[0].code, 'UPLOADS_FULL');
  assert.deepEqual(filesIn(area).map((f) => path.basename(f)).sort(), ['a.bin', 'b.bin', 'c.bin', 'd.bin']);
  await release(id);

  const id2 = await session();
  let area2;
  for (let i = 0; i < 32; i++) area2 = areaOf(await uploaded(id2, `f${i}.txt`, `${i}`));
  res = await upload(id2, 'f32.txt', '32');
  assert.equal(res.status, 413);
  assert.equal(res.json.errors[0].code, 'UPLOADS_FULL');
  assert.equal(filesIn(area2).length, 32);
  await release(id2);
});

// Clicks a download link and waits for Playwright's verdict on it: null when
// it completed, else why not.
async function download(page, selector) {
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click(selector)]);
  return { dl, failure: await dl.failure() };
}

test('downloads: listed, fetched, capped, kept after release, never another account\'s', { timeout: scaled(90000) }, async () => {
  const id = await session();
  const browser = await connectPw(id);
  let small, big;
  try {
    const page = await pagePw(browser, 'download.html');
    const a = await download(page, '#small');
    assert.equal(a.failure, null, 'the client\'s download completes: its events reach it');
    assert.equal(a.dl.suggestedFilename(), 'ppod-test.bin');
    const b = await download(page, '#big');
    assert.equal(b.failure, 'canceled', 'a download over the 2 MiB cap is cancelled');
    // The same in a context the client makes.
    const ctx = await browser.newContext();
    const p2 = await ctx.newPage();
    await p2.goto(`${fixtures.url}/files/download.html`);
    assert.equal((await download(p2, '#small')).failure, null);
    await ctx.close();
  } finally {
    await browser.close();
  }
  const list = await daemon.request('GET', `/browser/sessions/${id}/downloads`);
  assert.equal(list.status, 200);
  const items = list.json.result;
  assert.equal(items.length, 3);
  [small, big] = items;
  assert.equal(small.state, 'completed');
  assert.equal(small.bytes, 100000);
  assert.equal(small.suggestedFilename, 'ppod-test.bin');
  assert.equal(small.url, `${fixtures.url}/download?bytes=100000`);
  assert.equal(small.mime, 'application/octet-stream');
  assert.equal(big.state, 'canceled');
  assert.ok(big.bytes <= 2 * MiB);

  const get = (did, token = daemon.token) =>
    daemon.request('GET', `/browser/sessions/${id}/downloads/${did}`, { token });
  let res = await get(small.id);
  assert.equal(res.status, 200);
  assert.equal(res.headers['content-type'], 'application/octet-stream');
  assert.match(res.headers['content-disposition'], /^attachment; filename="ppod-test\.bin"/);
  assert.deepEqual(res.body, Buffer.alloc(100000, 0x61));
  res = await get(big.id);
  assert.equal(res.status, 409);
  assert.equal(res.json.errors[0].code, 'DOWNLOAD_NOT_READY');
  res = await get('00000000-0000-0000-0000-000000000000');
  assert.equal(res.status, 404);
  assert.equal(res.json.errors[0].code, 'DOWNLOAD_NOT_FOUND');
  // (".." itself is folded into the path by libwebsockets before routing.)
  for (const bad of ['..%2F..%2Fetc%2Fpasswd', 'x/y', 'a'.repeat(70)]) assert.equal((await get(bad)).status, 404);

  const stranger = await createAccount(daemon.dataDir, 'stranger-dl');
  const theirList = await daemon.request('GET', `/browser/sessions/${id}/downloads`, { token: stranger });
  assert.equal(theirList.status, 404);
  assert.equal((await get(small.id, stranger)).status, 404);

  await release(id);
  const kept = await daemon.request('GET', `/browser/sessions/${id}/downloads`);
  assert.equal(kept.status, 200);
  assert.deepEqual(kept.json.result.map((d) => [d.id, d.state, d.bytes]), items.map((d) => [d.id, d.state, d.bytes]));
  res = await get(small.id);
  assert.equal(res.status, 200);
  assert.deepEqual(res.body, Buffer.alloc(100000, 0x61));
  assert.equal((await get(big.id)).status, 409);
  // Kept per account: the stranger still finds nothing.
  assert.equal((await daemon.request('GET', `/browser/sessions/${id}/downloads`, { token: stranger })).status, 404);
  assert.equal((await get(small.id, stranger)).status, 404);
  // A session that never was.
  assert.equal((await daemon.request('GET', `/browser/sessions/${'0'.repeat(32)}/downloads`)).status, 404);
});

function ppod(args) {
  const env = { ...process.env, PAPERPOD_URL: daemon.url, PAPERPOD_TOKEN: daemon.token, XDG_CONFIG_HOME: '/nonexistent' };
  return new Promise((resolve) => {
    execFile(PPOD, args, { env, timeout: scaled(60000), encoding: 'buffer' }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, stdout: stdout.toString(), stderr: stderr.toString() });
    });
  });
}

test('cli: browser:upload prints the paths; browser:downloads lists and saves', { timeout: scaled(60000) }, async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ppod-files-cli-'));
  try {
    const id = await session();
    const one = path.join(tmp, 'one.txt');
    const two = path.join(tmp, 'two bytes.bin');
    fs.writeFileSync(one, 'one');
    fs.writeFileSync(two, Buffer.from([0, 255]));
    let r = await ppod(['browser:upload', id, one, two]);
    assert.equal(r.code, 0, r.stderr);
    const paths = r.stdout.trim().split('\n');
    assert.equal(paths.length, 2);
    assert.match(paths[1], /\/two bytes\.bin$/);
    assert.deepEqual(fs.readFileSync(paths[1]), Buffer.from([0, 255]));

    const browser = await connectPw(id);
    try {
      const page = await pagePw(browser, 'upload.html');
      await page.setInputFiles('#f', paths[0]);
      assert.deepEqual(await shown(page), { how: 'input', files: [{ name: 'one.txt', size: 3, text: 'one' }] });
      const dpage = await pagePw(browser, 'download.html?bytes=4321');
      assert.equal((await download(dpage, '#sized')).failure, null);
    } finally {
      await browser.close();
    }
    r = await ppod(['browser:downloads', id]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^[0-9a-f-]+\tcompleted\t4321\tppod-test\.bin\n$/);
    await release(id);
    const out = path.join(tmp, 'out');
    r = await ppod(['browser:downloads', id, '-o', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), path.join(out, 'ppod-test.bin'));
    assert.deepEqual(fs.readFileSync(path.join(out, 'ppod-test.bin')), Buffer.alloc(4321, 0x61));
    r = await ppod(['browser:upload', id, one]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /SESSION_NOT_FOUND/);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

// A client that waits for "100 Continue" before its body (curl does past
// 1 MiB) is told to go on at once when the upload is accepted, and gets the
// refusal, without the interim answer, when it is not.
function expectContinue(id, token, body) {
  return new Promise((resolve, reject) => {
    const http = require('node:http');
    let continued = false;
    const req = http.request({
      host: '127.0.0.1', port: daemon.port, method: 'POST', agent: false,
      path: `/browser/sessions/${id}/files?name=big.bin`,
      headers: {
        Authorization: `Bearer ${token}`, Expect: '100-continue',
        'Content-Type': 'application/octet-stream', 'Content-Length': body.length,
      },
    });
    req.on('continue', () => { continued = true; req.end(body); });
    req.on('response', (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, continued, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    // Without an interim answer the body is never sent: the test times out.
    req.setTimeout(scaled(20000), () => req.destroy(new Error('no answer and no 100 Continue')));
    req.flushHeaders();
  });
}

test('Expect: 100-continue: an accepted upload is told to send its body, a refused one is answered', { timeout: scaled(60000) }, async () => {
  const id = await session();
  const body = Buffer.alloc(3 * MiB, 0x42);
  const ok = await expectContinue(id, daemon.token, body);
  assert.equal(ok.status, 200, ok.body);
  assert.equal(ok.continued, true);
  assert.equal(JSON.parse(ok.body).result.bytes, body.length);
  const refused = await expectContinue(id, 'pp_not_a_token', body);
  assert.equal(refused.status, 401);
  assert.equal(refused.continued, false);
});
