'use strict';
// A generated site for crawls, served on loopback by the test's own server:
// 200 article pages in 10 sections with link loops between them, session-id
// and dot-segment spellings of known pages, a robots.txt that disallows
// /private/, a sitemap index naming 5 pages nothing links to, a redirect
// chain, a 404, a slow page, a page with <base> whose relative links lead to
// a page only reachable through it, an infinite calendar, and links to
// private addresses. expected(depth) is the exact set of pages a crawl of
// depth >= 2 from "/" records.

const http = require('node:http');

const SECTIONS = 10;
const PER_SECTION = 20;
const ORPHANS = 5;

function page(title, links, { base } = {}) {
  const a = links.map((h) => `<li><a href="${h}">${h}</a></li>`).join('');
  return `<!doctype html><html><head><title>${title}</title>${base ? `<base href="${base}">` : ''}` +
    `</head><body><h1>${title}</h1><p>Text of ${title}.</p><ul>${a}</ul></body></html>`;
}

function nextMonth(ym) {
  let [y, m] = ym.split('-').map(Number);
  m += 1;
  if (m > 12) { m = 1; y += 1; }
  return `${y}-${String(m).padStart(2, '0')}`;
}

async function startCrawlSite({ slowMs = 8000 } = {}) {
  const hits = new Map(); // path + query -> count
  const log = [];         // {path, t, headers} of every request, in order
  const timers = new Set();
  let origin = '';
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    const p = u.pathname;
    const key = p + u.search;
    hits.set(key, (hits.get(key) || 0) + 1);
    log.push({ path: key, t: Date.now(), headers: req.headers });
    const html = (body, status = 200) => {
      res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
      res.end(body);
    };
    const redirect = (status, to) => { res.writeHead(status, { location: to }); res.end(); };
    let m;
    if (p === '/robots.txt') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      return res.end(`# test site\nUser-agent: *\nDisallow: /private/\nAllow: /\n\nSitemap: ${origin}/sitemap-index.xml\n`);
    }
    if (p === '/sitemap-index.xml') {
      res.writeHead(200, { 'content-type': 'application/xml' });
      return res.end(`<?xml version="1.0"?><sitemapindex><sitemap><loc>${origin}/sitemap-1.xml</loc></sitemap></sitemapindex>`);
    }
    if (p === '/sitemap-1.xml') {
      const locs = [...Array(ORPHANS).keys()].map((k) => `<url><loc>${origin}/orphan/${k}</loc></url>`).join('');
      res.writeHead(200, { 'content-type': 'application/xml' });
      return res.end(`<?xml version="1.0"?><urlset><url><loc>${origin}/</loc></url>${locs}</urlset>`);
    }
    if (p === '/') {
      const links = [...Array(SECTIONS).keys()].map((i) => `/sec/${i}`);
      links.push('/private/secret', '/redirect/1', '/missing', '/slow', '/based/', '/cal/2026-01',
        '/?sessionid=abc123', '/sec/0#top', '/sec/1/../2', 'HTTP://127.0.0.1:' + server.address().port + '/sec/3',
        'mailto:someone@example.com', 'javascript:void(0)');
      return html(page('Home', links));
    }
    if ((m = /^\/sec\/(\d+)$/.exec(p))) {
      const i = Number(m[1]);
      const links = ['/', `/sec/${(i + 1) % SECTIONS}`];
      for (let j = 0; j < PER_SECTION; j++) links.push(`/sec/${i}/p/${j}`);
      return html(page(`Section ${i}`, links));
    }
    if ((m = /^\/sec\/(\d+)\/p\/(\d+)$/.exec(p))) {
      const i = Number(m[1]); const j = Number(m[2]);
      return html(page(`Article ${i}-${j}`, ['/', `/sec/${i}`, `/sec/${i}/p/${(j + 1) % PER_SECTION}`,
        `/sec/${i}/p/${j}?sid=s${Date.now()}`, `/sec/${i}/p/${j};jsessionid=XYZ`]));
    }
    if (p === '/sec/3/extra/1') return html(page('Reached through base', ['/']));
    if (p === '/based/') return html(page('Based', ['p/5', 'extra/1'], { base: '/sec/3/' }));
    if (p === '/redirect/1') return redirect(302, '/redirect/2');
    if (p === '/redirect/2') return redirect(302, `${origin}/redirect/3`);
    if (p === '/redirect/3') return redirect(301, '/target');
    if (p === '/target') return html(page('Target', ['/']));
    if (p === '/slow') {
      const t = setTimeout(() => { timers.delete(t); html(page('Slow', ['/'])); }, slowMs);
      timers.add(t);
      return undefined;
    }
    if ((m = /^\/cal\/(\d{4}-\d{2})$/.exec(p))) {
      return html(page(`Calendar ${m[1]}`, [`/cal/${nextMonth(m[1])}`]));
    }
    if ((m = /^\/orphan\/(\d+)$/.exec(p))) return html(page(`Orphan ${m[1]}`, ['/']));
    if (p === '/private/secret') return html(page('Secret', []));
    if (p === '/attack') {
      const port = server.address().port;
      return html(page('Attack', [`http://127.0.0.2:${port}/x`, `http://localhost:${port}/y`,
        `http://[::1]:${port}/z`, 'http://169.254.169.254/latest/meta-data/', '/to-private']));
    }
    if (p === '/to-private') return redirect(302, `http://127.0.0.2:${server.address().port}/x`);
    return html(page('Not found', []), 404);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  origin = `http://127.0.0.1:${port}`;

  // The pages a crawl from "/" of this depth (>= 2) records, by state.
  function expected(depth) {
    const done = ['/', '/based/', '/redirect/1', '/sec/3/extra/1'];
    for (let k = 0; k < ORPHANS; k++) done.push(`/orphan/${k}`);
    for (let i = 0; i < SECTIONS; i++) {
      done.push(`/sec/${i}`);
      for (let j = 0; j < PER_SECTION; j++) done.push(`/sec/${i}/p/${j}`);
    }
    let ym = '2026-01';
    for (let d = 1; d <= depth; d++) { done.push(`/cal/${ym}`); ym = nextMonth(ym); }
    return {
      completed: done.map((x) => origin + x).sort(),
      failed: ['/missing', '/slow'].map((x) => origin + x).sort(),
      skipped: [`${origin}/private/secret`],
    };
  }

  return {
    url: origin,
    port,
    hits,
    log,
    expected,
    close: () => new Promise((resolve) => {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      server.close(resolve);
    }),
  };
}

module.exports = { startCrawlSite, SECTIONS, PER_SECTION, ORPHANS };
