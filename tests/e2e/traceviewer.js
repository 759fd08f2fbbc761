'use strict';
// Opens a trace zip in playwright-core's own trace viewer (the one
// `npx playwright show-trace` serves) and reports what a person would see:
// the action list, the network panel's size and the viewer's own errors.
// A helper module for the trace tests; it has no tests of its own.
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { chromium } = require('playwright-core');

const VIEWER_DIR = path.join(path.dirname(require.resolve('playwright-core/package.json')),
  'lib', 'vite', 'traceViewer');
const CHROMIUM = process.env.PPOD_CHROMIUM || '/usr/lib/chromium/chromium';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css',
  '.svg': 'image/svg+xml', '.ttf': 'font/ttf', '.webmanifest': 'application/manifest+json',
  '.zip': 'application/zip', '.json': 'application/json',
};

// Serves the viewer's static files and the zip as /trace.zip on loopback
// (service workers need http on 127.0.0.1 or localhost).
function serve(zipPath) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    let file;
    if (url.pathname === '/trace.zip') {
      file = zipPath;
    } else {
      file = path.join(VIEWER_DIR, path.normalize(decodeURIComponent(url.pathname)));
      if (url.pathname === '/') file = path.join(VIEWER_DIR, 'index.html');
      if (!file.startsWith(VIEWER_DIR + path.sep)) file = null;
    }
    if (!file || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, {
      'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream',
      'Service-Worker-Allowed': '/',
    });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

// Returns {actions: [titles in the action list], networkCount, consoleErrors,
// filmstripFrames, title}. consoleErrors holds the viewer page's own console
// errors and uncaught exceptions (not the traced page's console).
async function openInViewer(zipPath, { timeoutMs = 30000 } = {}) {
  const server = await serve(path.resolve(zipPath));
  const base = `http://127.0.0.1:${server.address().port}`;
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const consoleErrors = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => consoleErrors.push(String(e && e.stack || e)));
    await page.goto(`${base}/index.html?trace=${encodeURIComponent(`${base}/trace.zip`)}`);

    // Loaded: either the action list shows up, or the viewer shows its error.
    const titles = page.locator('.action-title');
    const failure = page.locator('.processing-error');
    await Promise.race([
      titles.first().waitFor({ timeout: timeoutMs }),
      failure.waitFor({ timeout: timeoutMs }).then(async () => {
        throw new Error(`trace viewer: ${await failure.innerText()}`);
      }),
    ]);
    // A title is the call's name plus its subtitle (the URL or selector),
    // without the duration and error badges beside it.
    const actions = await titles.evaluateAll((els) => els.map((el) => {
      const part = (sel) => (el.querySelector(sel)?.textContent || '').trim();
      return [part('.action-title-method'), part('.action-title-subtitle')]
        .filter(Boolean).join(' ');
    }));

    // The Network tab's label carries the count of entries the viewer loaded;
    // the rows are counted too, after opening it.
    const tab = page.locator('.tabbed-pane-tab', { hasText: 'Network' }).first();
    let networkCount = 0;
    if (await tab.count()) {
      const counter = tab.locator('.tabbed-pane-tab-counter');
      if (await counter.count()) networkCount = Number(await counter.innerText()) || 0;
      await tab.click();
    }
    const filmstripFrames = await page.locator('.film-strip-frame').count();
    const title = await page.locator('.workbench-loader-header .title').innerText().catch(() => '');
    return { actions, networkCount, consoleErrors, filmstripFrames, title };
  } finally {
    await browser.close();
    await new Promise((resolve) => server.close(resolve));
  }
}

module.exports = { openInViewer };
