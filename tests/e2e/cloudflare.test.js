'use strict';
// Cloudflare's own routes, as a user of theirs sends them: the page's
// accessibility tree (POST /browser/accessibilityTree, and /snapshot's
// formats), and /browser/json without a language model, filled by the
// selectors a JSON Schema carries. Each feature has its attacks beside it:
// huge and deep pages, hostile schemas, selectors that match everything.
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const puppeteer = require('puppeteer-core');
const { useDaemon, decodePng, scaled, expectError } = require('./harness');

// Every node of a tree, depth first.
function* nodes(tree) {
  if (!tree) return;
  yield tree;
  for (const c of tree.children || []) yield* nodes(c);
}
function depth(tree) {
  let max = 0;
  const walk = (n, d) => { max = Math.max(max, d); for (const c of n.children || []) walk(c, d + 1); };
  walk(tree, 1);
  return max;
}

describe('Cloudflare routes: accessibilityTree, json, snapshot formats', { timeout: scaled(300000) }, () => {
  const { daemon, fixtures } = useDaemon({ browsers: 1, timeout: scaled(60000) });
  const ax = () => `${fixtures.url}/cf/ax.html`;
  const shop = () => `${fixtures.url}/cf/products.html`;

  async function post(route, body, timeout = scaled(40000)) {
    const res = await daemon.request('POST', route, { json: body, timeout });
    assert.equal(res.status, 200, `${route}: ${res.status} ${res.body.subarray(0, 400).toString('utf8')}`);
    assert.equal(res.json.success, true);
    return res.json;
  }
  const send = (route, body, timeout = scaled(40000)) => daemon.request('POST', route, { json: body, timeout });

  it('lists the routes and their bodies in /openapi.json', async () => {
    const res = await daemon.request('GET', '/openapi.json', { token: null });
    for (const p of ['/browser/accessibilityTree', '/browser/json']) assert.ok(res.json.paths[p].post, p);
    assert.match(JSON.stringify(res.json), /interestingOnly/);
    assert.match(JSON.stringify(res.json), /accessibilityTree/);
  });

  describe('POST /browser/accessibilityTree', () => {
    it('answers the page tree in Cloudflare\'s shape: roles, names, states, meta', async () => {
      const out = await post('/browser/accessibilityTree', { url: ax() });
      const tree = out.result.accessibilityTree;
      assert.equal(tree.role, 'RootWebArea');
      assert.equal(tree.name, 'Accessible Fixture');
      assert.deepEqual(out.meta, { status: 200, title: 'Accessible Fixture' });
      const all = [...nodes(tree)];
      const h1 = all.find((n) => n.role === 'heading' && n.name === 'Fixture Heading');
      assert.ok(h1, JSON.stringify(tree).slice(0, 2000));
      assert.equal(h1.level, 1);
      assert.ok(all.find((n) => n.role === 'heading' && n.name === 'Second level' && n.level === 2));
      assert.ok(all.find((n) => n.role === 'link' && n.name === 'Next page link'));
      const box = all.find((n) => n.role === 'checkbox');
      assert.equal(box.name, 'Agree');
      assert.equal(box.checked, true);
      const email = all.find((n) => n.role === 'textbox');
      assert.equal(email.name, 'Email');
      assert.equal(email.value, 'me@example.test');
      const button = all.find((n) => n.role === 'button');
      assert.equal(button.name, 'Disabled button');
      assert.equal(button.disabled, true);
      // interestingOnly: landmarks stay, generic wrappers and paragraphs do not
      assert.ok(all.some((n) => n.role === 'main'));
      assert.ok(!all.some((n) => n.role === 'generic' || n.role === 'paragraph'));
      assert.equal(out.truncated, undefined);
    });

    it('is the tree Puppeteer\'s page.accessibility.snapshot() gives, node for node', async () => {
      const acq = await daemon.request('POST', '/browser/acquire', { json: { keep_alive: 30000 } });
      assert.equal(acq.status, 200, acq.body.toString('utf8'));
      const s = acq.json.result;
      const browser = await puppeteer.connect({ browserWSEndpoint: `${s.webSocketDebuggerUrl}?token=${daemon.token}` });
      try {
        const page = await browser.newPage();
        await page.goto(ax());
        // Puppeteer's own handles (backendNodeId, loaderId) and url are not in
        // Cloudflare's answers, so not in ours
        const strip = (tree) => JSON.parse(JSON.stringify(tree,
          (k, v) => (['backendNodeId', 'loaderId', 'url'].includes(k) ? undefined : v)));
        for (const interestingOnly of [true, false]) {
          const theirs = strip(await page.accessibility.snapshot({ interestingOnly }));
          const ours = (await post('/browser/accessibilityTree', { url: ax(), interestingOnly })).result.accessibilityTree;
          assert.deepEqual(ours, theirs, `interestingOnly ${interestingOnly}`);
          const form = await page.$('form');
          const theirsForm = strip(await page.accessibility.snapshot({ root: form, interestingOnly }));
          const oursForm = (await post('/browser/accessibilityTree', { url: ax(), root: 'form', interestingOnly })).result.accessibilityTree;
          assert.deepEqual(oursForm, theirsForm, `root form, interestingOnly ${interestingOnly}`);
        }
      } finally {
        browser.disconnect();
        await daemon.request('DELETE', `/browser/sessions/${s.sessionId}`);
      }
    });

    it('interestingOnly:false keeps the structure: main, paragraphs, static text', async () => {
      const out = await post('/browser/accessibilityTree', { url: ax(), interestingOnly: false });
      const all = [...nodes(out.result.accessibilityTree)];
      assert.ok(all.some((n) => n.role === 'main'));
      const p = all.find((n) => n.role === 'paragraph' && (n.children || []).some((c) => c.name === 'Plain paragraph text for the tree.'));
      assert.ok(p, 'the paragraph holds its StaticText');
      assert.ok(all.length > [...nodes((await post('/browser/accessibilityTree', { url: ax() })).result.accessibilityTree)].length);
    });

    it('root scopes the tree; a root that matches nothing is null; a bad one is 400', async () => {
      let out = await post('/browser/accessibilityTree', { url: ax(), root: 'h1', interestingOnly: true });
      assert.deepEqual(out.result.accessibilityTree, { role: 'heading', name: 'Fixture Heading', level: 1 });
      out = await post('/browser/accessibilityTree', { url: ax(), root: 'form' });
      const all = [...nodes(out.result.accessibilityTree)];
      assert.ok(all.some((n) => n.role === 'checkbox') && all.some((n) => n.name === 'Second level'));
      assert.ok(!all.some((n) => n.name === 'Fixture Heading'), 'only the form');
      out = await post('/browser/accessibilityTree', { url: ax(), root: '#does-not-exist' });
      assert.equal(out.result.accessibilityTree, null);
      assert.equal(out.meta.title, 'Accessible Fixture');
      expectError(assert, await send('/browser/accessibilityTree', { url: ax(), root: 'h1[' }), 400, 'INVALID_SELECTOR');
      expectError(assert, await send('/browser/accessibilityTree', { url: ax(), interestingOnly: 'yes' }), 400, 'INVALID_REQUEST');
      expectError(assert, await send('/browser/accessibilityTree', { url: ax(), bogus: 1 }), 400, 'INVALID_REQUEST');
    });

    it('attack: a page of 100000 nodes is refused in words, not read', async () => {
      const html = '<title>huge</title><body><script>const f = document.createDocumentFragment();'
        + 'for (let i = 0; i < 100000; i++) { const d = document.createElement("div"); d.textContent = "n" + i; f.appendChild(d); }'
        + 'document.body.appendChild(f);</script>';
      const t0 = Date.now();
      const e = expectError(assert, await send('/browser/accessibilityTree', { html }), 413, 'PAGE_TOO_LARGE');
      assert.match(e.message, /20000 DOM nodes/);
      assert.ok(Date.now() - t0 < scaled(20000));
      // the same browser answers the next request
      assert.equal((await post('/browser/accessibilityTree', { url: ax() })).result.accessibilityTree.role, 'RootWebArea');
    });

    it('attack: too many nodes or too deep a tree is cut at the caps and flagged truncated', async () => {
      const wide = '<title>wide</title><body><script>const f = document.createDocumentFragment();'
        + 'for (let i = 0; i < 9000; i++) { const b = document.createElement("button"); b.textContent = "b" + i; f.appendChild(b); }'
        + 'document.body.appendChild(f);</script>';
      let out = await post('/browser/accessibilityTree', { html: wide, interestingOnly: false }, scaled(60000));
      assert.equal(out.truncated, true);
      const count = [...nodes(out.result.accessibilityTree)].length;
      assert.ok(count <= 10000 && count > 8000, `nodes: ${count}`);
      const deep = '<title>deep</title><body><script>let e = document.body;'
        + 'for (let i = 0; i < 1500; i++) { const d = document.createElement("div"); d.setAttribute("role", "group"); d.setAttribute("aria-label", "g" + i); e.appendChild(d); e = d; }'
        + 'e.textContent = "bottom";</script>';
      out = await post('/browser/accessibilityTree', { html: deep, interestingOnly: false }, scaled(60000));
      assert.equal(out.truncated, true);
      assert.ok(depth(out.result.accessibilityTree) <= 201, `depth ${depth(out.result.accessibilityTree)}`);
    });
  });

  describe('POST /browser/snapshot formats', () => {
    it('the default answer is unchanged: content and a screenshot', async () => {
      const out = await post('/browser/snapshot', { url: ax() });
      assert.deepEqual(Object.keys(out.result).sort(), ['content', 'screenshot']);
      assert.equal(out.meta, undefined);
    });

    it('screenshot, markdown and accessibilityTree in one call, and Cloudflare\'s meta', async () => {
      const out = await post('/browser/snapshot', { url: ax(), formats: ['screenshot', 'markdown', 'accessibilityTree'] });
      assert.deepEqual(Object.keys(out.result).sort(), ['accessibilityTree', 'markdown', 'screenshot']);
      const png = decodePng(Buffer.from(out.result.screenshot, 'base64'));
      assert.ok(png.width > 0 && png.height > 0);
      assert.match(out.result.markdown, /# Fixture Heading/);
      assert.match(out.result.markdown, /\[Next page link\]\(http:\/\/[^)]+\/cf\/next\.html\)/);
      assert.equal(out.result.accessibilityTree.role, 'RootWebArea');
      assert.ok([...nodes(out.result.accessibilityTree)].some((n) => n.role === 'link' && n.name === 'Next page link'));
      assert.deepEqual(out.meta, { status: 200, title: 'Accessible Fixture' });
    });

    it('meta: url, status, title, description, canonical, lang and og:/twitter: tags', async () => {
      const out = await post('/browser/snapshot', { url: ax(), formats: ['meta', 'content'] });
      assert.deepEqual(Object.keys(out.result).sort(), ['content', 'meta']);
      const m = out.result.meta;
      assert.equal(m.url, ax());
      assert.equal(m.status, 200);
      assert.equal(m.title, 'Accessible Fixture');
      assert.equal(m.description, 'A page to read the accessibility tree of.');
      assert.equal(m.canonical, `${fixtures.url}/cf/canonical-ax.html`);
      assert.equal(m.lang, 'en');
      assert.deepEqual(m.tags, { 'og:title': 'Fixture OG Title', 'og:type': 'article', 'twitter:card': 'summary' });
      assert.match(out.result.content, /Fixture Heading/);
    });

    it('attack: unknown, repeated past the cap, or empty formats are 400', async () => {
      for (const formats of [['pdf'], [], ['content', 'content', 'content', 'content', 'content', 'content'], 'markdown'])
        expectError(assert, await send('/browser/snapshot', { url: ax(), formats }), 400, 'INVALID_REQUEST', JSON.stringify(formats));
    });
  });

  describe('POST /browser/json', () => {
    const productSchema = {
      type: 'object',
      properties: {
        shop: { type: 'string', 'x-selector': 'h1.shop' },
        count: { type: 'integer', 'x-selector': '#count' },
        freeShipping: { type: 'boolean', 'x-selector': '#status' },
        closed: { type: 'boolean', 'x-selector': '#closed-sign' },
        products: {
          type: 'array',
          'x-selector': 'li.product',
          items: {
            type: 'object',
            properties: {
              name: { type: 'string', 'x-selector': '.name' },
              link: { type: 'string', 'x-selector': '.name', 'x-property': 'href' },
              sku: { type: 'string', 'x-attribute': 'data-sku' },
              price: { type: 'number', 'x-selector': '.price' },
              inStock: { type: 'boolean', 'x-selector': '.stock.in' },
              rating: { type: 'integer', minimum: 1, maximum: 5, 'x-xpath': './/span[@class="rating"]' },
            },
            required: ['name', 'price'],
          },
        },
        names: { type: 'array', items: { type: 'string' }, 'x-xpath': '//a[@class="name"]' },
      },
      required: ['shop', 'products'],
    };

    it('fills a schema from CSS and XPath selectors, typed as the schema says', async () => {
      const out = await post('/browser/json', { url: shop(), schema: productSchema });
      assert.deepEqual(out.result, {
        shop: 'Fixture Shop',
        count: 3,
        freeShipping: true,
        closed: false,
        products: [
          { name: 'Alpha Lamp', link: `${fixtures.url}/cf/p/alpha.html`, sku: 'A-1', price: 1299.5, inStock: true, rating: 4 },
          { name: 'Beta Chair', link: `${fixtures.url}/cf/p/beta.html`, sku: 'B-2', price: 45, inStock: false, rating: 5 },
          { name: 'Gamma Desk', link: `${fixtures.url}/cf/p/gamma.html`, sku: 'C-3', price: 300, inStock: true, rating: 3 },
        ],
        names: ['Alpha Lamp', 'Beta Chair', 'Gamma Desk'],
      });
    });

    it('takes the schema in Cloudflare\'s response_format too (json_schema or schema)', async () => {
      const schema = { type: 'object', properties: { h1: { type: 'string', 'x-selector': 'h1' } }, required: ['h1'] };
      for (const key of ['json_schema', 'schema']) {
        const out = await post('/browser/json', { url: shop(), response_format: { type: 'json_schema', [key]: schema } });
        assert.deepEqual(out.result, { h1: 'Fixture Shop' });
      }
    });

    it('what the page holds that does not fit the schema is 422 naming the field', async () => {
      let e = expectError(assert, await send('/browser/json', {
        url: shop(),
        schema: { type: 'object', properties: { missing: { type: 'string', 'x-selector': '#nowhere' } }, required: ['missing'] },
      }), 422, 'SCHEMA_MISMATCH');
      assert.match(e.message, /missing: is required/);
      e = expectError(assert, await send('/browser/json', {
        url: shop(),
        schema: { type: 'object', properties: { status: { type: 'number', 'x-selector': '#status' } } },
      }), 422, 'SCHEMA_MISMATCH');
      assert.match(e.message, /status: expected number, got string/);
      e = expectError(assert, await send('/browser/json', {
        url: shop(),
        schema: { type: 'object', properties: { products: { type: 'array', maxItems: 2, 'x-selector': 'li', items: { type: 'string' } } } },
      }), 422, 'SCHEMA_MISMATCH');
      assert.match(e.message, /products: must have at most 2 items/);
    });

    it('a prompt, or a schema without selectors, is 400 NO_MODEL in words', async () => {
      let e = expectError(assert, await send('/browser/json', { url: shop(), prompt: 'Get me the products' }), 400, 'NO_MODEL');
      assert.match(e.message, /no language model/);
      assert.match(e.message, /x-selector/);
      e = expectError(assert, await send('/browser/json', {
        url: shop(), response_format: { type: 'json_schema', json_schema: { type: 'object', properties: { name: { type: 'string' } } } },
      }), 400, 'NO_MODEL');
      assert.match(e.message, /no selectors/);
      expectError(assert, await send('/browser/json', {
        url: shop(), prompt: 'x', response_format: { type: 'json_schema', json_schema: productSchema },
      }), 400, 'NO_MODEL');
      expectError(assert, await send('/browser/json', { url: shop() }), 400, 'INVALID_REQUEST');
    });

    it('attack: hostile schemas are refused before the page loads, in words', async () => {
      let deep = { type: 'string', 'x-selector': 'h1' };
      for (let i = 0; i < 40; i++) deep = { type: 'object', properties: { a: deep } };
      let e = expectError(assert, await send('/browser/json', { url: shop(), schema: deep }), 400, 'INVALID_REQUEST');
      assert.match(e.message, /nested deeper than 16/);
      const many = { type: 'object', properties: {} };
      for (let i = 0; i < 1000; i++) many.properties[`p${i}`] = { type: 'string', 'x-selector': `#p${i}` };
      e = expectError(assert, await send('/browser/json', { url: shop(), schema: many }), 400, 'INVALID_REQUEST');
      assert.match(e.message, /more than (200 selectors|500 properties)/);
      const big = { type: 'object', description: 'x'.repeat(70000), properties: { a: { type: 'string', 'x-selector': 'h1' } } };
      e = expectError(assert, await send('/browser/json', { url: shop(), schema: big }), 400, 'INVALID_REQUEST');
      assert.match(e.message, /over 64 KiB/);
      e = expectError(assert, await send('/browser/json', {
        url: shop(), schema: { type: 'object', properties: { a: { type: 'string', 'x-selector': 'h1', 'x-xpath': '//h1' } } },
      }), 400, 'INVALID_REQUEST');
      assert.match(e.message, /exclusive/);
      e = expectError(assert, await send('/browser/json', {
        url: shop(), schema: { type: 'object', properties: { a: { type: 'wat', 'x-selector': 'h1' } } },
      }), 400, 'INVALID_REQUEST');
      assert.match(e.message, /^schema: type: unknown type/);
      e = expectError(assert, await send('/browser/json', {
        url: shop(), schema: { type: 'object', properties: { a: { type: 'string', 'x-selector': 'h1[' } } },
      }), 400, 'INVALID_SELECTOR');
      assert.match(e.message, /a: 'h1\[' is not a valid selector/);
      e = expectError(assert, await send('/browser/json', {
        url: shop(), schema: { type: 'object', properties: { list: { type: 'array', 'x-xpath': '//li[', items: { type: 'string' } } } },
      }), 400, 'INVALID_SELECTOR');
      assert.match(e.message, /list/);
    });

    it('attack: a selector that matches 200000 nodes stays bounded and says truncated', async () => {
      const html = '<body><script>const f = document.createDocumentFragment();'
        + 'for (let i = 0; i < 200000; i++) { const s = document.createElement("i"); s.textContent = "v" + i; f.appendChild(s); }'
        + 'document.body.appendChild(f);</script>';
      const t0 = Date.now();
      const out = await post('/browser/json', {
        html,
        schema: {
          type: 'object',
          properties: {
            css: { type: 'array', 'x-selector': '*', items: { type: 'string' } },
            xpath: { type: 'array', 'x-xpath': '//node()', items: { type: 'object', properties: { t: { type: 'string', 'x-selector': 'b' } } } },
          },
        },
      }, scaled(60000));
      assert.equal(out.truncated, true);
      assert.equal(out.result.css.length, 1000);
      assert.equal(out.result.xpath.length, 1000);
      assert.ok(Date.now() - t0 < scaled(30000), `${Date.now() - t0} ms`);
    });

    it('attack: a catastrophic pattern in the schema is bounded by the engine', async () => {
      const t0 = Date.now();
      const res = await send('/browser/json', {
        html: `<p id="x">${'a'.repeat(5000)}!</p>`,
        schema: { type: 'object', properties: { x: { type: 'string', pattern: '^(a+)+$', 'x-selector': '#x' } } },
      });
      expectError(assert, res, 422, 'SCHEMA_MISMATCH');
      assert.ok(Date.now() - t0 < scaled(15000));
    });
  });
});
