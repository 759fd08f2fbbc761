// What one POST /browser/accessibilityTree costs the daemon near its DOM cap:
// a page of N buttons (2N DOM nodes with their text; default N = 9900, just
// under the 20000-node cap), interestingOnly:false, one request, after one
// warm-up. Prints the answer's size, the time, and the daemon's peak RSS
// (VmHWM) before and after: the tree Chromium sends is parsed whole, so the
// peak grows with the page.
// Usage: node bench/axtree.js   (BENCH_AX_BUTTONS, default 9900)
'use strict';
const fs = require('node:fs');
const { startFixtureServer, startService } = require('./run.js');

const N = Number(process.env.BENCH_AX_BUTTONS || 9900);
const kib = (pid, key) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

(async () => {
  const fixture = await startFixtureServer();
  const svc = await startService(fixture.port);
  const auth = { Authorization: `Bearer ${svc.token}` };
  try {
    const warm = await svc.request('POST', '/browser/accessibilityTree', { html: '<title>t</title><h1>warm</h1>' }, auth);
    if (warm.status !== 200) throw new Error(`warm-up: ${warm.status} ${warm.body}`);
    const before = kib(svc.pid, 'VmHWM');
    const html = '<title>wide</title><body><script>const f = document.createDocumentFragment();'
      + `for (let i = 0; i < ${N}; i++) { const b = document.createElement("button"); b.textContent = "button number " + i; f.appendChild(b); }`
      + 'document.body.appendChild(f);</script>';
    const t0 = Date.now();
    const r = await svc.request('POST', '/browser/accessibilityTree', { html, interestingOnly: false, timeout: 120000 }, auth);
    const ms = Date.now() - t0;
    const after = kib(svc.pid, 'VmHWM');
    const j = r.status === 200 ? JSON.parse(r.body) : null;
    console.log(JSON.stringify({
      buttons: N, status: r.status, answerKiB: Math.round(r.body.length / 1024), truncated: !!(j && j.truncated), ms,
      peakRssBeforeMiB: +(before / 1024).toFixed(1), peakRssAfterMiB: +(after / 1024).toFixed(1),
      peakGrowthMiB: +((after - before) / 1024).toFixed(1),
    }));
  } finally {
    await svc.close();
    fixture.close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
