'use strict';
// The baseline of bench/crawl.js: a crawler as one would write it by hand
// with Puppeteer. Breadth first from a start URL to a depth, same origin,
// robots.txt Disallow lines of the '*' group honoured, the sitemap (index)
// read for more start URLs, URLs deduped without fragment and session-id
// parameters, `concurrency` pages at once. Each page: goto (load, with a
// page timeout), its HTML and its links. With reuse, each worker keeps one
// tab and navigates it page after page; without, a new tab per URL (the
// usual pattern, so one page's state never leaks into the next).
//
//   node bench/crawl-puppeteer.js URL [--depth D] [--limit N] [--concurrency C] [--reuse]
//
// It produces HTML and links, not Markdown (no converter is installed): the
// service's pages carry Markdown on top, so this baseline does less work.

const puppeteer = require('puppeteer-core');

const fs = require('node:fs');

// The browser the service runs: Debian's headless shell when installed
// (ppod-browserd's default), else the full Chromium in headless mode.
const SHELL = '/usr/lib/chromium/chromium-headless-shell';
const CHROMIUM = process.env.PPOD_CHROMIUM || (fs.existsSync(SHELL) ? SHELL : '/usr/lib/chromium/chromium');
const HEADLESS = CHROMIUM.endsWith('headless-shell') ? 'shell' : true;
const SESSION_KEYS = /^(jsessionid|phpsessid|sid|sessionid|session_id)$/i;

function normalise(href) {
  let u;
  try { u = new URL(href); } catch { return null; }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
  u.hash = '';
  u.pathname = u.pathname.replace(/;jsessionid=[^/]*/i, '');
  const keep = [...u.searchParams].filter(([k]) => !SESSION_KEYS.test(k));
  keep.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  u.search = new URLSearchParams(keep).toString();
  return u.href;
}

async function text(url) {
  try {
    const r = await fetch(url, { redirect: 'follow' });
    return r.ok ? await r.text() : null;
  } catch { return null; }
}

// Resolves {results, ms}: ms from after the browser started (a crawler
// launches it once; the service's browsers are already warm) to the end.
async function crawl(start, { depth = 3, limit = 1000, concurrency = 1, reuse = false, timeout = 2000 } = {}) {
  const args = process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : [];
  // The service renders each page at its default viewport, 1920x1080: the
  // baseline does the same, so both lay out the same pages.
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: HEADLESS, args,
    defaultViewport: { width: 1920, height: 1080 } });
  const t0 = Date.now();
  const origin = new URL(start).origin;
  const robots = await text(`${origin}/robots.txt`) || '';
  const disallow = [];
  let star = false;
  const sitemaps = [];
  for (const line of robots.split('\n')) {
    const [k, ...rest] = line.split(':');
    const v = rest.join(':').trim();
    if (/^user-agent$/i.test(k.trim())) star = v === '*';
    else if (/^disallow$/i.test(k.trim()) && star && v) disallow.push(v);
    else if (/^sitemap$/i.test(k.trim())) sitemaps.push(v);
  }
  const allowed = (u) => !disallow.some((d) => new URL(u).pathname.startsWith(d));
  const seen = new Set();
  const queue = [];
  const results = [];
  const add = (u, d) => {
    const n = normalise(u);
    if (!n || new URL(n).origin !== origin || seen.has(n) || seen.size >= limit) return;
    seen.add(n);
    queue.push({ url: n, depth: d });
  };
  add(start, 0);
  for (let i = 0; i < sitemaps.length && i < 8; i++) {
    const xml = await text(sitemaps[i]) || '';
    for (const m of xml.matchAll(/<loc>\s*([^<]+?)\s*<\/loc>/g)) {
      if (/<sitemapindex/.test(xml)) sitemaps.push(m[1]);
      else add(m[1], 0);
    }
  }
  let ms = 0;
  try {
    const worker = async () => {
      let tab = reuse ? await browser.newPage() : null;
      for (;;) {
        const job = queue.shift();
        if (!job) {
          if (active === 0) break;
          await new Promise((r) => setTimeout(r, 5));
          continue;
        }
        active++;
        const r = { url: job.url, depth: job.depth };
        if (!allowed(job.url)) {
          r.status = 'skipped';
        } else {
          const page = reuse ? tab : await browser.newPage();
          try {
            const resp = await page.goto(job.url, { waitUntil: 'load', timeout });
            r.httpStatus = resp ? resp.status() : 0;
            r.html = await page.content();
            const links = await page.$$eval('a[href], area[href]', (as) => as.map((a) => a.href));
            r.status = r.httpStatus >= 400 ? 'failed' : 'completed';
            if (job.depth < depth) for (const l of links) add(l, job.depth + 1);
          } catch (e) {
            r.status = 'failed';
            r.error = e.message;
            if (reuse) { await page.close().catch(() => {}); tab = await browser.newPage(); }
          } finally {
            if (!reuse) await page.close().catch(() => {});
          }
        }
        results.push(r);
        active--;
      }
      if (tab) await tab.close().catch(() => {});
    };
    let active = 0;
    await Promise.all([...Array(concurrency).keys()].map(worker));
    ms = Date.now() - t0;
  } finally {
    await browser.close();
  }
  return { results, ms };
}

module.exports = { crawl };

if (require.main === module) {
  const argv = process.argv.slice(2);
  const opt = (name, def) => {
    const i = argv.indexOf(name);
    return i >= 0 ? Number(argv[i + 1]) : def;
  };
  crawl(argv[0], { depth: opt('--depth', 3), limit: opt('--limit', 1000),
    concurrency: opt('--concurrency', 1), reuse: argv.includes('--reuse') })
    .then(({ results: res, ms }) => {
      const s = ms / 1000;
      const done = res.filter((r) => r.status === 'completed').length;
      console.log(`${done} pages completed of ${res.length} in ${s.toFixed(1)} s: ${(done / s).toFixed(1)} pages/s`);
    }, (e) => { console.error(e); process.exit(1); });
}
