'use strict';
// rejectRequestPattern / allowRequestPattern are tenant regexes matched in
// the daemon, on the browser's reader thread that every tenant of that
// browser shares. Under glibc's regex, '(|)(\1\1)*' crashed the daemon and
// '((a{0,100}){0,100}){0,10}' took it to 1.6 GB. Now every pattern is refused
// up front (400 INVALID_PATTERN naming it) or matched within bounds: the
// daemon stays up, answers quickly, its memory stays put, and an ordinary
// pattern still blocks what it names.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { useDaemon, scaled, expectError, httpRequest } = require('./harness');

function rssKb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

describe('tenant request patterns cannot hurt the daemon', () => {
  const { daemon, fixtures } = useDaemon({ browsers: 1 });

  const post = (body) => daemon.request('POST', '/browser/content', { json: body, timeout: scaled(60000) });
  const mark = () => fixtures.requests.length;
  const hits = (from, p) => fixtures.requests.slice(from).filter((r) => r.path === p);

  // A page whose 20 subresource URLs are long runs of 'a' that end badly:
  // the subjects every backtracking shape above explodes on.
  const evilPage = () => {
    const imgs = [];
    for (let i = 0; i < 20; i++) imgs.push(`<img src="${fixtures.url}/dot.svg?${'a'.repeat(3000)}${i}!">`);
    return `<!doctype html><body><p id="ok">ok</p>${imgs.join('')}</body>`;
  };

  it('the pattern that crashed glibc is 400 INVALID_PATTERN naming it, the daemon up', async () => {
    for (const field of ['rejectRequestPattern', 'allowRequestPattern']) {
      const res = await post({ html: evilPage(), [field]: ['ok', '(|)(\\1\\1)*'] });
      const e = expectError(assert, res, 400, 'INVALID_PATTERN');
      assert.ok(e.message.includes(`${field}[1]: '(|)(\\1\\1)*'`), e.message);
      assert.match(e.message, /backreference/);
    }
    for (const p of ['(unclosed', 'a{2,1}', '(?<n>x)\\k<n>', `${'('.repeat(40)}a${')'.repeat(40)}`, 'a\\C']) {
      const res = await post({ url: `${fixtures.url}/title.html`, rejectRequestPattern: [p] });
      const e = expectError(assert, res, 400, 'INVALID_PATTERN', p);
      assert.ok(e.message.includes('rejectRequestPattern[0]'), e.message);
    }
    assert.equal((await httpRequest(daemon.port, 'GET', '/healthz')).status, 200);
  });

  it('catastrophic patterns run bounded: quick answers, bounded memory, /healthz fast', async () => {
    // Tried in order for each URL: the one that matches the empty string
    // (and so ends the search) last.
    const evil = [
      '^((a{0,100}){0,100}){0,10}$', '(a+)+$', '(a|aa)+$', '(a|a?)+$', '(.*a){12}$',
      '(?:a*)*(?:b*)*c$', '^(\\w+\\s?)*$', '^(a(?1)?b)$', '((a{0,100}){0,100}){0,10}',
    ];
    const rss0 = rssKb(daemon.pid);
    let worstHealth = 0;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const t0 = Date.now();
        const h = await httpRequest(daemon.port, 'GET', '/healthz');
        assert.equal(h.status, 200);
        worstHealth = Math.max(worstHealth, Date.now() - t0);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const times = [];
    try {
      for (const field of ['rejectRequestPattern', 'allowRequestPattern']) {
        const t0 = Date.now();
        const res = await post({ html: evilPage(), [field]: evil });
        times.push(Date.now() - t0);
        assert.equal(res.status, 200, res.body.subarray(0, 500).toString('utf8'));
        assert.ok(res.body.toString('utf8').includes('>ok</p>'), res.body.subarray(0, 300).toString('utf8'));
      }
    } finally {
      polling = false;
      await poller;
    }
    const rss1 = rssKb(daemon.pid);
    console.log(`daemon RSS ${rss0} kB -> ${rss1} kB; answers in ${times.join(', ')} ms; worst /healthz ${worstHealth} ms`);
    assert.ok(rss1 - rss0 < 64 * 1024, `daemon RSS grew by ${rss1 - rss0} kB`);
    for (const ms of times) assert.ok(ms < scaled(10000), `answered in ${ms} ms`);
    assert.ok(worstHealth < scaled(500), `/healthz took up to ${worstHealth} ms`);
    // The limits were hit, and said so (rate-limited).
    assert.match(daemon.stderr(), /pattern: a request pattern gave up/);
  });

  it('after all that, an ordinary pattern still blocks what it names', async () => {
    const from = mark();
    const res = await post({ url: `${fixtures.url}/resources.html`, rejectRequestPattern: ['dot\\.svg\\?from=resources$'] });
    assert.equal(res.status, 200);
    assert.equal(hits(from, '/dot.svg').length, 0, 'the image was blocked');
    assert.equal(hits(from, '/added.css').length, 1, 'the stylesheet was not');
    const from2 = mark();
    const res2 = await post({ url: `${fixtures.url}/resources.html`, allowRequestPattern: ['added\\.css'] });
    assert.equal(res2.status, 200);
    assert.equal(hits(from2, '/added.css').length, 1);
    assert.equal(hits(from2, '/added.js').length, 0);
    assert.equal(hits(from2, '/dot.svg').length, 0);
  });
});
