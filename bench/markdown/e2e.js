// The end-to-end row of the Markdown bar: every readability page's
// source.html through POST /browser/markdown (readable mode, html + baseUrl
// http://fakehost/test/page.html, the way Readability's own tests load it),
// scored against expected.html with the corpus harness (mdscore.py, text F1),
// beside turndown + Readability + jsdom when its output is there
// (bench.py writes OUT/turndown/<page>/full.md through the harness peer).
// usage: node bench/markdown/e2e.js CORPUS_DIR [OUT_DIR]   (PPOD_BIN_DIR, E2E_MD_C)
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const { startFixtureServer, startService, stats } = require('../run.js');

const CORPUS = path.resolve(process.argv[2] || path.join(__dirname, '../../../shared/corpora/markdown'));
const OUT = path.resolve(process.argv[3] || '/tmp/bench-markdown');
const PAGES = path.join(CORPUS, 'readability-pages');
const C = Number(process.env.E2E_MD_C || 2);
const BASE = 'http://fakehost/test/page.html';
// Like Readability's own tests (jsdom loads nothing), the page's subresources
// are not fetched: only data: URLs pass (the html document itself is always
// served). On this machine other hosts do not answer, so loading them would
// measure connect timeouts, not the converter. E2E_MD_FETCH=1 lets them load.
const BODY = (html) => ({ html, baseUrl: BASE, mode: 'readable',
  ...(process.env.E2E_MD_FETCH === '1' ? {} : { allowRequestPattern: ['^data:'] }) });

function score(dir, name) {
  const out = execFileSync('python3', [path.join(CORPUS, 'harness', 'mdscore.py'), PAGES, 'expected.html', dir, name],
    { encoding: 'utf8', maxBuffer: 64 << 20 });
  const m = /text\(4-gram, macro\).*?P=([\d.]+) R=([\d.]+) F1=([\d.]+)/.exec(out);
  if (!m) throw new Error(`mdscore printed no text row:\n${out.slice(0, 2000)}`);
  return { p: Number(m[1]), r: Number(m[2]), f1: Number(m[3]), leaks: Number((/raw_html_leaks=(\d+)/.exec(out) || [])[1]) };
}

(async () => {
  if (!fs.existsSync(PAGES)) { console.log(`e2e markdown: no corpus at ${CORPUS}; skipped`); return; }
  const pages = fs.readdirSync(PAGES).filter((p) => fs.existsSync(path.join(PAGES, p, 'source.html'))
    && fs.existsSync(path.join(PAGES, p, 'expected.html'))).sort();
  const fixture = await startFixtureServer();
  const svc = await startService(fixture.port);
  const od = path.join(OUT, 'e2e');
  const ms = [];
  const fails = [];
  const notes = {};
  try {
    let next = 0;
    const worker = async () => {
      while (next < pages.length) {
        const p = pages[next++];
        const html = fs.readFileSync(path.join(PAGES, p, 'source.html'), 'utf8');
        const t0 = process.hrtime.bigint();
        const r = await svc.request('POST', '/browser/markdown', BODY(html),
          { Authorization: `Bearer ${svc.token}` });
        ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
        fs.mkdirSync(path.join(od, p), { recursive: true });
        let md = '';
        if (r.status === 200) {
          const j = JSON.parse(r.body);
          md = j.result || '';
          if (j.note) notes[j.note] = (notes[j.note] || 0) + 1;
        } else fails.push(`${p}: ${r.status} ${r.body.toString().slice(0, 200)}`);
        fs.writeFileSync(path.join(od, p, 'full.md'), md);
      }
    };
    await Promise.all(Array.from({ length: C }, worker));
  } finally {
    await svc.close();
    await fixture.close();
  }
  const ours = score(od, 'full.md');
  // Readable mode starts with the page title as '# Title' (a reader wants it;
  // expected.html does not have it): also scored without that first line.
  for (const p of pages) {
    const md = fs.readFileSync(path.join(od, p, 'full.md'), 'utf8');
    fs.writeFileSync(path.join(od, p, 'notitle.md'), md.startsWith('# ') ? md.slice(md.indexOf('\n') + 1 || md.length) : md);
  }
  const notitle = score(od, 'notitle.md');
  const s = stats(ms);
  console.log(`end to end: ${pages.length} source.html pages through POST /browser/markdown (readable, baseUrl ${BASE}), c=${C}`);
  console.log(`  failed requests: ${fails.length}${fails.length ? '\n    ' + fails.join('\n    ') : ''}`);
  console.log(`  fallbacks to full mode: ${Object.entries(notes).map(([k, v]) => `${v} (${k})`).join(', ') || 0}`);
  console.log(`  request time p50 ${s.p50.toFixed(0)} ms, p95 ${s.p95.toFixed(0)} ms`);
  const tdDir = path.join(OUT, 'turndown');
  const td = fs.existsSync(path.join(tdDir, pages[0], 'full.md')) ? score(tdDir, 'full.md') : null;
  console.log('\n| end to end, text F1 vs expected.html | turndown + Readability.js + jsdom | ours (/browser/markdown) | goal |');
  console.log('|---|---|---|---|');
  const fmt = (x) => (x ? `${x.f1.toFixed(3)} (P ${x.p.toFixed(3)}, R ${x.r.toFixed(3)}; leaks ${x.leaks})` : '– (run make bench-markdown first)');
  console.log(`| source.html → Markdown | ${fmt(td)} | ${fmt(ours)} | ≥ 0.985 |`);
  console.log(`| same, without the '# Title' line readable mode adds | ${fmt(td)} | ${fmt(notitle)} | |`);
  fs.writeFileSync(path.join(OUT, 'e2e.json'), JSON.stringify({ ours, notitle, turndown: td, ms: s, fails }, null, 1));
  if (fails.length) process.exitCode = 1;
})().catch((e) => { console.error(e); process.exit(1); });
