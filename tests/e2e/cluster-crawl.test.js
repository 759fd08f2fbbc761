// Crawls in a cluster (ops/crawl.c, core/crawlstore.c, http/proxy.c,
// daemon/cluster.c): two daemons on one throwaway PostgreSQL. A crawl
// belongs to the node that started it (its id starts with the node's tag):
// read and cancelled through the other node, the cancel reaches the owner's
// scheduler (the site stops being fetched); another account's GET through
// the other node is 404. After kill -9 of the owner, its unfinished crawl
// reads errored with the NodeLost text through the survivor within the node
// timeout, and the account's crawl slot is free again.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const crypto = require('node:crypto');
const { execFileSync } = require('node:child_process');
const {
  REPO_ROOT, startDaemon, expectError, makeTempDir, freePort, pollUntil, runAdmin, scaled,
} = require('./harness');

const PG_SCRIPT = path.join(REPO_ROOT, 'scripts', 'pg-throwaway.sh');
const haveInitdb = fs.existsSync('/usr/lib/postgresql') &&
  fs.readdirSync('/usr/lib/postgresql', { withFileTypes: true })
    .some((d) => fs.existsSync(path.join('/usr/lib/postgresql', d.name, 'bin', 'initdb')));

let pgDir;
let url;
let keyFile;
const nodes = [];

// The site: /slow/N answers after 250 ms with links to /slow/N+1..N+3 (a
// crawl that keeps going); /hang never answers (a crawl that stays running).
function startSite() {
  const hits = [];
  const held = new Set();
  const server = http.createServer((req, res) => {
    const p = new URL(req.url, 'http://x').pathname;
    hits.push(p);
    const m = /^\/slow\/(\d+)$/.exec(p);
    if (m) {
      const n = Number(m[1]);
      const t = setTimeout(() => {
        held.delete(t);
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end(`<title>p${n}</title>${[1, 2, 3].map((k) => `<a href="/slow/${n + k}">x</a>`).join('')}`);
      }, 250);
      held.add(t);
      return;
    }
    if (p === '/hang') { held.add(res); return; }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('no\n');
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    port: server.address().port,
    hits,
    close: () => {
      for (const h of held) { if (typeof h.destroy === 'function') h.destroy(); else clearTimeout(h); }
      server.closeAllConnections();
      return new Promise((r) => server.close(r));
    },
  })));
}

async function account(name) {
  const dir = await makeTempDir('ppod-e2e-admin-');
  const { stdout } = await runAdmin(['account', 'create', name, '--data-dir', dir],
    { env: { PPOD_STORE: url } });
  return stdout.trim();
}

async function node(name, site) {
  const port = await freePort();
  const d = await startDaemon({
    port,
    browsers: 1,
    allowPrivate: [`127.0.0.1:${site.port}`],
    args: ['--store', `${url}?options=-c%20idle_in_transaction_session_timeout%3D2000`,
      '--node-url', `http://127.0.0.1:${port}`, '--node-name', name,
      '--cluster-key-file', keyFile, '--node-timeout', '3', '--crawl-max-active', '1'],
  });
  const m = /cluster node \S+, tag ([0-9a-f]{4})/.exec(d.stderr());
  assert.ok(m, `the node says its tag\n${d.stderr().slice(-2000)}`);
  d.tag = m[1];
  nodes.push(d);
  return d;
}

async function crawlOf(d, id, token) {
  const r = await d.request('GET', `/browser/crawl/${id}?limit=0`, { token });
  assert.equal(r.status, 200, r.body.toString());
  return r.json.result;
}

test('crawls in a cluster', { skip: !haveInitdb && 'no PostgreSQL server installed', timeout: scaled(180000) }, async (t) => {
  pgDir = await makeTempDir('ppod-e2e-pg-');
  url = execFileSync(PG_SCRIPT, ['start', pgDir], { encoding: 'utf8' }).trim().split('\n').pop();
  keyFile = path.join(await makeTempDir('ppod-e2e-key-'), 'cluster.key');
  fs.writeFileSync(keyFile, crypto.randomBytes(24).toString('hex') + '\n', { mode: 0o600 });
  const site = await startSite();
  t.after(async () => {
    for (const d of nodes) await d.stop('SIGKILL').catch(() => {});
    await site.close();
    try { execFileSync(PG_SCRIPT, ['stop', pgDir]); } catch { /* gone */ }
  });
  const owner = await account('owner');
  const other = await account('other');
  const a = await node('A', site);
  const b = await node('B', site);
  const origin = `http://127.0.0.1:${site.port}`;

  await t.test('a crawl started on A is read and cancelled through B; the cancel stops A', async () => {
    const st = await a.request('POST', '/browser/crawl', {
      json: { url: `${origin}/slow/0`, limit: 10000, depth: 100, render: false, sitemap: false },
      token: owner,
    });
    assert.equal(st.status, 200, st.body.toString());
    const id = st.json.result;
    assert.match(id, /^[0-9a-f]{24}$/);
    assert.equal(id.slice(0, 4), a.tag, 'the crawl id names its node');
    // Read through B (forwarded to A): running, pages coming in.
    await pollUntil(async () => (await crawlOf(b, id, owner)).finished >= 2,
      { timeout: scaled(30000), interval: 100, what: 'pages of the crawl, read through B' });
    // Another account: 404 through B as on A.
    expectError(assert, await b.request('GET', `/browser/crawl/${id}`, { token: other }), 404, 'CRAWL_NOT_FOUND');
    expectError(assert, await b.request('DELETE', `/browser/crawl/${id}`, { token: other }), 404, 'CRAWL_NOT_FOUND');
    assert.equal((await crawlOf(a, id, owner)).status, 'running', 'another account cancelled nothing');
    // The account is at its limit of one crawl, on either node.
    expectError(assert, await b.request('POST', '/browser/crawl',
      { json: { url: `${origin}/slow/500`, render: false }, token: owner }), 429, 'CRAWL_LIMIT');
    // Cancelled through B: A's scheduler stops fetching.
    const del = await b.request('DELETE', `/browser/crawl/${id}`, { token: owner });
    assert.equal(del.status, 200, del.body.toString());
    assert.equal(del.json.result.status, 'cancelled_by_user');
    // A page in flight at the cancel may still be asked for; then nothing.
    // (No event says "nothing more happened": watch the site for 2 s.)
    await new Promise((r) => setTimeout(r, 500));
    const hitsAtCancel = site.hits.length;
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(site.hits.length, hitsAtCancel, 'A stopped fetching the cancelled crawl');
    assert.equal((await crawlOf(a, id, owner)).status, 'cancelled_by_user');
  });

  await t.test('kill -9 of A: its unfinished crawl reads errored NodeLost through B; the slot is free', async () => {
    const st = await a.request('POST', '/browser/crawl', {
      json: { url: `${origin}/hang`, render: false, sitemap: false, pageOptions: { timeout: 120000 } },
      token: owner,
    });
    assert.equal(st.status, 200, st.body.toString());
    const id = st.json.result;
    assert.equal(id.slice(0, 4), a.tag);
    await pollUntil(async () => (await crawlOf(b, id, owner)).counts.running === 1,
      { timeout: scaled(30000), interval: 100, what: 'the page of the crawl being fetched' });
    expectError(assert, await b.request('POST', '/browser/crawl',
      { json: { url: `${origin}/slow/900`, render: false }, token: owner }), 429, 'CRAWL_LIMIT');
    const killedAt = Date.now();
    process.kill(-a.pid, 'SIGKILL');
    await a.exited;
    let got;
    await pollUntil(async () => {
      got = await crawlOf(b, id, owner);
      return got.status !== 'running' && got.status !== 'queued';
    }, { timeout: scaled(15000), interval: 100, what: 'the lost node\'s crawl to end' });
    const after = Date.now() - killedAt;
    t.diagnostic(`crawl of the lost node errored ${after} ms after kill -9 (--node-timeout 3)`);
    assert.ok(after <= scaled(3000 + 3000), `ended ${after} ms after the kill`);
    assert.equal(got.status, 'errored');
    assert.match(got.error, /^NodeLost: the node running this crawl stopped answering/);
    assert.equal(got.counts.running, 0, 'the page in flight is not left running');
    assert.equal(got.counts.failed, 1);
    assert.ok(got.endedAt);
    // Another account still learns nothing of it.
    expectError(assert, await b.request('GET', `/browser/crawl/${id}`, { token: other }), 404, 'CRAWL_NOT_FOUND');
    // The account's crawl slot is free: a new crawl starts, on B.
    const again = await b.request('POST', '/browser/crawl',
      { json: { url: `${origin}/slow/1000`, limit: 3, depth: 2, render: false, sitemap: false }, token: owner });
    assert.equal(again.status, 200, again.body.toString());
    assert.equal(again.json.result.slice(0, 4), b.tag);
    await pollUntil(async () => (await crawlOf(b, again.json.result, owner)).status === 'completed',
      { timeout: scaled(30000), interval: 100, what: 'the new crawl on B to complete' });
  });
});
