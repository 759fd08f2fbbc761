'use strict';
// Crawl throughput: pages/s of POST /browser/crawl at the service's default
// concurrency (one page at a time per host, the default politeness; the
// generated site is one host) beside the hand-written Puppeteer crawler of
// bench/crawl-puppeteer.js with the same pages (depth, robots.txt, sitemap,
// dedupe) and the same concurrency, in both of its styles (a new tab per
// URL, and one tab reused). Runs are interleaved; medians are printed.
//
//   node bench/crawl.js        (BENCH_CRAWL_RUNS runs each, default 3;
//                               BENCH_CRAWL_DEPTH, default 4)
//
// The service's pages carry Markdown and links; the baseline's HTML and
// links (no Markdown converter is installed): the baseline does less.
// Puppeteer's browser launch is not counted; the service's browsers are warm.

const { startDaemon, pollUntil } = require('../tests/e2e/harness');
const { startCrawlSite } = require('../tests/e2e/crawlsite');
const { crawl } = require('./crawl-puppeteer');

const RUNS = Number(process.env.BENCH_CRAWL_RUNS || 3);
const DEPTH = Number(process.env.BENCH_CRAWL_DEPTH || 4);
const CONCURRENCY = 1; // the service's default per host

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

(async () => {
  const site = await startCrawlSite({ slowMs: 20 });
  const d = await startDaemon({ browsers: 1, allowPrivate: [`127.0.0.1:${site.port}`] });
  const rates = { service: [], tabPerUrl: [], reusedTab: [] };
  const pages = {};
  try {
    const service = async () => {
      const t0 = Date.now();
      const r = await d.request('POST', '/browser/crawl', { json: {
        url: `${site.url}/`, limit: 1000, depth: DEPTH, formats: ['markdown', 'links'],
        pageOptions: { timeout: 2000 } } });
      if (r.status !== 200) throw new Error(`POST /browser/crawl: ${r.status} ${r.body}`);
      const id = r.json.result.id;
      let end;
      await pollUntil(async () => {
        end = (await d.request('GET', `/browser/crawl/${id}?limit=0`)).json.result;
        return end.status !== 'running';
      }, { timeout: 600000, interval: 50, what: 'the crawl to end' });
      const ms = Date.now() - t0;
      pages.service = end.counts.done;
      return end.counts.done / (ms / 1000);
    };
    const baseline = async (reuse) => {
      const { results, ms } = await crawl(`${site.url}/`, { depth: DEPTH, concurrency: CONCURRENCY, reuse });
      const done = results.filter((x) => x.status === 'completed').length;
      pages[reuse ? 'reusedTab' : 'tabPerUrl'] = done;
      return done / (ms / 1000);
    };
    await service(); // warm-up: the pool's pages, the store
    for (let i = 0; i < RUNS; i++) {
      const order = i % 2 ? ['reusedTab', 'tabPerUrl', 'service'] : ['service', 'tabPerUrl', 'reusedTab'];
      for (const k of order) {
        const v = k === 'service' ? await service() : await baseline(k === 'reusedTab');
        rates[k].push(v);
        console.error(`run ${i + 1} ${k}: ${v.toFixed(1)} pages/s`);
      }
    }
  } finally {
    await d.stop();
    await site.close();
  }
  const m = Object.fromEntries(Object.entries(rates).map(([k, v]) => [k, median(v)]));
  console.log(`crawl of the generated site, depth ${DEPTH}, concurrency ${CONCURRENCY} (one page at a time per host), ${RUNS} runs, medians:`);
  console.log(`  ppod POST /browser/crawl            ${m.service.toFixed(1)} pages/s (${pages.service} pages, Markdown + links)`);
  console.log(`  Puppeteer, a new tab per URL        ${m.tabPerUrl.toFixed(1)} pages/s (${pages.tabPerUrl} pages, HTML + links)  ratio ${(m.service / m.tabPerUrl).toFixed(2)}x`);
  console.log(`  Puppeteer, one tab reused           ${m.reusedTab.toFixed(1)} pages/s (${pages.reusedTab} pages, HTML + links)  ratio ${(m.service / m.reusedTab).toFixed(2)}x`);
})().catch((e) => { console.error(e); process.exit(1); });
