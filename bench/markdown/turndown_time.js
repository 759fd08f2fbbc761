// Median per-page time of turndown (+gfm, the harness peer's options) converting
// each readability page's expected.html: the median of 5 runs per page, after
// one warm-up run. usage: node turndown_time.js PAGES_DIR  (MDPEERS_NODE_MODULES)
const fs = require('fs'), path = require('path');
const nm = process.env.MDPEERS_NODE_MODULES || '/tmp/mdpeers/node_modules';
const TurndownService = require(path.join(nm, 'turndown'));
const { gfm } = require(path.join(nm, 'turndown-plugin-gfm'));
const OPTS = { headingStyle: 'atx', codeBlockStyle: 'fenced', bulletListMarker: '-', emDelimiter: '_', strongDelimiter: '**' };
const td = new TurndownService(OPTS).use(gfm);
td.remove(['script', 'style', 'noscript', 'template']);
const dir = process.argv[2];
const med = a => { a = a.slice().sort((x, y) => x - y); return a[a.length >> 1]; };
const per = [];
for (const p of fs.readdirSync(dir).sort()) {
  const f = path.join(dir, p, 'expected.html');
  if (!fs.existsSync(f)) continue;
  const html = fs.readFileSync(f, 'utf8');
  td.turndown(html);
  const t = [];
  for (let i = 0; i < 5; i++) {
    const t0 = process.hrtime.bigint(); td.turndown(html); t.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  per.push(med(t));
}
if (process.env.VERBOSE) console.error(per.join(" "));
console.log(JSON.stringify({ pages: per.length, median_ms: med(per) }));
