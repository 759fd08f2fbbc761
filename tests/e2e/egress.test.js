'use strict';
// The egress guard end to end: a "secret" loopback server that is NOT
// allow-listed, and pages (served by the allow-listed fixture server) that try
// to reach it every way a page can: img, iframe, fetch, XHR, WebSocket,
// EventSource, a worker, a beacon, a stylesheet, a 302 from an allow-listed
// server, and a name the proxy's test resolver maps to 127.0.0.1. Pass = every
// quick action answers as specified and the secret server saw ZERO
// connections. Plus the process-level guarantees: no Chromium listens on TCP,
// renderers are sandboxed and unprivileged, profile dirs are 0700.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const {
  useDaemon, scaled, expectError, childrenOf, cmdline, freePort, PNG_MAGIC,
  netnsAvailable, pollUntil,
} = require('./harness');

const SANDBOXED = process.env.PPOD_NO_SANDBOX !== '1';

// A loopback server that records every TCP connection and request it sees.
function startSecret() {
  const hits = [];
  const server = http.createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'Content-Type': 'text/html', 'Access-Control-Allow-Origin': '*' });
    res.end('<h1 id="secret">the secret</h1>');
  });
  server.on('connection', (s) => {
    hits.push(`connection from ${s.remotePort}`);
    s.on('error', () => {});
  });
  server.on('upgrade', (req, socket) => {
    hits.push(`upgrade ${req.url}`);
    socket.destroy();
  });
  server.on('connect', (req, socket) => {
    hits.push(`CONNECT ${req.url}`);
    socket.destroy();
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: server.address().port,
        hits,
        close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
      });
    });
  });
}

// An allow-listed server that answers every request with 302 to `target()`.
function startRedirector(target) {
  const seen = [];
  const server = http.createServer((req, res) => {
    seen.push(req.url);
    res.writeHead(302, { Location: target(req), 'Cache-Control': 'no-store', 'Content-Length': 0 });
    res.end();
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({
        host: `127.0.0.1:${port}`,
        seen,
        close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
      });
    });
  });
}

// Socket inodes in LISTEN state, from a process's own view of the network
// (its namespace): /proc/PID/net/tcp and tcp6, state 0A.
function listeningInodes(pid) {
  const out = new Set();
  for (const f of ['tcp', 'tcp6']) {
    let text;
    try { text = fs.readFileSync(`/proc/${pid}/net/${f}`, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 9 && cols[3] === '0A') out.add(cols[9]);
    }
  }
  return out;
}

function socketInodes(pid) {
  const out = new Set();
  let fds = [];
  try { fds = fs.readdirSync(`/proc/${pid}/fd`); } catch { return out; }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) out.add(m[1]);
    } catch { /* closed meanwhile */ }
  }
  return out;
}

function listensOnTcp(pid) {
  const listening = listeningInodes(pid);
  return [...socketInodes(pid)].filter((i) => listening.has(i));
}

function statusField(pid, name) {
  try {
    const m = new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? m[1] : null;
  } catch { return null; }
}

// Every test runs both ways the guard can be set up: each browser in a
// network namespace of its own behind the proxy (when the tests may make
// namespaces, as root), and the proxy alone (--no-netns).
for (const mode of netnsAvailable() ? ['netns+proxy', 'proxy'] : ['proxy']) {
describe(`egress guard (${mode})`, { timeout: scaled(300000) }, () => {
  let secret;
  let redirector;
  let closedPort; // allow-listed, nothing listens there

  before(async () => {
    closedPort = await freePort();
    secret = await startSecret();
    redirector = await startRedirector((req) =>
      (req.url.includes('named') ? `http://secret.test:${secret.port}/redirected` : `http://127.0.0.1:${secret.port}/redirected`));
  });

  const { daemon, fixtures } = useDaemon(() => ({
    browsers: 1,
    allowPrivate: [redirector.host, `127.0.0.1:${closedPort}`],
    env: { PPOD_EGRESS_HOSTS: `secret.test=127.0.0.1,fixture.test=127.0.0.1` },
    args: mode === 'proxy' ? ['--no-netns'] : [],
    timeout: scaled(60000),
  }));

  // Registered after useDaemon(): runs once the daemon has exited.
  after(async () => {
    if (redirector) await redirector.close();
    if (secret) await secret.close();
  });

  const post = (route, json) => daemon.request('POST', route, { json, timeout: scaled(60000) });
  const noSecretHits = (what) =>
    assert.deepEqual(secret.hits, [], `${what}: the secret server was reached\n${daemon.stderr().slice(-3000)}`);

  it('/healthz reports the proxy, and Chromium is started pointing at it', async () => {
    const res = await daemon.request('GET', '/healthz');
    assert.equal(res.status, 200);
    assert.equal(res.json.result.egress, mode);
    const [browser] = daemon.browserPids();
    assert.ok(browser, 'a browser process runs');
    const args = cmdline(browser);
    assert.ok(args.some((a) => /^--proxy-server=http:\/\/127\.0\.0\.1:\d+$/.test(a)), args.join(' '));
    assert.ok(args.includes('--proxy-bypass-list=<-loopback>'), args.join(' '));
    assert.ok(args.includes('--force-webrtc-ip-handling-policy=disable_non_proxied_udp'), args.join(' '));
    assert.ok(args.includes('--disable-quic'), args.join(' '));
  });

  it('a page firing at the secret by every subresource kind still renders, and reaches nothing', async () => {
    const url = `${fixtures.url}/egress/vectors.html?secret=${secret.port}` +
      `&redirector=${redirector.host}&fixture=${fixtures.port}`;
    const res = await post('/browser/content', {
      url, waitForSelector: { selector: '#done', timeout: scaled(30000) },
    });
    assert.equal(res.status, 200, res.body.subarray(0, 500).toString('utf8'));
    const html = res.json.result;
    const m = /<pre id="results">([^<]*)<\/pre>/.exec(html);
    assert.ok(m, `results in the page:\n${html.slice(0, 2000)}`);
    const results = JSON.parse(m[1].replace(/&quot;/g, '"').replace(/&amp;/g, '&'));
    // The control proves requests do flow, by a test-resolver name, through
    // the proxy (Chromium itself cannot resolve fixture.test).
    assert.equal(results['control: test-resolver name of the fixture server'], 'loaded', JSON.stringify(results));
    for (const k of ['img', 'img, test-resolver name', 'img via 302']) assert.equal(results[k], 'failed', `${k}: ${JSON.stringify(results)}`);
    for (const k of ['websocket', 'websocket tls', 'websocket, test-resolver name', 'eventsource']) {
      assert.equal(results[k], 'failed', `${k}: ${JSON.stringify(results)}`);
    }
    assert.match(results.worker, /^fetch (failed|response 0|response 403), xhr (failed|response 403), ws failed$/,
      JSON.stringify(results));
    // The redirector was asked, and sent the browser towards the secret.
    assert.ok(redirector.seen.length >= 3, `redirector saw ${JSON.stringify(redirector.seen)}`);
    // Let late stragglers (beacon, stylesheet) arrive if they could.
    await new Promise((r) => setTimeout(r, 500));
    noSecretHits('subresources');
    const refused = (daemon.stderr().match(/egress: refused/g) || []).length;
    assert.ok(refused >= 10, `proxy logged ${refused} refusals`);
  });

  it('a top-level redirect to the secret is refused with 403 FORBIDDEN_URL', async () => {
    for (const pathName of ['/to-secret', '/to-secret-named']) {
      const res = await post('/browser/content', { url: `http://${redirector.host}${pathName}` });
      assert.equal(res.status, 403, res.body.subarray(0, 500).toString('utf8'));
      assert.equal(res.json.errors[0].code, 'FORBIDDEN_URL');
      assert.ok(!res.body.toString('utf8').includes('the secret'));
    }
    const shot = await post('/browser/screenshot', { url: `http://${redirector.host}/to-secret` });
    assert.equal(shot.status, 403);
    assert.equal(shot.json.errors[0].code, 'FORBIDDEN_URL');
    noSecretHits('redirects');
  });

  it('a direct URL to the secret is 403 FORBIDDEN_URL at the API, in every spelling', async () => {
    const p = secret.port;
    for (const u of [
      `http://127.0.0.1:${p}/`, `http://127.1:${p}/`, `http://0x7f.1:${p}/`, `http://2130706433:${p}/`,
      `http://0177.0.0.1:${p}/`, `http://[::1]:${p}/`, `http://[::ffff:127.0.0.1]:${p}/`,
      `http://localhost:${p}/`, `http://0.0.0.0:${p}/`, 'http://169.254.169.254/latest/meta-data/',
    ]) {
      expectError(assert, await post('/browser/screenshot', { url: u }), 403, 'FORBIDDEN_URL', u);
    }
    noSecretHits('direct URLs');
  });

  it('a name that only the proxy resolves to loopback is refused by the proxy', async () => {
    // The API's check cannot resolve secret.test, so Chromium is sent there
    // and the proxy, resolving it to 127.0.0.1, refuses: the API says so.
    const res = await post('/browser/content', { url: `http://secret.test:${secret.port}/` });
    const e = expectError(assert, res, 403, 'FORBIDDEN_URL');
    assert.match(e.message, /secret\.test resolves to 127\.0\.0\.1/);
    // Through CONNECT the refusal is a failed tunnel, which the proxy's
    // record turns back into the refusal it was.
    const https = await post('/browser/content', { url: `https://secret.test:${secret.port}/` });
    expectError(assert, https, 403, 'FORBIDDEN_URL');
    noSecretHits('test-resolver name');
  });

  it('an allow-listed address that does not answer is still a network error (422)', async () => {
    const res = await post('/browser/screenshot', { url: `http://127.0.0.1:${closedPort}/` });
    const e = expectError(assert, res, 422, 'NAVIGATION_FAILED');
    assert.match(e.message, /net::ERR_/);
  });

  it('no Chromium process listens on a TCP port', () => {
    const pids = childrenOf(daemon.pid);
    assert.ok(pids.length >= 3, `Chromium processes under the daemon: ${pids}`);
    // Control: the method sees the daemon's own listening socket.
    assert.ok(listensOnTcp(daemon.pid).length >= 1, 'the daemon itself is seen listening');
    for (const pid of pids) {
      assert.deepEqual(listensOnTcp(pid), [], `pid ${pid} listens: ${cmdline(pid).join(' ').slice(0, 200)}`);
    }
  });

  it('renderers run sandboxed (seccomp) as an unprivileged user', { skip: !SANDBOXED && 'PPOD_NO_SANDBOX=1' }, async () => {
    // Zygote children rewrite their title: argv may be one space-joined string.
    const renderers = childrenOf(daemon.pid).filter((pid) => cmdline(pid).join(' ').includes('--type=renderer'));
    assert.ok(renderers.length >= 1, 'a renderer runs');
    // A renderer the browser has just forked (a spare it keeps ready) enables
    // seccomp a moment later, in its own start-up: wait for each to get there
    // (or exit); one that stays outside fails.
    const outside = () => renderers.filter((pid) => { const v = statusField(pid, 'Seccomp'); return v !== null && v !== '2'; });
    await pollUntil(() => outside().length === 0, { timeout: scaled(5000), what: 'every renderer under seccomp' })
      .catch(() => assert.fail(`renderers outside seccomp: ${outside()}`));
    for (const pid of renderers) {
      const uid = statusField(pid, 'Uid');
      if (uid === null) continue; // exited meanwhile
      const uids = uid.split(/\s+/).map(Number);
      assert.ok(uids.every((u) => u !== 0), `renderer ${pid} uids ${uids}`);
    }
    for (const pid of daemon.browserPids()) {
      const uids = statusField(pid, 'Uid').split(/\s+/).map(Number);
      assert.ok(uids.every((u) => u !== 0), `browser ${pid} uids ${uids}`);
    }
  });

  it('profile dirs are 0700', () => {
    const dirs = daemon.profileDirs();
    assert.ok(dirs.length >= 1, 'a profile dir exists');
    for (const d of dirs) assert.equal(fs.statSync(d).mode & 0o777, 0o700, d);
  });

  it('the secret server saw nothing at all', () => {
    noSecretHits('whole run');
  });
});
}
