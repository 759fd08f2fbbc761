'use strict';
// Sign-in by email: POST /login mails a magic link through a real SMTP
// server on loopback (npm smtp-server, the mail read back with mailparser);
// GET /login/verify?code= spends it once for a pp_sess_ token. The same
// answer for addresses with and without an account; sign-up open, by
// invitation or closed; rate limits per email and per client address with
// Retry-After; expiry; the page in a real browser; `ppod login` without a
// token. And the attacks: guessed codes, a header injection in the address,
// huge addresses, the code and the SMTP password kept out of the log and ps.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { EventEmitter } = require('node:events');
const { SMTPServer } = require('smtp-server');
const { simpleParser } = require('mailparser');
const {
  useDaemon, usePersonBrowser, scaled, pollUntil, runAdmin, makeTempDir, REPO_ROOT,
} = require('./harness');

const BIN_DIR = process.env.PPOD_BIN_DIR || path.join(REPO_ROOT, 'build');
const PPOD = path.join(BIN_DIR, 'ppod');
const SMTP_USER = 'mailer';
const SMTP_PASS = 'smtp-Pa55-never-logged';
const TOKEN_RE = /^pp_sess_[A-Za-z0-9_-]{43}$/;
const LINK_RE = /(http:\/\/127\.0\.0\.1:\d+\/login\/verify\?code=([A-Za-z0-9_-]{43}))/;

// A real SMTP server on loopback: it asks for the password the daemon was
// given and keeps every mail it takes, parsed.
function startSink() {
  const mails = [];
  const ev = new EventEmitter();
  const auths = [];
  const server = new SMTPServer({
    authOptional: false,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onAuth(auth, _session, cb) {
      auths.push(auth.username);
      if (auth.username === SMTP_USER && auth.password === SMTP_PASS) return cb(null, { user: SMTP_USER });
      return cb(new Error('bad credentials'));
    },
    onData(stream, session, cb) {
      simpleParser(stream).then((m) => {
        const rcpt = session.envelope.rcptTo.map((r) => r.address);
        const mail = { rcpt, from: session.envelope.mailFrom.address, subject: m.subject, text: m.text || '', headers: m.headers };
        const link = LINK_RE.exec(mail.text);
        mail.link = link ? link[1] : null;
        mail.code = link ? link[2] : null;
        mails.push(mail);
        ev.emit('mail', mail);
        cb();
      }, cb);
    },
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = server.server.address().port;
      resolve({
        port,
        mails,
        auths,
        url: `smtp://${SMTP_USER}:${SMTP_PASS}@127.0.0.1:${port}`,
        // The next mail to `to` (or one already here and not yet taken).
        next(to, ms = scaled(15000)) {
          const had = mails.find((m) => !m.taken && m.rcpt.includes(to));
          if (had) { had.taken = true; return Promise.resolve(had); }
          return new Promise((res, rej) => {
            const t = setTimeout(() => { ev.off('mail', on); rej(new Error(`no mail to ${to} within ${ms} ms`)); }, ms);
            const on = (m) => {
              if (!m.rcpt.includes(to)) return;
              m.taken = true;
              clearTimeout(t);
              ev.off('mail', on);
              res(m);
            };
            ev.on('mail', on);
          });
        },
        close: () => new Promise((r) => server.close(r)),
      });
    });
  });
}

// One sink for the file; each daemon below is told its URL.
let sink;
before(async () => { sink = await startSink(); });
after(async () => { if (sink) await sink.close(); });

// useDaemon starts in a before hook of its suite, after the sink's.
function loginDaemon(extra) {
  return useDaemon(() => ({ fixtures: false, browsers: 1, args: ['--smtp-url', sink.url, '--mail-from', 'signin@ppod.test', ...extra] }));
}

const post = (d, email, headers = {}) => d.request('POST', '/login', { json: { email }, token: null, headers });
const verify = (d, link, accept = 'application/json') =>
  d.request('GET', link.replace(/^http:\/\/[^/]+/, ''), { token: null, headers: { Accept: accept } });
const addAccount = (d, name, email) => runAdmin(['account', 'create', name, '--email', email, '--data-dir', d.dataDir]);

describe('sign-up open', () => {
  const { daemon } = loginDaemon(['--signup', 'open', '--login-rate-ip', '1000']);
  const person = usePersonBrowser();

  it('the link arrives by SMTP, verifies once for a pp_sess_ token that works; a second use is 410 LOGIN_CODE_USED', async () => {
    const res = await post(daemon, 'New.User@Example.com');
    assert.equal(res.status, 200);
    assert.equal(res.json.success, true);
    const mail = await sink.next('new.user@example.com');
    assert.equal(mail.from, 'signin@ppod.test');
    assert.match(mail.subject, /sign-in link/);
    assert.ok(mail.link, `a link in the mail: ${mail.text}`);
    assert.ok(mail.link.startsWith(`${daemon.url}/login/verify?code=`), mail.link);
    assert.ok(sink.auths.includes(SMTP_USER), 'the daemon authenticated to the SMTP server');

    const ok = await verify(daemon, mail.link);
    assert.equal(ok.status, 200, ok.body.toString());
    const r = ok.json.result;
    assert.match(r.token, TOKEN_RE);
    assert.equal(r.account.email, 'new.user@example.com');
    const days = (Date.parse(r.expiresAt) - Date.now()) / 86400000;
    assert.ok(days > 14.9 && days <= 15, `expires in ${days} days`);
    assert.equal(ok.headers['cache-control'], 'no-store');

    const limits = await daemon.request('GET', '/browser/limits', { token: r.token });
    assert.equal(limits.status, 200);
    // A new account starts with the sign-up credit (5.00 by default).
    const acct = await daemon.request('GET', '/account', { token: r.token });
    assert.equal(acct.status, 200);
    const ar = JSON.parse(acct.body).result;
    assert.equal(ar.account.email, 'new.user@example.com');
    assert.equal(ar.balanceCredits, '5.00');
    assert.equal(ar.balance, 5000000);

    const again = await verify(daemon, mail.link);
    assert.equal(again.status, 410);
    assert.equal(again.json.errors[0].code, 'LOGIN_CODE_USED');
    const page = await verify(daemon, mail.link, 'text/html');
    assert.equal(page.status, 410);
    assert.match(page.headers['content-type'], /text\/html/);
    assert.match(page.body.toString(), /Request a new link/);

    // Signing in again is the same account, with a new token.
    await post(daemon, 'new.user@EXAMPLE.com');
    const m2 = await sink.next('new.user@example.com');
    const second = await verify(daemon, m2.link);
    assert.equal(second.json.result.account.name, r.account.name);
    assert.notEqual(second.json.result.token, r.token);
  });

  it('the page, in a browser: the token shown and selectable, a copy button that works under a strict CSP', async () => {
    await post(daemon, 'page@example.com');
    const mail = await sink.next('page@example.com');
    const ctx = person.browser.defaultBrowserContext();
    await ctx.overridePermissions(daemon.url, ['clipboard-read', 'clipboard-write']).catch(() => {});
    const page = await person.browser.newPage();
    const problems = [];
    page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
    page.on('pageerror', (e) => problems.push(e.message));
    const resp = await page.goto(mail.link);
    assert.equal(resp.status(), 200);
    const csp = resp.headers()['content-security-policy'];
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'sha256-/);
    const token = await page.$eval('#token', (e) => e.textContent);
    assert.match(token, TOKEN_RE);
    assert.equal(await page.$eval('#token', (e) => getComputedStyle(e).userSelect), 'all');
    assert.ok(await page.$('button#copy'), 'a copy button');
    assert.match(await page.content(), new RegExp(`ppod login ${token}`));
    await page.click('#copy');
    await page.waitForFunction(() => document.getElementById('copied').textContent !== '', { timeout: scaled(5000) });
    const said = await page.$eval('#copied', (e) => e.textContent);
    if (said === 'Copied') {
      assert.equal(await page.evaluate(() => navigator.clipboard.readText()), token);
    } else {
      // No clipboard here: the token is selected for Ctrl+C instead.
      assert.equal(await page.evaluate(() => String(getSelection())), token);
    }
    assert.deepEqual(problems, [], 'no CSP violation or script error');
    const works = await daemon.request('GET', '/browser/limits', { token });
    assert.equal(works.status, 200);
    await page.close();
  });

  it('ppod login without a token: email on stdin, the pasted token checked and saved', async () => {
    const cfg = await makeTempDir('ppod-login-cfg-');
    const env = { ...process.env, PAPERPOD_URL: daemon.url, XDG_CONFIG_HOME: cfg };
    delete env.PAPERPOD_TOKEN;
    const cli = spawn(PPOD, ['login'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    cli.stdout.on('data', (b) => { out += b; });
    cli.stderr.on('data', (b) => { err += b; });
    const exited = new Promise((r) => cli.on('exit', (code) => r(code)));
    cli.stdin.write('cli.user@example.com\n');
    const mail = await sink.next('cli.user@example.com');
    await pollUntil(() => /paste the token/.test(err), { what: 'the CLI to ask for the token' });
    const token = (await verify(daemon, mail.link)).json.result.token;
    cli.stdin.end(`${token}\n`);
    assert.equal(await exited, 0, err);
    assert.match(out, /token saved to /);
    assert.equal(fs.readFileSync(path.join(cfg, 'ppod', 'token'), 'utf8').trim(), token);

    // `ppod login <token>` takes a pp_sess_ token as it is.
    const cfg2 = await makeTempDir('ppod-login-cfg-');
    const r2 = await runCli(['login', token], { ...env, XDG_CONFIG_HOME: cfg2 });
    assert.equal(r2.code, 0, r2.stderr);

    // Something that is not a token is refused before it is saved.
    const cfg3 = await makeTempDir('ppod-login-cfg-');
    const bad = spawn(PPOD, ['login'], { env: { ...env, XDG_CONFIG_HOME: cfg3 }, stdio: ['pipe', 'pipe', 'pipe'] });
    let badErr = '';
    bad.stderr.on('data', (b) => { badErr += b; });
    const badExit = new Promise((r) => bad.on('exit', (code) => r(code)));
    bad.stdin.end('cli.user@example.com\npp_sess_short\n');
    assert.equal(await badExit, 2, badErr);
    assert.match(badErr, /not a token/);
    assert.equal(fs.existsSync(path.join(cfg3, 'ppod', 'token')), false);
    await sink.next('cli.user@example.com'); // that run's mail
  });

  it('refuses addresses with line breaks, display names, lists and huge sizes before any mail', async () => {
    const before = sink.mails.length;
    const bad = [
      'a@b.com\r\nBcc: evil@attacker.test', 'evil@attacker.test\r\n', 'a\r\nb@c.com', 'a@b.com\nX: y',
      'Eve <evil@attacker.test>', 'a@b.com,evil@attacker.test', 'a b@c.com', '"a"@b.com', 'a@b', '',
      `${'a'.repeat(65)}@b.com`, `a@${'b'.repeat(250)}.com`, `${'x'.repeat(100000)}@b.com`,
    ];
    for (const email of bad) {
      const res = await post(daemon, email);
      assert.equal(res.status, 400, JSON.stringify(email.slice(0, 80)));
      assert.equal(res.json.errors[0].code, 'INVALID_REQUEST');
    }
    for (const body of [{ email: 5 }, { email: ['a@b.com'] }, {}, { email: 'a@b.com', extra: 1 }]) {
      const res = await daemon.request('POST', '/login', { json: body, token: null });
      assert.equal(res.status, 400, JSON.stringify(body));
    }
    const huge = await daemon.request('POST', '/login', { body: `{"email":"${'a'.repeat(2 << 20)}@b.com"}`, headers: { 'Content-Type': 'application/json' }, token: null });
    assert.equal(huge.status, 400);
    // A known-good address after them still gets its mail, and nothing
    // went to the injected recipient.
    await post(daemon, 'after@example.com');
    await sink.next('after@example.com');
    assert.ok(!sink.mails.slice(before).some((m) => m.rcpt.some((r) => r.includes('attacker'))));
    assert.equal((await daemon.request('GET', '/login', { token: null })).status, 405);
    assert.equal((await daemon.request('POST', '/login/verify', { token: null })).status, 405);
  });

  it('a code works only as sent: changed, cut, padded or made up, it is 400 LOGIN_CODE_INVALID; it names its own email', async () => {
    await post(daemon, 'owner@example.com');
    await post(daemon, 'other@example.com');
    const a = await sink.next('owner@example.com');
    const b = await sink.next('other@example.com');
    const flip = a.code[5] === 'A' ? 'B' : 'A';
    const forged = [a.code.slice(0, 5) + flip + a.code.slice(6), a.code.slice(0, 42), `${a.code}A`, 'A'.repeat(43), '',
      `${a.code.slice(0, 42)}%0d%0a`, '../../etc/passwd'];
    for (const c of forged) {
      const res = await daemon.request('GET', `/login/verify?code=${c}`, { token: null, headers: { Accept: 'application/json' } });
      assert.equal(res.status, 400, c);
      assert.equal(res.json.errors[0].code, 'LOGIN_CODE_INVALID');
    }
    // Hostile query strings: no code, an empty one, a huge one, bad escapes.
    for (const q of ['', '?', '?code=', `?code=${'A'.repeat(6000)}`, '?code=%ZZ%00', '?%ff%fe=1&code', `?x=${a.code}`]) {
      const res = await daemon.request('GET', `/login/verify${q}`, { token: null, headers: { Accept: 'application/json' } });
      // (libwebsockets itself answers 403 to a malformed escape, before routing.)
      assert.ok([400, 403, 414, 431].includes(res.status), `${q.slice(0, 40)}: ${res.status}`);
      if (res.status === 400) assert.equal(res.json.errors[0].code, 'LOGIN_CODE_INVALID');
    }
    // Each code gives its own email's account, whoever opens it.
    const ra = (await verify(daemon, a.link)).json.result;
    const rb = (await verify(daemon, b.link)).json.result;
    assert.equal(ra.account.email, 'owner@example.com');
    assert.equal(rb.account.email, 'other@example.com');
    assert.notEqual(ra.account.name, rb.account.name);
  });

  it('an expired token of an account with an email points to POST /login', async () => {
    await addAccount(daemon, 'soon', 'soon@example.com');
    const { stdout } = await runAdmin(['token', 'create', 'soon', '--ttl-seconds', '1', '--data-dir', daemon.dataDir]);
    const tok = stdout.trim();
    assert.match(tok, TOKEN_RE);
    const res = await pollUntil(async () => {
      const r = await daemon.request('GET', '/browser/limits', { token: tok });
      return r.status === 401 ? r : null;
    }, { timeout: scaled(5000), what: 'the token to expire' });
    assert.equal(res.json.errors[0].code, 'EXPIRED_TOKEN');
    assert.match(res.json.errors[0].message, /POST \/login/);
  });

  it('/openapi.json describes POST /login with its schema', async () => {
    const res = await daemon.request('GET', '/openapi.json', { token: null });
    const op = res.json.paths['/login'].post;
    assert.ok(op.summary);
    assert.equal(op.requestBody.content['application/json'].schema.$ref, '#/components/schemas/login');
    assert.equal(res.json.components.schemas.login.properties.email.maxLength, 254);
  });

  it('neither a code nor the SMTP password reaches the log, and ps shows the password starred out', () => {
    const log = daemon.stderr();
    for (const m of sink.mails) if (m.code) assert.ok(!log.includes(m.code), 'a code in the log');
    assert.ok(!/code=/.test(log), 'code= in the log');
    assert.ok(!log.includes(SMTP_PASS), 'the SMTP password in the log');
    const argv = fs.readFileSync(`/proc/${daemon.pid}/cmdline`, 'utf8');
    assert.ok(argv.includes('--smtp-url'), argv);
    assert.ok(!argv.includes(SMTP_PASS), 'the SMTP password in ps');
    assert.ok(argv.includes(`smtp://${SMTP_USER}:${'*'.repeat(SMTP_PASS.length)}@`), argv);
  });
});

describe('sign-up closed (the default)', () => {
  const { daemon } = loginDaemon(['--login-rate-ip', '1000']);

  it('a known email and an unknown one get the same answer, byte for byte; only the known one gets a link', async () => {
    await addAccount(daemon, 'known', 'Known@Example.com');
    const hdr = { 'X-Request-Id': 'same-id' };
    const unknown = await post(daemon, 'nobody@example.com', hdr);
    const known = await post(daemon, 'known@example.com', hdr);
    assert.equal(unknown.status, 200);
    assert.equal(known.status, unknown.status);
    assert.deepEqual(known.body, unknown.body);
    // One worker takes requests in order: when the known one's mail is
    // here, the unknown one was decided (and sent nothing).
    const mail = await sink.next('known@example.com');
    assert.ok(!sink.mails.some((m) => m.rcpt.includes('nobody@example.com')));
    const res = await verify(daemon, mail.link);
    assert.equal(res.status, 200);
    assert.equal(res.json.result.account.name, 'known');
  });

  it('an account without an email cannot sign in; its expired token points to the operator', async () => {
    const { stdout } = await runAdmin(['token', 'create', 'test', '--ttl-seconds', '1', '--data-dir', daemon.dataDir]);
    const tok = stdout.trim();
    const res = await pollUntil(async () => {
      const r = await daemon.request('GET', '/browser/limits', { token: tok });
      return r.status === 401 ? r : null;
    }, { timeout: scaled(5000), what: 'the token to expire' });
    assert.equal(res.json.errors[0].code, 'EXPIRED_TOKEN');
    assert.match(res.json.errors[0].message, /operator/);
    assert.doesNotMatch(res.json.errors[0].message, /POST \/login/);
  });
});

describe('sign-up by invitation', () => {
  const { daemon } = loginDaemon(['--signup=invite', '--login-rate-ip', '1000']);

  it('an invited email signs up; one not invited gets the same answer and no mail', async () => {
    await runAdmin(['account', 'invite', 'Guest@Example.com', '--data-dir', daemon.dataDir]);
    const a = await post(daemon, 'stranger@example.com');
    const b = await post(daemon, 'guest@example.com');
    assert.equal(a.status, 200);
    assert.equal(a.body.toString(), b.body.toString());
    const mail = await sink.next('guest@example.com');
    assert.ok(!sink.mails.some((m) => m.rcpt.includes('stranger@example.com')));
    const res = await verify(daemon, mail.link);
    assert.equal(res.status, 200);
    assert.equal(res.json.result.account.email, 'guest@example.com');
    await assert.rejects(runAdmin(['account', 'invite', 'a@b.com\r\nX: y', '--data-dir', daemon.dataDir]), /not an email address/);
  });
});

describe('limits and expiry', () => {
  const { daemon } = loginDaemon(['--signup', 'open', '--login-code-ttl', '1', '--login-rate-email', '2', '--login-rate-ip', '6']);

  it('a code past its time is 410 LOGIN_CODE_EXPIRED with a page that says to ask again', async () => {
    await post(daemon, 'late@example.com');
    const mail = await sink.next('late@example.com');
    const res = await verify(daemon, mail.link);
    assert.equal(res.status, 410);
    assert.equal(res.json.errors[0].code, 'LOGIN_CODE_EXPIRED');
    // (That was one of the address's six verifications.)
  });

  it('per email and per address: 429 RATE_LIMITED with Retry-After, the same for a known and an unknown email', async () => {
    await addAccount(daemon, 'limited', 'limited@example.com');
    const hdr = { 'X-Request-Id': 'rate-id' };
    const answers = { known: [], unknown: [] };
    for (let i = 0; i < 3; i++) answers.known.push(await post(daemon, 'limited@example.com', hdr));
    for (let i = 0; i < 3; i++) answers.unknown.push(await post(daemon, 'nobody@example.com', hdr));
    // late@ (1) + 3 + 3 = 7 > 6 from this address: the unknown's third is
    // refused by the address, the known's third by the email; same bytes.
    assert.deepEqual(answers.known.map((r) => r.status), [200, 200, 429]);
    assert.deepEqual(answers.unknown.map((r) => r.status), [200, 200, 429]);
    for (const r of [answers.known[2], answers.unknown[2]]) {
      assert.equal(r.json.errors[0].code, 'RATE_LIMITED');
      const ra = Number(r.headers['retry-after']);
      assert.ok(ra >= 1 && ra <= 900, `Retry-After ${r.headers['retry-after']}`);
    }
    assert.deepEqual(answers.known[2].body, answers.unknown[2].body);
    // A fresh email from the same address is refused too.
    const fresh = await post(daemon, 'fresh@example.com');
    assert.equal(fresh.status, 429);
  });

  it('guessing codes: past the address\'s verifications the answer is 429, not another guess', async () => {
    const statuses = [];
    for (let i = 0; i < 8; i++) {
      const code = Buffer.from(`${i}`.padEnd(32, 'x')).toString('base64url');
      const r = await daemon.request('GET', `/login/verify?code=${code}`, { token: null, headers: { Accept: 'application/json' } });
      statuses.push(r.status);
      if (r.status === 429) assert.ok(Number(r.headers['retry-after']) >= 1);
    }
    // One verification went to the expired code above: 5 guesses, then 429.
    assert.deepEqual(statuses, [400, 400, 400, 400, 400, 429, 429, 429]);
  });
});

describe('behind a load balancer (--trusted-proxy)', () => {
  // The test's own connections come from 127.0.0.1: as the balancer's.
  const { daemon } = loginDaemon(['--signup', 'open', '--login-rate-ip', '2', '--login-rate-email', '100',
    '--trusted-proxy', '127.0.0.1']);
  const from = (addr) => ({ 'X-Forwarded-For': addr });

  it('counts each client the balancer names, not the balancer', async () => {
    // Two clients behind one balancer, two requests each: all within their
    // own limit of 2, although the balancer made 4.
    const statuses = [];
    for (const ip of ['198.51.100.7', '198.51.100.8'])
      for (let i = 0; i < 2; i++) statuses.push((await post(daemon, `c${i}-${ip}@example.com`, from(ip))).status);
    assert.deepEqual(statuses, [200, 200, 200, 200]);
    // The third from one client is refused; the other client's is not.
    assert.equal((await post(daemon, 'x@example.com', from('198.51.100.7'))).status, 429);
  });

  it('attack: a client cannot pick its address by sending its own X-Forwarded-For entries', async () => {
    // The balancer appends the real address last; whatever the client put
    // before it is ignored, so rotating fake entries does not reset the limit.
    const statuses = [];
    for (let i = 0; i < 3; i++)
      statuses.push((await post(daemon, `rot${i}@example.com`, from(`203.0.113.${i}, 198.51.100.9`))).status);
    assert.deepEqual(statuses, [200, 200, 429]);
    // Garbage is not an address: the balancer's own is counted.
    const junk = await post(daemon, 'junk@example.com', from('<script>'));
    assert.ok([200, 429].includes(junk.status));
  });
});

describe('not behind a trusted balancer', () => {
  const { daemon } = loginDaemon(['--signup', 'open', '--login-rate-ip', '2', '--login-rate-email', '100']);

  it('attack: X-Forwarded-For from an untrusted peer is ignored', async () => {
    const statuses = [];
    for (let i = 0; i < 3; i++)
      statuses.push((await post(daemon, `u${i}@example.com`, { 'X-Forwarded-For': `198.51.100.${i}` })).status);
    assert.deepEqual(statuses, [200, 200, 429]);
  });
});

describe('a stalled SMTP server', () => {
  // Takes connections and never says a word.
  const net = require('node:net');
  const stall = { conns: [], ev: new EventEmitter() };
  before(async () => {
    stall.server = net.createServer((c) => { stall.conns.push(c); stall.ev.emit('conn'); });
    await new Promise((r) => stall.server.listen(0, '127.0.0.1', r));
  });
  after(() => { for (const c of stall.conns) c.destroy(); stall.server.close(); });
  const { daemon } = useDaemon(() => ({
    fixtures: false, browsers: 1,
    args: ['--signup', 'open', '--smtp-url', `smtp://u:p@127.0.0.1:${stall.server.address().port}`],
  }));

  it('holds neither the answer nor the service\'s stop', async () => {
    const connected = new Promise((r) => stall.ev.once('conn', r));
    const t0 = Date.now();
    const res = await post(daemon, 'stuck@example.com');
    assert.equal(res.status, 200);
    assert.ok(Date.now() - t0 < scaled(2000), 'answered without waiting on the mail');
    await connected; // the mailer is now waiting on the server's greeting
    const t1 = Date.now();
    await daemon.stopClean();
    assert.ok(Date.now() - t1 < scaled(8000), `stopped in ${Date.now() - t1} ms`);
    assert.match(daemon.stderr(), /mailing a sign-in link through 127\.0\.0\.1 failed/);
  });
});

function runCli(args, env) {
  return new Promise((resolve) => {
    const p = spawn(PPOD, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b) => { stdout += b; });
    p.stderr.on('data', (b) => { stderr += b; });
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}


