'use strict';
// What the fleet-wide limits (core/fleet.h) add to a quick action: one node
// on a throwaway PostgreSQL (scripts/pg-throwaway.sh), N sequential POST
// /browser/content calls of a tiny HTML body, p50/p90 of the round trip.
//   PPOD_BIN_DIR=build node bench/fleet.js [N=200]
// Run it against a build with the fleet checks and one without to get the
// difference (see docs/ARCHITECTURE.md, "Fleet-wide limits").
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const H = require('../tests/e2e/harness');

const N = Number(process.argv[2] || 200);
const PG = path.join(__dirname, '..', 'scripts', 'pg-throwaway.sh');

function pct(v, p) {
  const s = [...v].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

(async () => {
  const pgDir = await H.makeTempDir('ppod-bench-pg-');
  const url = execFileSync(PG, ['start', pgDir]).toString().trim().split('\n').pop();
  let d;
  try {
    const { stdout } = await H.runAdmin(['account', 'create', 'bench', '--store', url]);
    const token = stdout.trim();
    await H.runAdmin(['account', 'limits', 'bench', '--set', 'quickActionsPerSecond=10000',
      '--store', url]);
    d = await H.startDaemon({ browsers: 1, args: ['--store', url],
      dataDir: await H.makeTempDir('ppod-bench-data-'), token });
    const body = { json: { html: '<p>fleet</p>' } };
    for (let i = 0; i < 20; i++) await d.request('POST', '/browser/content', body); // warm up
    const ms = [];
    for (let i = 0; i < N; i++) {
      const t = process.hrtime.bigint();
      const res = await d.request('POST', '/browser/content', body);
      ms.push(Number(process.hrtime.bigint() - t) / 1e6);
      if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${res.body.toString()}`);
    }
    console.log(JSON.stringify({ calls: N, p50_ms: +pct(ms, 50).toFixed(2),
      p90_ms: +pct(ms, 90).toFixed(2), mean_ms: +(ms.reduce((a, b) => a + b, 0) / N).toFixed(2) }));
  } finally {
    if (d) await d.stop();
    execFileSync(PG, ['stop', pgDir]);
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
