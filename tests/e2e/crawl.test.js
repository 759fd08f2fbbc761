'use strict';
// POST /browser/crawl, GET/DELETE /browser/crawl/{id} and `ppod
// browser:crawl` against a real daemon and a generated site on loopback
// (crawlsite.js): the exact page set (link loops, session-id and
// dot-segment spellings deduped, <base> honoured, a redirect chain followed,
// the sitemap read), robots.txt respected, a 404 and a slow page recorded as
// failed, the infinite calendar bounded by depth and a crawl by its limit,
// the same pages without a browser (render:false), results by cursor and as
// NDJSON, another account's 404, private destinations refused, cancel
// stopping within a second, a daemon restart resuming without duplicates,
// and the CLI writing a directory.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFile } = require('node:child_process');
const {
  useDaemon, startDaemon, createAccount, makeTempDir, scaled, expectError, pollUntil, REPO_ROOT,
} = require('./harness');
const { startCrawlSite } = require('./crawlsite');

const PPOD = path.join(process.env.PPOD_BIN_DIR ? path.resolve(process.env.PPOD_BIN_DIR)
  : path.join(REPO_ROOT, 'build'), 'ppod');

const DEPTH = 4;
const PAGE_OPTIONS = { timeout: 2000 };

async function startCrawl(daemon, body, token) {
  const res = await daemon.request('POST', '/browser/crawl', { json: body, ...(token ? { token } : {}) });
  assert.equal(res.status, 200, res.body.toString());
  // Cloudflare's answer: the job's id is the result.
  assert.match(res.json.result, /^[0-9a-f]{24}$/);
  return res.json.result;
}

async function getCrawl(daemon, id, query = '') {
  const res = await daemon.request('GET', `/browser/crawl/${id}${query}`);
  assert.equal(res.status, 200, res.body.toString());
  return res.json.result;
}

async function waitEnded(daemon, id, timeout = scaled(120000)) {
  let last;
  await pollUntil(async () => {
    last = await getCrawl(daemon, id, '?limit=0');
    return last.status !== 'running' && last.status !== 'queued';
  }, { timeout, interval: 200, what: `crawl ${id} to end` });
  return last;
}

// Every result through the cursor, pages of `limit`.
async function allByCursor(daemon, id, limit, filter = '') {
  const out = [];
  let cursor = '';
  for (let i = 0; i < 1000; i++) {
    const r = await getCrawl(daemon, id, `?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}${filter}`);
    assert.ok(r.records.length <= limit);
    out.push(...r.records);
    if (r.cursor === null) return out;
    assert.equal(typeof r.cursor, 'number', 'a number, as Cloudflare\'s');
    cursor = r.cursor;
  }
  throw new Error('the cursor never ended');
}

// Cloudflare's record statuses: completed, errored (failed), disallowed
// (robots.txt: skipped).
function byState(results) {
  const s = { completed: [], failed: [], skipped: [] };
  const key = { completed: 'completed', errored: 'failed', disallowed: 'skipped' };
  for (const r of results) s[key[r.status]].push(r.url);
  for (const k of Object.keys(s)) s[k].sort();
  return s;
}

function assertNoDuplicates(results) {
  const seen = new Set();
  for (const r of results) {
    assert.ok(!seen.has(r.url), `${r.url} appears twice`);
    seen.add(r.url);
  }
}

describe('crawl', { timeout: scaled(600000) }, () => {
  let site;
  const { daemon } = useDaemon(async () => {
    site = await startCrawlSite();
    return { browsers: 1, fixtures: false, allowPrivate: [`127.0.0.1:${site.port}`],
      args: ['--crawl-max-active', '2'], timeout: scaled(60000) };
  });
  after(async () => { if (site) await site.close(); });

  let mainId;
  let mainResults;

  it('records exactly the pages of the site: loops and spellings deduped, robots.txt respected, the calendar bounded by depth', { timeout: scaled(240000) }, async () => {
    const before = (await daemon.request('GET', '/browser/usage')).json.result.browserMs;
    mainId = await startCrawl(daemon, {
      url: `${site.url}/`, limit: 1000, depth: DEPTH, formats: ['markdown', 'links'],
      pageOptions: PAGE_OPTIONS,
    });
    const end = await waitEnded(daemon, mainId);
    assert.equal(end.status, 'completed');
    mainResults = await allByCursor(daemon, mainId, 37);
    assertNoDuplicates(mainResults);
    const want = site.expected(DEPTH);
    const got = byState(mainResults);
    assert.deepEqual(got.completed, want.completed);
    assert.deepEqual(got.failed, want.failed);
    assert.deepEqual(got.skipped, want.skipped);
    assert.deepEqual(end.counts, { queued: 0, running: 0, done: want.completed.length,
      failed: 2, skipped: 1 });
    // robots.txt: the disallowed page was never fetched; the calendar
    // stopped at the depth.
    assert.equal(site.hits.get('/private/secret'), undefined);
    assert.equal([...site.hits.keys()].filter((k) => k.startsWith('/cal/')).length, DEPTH);
    // Each page once (the 404 and the redirect chain too).
    for (const k of ['/', '/sec/0', '/sec/2', '/sec/9/p/19', '/missing', '/redirect/1', '/target'])
      assert.equal(site.hits.get(k), 1, k);
    // The page's own facts.
    const r = Object.fromEntries(mainResults.map((x) => [x.url, x]));
    const home = r[`${site.url}/`];
    assert.deepEqual(home.metadata, { status: 200, title: 'Home', url: `${site.url}/` });
    assert.match(home.markdown, /^# Home/m);
    assert.ok(home.links.includes(`${site.url}/sec/0`));
    assert.equal(r[`${site.url}/redirect/1`].metadata.url, `${site.url}/target`);
    assert.equal(r[`${site.url}/missing`].metadata.status, 404);
    // Cloudflare's ?status= filter, through the cursor.
    const errored = await allByCursor(daemon, mainId, 1, '&status=errored');
    assert.deepEqual(errored.map((x) => x.url).sort(), want.failed);
    assert.deepEqual(await allByCursor(daemon, mainId, 50, '&status=skipped'), []);
    assert.equal((await allByCursor(daemon, mainId, 500, '&status=disallowed')).length, 1);
    assert.equal(end.total, mainResults.length);
    assert.equal(end.finished, mainResults.length);
    assert.ok(end.browserSecondsUsed > 0);
    assert.match(r[`${site.url}/slow`].error, /TIMEOUT/);
    assert.match(r[`${site.url}/private/secret`].error, /robots\.txt/);
    assert.equal(r[`${site.url}/sec/3/extra/1`].depth, 2);
    assert.equal(r[`${site.url}/orphan/0`].depth, 0);
    // Browser time is metered.
    const afterMs = (await daemon.request('GET', '/browser/usage')).json.result.browserMs;
    assert.ok(afterMs > before, `usage grew: ${before} -> ${afterMs}`);
  });

  it('streams every result as NDJSON, in the cursor order, ending with the status', async () => {
    const res = await daemon.request('GET', `/browser/crawl/${mainId}?format=ndjson`);
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /application\/x-ndjson/);
    const lines = res.body.toString().trim().split('\n').map((l) => JSON.parse(l));
    const status = lines.pop();
    assert.equal(status.type, 'status');
    assert.equal(status.status, 'completed');
    assert.deepEqual(lines.map((l) => l.url), mainResults.map((l) => l.url));
    assert.equal(lines.length, status.counts.done + status.counts.failed + status.counts.skipped);
  });

  it('bounds a crawl by its limit', async () => {
    const id = await startCrawl(daemon, { url: `${site.url}/`, limit: 25, depth: 50, sitemap: false });
    const end = await waitEnded(daemon, id);
    assert.equal(end.status, 'completed');
    const all = await allByCursor(daemon, id, 500);
    assert.equal(all.length, 25);
    assertNoDuplicates(all);
  });

  it('crawls the same pages without a browser (render:false), <base> and redirects included', { timeout: scaled(120000) }, async () => {
    const id = await startCrawl(daemon, {
      url: `${site.url}/`, limit: 1000, depth: DEPTH, render: false, formats: ['markdown', 'html'],
      pageOptions: PAGE_OPTIONS,
    });
    const end = await waitEnded(daemon, id);
    assert.equal(end.status, 'completed');
    const all = await allByCursor(daemon, id, 500);
    assertNoDuplicates(all);
    const want = site.expected(DEPTH);
    const got = byState(all);
    assert.deepEqual(got.completed, want.completed);
    assert.deepEqual(got.failed, want.failed);
    assert.deepEqual(got.skipped, want.skipped);
    const home = all.find((x) => x.url === `${site.url}/`);
    assert.match(home.html, /<h1>Home<\/h1>/);
    assert.match(home.markdown, /^# Home/m);
    assert.equal(all.find((x) => x.url === `${site.url}/redirect/1`).metadata.url, `${site.url}/target`);
  });

  for (const render of [true, false]) {
    it(`refuses private destinations a page links or redirects to (render:${render})`, async () => {
      const id = await startCrawl(daemon, {
        url: `${site.url}/attack`, depth: 1, sameOrigin: false, render, sitemap: false,
        respectRobots: false, pageOptions: PAGE_OPTIONS,
      });
      await waitEnded(daemon, id);
      const all = await allByCursor(daemon, id, 500);
      const failed = all.filter((r) => r.status === 'errored');
      assert.deepEqual(all.filter((r) => r.status === 'completed').map((r) => r.url), [`${site.url}/attack`]);
      assert.equal(failed.length, 5, JSON.stringify(all));
      for (const r of failed) assert.match(r.error, /FORBIDDEN|refused|not allowed|private|loopback/i, `${r.url}: ${r.error}`);
    });
  }

  it('refuses a private start URL, bad options and another account\'s crawl', async () => {
    let res = await daemon.request('POST', '/browser/crawl', { json: { url: 'http://127.0.0.1:1/' } });
    expectError(assert, res, 403, 'FORBIDDEN_URL');
    res = await daemon.request('POST', '/browser/crawl', { json: { url: 'http://169.254.169.254/' } });
    expectError(assert, res, 403, 'FORBIDDEN_URL');
    res = await daemon.request('POST', '/browser/crawl', { json: { url: `${site.url}/`, limit: 0 } });
    expectError(assert, res, 400, 'INVALID_REQUEST');
    res = await daemon.request('POST', '/browser/crawl', { json: { url: `${site.url}/`, includePatterns: ['(a'] } });
    expectError(assert, res, 400, 'INVALID_PATTERN');
    res = await daemon.request('POST', '/browser/crawl', { json: { url: `${site.url}/`, pageOptions: { url: 'http://x/' } } });
    expectError(assert, res, 400, 'INVALID_REQUEST');
    res = await daemon.request('POST', '/browser/crawl', { json: { url: `${site.url}/`, formats: ['pdf'] } });
    expectError(assert, res, 400, 'INVALID_REQUEST');
    res = await daemon.request('GET', '/browser/crawl/0123456789abcdef01234567');
    expectError(assert, res, 404, 'CRAWL_NOT_FOUND');
    res = await daemon.request('GET', `/browser/crawl/${mainId}?cursor=x`);
    expectError(assert, res, 400, 'INVALID_REQUEST');
    res = await daemon.request('GET', `/browser/crawl/${mainId}?status=${'x'.repeat(200)}`);
    expectError(assert, res, 400, 'INVALID_REQUEST');
    res = await daemon.request('GET', `/browser/crawl/${mainId}?status=failed`);
    expectError(assert, res, 400, 'INVALID_REQUEST');

    const other = await createAccount(daemon.dataDir, 'crawl-other');
    res = await daemon.request('GET', `/browser/crawl/${mainId}`, { token: other });
    expectError(assert, res, 404, 'CRAWL_NOT_FOUND');
    res = await daemon.request('GET', `/browser/crawl/${mainId}?format=ndjson`, { token: other });
    expectError(assert, res, 404, 'CRAWL_NOT_FOUND');
    res = await daemon.request('DELETE', `/browser/crawl/${mainId}`, { token: other });
    expectError(assert, res, 404, 'CRAWL_NOT_FOUND');
    res = await daemon.request('GET', `/browser/crawl/${mainId}`, { token: null });
    expectError(assert, res, 401, 'UNAUTHORIZED');
    assert.equal((await getCrawl(daemon, mainId, '?limit=1')).status, 'completed');
  });

  it('takes Cloudflare\'s fields: wildcard options.includePatterns/excludePatterns, source links or sitemaps', { timeout: scaled(120000) }, async () => {
    // Sections and their articles, but not articles 1 and 10-19; no sitemap.
    let id = await startCrawl(daemon, {
      url: `${site.url}/`, limit: 500, depth: 2, render: false, source: 'links',
      options: { includePatterns: [`${site.url}/sec/*`, `${site.url}/sec/*/p/*`], excludePatterns: ['**/p/1*'] },
      maxAge: 7200, modifiedSince: 1704067200, crawlPurposes: ['search'], contentUse: 'reference',
    });
    assert.equal((await waitEnded(daemon, id)).status, 'completed');
    let all = await allByCursor(daemon, id, 500);
    const want = [`${site.url}/`];
    for (let i = 0; i < 10; i++) {
      want.push(`${site.url}/sec/${i}`);
      for (const j of [0, 2, 3, 4, 5, 6, 7, 8, 9]) want.push(`${site.url}/sec/${i}/p/${j}`);
    }
    assert.deepEqual(all.map((r) => r.url).sort(), want.sort());
    assert.ok(all.every((r) => r.status === 'completed'));
    // source: sitemaps: the start URL and the sitemap's, no link followed.
    id = await startCrawl(daemon, { url: `${site.url}/`, limit: 50, render: false, source: 'sitemaps' });
    assert.equal((await waitEnded(daemon, id)).status, 'completed');
    all = await allByCursor(daemon, id, 500);
    assert.deepEqual(all.map((r) => r.url).sort(),
      [`${site.url}/`, ...[0, 1, 2, 3, 4].map((k) => `${site.url}/orphan/${k}`)].sort());
    assert.ok(all.every((r) => r.depth === 0));
  });

  it('applies the page options at the top of the request to each rendered page', { timeout: scaled(120000) }, async () => {
    const t = Date.now();
    const id = await startCrawl(daemon, {
      url: `${site.url}/sec/4`, limit: 3, depth: 1, source: 'links',
      setExtraHTTPHeaders: { 'X-Crawl-Test': 'cf-top' }, rejectResourceTypes: ['image', 'font'],
      gotoOptions: { waitUntil: 'domcontentloaded', timeout: 10000 },
    });
    assert.equal((await waitEnded(daemon, id)).status, 'completed');
    const all = await allByCursor(daemon, id, 500);
    assert.equal(all.length, 3);
    const paths = all.map((r) => new URL(r.url).pathname);
    const pages = site.log.filter((e) => e.t >= t && paths.includes(e.path));
    assert.equal(pages.length, 3, JSON.stringify(pages.map((e) => e.path)));
    for (const e of pages) assert.equal(e.headers['x-crawl-test'], 'cf-top', e.path);
  });

  it('refuses hostile Cloudflare fields and takes wildcards literally', { timeout: scaled(120000) }, async () => {
    const u = `${site.url}/`;
    const bad = [
      [{ options: { includePatterns: Array(33).fill('**') } }, 'INVALID_REQUEST'],
      [{ options: { excludePatterns: ['x'.repeat(2049)] } }, 'INVALID_REQUEST'],
      [{ options: { includePatterns: [''] } }, 'INVALID_REQUEST'],
      // Each * is a longer expression: past the engine's bound.
      [{ options: { includePatterns: [`${'*a'.repeat(1000)}b`] } }, 'INVALID_PATTERN'],
      [{ options: { includePatterns: 'https://*' } }, 'INVALID_REQUEST'],
      [{ options: { followEverything: true } }, 'INVALID_REQUEST'],
      [{ source: 'everything' }, 'INVALID_REQUEST'],
      [{ contentUse: 'immediate' }, 'INVALID_REQUEST'],
      [{ crawlPurposes: ['resale'] }, 'INVALID_REQUEST'],
      [{ maxAge: 604801 }, 'INVALID_REQUEST'],
      [{ modifiedSince: -1 }, 'INVALID_REQUEST'],
      [{ html: '<p>x</p>' }, 'INVALID_REQUEST'],
      [{ sessionId: 'abc' }, 'INVALID_REQUEST'],
      [{ setExtraHTTPHeaders: { 'Bad Header': 'x' } }, 'INVALID_REQUEST'],
    ];
    for (const [extra, code] of bad) {
      const res = await daemon.request('POST', '/browser/crawl', { json: { url: u, ...extra } });
      expectError(assert, res, 400, code, JSON.stringify(extra).slice(0, 80));
    }
    // formats json is extraction by a language model: none here.
    const res = await daemon.request('POST', '/browser/crawl', { json: { url: u, formats: ['json'], jsonOptions: { prompt: 'x' } } });
    const e = expectError(assert, res, 400, 'NO_MODEL');
    assert.match(e.message, /language model/);
    // Regular-expression syntax in a wildcard is literal (no link matches
    // "(a" or ".*"), and a pattern made to backtrack ends in bounded time.
    const id = await startCrawl(daemon, {
      url: u, limit: 20, depth: 3, render: false, source: 'links',
      options: { includePatterns: ['(a', '.*', `${'*a'.repeat(300)}b`, `${'**x'.repeat(600)}`] },
    });
    assert.equal((await waitEnded(daemon, id, scaled(30000))).status, 'completed');
    assert.deepEqual((await allByCursor(daemon, id, 500)).map((r) => r.url), [u]);
  });

  it('cancels: no page is fetched a second after DELETE; a third crawl at once is 429 CRAWL_LIMIT', async () => {
    const a = await startCrawl(daemon, { url: `${site.url}/`, limit: 500, depth: 5, sitemap: false });
    const b = await startCrawl(daemon, { url: `${site.url}/sec/0`, limit: 500, depth: 5, sitemap: false });
    const res = await daemon.request('POST', '/browser/crawl', { json: { url: `${site.url}/` } });
    expectError(assert, res, 429, 'CRAWL_LIMIT');
    await pollUntil(async () => (await getCrawl(daemon, a, '?limit=0')).counts.done >= 3,
      { timeout: scaled(30000), what: 'three pages done' });
    for (const id of [a, b]) {
      const del = await daemon.request('DELETE', `/browser/crawl/${id}`);
      assert.equal(del.status, 200, del.body.toString());
      assert.equal(del.json.result.status, 'cancelled_by_user');
    }
    const t = Date.now();
    const countA = (await getCrawl(daemon, a, '?limit=0')).counts.done;
    await new Promise((r) => setTimeout(r, scaled(2000)));
    const late = site.log.filter((e) => e.t > t + 1000);
    assert.deepEqual(late, [], 'requests more than a second after the cancel');
    const endA = await getCrawl(daemon, a, '?limit=0');
    assert.equal(endA.status, 'cancelled_by_user');
    assert.equal(endA.counts.done, countA);
    assert.ok(endA.endedAt);
  });

  it('ppod browser:crawl writes one .md per page and index.json', async () => {
    const dir = path.join(await makeTempDir('ppod-e2e-crawl-'), 'out');
    const { stdout, stderr } = await new Promise((resolve, reject) => {
      execFile(PPOD, ['browser:crawl', `${site.url}/`, '--limit', '15', '--depth', '2', '-o', dir],
        { env: { ...process.env, PAPERPOD_TOKEN: daemon.token, PAPERPOD_URL: daemon.url }, timeout: scaled(120000) },
        (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve({ stdout: out, stderr: errOut })));
    });
    assert.equal(stdout.trim(), dir);
    const index = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8'));
    assert.equal(index.length, 15);
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.md')).sort();
    const completed = index.filter((e) => e.status === 'completed');
    assert.deepEqual(completed.map((e) => e.file).sort(), files);
    for (const f of files) assert.match(f, /^[A-Za-z0-9_][A-Za-z0-9._-]*\.md$/);
    assert.match(fs.readFileSync(path.join(dir, 'index.md'), 'utf8'), /^# Home/m);
    // Not a terminal: one plain line per page, no carriage returns.
    assert.ok(!stderr.includes('\r'));
    assert.equal(stderr.trim().split('\n').length, 15, stderr);
  });

  it('lists the routes in /openapi.json', async () => {
    const res = await daemon.request('GET', '/openapi.json', { token: null });
    const paths = res.json.paths;
    assert.ok(paths['/browser/crawl'].post);
    assert.ok(paths['/browser/crawl/{id}'].get);
    assert.ok(paths['/browser/crawl/{id}'].delete);
  });
});

describe('crawl across a daemon restart', { timeout: scaled(300000) }, () => {
  let site;
  let daemon;
  before(async () => { site = await startCrawlSite(); });
  after(async () => {
    if (daemon) await daemon.stop();
    if (site) await site.close();
  });

  it('resumes where it stopped, without a page twice in the results', { timeout: scaled(240000) }, async () => {
    const allow = [`127.0.0.1:${site.port}`];
    daemon = await startDaemon({ browsers: 1, allowPrivate: allow });
    const id = await startCrawl(daemon, { url: `${site.url}/`, limit: 80, depth: DEPTH, sitemap: false });
    await pollUntil(async () => (await getCrawl(daemon, id, '?limit=0')).counts.done >= 15,
      { timeout: scaled(60000), what: '15 pages done' });
    const { dataDir, token } = daemon;
    await daemon.stopClean();
    const doneBefore = site.log.length;
    daemon = await startDaemon({ browsers: 1, allowPrivate: allow, dataDir, token });
    const end = await waitEnded(daemon, id);
    assert.equal(end.status, 'completed');
    const all = await allByCursor(daemon, id, 500);
    assertNoDuplicates(all);
    assert.equal(all.length, 80);
    assert.ok(site.log.length > doneBefore, 'pages were fetched after the restart');
    // A page is fetched again only if the stop caught it in flight.
    const twice = [...site.hits.entries()].filter(([k, n]) => n > 1 && k !== '/robots.txt');
    assert.ok(twice.length <= 2, `fetched twice: ${JSON.stringify(twice)}`);
    await daemon.stopClean();
    daemon = null;
  });
});
