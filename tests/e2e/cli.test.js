'use strict';
// The `ppod` CLI against the real daemon: screenshot to a file, login and the
// saved token, the errors a user sees (bad token, server down, usage).
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { useDaemon, scaled } = require('./harness');

const BIN_DIR = process.env.PPOD_BIN_DIR || path.join(__dirname, '..', '..', 'build');
const PPOD = path.join(BIN_DIR, 'ppod');
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

let tmp;

const { daemon, fixtures } = useDaemon();

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ppod-cli-'));
});

after(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

// Runs ppod asynchronously (the fixture server lives in this process and must
// keep answering). env replaces the PAPERPOD_* and XDG variables entirely so
// the developer's own token never leaks in.
function ppod(args, env = {}) {
  const base = { ...process.env };
  delete base.PAPERPOD_URL;
  delete base.PAPERPOD_TOKEN;
  base.XDG_CONFIG_HOME = path.join(tmp, 'no-config');
  return new Promise((resolve) => {
    execFile(PPOD, args, { env: { ...base, ...env }, timeout: scaled(120000) }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, stdout, stderr });
    });
  });
}

function serverEnv() {
  return { PAPERPOD_URL: daemon.url, PAPERPOD_TOKEN: daemon.token };
}

function leftovers(dir) {
  return fs.readdirSync(dir).filter((f) => f.includes('.tmp'));
}

test('browser:screenshot writes a PNG and prints its path', { timeout: scaled(120000) }, async () => {
  const dir = fs.mkdtempSync(path.join(tmp, 'shot-'));
  const out = path.join(dir, 'boxes.png');
  const r = await ppod(['browser:screenshot', `${fixtures.url}/boxes.html`, '-o', out], serverEnv());
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), out);
  const bytes = fs.readFileSync(out);
  assert.ok(bytes.length > PNG_SIGNATURE.length);
  assert.deepEqual(bytes.subarray(0, 8), PNG_SIGNATURE);
  assert.deepEqual(leftovers(dir), []);
});

test('flags after the URL and before it build the same request', { timeout: scaled(120000) }, async () => {
  const dir = fs.mkdtempSync(path.join(tmp, 'flags-'));
  const out = path.join(dir, 'small.jpeg');
  const r = await ppod(
    ['browser:screenshot', '--viewport', '320x200', `${fixtures.url}/boxes.html`,
      '--type', 'jpeg', '--quality', '50', '-o', out],
    serverEnv());
  assert.equal(r.code, 0, r.stderr);
  const bytes = fs.readFileSync(out);
  assert.deepEqual(bytes.subarray(0, 3), Buffer.from([0xff, 0xd8, 0xff])); // JPEG SOI
});

test('login saves a 0600 token that later calls use', { timeout: scaled(120000) }, async () => {
  const config = path.join(tmp, 'config');
  const login = await ppod(['login', daemon.token], { XDG_CONFIG_HOME: config });
  assert.equal(login.code, 0, login.stderr);
  const file = path.join(config, 'ppod', 'token');
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.equal(fs.statSync(path.join(config, 'ppod')).mode & 0o777, 0o700);
  assert.equal(fs.readFileSync(file, 'utf8').trim(), daemon.token);

  const out = path.join(tmp, 'with-saved-token.png');
  const r = await ppod(['browser:screenshot', `${fixtures.url}/boxes.html`, '-o', out],
    { XDG_CONFIG_HOME: config, PAPERPOD_URL: daemon.url });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(fs.readFileSync(out).subarray(0, 8), PNG_SIGNATURE);
});

test('an invalid token fails with INVALID_TOKEN and leaves no file', { timeout: scaled(60000) }, async () => {
  const out = path.join(tmp, 'bad-token.png');
  const r = await ppod(['browser:screenshot', `${fixtures.url}/boxes.html`, '-o', out],
    { PAPERPOD_URL: daemon.url, PAPERPOD_TOKEN: 'not-a-real-token' });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^ppod: INVALID_TOKEN/m);
  assert.equal(r.stdout, '');
  assert.equal(fs.existsSync(out), false);
});

test('a server error prints its code and message', { timeout: scaled(120000) }, async () => {
  const out = path.join(tmp, 'timeout.png');
  const r = await ppod(
    ['browser:screenshot', `${fixtures.url}/boxes.html`, '--wait-for', '#never-there',
      '--timeout', '2000', '-o', out],
    serverEnv());
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^ppod: TIMEOUT: \S/m);
  assert.equal(fs.existsSync(out), false);
});

test('an unreachable server is named in a clear message', { timeout: scaled(30000) }, async () => {
  // A port that was just free: nothing listens there now.
  const port = await new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
  const url = `http://127.0.0.1:${port}`;
  const r = await ppod(['browser:screenshot', 'https://example.com/', '-o', path.join(tmp, 'x.png')],
    { PAPERPOD_URL: url, PAPERPOD_TOKEN: 't' });
  assert.equal(r.code, 1);
  assert.ok(r.stderr.includes(`ppod: cannot reach ${url}: Connection refused`), r.stderr);
});

test('--help lists the command\'s flags; usage errors exit 2', async () => {
  const help = await ppod(['browser:screenshot', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--full-page/);
  assert.match(help.stdout, /--viewport WxH/);

  const top = await ppod(['help']);
  assert.equal(top.code, 0);
  assert.match(top.stdout, /browser:screenshot/);

  const noUrl = await ppod(['browser:screenshot', '--full-page']);
  assert.equal(noUrl.code, 2);
  assert.match(noUrl.stderr, /missing <url>/);

  const unknown = await ppod(['browser:screenshoot']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command/);
});
