'use strict';
// What Chromium does on the network by itself, and how much of the egress
// proxy one browser may take.
//
// 1. Chromium phones home unasked (component updater, network time,
//    variations, the on-device model manifest, safe browsing, ...). The
//    service starts it with flags that silence that, and the egress proxy
//    logs the first request for every host:port it is asked for. Idle and
//    through a few jobs, that log must name only the hosts the pages named.
//    The control: the same Chromium with only the flags the service needs to
//    drive it asks for Google hosts within seconds (the full browser does;
//    the headless shell asks for nothing either way).
// 2. One browser may hold only so many connections through the proxy
//    (--egress-conns-per-browser): a page that opens more gets the rest
//    refused at once, the service stays healthy and the next job works.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const {
  startFixtures, startDaemon, useDaemon, scaled, makeTempDir, pollUntil, PNG_MAGIC,
} = require('./harness');

const FULL = '/usr/lib/chromium/chromium';
const SHELL = '/usr/lib/chromium/chromium-headless-shell';

// host:port of every "egress: first request for HOST:PORT" line.
const askedHosts = (d) => [...d.stderr().matchAll(/egress: first request for (\S+) \(/g)].map((m) => m[1]);

// A wrapper that starts exe with only what the service needs to drive it.
async function bareChromium(exe) {
  const dir = await makeTempDir('ppod-e2e-bare-');
  fs.chmodSync(dir, 0o755); // Chromium runs as a uid of its own (or nobody)
  const file = path.join(dir, 'chromium-bare');
  fs.writeFileSync(file, '#!/bin/sh\nfor a; do shift; case "$a" in --headless|--remote-debugging-pipe|' +
    '--user-data-dir=*|--proxy-server=*|--proxy-bypass-list=*|about:blank) set -- "$@" "$a";; esac; done\n' +
    `exec ${exe} "$@"\n`, { mode: 0o755 });
  return file;
}

describe('Chromium asks the network for nothing of its own', { timeout: scaled(300000) }, () => {
  let fixtures;
  before(async () => { fixtures = await startFixtures(); });
  after(async () => { if (fixtures) await fixtures.close(); });

  const browsers = [['the default browser', null]];
  if (fs.existsSync(FULL)) browsers.push(['the full Chromium', FULL]);
  for (const [name, exe] of browsers) {
    it(`${name}: idle and through a few jobs, only the pages' own hosts`, async () => {
      const daemon = await startDaemon({
        browsers: 1, allowPrivate: [fixtures.host], args: exe ? ['--chromium', exe] : [],
      });
      try {
        const post = (route, json) => daemon.request('POST', route, { json, timeout: scaled(60000) });
        const shot = await post('/browser/screenshot', { url: `${fixtures.url}/title.html` });
        assert.equal(shot.status, 200, shot.body.subarray(0, 300).toString('utf8'));
        assert.ok(shot.body.subarray(0, 8).equals(PNG_MAGIC));
        const links = await post('/browser/links', { url: `${fixtures.url}/links/index.html` });
        assert.equal(links.status, 200, links.body.subarray(0, 300).toString('utf8'));
        const pdf = await post('/browser/pdf', { html: '<h1>quiet</h1>' });
        assert.equal(pdf.status, 200);
        // Nothing announces "Chromium decided not to call home": watch for a
        // while. Unsilenced, the full browser asks within 2 s of starting.
        await new Promise((r) => setTimeout(r, scaled(6000)));
        const asked = askedHosts(daemon);
        assert.ok(asked.includes(fixtures.host), `the control host is logged: ${asked}`);
        // The pages' hosts: the fixture server, and the document URL an
        // `html` body gets (the full browser asks it for a favicon).
        const named = [fixtures.host, 'ppod.invalid:443'];
        assert.deepEqual(asked.filter((h) => !named.includes(h)), [],
          `hosts nobody asked for\n${daemon.stderr().slice(-3000)}`);
      } finally {
        await daemon.stopClean();
      }
    });
  }

  it('control: the full Chromium with only the driving flags asks for Google hosts at once',
    { skip: !fs.existsSync(FULL) && `${FULL} is not installed` }, async () => {
      const daemon = await startDaemon({ browsers: 1, args: ['--chromium', await bareChromium(FULL), '--spares', '0'] });
      try {
        const asked = await pollUntil(() => {
          const h = askedHosts(daemon).filter((x) => /google|gvt1/.test(x));
          return h.length ? h : null;
        }, { timeout: scaled(20000), what: 'a Google host in the egress log' });
        assert.ok(asked.length >= 1);
      } finally {
        await daemon.stopClean();
      }
    });
});

describe('connections per browser through the egress proxy', { timeout: scaled(120000) }, () => {
  const CAP = 8;
  const NAMES = ['a.test', 'b.test', 'c.test', 'd.test'];
  const { daemon, fixtures } = useDaemon({
    browsers: 1,
    args: ['--egress-conns-per-browser', String(CAP)],
    env: { PPOD_EGRESS_HOSTS: NAMES.map((n) => `${n}=127.0.0.1`).join(',') },
    timeout: scaled(60000),
  });

  it(`a page opening ${NAMES.length * 6} hanging requests gets ${CAP} through, the rest refused at once`, async () => {
    // Six per host (Chromium's own limit per host), to a fixture URL that
    // never answers: every one holds a connection until the page goes.
    const total = NAMES.length * 6;
    const html = `<!doctype html><pre id="log"></pre><script>
      let settled = 0;
      const urls = ${JSON.stringify(NAMES)}.flatMap((n) =>
        [0, 1, 2, 3, 4, 5].map((i) => 'http://' + n + ':${fixtures.port}/hang?n=' + n + '&i=' + i));
      for (const u of urls) {
        fetch(u, { mode: 'no-cors', cache: 'no-store' }).finally(() => {
          settled++;
          if (settled === ${total - CAP}) {
            const d = document.createElement('p'); d.id = 'done'; d.textContent = settled;
            document.body.appendChild(d);
          }
        });
      }</script>`;
    const res = await daemon.request('POST', '/browser/content', {
      // An http document (the default is https), so these are not mixed content.
      json: { html, baseUrl: 'http://page.test/', waitForSelector: { selector: '#done', timeout: scaled(20000) } },
      timeout: scaled(60000),
    });
    assert.equal(res.status, 200, `${res.body.subarray(0, 400).toString('utf8')}\n${daemon.stderr().slice(-3000)}`);
    const hung = fixtures.requests.filter((r) => r.path === '/hang').length;
    assert.ok(hung <= CAP, `${hung} requests reached the fixture server, more than the cap of ${CAP}`);
    assert.ok(hung >= 1, 'some requests got through');
    assert.match(daemon.stderr(), new RegExp(`egress: a browser has ${CAP} connections open, its cap`));
    const metrics = (await daemon.request('GET', '/metrics')).body.toString('utf8');
    const capped = Number((/^ppod_egress_requests_total\{result="capped"\} (\d+)$/m.exec(metrics) || [])[1]);
    assert.ok(capped >= total - CAP, `ppod_egress_requests_total{result="capped"} is ${capped}`);
  });

  it('the service stays healthy and the next job works', async () => {
    const health = await daemon.request('GET', '/healthz');
    assert.equal(health.json.result.status, 'ok');
    const res = await daemon.request('POST', '/browser/screenshot', { json: { url: `${fixtures.url}/title.html` } });
    assert.equal(res.status, 200, res.body.subarray(0, 300).toString('utf8'));
  });
});
