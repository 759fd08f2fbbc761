'use strict';
// Cloudflare Browser Rendering's documented example requests, sent as a
// user switching to us sends them: each body from their REST docs
// (tests/fixtures/compat/cloudflare/*.json, "_source" says where), by plain
// HTTP to /browser/<endpoint>, with its URLs pointed at this test's fixture
// site, and each answer checked for the shape and content Cloudflare
// documents. Examples that wait on work of another part of issue 18 are
// marked "_pending" and run as todo; "_expect" marks a deviation we chose
// (no language model: /json with a prompt is 400 NO_MODEL). The acceptance
// rate per endpoint is printed at the end.
const { describe, it, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { useDaemon, decodePng, scaled, expectError, pollUntil, REPO_ROOT } = require('./harness');

const DIR = path.join(REPO_ROOT, 'tests', 'fixtures', 'compat', 'cloudflare');
const SITE = '/compat/cloudflare/site';
const examples = fs.readdirSync(DIR).filter((f) => f.endsWith('.json')).sort()
  .map((f) => ({ name: f.replace(/\.json$/, ''), raw: JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8')) }));

// Which fixture page stands for which host of the examples.
const PAGES = { 'developers.cloudflare.com': 'developers.html', 'app.example.com': 'app.html' };
const MARKER = { 'example.html': 'Example Domain', 'developers.html': 'Cloudflare Developers Fixture', 'app.html': 'App Fixture' };
// Text of a page's Markdown (app.html's comes from its script).
const MD_MARKER = { 'example.html': 'Example Domain', 'developers.html': 'Workers AI', 'app.html': 'Content rendered by script.' };
const STYLE_HOSTS = new Set(['cdn.jsdelivr.net', 'your-cdn.com']);

// The body as sent: "_" keys stripped, URLs on the fixture site.
function rewrite(raw, origin) {
  const host = new URL(origin).hostname;
  const page = (u) => {
    const h = new URL(u).hostname;
    if (STYLE_HOSTS.has(h)) return `${origin}${SITE}/style.css`;
    return `${origin}${SITE}/${PAGES[h] || 'example.html'}`;
  };
  const walk = (v, key) => {
    if (Array.isArray(v)) return v.map((x) => walk(x, key));
    if (v && typeof v === 'object') {
      const o = {};
      for (const [k, x] of Object.entries(v)) if (!k.startsWith('_')) o[k] = walk(x, k);
      return o;
    }
    if (typeof v === 'string' && key === 'url' && /^https?:\/\//.test(v)) return page(v);
    if (typeof v === 'string' && key === 'domain') return host;
    if (typeof v === 'string' && /^https?:\/\/[^/]+/.test(v)) return v.replace(/^https?:\/\/[^/]+/, `${origin}${SITE}`);
    return v;
  };
  return walk(raw);
}

function pageOf(raw) {
  if (typeof raw.url !== 'string') return null;
  return PAGES[new URL(raw.url).hostname] || 'example.html';
}

// Visible text of an html body, for the examples that post html.
const textOf = (html) => html.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim();

function* nodes(tree) {
  if (!tree) return;
  yield tree;
  for (const c of tree.children || []) yield* nodes(c);
}

function okJson(res) {
  assert.equal(res.status, 200, `status ${res.status}: ${res.body.subarray(0, 400).toString('utf8')}`);
  assert.match(String(res.headers['content-type']), /application\/json/);
  assert.equal(res.json.success, true);
  return res.json;
}

function checkPng(b64orBuf, body) {
  const buf = Buffer.isBuffer(b64orBuf) ? b64orBuf : Buffer.from(b64orBuf, 'base64');
  assert.equal(buf.subarray(1, 4).toString('latin1'), 'PNG', 'a PNG');
  const png = decodePng(buf);
  const vp = body.viewport;
  const shot = body.screenshotOptions || {};
  if (vp && !shot.fullPage && !body.selector) {
    const dsf = vp.deviceScaleFactor || 1;
    assert.equal(png.width, vp.width * dsf);
    assert.equal(png.height, vp.height * dsf);
  }
  if (vp && shot.fullPage) assert.equal(png.width, vp.width * (vp.deviceScaleFactor || 1));
  return png;
}

// What Cloudflare documents for each endpoint, checked on our answer.
const CHECK = {
  content(res, body, raw) {
    const out = okJson(res);
    assert.equal(typeof out.result, 'string');
    assert.match(out.result, /<html/i);
    const want = body.html ? textOf(body.html) : MARKER[pageOf(raw)];
    assert.ok(out.result.includes(want), `content has "${want}"`);
  },
  screenshot(res, body) {
    assert.equal(res.status, 200, `status ${res.status}: ${res.body.subarray(0, 400).toString('utf8')}`);
    assert.match(String(res.headers['content-type']), /^image\/png/);
    const png = checkPng(res.body, body);
    if (body.selector) {
      // #example_element_name is 300 x 40 CSS px
      assert.equal(png.width, 300 * ((body.viewport || {}).deviceScaleFactor || 1));
      assert.equal(png.height, 40 * ((body.viewport || {}).deviceScaleFactor || 1));
    }
  },
  pdf(res) {
    assert.equal(res.status, 200, `status ${res.status}: ${res.body.subarray(0, 400).toString('utf8')}`);
    assert.match(String(res.headers['content-type']), /^application\/pdf/);
    assert.equal(res.body.subarray(0, 5).toString('latin1'), '%PDF-');
    assert.match(res.body.subarray(-64).toString('latin1'), /%%EOF/);
  },
  scrape(res, body) {
    const out = okJson(res);
    assert.equal(out.result.length, body.elements.length);
    out.result.forEach((r, i) => {
      assert.equal(r.selector, body.elements[i].selector);
      assert.ok(r.results.length >= 1);
      for (const e of r.results) {
        for (const k of ['text', 'html']) assert.equal(typeof e[k], 'string');
        for (const k of ['height', 'width', 'top', 'left']) assert.equal(typeof e[k], 'number');
        assert.ok(Array.isArray(e.attributes));
        for (const a of e.attributes) assert.deepEqual(Object.keys(a).sort(), ['name', 'value']);
      }
    });
    assert.equal(out.result[0].results[0].text, 'Example Domain');
    assert.ok(out.result[1].results.some((e) => e.text === 'Learn more'
      && e.attributes.some((a) => a.name === 'href' && a.value === 'https://iana.org/domains/example')));
  },
  markdown(res, body, raw) {
    const out = okJson(res);
    assert.equal(typeof out.result, 'string');
    const want = body.html ? textOf(body.html) : pageOf(raw) === 'developers.html' ? 'Workers AI' : 'Example Domain';
    assert.ok(out.result.includes(want), `markdown has "${want}": ${out.result.slice(0, 300)}`);
    if (!body.html && pageOf(raw) === 'example.html') assert.match(out.result, /\[Learn more\]\(https:\/\/iana\.org\/domains\/example\)/);
  },
  links(res, body) {
    const out = okJson(res);
    assert.ok(Array.isArray(out.result) && out.result.every((u) => /^https?:\/\//.test(u)));
    const origin = new URL(body.url).origin;
    assert.ok(out.result.includes(`${origin}${SITE}/docs.html`));
    const external = out.result.filter((u) => !u.startsWith(origin));
    if (body.excludeExternalLinks) assert.deepEqual(external, []);
    else assert.ok(external.includes('https://github.com/cloudflare'));
    assert.equal(out.result.includes('https://x.com/cloudflare'), !body.visibleLinksOnly && !body.excludeExternalLinks);
  },
  snapshot(res, body) {
    const out = okJson(res);
    const formats = body.formats || ['content', 'screenshot'];
    assert.deepEqual(Object.keys(out.result).sort(), [...formats].sort());
    if (out.result.screenshot) checkPng(out.result.screenshot, body);
    if (out.result.content) {
      const want = body.html ? textOf(body.html) : (body.addScriptTag ? 'Snapshot Page' : 'Example Domain');
      assert.ok(out.result.content.includes(want), `content has "${want}"`);
    }
    if (out.result.markdown) assert.match(out.result.markdown, /# Example Domain/);
    if (out.result.accessibilityTree) assert.equal(out.result.accessibilityTree.name, 'Example Domain');
    if (body.formats) assert.deepEqual(out.meta, { status: 200, title: 'Example Domain' });
  },
  accessibilityTree(res, body) {
    const out = okJson(res);
    assert.deepEqual(out.meta, { status: 200, title: 'Example Domain' });
    const tree = out.result.accessibilityTree;
    if (body.root === '#does-not-exist') return assert.equal(tree, null);
    if (body.root === 'h1') return assert.deepEqual(tree, { role: 'heading', name: 'Example Domain', level: 1 });
    assert.equal(tree.role, 'RootWebArea');
    assert.equal(tree.name, 'Example Domain');
    const all = [...nodes(tree)];
    assert.ok(all.some((n) => n.role === 'heading' && n.name === 'Example Domain' && n.level === 1));
    assert.ok(all.some((n) => n.role === 'StaticText' && /documentation examples/.test(n.name)));
    assert.ok(all.some((n) => n.role === 'link' && n.name === 'Learn more'));
    const structural = all.some((n) => n.role === 'generic' || n.role === 'paragraph');
    assert.equal(structural, body.interestingOnly === false);
  },
  json(res, body) {
    okJson(res);
    assert.equal(typeof res.json.result, 'object');
  },
  // POST answers the job's id as result; GET (polled with ?limit=1 as
  // Cloudflare's docs do) until it ends, then the records of the fixture
  // site: the start URL first, with its Markdown (and HTML when asked) and
  // metadata {status, title, url}.
  async crawl(res, body, raw, daemon) {
    const out = okJson(res);
    assert.equal(typeof out.result, 'string', 'Cloudflare answers the job id as result');
    const id = out.result;
    let job;
    await pollUntil(async () => {
      const r = await daemon.request('GET', `/browser/crawl/${id}?limit=1`);
      job = okJson(r).result;
      return job.status !== 'running';
    }, { timeout: scaled(120000), interval: 200, what: `crawl ${id} to end` });
    assert.equal(job.status, 'completed');
    const done = okJson(await daemon.request('GET', `/browser/crawl/${id}`)).result;
    assert.equal(done.id, id);
    for (const k of ['browserSecondsUsed', 'total', 'finished']) assert.equal(typeof done[k], 'number', k);
    assert.equal(done.finished, done.total);
    assert.ok(done.records.length >= 1 && done.records.length <= (body.limit || 10));
    for (const r of done.records) {
      assert.equal(typeof r.url, 'string');
      assert.ok(['completed', 'errored', 'disallowed', 'skipped'].includes(r.status), r.status);
      assert.equal(typeof r.metadata, 'object');
    }
    const start = done.records.find((r) => r.url === body.url);
    assert.ok(start, `the start URL is a record: ${JSON.stringify(done.records.map((r) => r.url))}`);
    assert.equal(start.status, 'completed');
    const want = MARKER[pageOf(raw)];
    assert.deepEqual(start.metadata, { status: 200, title: want, url: body.url });
    assert.equal(typeof start.markdown, 'string');
    assert.ok(start.markdown.includes(MD_MARKER[pageOf(raw)]), start.markdown.slice(0, 300));
    if ((body.formats || []).includes('html')) assert.ok(start.html.includes(want), 'html of the page');
    else assert.equal(start.html, undefined);
    // options.includePatterns: no other page of the site unless one matches.
    const inc = (body.options || {}).includePatterns;
    if (inc && inc.every((p) => !p.includes(SITE))) assert.deepEqual(done.records.map((r) => r.url), [body.url]);
  },
};

describe('Cloudflare\'s documented examples', { timeout: scaled(900000) }, () => {
  const { daemon, fixtures } = useDaemon({ browsers: 1, timeout: scaled(60000) });
  const tally = {};

  after(() => {
    const rows = Object.entries(tally).sort();
    let n = 0, ok = 0;
    const lines = rows.map(([ep, t]) => {
      n += t.n;
      ok += t.ok.length;
      const miss = t.miss.length ? `  not: ${t.miss.join(', ')}` : '';
      return `  /${ep}: ${t.ok.length}/${t.n}${miss}`;
    });
    console.log(`Cloudflare examples accepted and Cloudflare-shaped: ${ok}/${n}\n${lines.join('\n')}`);
  });

  it(`has the examples (${examples.length})`, () => {
    assert.ok(examples.length >= 34);
    for (const { name, raw } of examples) {
      assert.match(raw._source, /^https:\/\/developers\.cloudflare\.com\//, name);
      assert.ok(CHECK[raw._endpoint], `${name}: endpoint ${raw._endpoint}`);
    }
  });

  for (const { name, raw } of examples) {
    const ep = raw._endpoint;
    it(`${ep}: ${name}`, { todo: raw._pending || false }, async () => {
      const body = rewrite(raw, fixtures.url);
      const t = (tally[ep] = tally[ep] || { n: 0, ok: [], miss: [] });
      t.n++;
      const res = await daemon.request('POST', `/browser/${ep}`, { json: body, timeout: scaled(90000) });
      try {
        if (raw._expect) {
          const e = expectError(assert, res, raw._expect.status, raw._expect.code, name);
          assert.ok(e.message.length > 20);
          t.miss.push(`${name} (${raw._expect.code})`);
          return;
        }
        await CHECK[ep](res, body, raw, daemon);
        t.ok.push(name);
      } catch (err) {
        if (!raw._expect) t.miss.push(`${name} (${res.status}${res.json && res.json.errors ? ` ${res.json.errors[0].code}` : ''})`);
        throw err;
      }
    });
  }
});
