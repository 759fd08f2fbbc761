'use strict';
// POST /browser/markdown and `ppod browser:markdown` against a real daemon:
// readable mode gives the article of a page with navigation and a footer
// around it (title as the first heading, code with its language, a GFM table,
// absolute links), full mode the whole page, front matter the page's facts;
// a page with too little content falls back to full mode and says so; html +
// baseUrl resolves links against baseUrl; markdownOptions (turndown's names)
// change the output, and a bad value is a 400.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFile } = require('node:child_process');
const {
  useDaemon, makeTempDir, scaled, expectError, FIXTURES_DIR, REPO_ROOT,
} = require('./harness');

const PPOD = path.join(process.env.PPOD_BIN_DIR ? path.resolve(process.env.PPOD_BIN_DIR)
  : path.join(REPO_ROOT, 'build'), 'ppod');

const TITLE = 'Reading big files with streams';
const ARTICLE_TEXT = [
  'Loading a whole log file into memory works until the day the file is bigger than the machine.',
  'Streams win by four orders of magnitude',
];
const NAV_TEXT = 'Sitewide navigation bar';
const FOOTER_TEXT = 'Imprint and privacy policy';
const CODE = [
  "const rl = readline.createInterface({ input: fs.createReadStream('big.log') });",
  'for await (const line of rl) {',
  "  if (line.includes('ERROR')) count++;",
  '}',
].join('\n');

// The YAML front matter at the start of md: {fields, rest}. Values are the
// double-quoted scalars the service writes (or plain ones).
function frontMatter(md) {
  const m = /^---\n([\s\S]*?)\n---\n/.exec(md);
  assert.ok(m, `starts with a YAML front matter block: ${JSON.stringify(md.slice(0, 300))}`);
  const fields = {};
  for (const line of m[1].split('\n')) {
    const kv = /^([A-Za-z_]+):\s*(.*)$/.exec(line);
    assert.ok(kv, `a "key: value" line in the front matter: ${JSON.stringify(line)}`);
    fields[kv[1]] = kv[2].startsWith('"') ? JSON.parse(kv[2]) : kv[2];
  }
  return { fields, rest: md.slice(m[0].length) };
}

describe('POST /browser/markdown', { timeout: scaled(180000) }, () => {
  const { daemon, fixtures } = useDaemon({ browsers: 1, timeout: scaled(60000) });
  let tmp;
  let articleUrl;
  let readable; // the readable-mode answer for the article, shared

  before(async () => {
    tmp = await makeTempDir('ppod-e2e-markdown-');
    articleUrl = `${fixtures.url}/markdown-e2e/blog/streams.html`;
  });

  const bodyText = (res) => res.body.subarray(0, 800).toString('utf8');

  async function markdown(body) {
    const res = await daemon.request('POST', '/browser/markdown', { json: body, timeout: scaled(30000) });
    assert.equal(res.status, 200, `POST /browser/markdown ${JSON.stringify(body).slice(0, 200)}: ${bodyText(res)}`);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    assert.equal(res.json.success, true);
    assert.equal(typeof res.json.result, 'string');
    return res.json;
  }

  async function readableArticle() {
    if (!readable) readable = await markdown({ url: articleUrl });
    return readable;
  }

  describe('readable mode on an article page', () => {
    it('is the default and starts with the title as a heading', async () => {
      const r = await readableArticle();
      assert.equal(r.mode, 'readable');
      assert.equal(r.note, undefined, 'no fallback note');
      assert.ok(r.result.startsWith(`# ${TITLE}\n`), `starts with "# ${TITLE}": ${JSON.stringify(r.result.slice(0, 200))}`);
      assert.equal(r.result.split('\n').filter((l) => l === `# ${TITLE}`).length, 1, 'the title once');
    });

    it('has the article text and leaves out the navigation and the footer', async () => {
      const { result } = await readableArticle();
      for (const t of ARTICLE_TEXT) assert.ok(result.includes(t), `article text ${JSON.stringify(t)}`);
      assert.ok(result.includes('## How much memory each way takes'), 'the section heading');
      assert.ok(!result.includes(NAV_TEXT), 'no navigation text');
      assert.ok(!result.includes('About the team'), 'no navigation links');
      assert.ok(!result.includes(FOOTER_TEXT), 'no footer text');
      assert.ok(!result.includes('not content'), 'no script text');
      assert.ok(!/<\/?(div|p|span|article|table|pre|code)\b/i.test(result), 'no raw HTML');
    });

    it('keeps the code block fenced with its language', async () => {
      const { result } = await readableArticle();
      assert.ok(result.includes('```js\n' + CODE + '\n```'), `a js fence with the code verbatim:\n${result}`);
    });

    it('keeps the table as a GFM table', async () => {
      const { result } = await readableArticle();
      assert.match(result, /^\| Method \| Peak memory \|\n\| ?:?-{3,}:? ?\| ?:?-{3,}:? ?\|\n\| readFile \| 2\.1 GB \|\n\| createReadStream \| 64 KB \|$/m);
    });

    it('resolves relative links against the page URL', async () => {
      const { result } = await readableArticle();
      assert.ok(result.includes(`[streams guide](${fixtures.url}/markdown-e2e/guide/streams.html)`), result);
      assert.ok(result.includes(`[numbers](${fixtures.url}/blog/numbers.html)`), result);
    });

    it('starts with the title also when the content opens with a section heading', async () => {
      const r = await markdown({ url: `${fixtures.url}/markdown-e2e/docs.html` });
      assert.equal(r.mode, 'readable', r.note);
      assert.ok(r.result.includes('## Requirements'), r.result);
      assert.ok(r.result.startsWith('# Installing the command-line tool\n'),
        `starts with "# Installing the command-line tool": ${JSON.stringify(r.result.slice(0, 200))}`);
    });
  });

  it('full mode keeps the navigation and the footer too', async () => {
    const r = await markdown({ url: articleUrl, mode: 'full' });
    assert.equal(r.mode, 'full');
    for (const t of [NAV_TEXT, FOOTER_TEXT, ...ARTICLE_TEXT]) assert.ok(r.result.includes(t), `${JSON.stringify(t)} in\n${r.result}`);
    assert.ok(r.result.includes(`[About the team](${fixtures.url}/about/)`), 'navigation links, absolute');
    assert.ok(r.result.includes('```js\n' + CODE + '\n```'), 'the code block');
    assert.ok(!r.result.includes('not content'), 'no script text');
    assert.ok(!r.result.includes('margin-right'), 'no style text');
  });

  it('frontmatter: YAML with title, url, description, byline and published time', async () => {
    const r = await markdown({ url: articleUrl, frontmatter: true });
    const { fields, rest } = frontMatter(r.result);
    assert.equal(fields.title, TITLE);
    assert.equal(fields.url, articleUrl);
    assert.equal(fields.description, 'How to read a file line by line without loading all of it.');
    assert.equal(fields.byline, 'Ada Lovelace');
    assert.equal(fields.published, '2024-05-01T10:00:00Z');
    assert.ok(rest.trimStart().startsWith(`# ${TITLE}\n`), `the Markdown follows: ${JSON.stringify(rest.slice(0, 100))}`);
  });

  it('a page with too little content falls back to full mode and says so', async () => {
    const r = await markdown({ url: `${fixtures.url}/markdown-e2e/thin.html` });
    assert.equal(r.mode, 'full');
    assert.equal(typeof r.note, 'string');
    assert.ok(r.note.length > 0, 'a note explains the fallback');
    assert.ok(r.result.includes('Just a line.'), r.result);
    assert.ok(r.result.includes(`[Home](${fixtures.url}/)`), `the full page, navigation included: ${r.result}`);
  });

  it('html + baseUrl: relative links resolve against baseUrl', async () => {
    const html = fs.readFileSync(path.join(FIXTURES_DIR, 'markdown-e2e', 'blog', 'streams.html'), 'utf8');
    const r = await markdown({ html, baseUrl: 'http://fakehost/test/page.html' });
    assert.equal(r.mode, 'readable');
    assert.ok(r.result.startsWith(`# ${TITLE}\n`), r.result.slice(0, 200));
    assert.ok(r.result.includes('[streams guide](http://fakehost/guide/streams.html)'), r.result);
    assert.ok(r.result.includes('[numbers](http://fakehost/blog/numbers.html)'), r.result);
    assert.ok(!r.result.includes(NAV_TEXT), 'readable mode, without the navigation');
  });

  describe('markdownOptions', () => {
    it('headingStyle setext underlines the headings, the title included', async () => {
      const r = await markdown({ url: articleUrl, markdownOptions: { headingStyle: 'setext' } });
      assert.ok(r.result.includes('How much memory each way takes\n' + '-'.repeat(3)), `a setext h2:\n${r.result}`);
      assert.ok(!r.result.includes('## How much memory'), 'no ATX h2');
      assert.ok(r.result.startsWith(`${TITLE}\n===`), `the title as a setext h1: ${JSON.stringify(r.result.slice(0, 120))}`);
      const atx = r.result.split('\n').filter((l) => /^#{1,6} /.test(l));
      assert.deepEqual(atx, [], 'no ATX heading at all');
    });

    it('other turndown options apply too (codeBlockStyle indented, bulletListMarker)', async () => {
      const html = '<!doctype html><title>opts</title><body><ul><li>alpha</li><li>beta</li></ul>' +
        '<pre><code>x = 1</code></pre></body>';
      const r = await markdown({ html, mode: 'full', markdownOptions: { codeBlockStyle: 'indented', bulletListMarker: '*' } });
      assert.match(r.result, /^\*\s+alpha$/m, r.result);
      assert.match(r.result, /^ {4}x = 1$/m, r.result);
      assert.ok(!r.result.includes('```'), r.result);
    });

    it('an invalid value is a 400 that names the option', async () => {
      for (const markdownOptions of [{ headingStyle: 'fancy' }, { codeBlockStyle: 42 }]) {
        const res = await daemon.request('POST', '/browser/markdown', { json: { url: articleUrl, markdownOptions } });
        const e = expectError(assert, res, 400, 'INVALID_REQUEST', JSON.stringify(markdownOptions));
        assert.match(e.message, new RegExp(Object.keys(markdownOptions)[0]), e.message);
      }
    });
  });

  describe('ppod browser:markdown', () => {
    function ppod(args) {
      const env = { ...process.env, PAPERPOD_URL: daemon.url, PAPERPOD_TOKEN: daemon.token,
        XDG_CONFIG_HOME: path.join(tmp, 'no-config') };
      return new Promise((resolve) => {
        execFile(PPOD, args, { env, timeout: scaled(60000), maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
          resolve({ code: err ? err.code : 0, stdout, stderr });
        });
      });
    }

    it('prints the readable Markdown of a page', async () => {
      const r = await ppod(['browser:markdown', articleUrl]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.stdout.startsWith(`# ${TITLE}\n`), JSON.stringify(r.stdout.slice(0, 200)));
      assert.ok(r.stdout.includes('```js\n' + CODE + '\n```'), r.stdout);
      assert.ok(!r.stdout.includes(NAV_TEXT), 'no navigation');
      const api = (await readableArticle()).result;
      assert.equal(r.stdout.replace(/\n+$/, ''), api.replace(/\n+$/, ''), 'the same Markdown as the API');
    });

    it('--full and --frontmatter', async () => {
      const full = await ppod(['browser:markdown', articleUrl, '--full']);
      assert.equal(full.code, 0, full.stderr);
      assert.ok(full.stdout.includes(NAV_TEXT) && full.stdout.includes(FOOTER_TEXT), full.stdout);
      const fm = await ppod(['browser:markdown', articleUrl, '--frontmatter']);
      assert.equal(fm.code, 0, fm.stderr);
      const { fields } = frontMatter(fm.stdout);
      assert.equal(fields.title, TITLE);
      assert.equal(fields.url, articleUrl);
    });
  });
});
