'use strict';
// Recycling by memory (--recycle-rss-mb) and by age (--recycle-age): the
// browser is replaced (counted by cause in /metrics) while sequential and
// concurrent traffic runs, and no request fails for it.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { useDaemon, scaled, pollUntil, isAlive, procStat, cmdline } = require('./harness');
const { metric } = require('./metricsutil');

const SHOT = '/browser/screenshot';

// Sequential traffic plus two concurrent loops (or one loop per name) until
// done() says so;
// resolves with every status seen.
async function traffic(daemon, fixtures, done, { maxMs, names = ['seq', 'c1', 'c2'] }) {
  const statuses = [];
  let stop = false;
  const end = Date.now() + maxMs;
  const loop = async (name) => {
    for (let i = 0; !stop && Date.now() < end; i++) {
      const r = await daemon.request('POST', SHOT, {
        json: { url: `${fixtures.url}/boxes.html?${name}=${i}`, viewport: { width: 300, height: 200 } },
        timeout: scaled(30000),
      });
      statuses.push(r.status === 200 ? 200 : `${r.status} ${r.body.subarray(0, 200)}`);
    }
  };
  const loops = names.map(loop);
  try {
    await pollUntil(done, { timeout: maxMs, interval: 100, what: 'the recycles under traffic' });
  } finally {
    stop = true;
    await Promise.all(loops);
  }
  return statuses;
}

async function metricsText(daemon) {
  return (await daemon.request('GET', '/metrics', { token: null })).body.toString('utf8');
}

for (const { cause, args, title } of [
  { cause: 'recycle_age', args: ['--recycle-age', '2'], title: 'by age (--recycle-age 2)' },
  // Any Chromium is over 40 MiB: replaced at every memory check (every 5 s).
  { cause: 'recycle_rss', args: ['--recycle-rss-mb', '40'], title: 'by memory (--recycle-rss-mb 40)' },
]) {
  describe(`recycling ${title}`, { timeout: scaled(90000) }, () => {
    const { daemon, fixtures } = useDaemon({
      browsers: 1, args: [...args, '--concurrency', '2', '--spares', '0'], timeout: scaled(40000),
    });

    it('the browser is replaced twice under sequential and concurrent traffic with zero failed requests', async (t) => {
      const first = daemon.browserPids();
      const seen = new Set(first);
      let text = '';
      const statuses = await traffic(daemon, fixtures, async () => {
        for (const p of daemon.browserPids()) seen.add(p);
        text = await metricsText(daemon);
        return metric(text, 'ppod_browser_restarts_total', { cause }) >= 2;
      }, { maxMs: scaled(30000) });
      const failed = statuses.filter((s) => s !== 200);
      t.diagnostic(`${statuses.length} requests, ${failed.length} failed, browsers seen ${[...seen]}`);
      assert.deepEqual(failed, [], `no request fails while browsers are recycled ${cause}`);
      assert.ok(statuses.length >= 6, `traffic ran: ${statuses.length} requests`);
      assert.equal(metric(text, 'ppod_browser_restarts_total', { cause: 'crash' }), 0, 'not counted as crashes');
      assert.ok(metric(text, 'ppod_browser_recycles_total') >= 2);
      const health = (await daemon.request('GET', '/healthz', { token: null })).json.result;
      const key = { recycle_age: 'recycleAge', recycle_rss: 'recycleRss' }[cause];
      assert.ok(health.browserRestarts[key] >= 2 && health.browserRestarts.crash === 0, `/healthz: ${JSON.stringify(health)}`);
      // The second replacement may still be starting: its browser comes up.
      await pollUntil(() => {
        for (const p of daemon.browserPids()) seen.add(p);
        return seen.size >= 3;
      }, { timeout: scaled(10000), what: `a third browser (seen ${[...seen]})` });
      await pollUntil(() => first.every((p) => !isAlive(p)), { timeout: scaled(5000), what: 'the first browser gone' });
    });
  });
}

// Two pool browsers that reach --recycle-after together (balanced traffic
// does that) are replaced one after the other: the pool never runs more
// than one browser beyond its size, as `make load` also checks.
describe('recycling two browsers due at once (--browsers 2 --recycle-after 4)', { timeout: scaled(90000) }, () => {
  const { daemon, fixtures } = useDaemon({
    browsers: 2, args: ['--recycle-after', '4', '--concurrency', '2', '--spares', '0'], timeout: scaled(40000),
  });

  before(async () => {
    await pollUntil(() => daemon.browserPids().length === 2, { timeout: scaled(15000), what: 'two pool browsers' });
  }, { timeout: scaled(40000) });

  it('at most one browser over the pool size while both are replaced, and no request fails', async (t) => {
    // A census of the browsers under the daemon every 20 ms, for as long as
    // the traffic runs: it records, it does not synchronise anything.
    let most = 0;
    let worst = [];
    const seen = new Set();
    const census = setInterval(() => {
      const pids = daemon.browserPids();
      for (const p of pids) seen.add(p);
      if (pids.length > most) worst = pids.map((p) => ({ p, ppid: (procStat(p) || {}).ppid, a: cmdline(p).length }));
      most = Math.max(most, pids.length);
    }, 20);
    let text = '';
    let statuses;
    try {
      statuses = await traffic(daemon, fixtures, async () => {
        text = await metricsText(daemon);
        return metric(text, 'ppod_browser_restarts_total', { cause: 'recycle_jobs' }) >= 8;
      }, { maxMs: scaled(40000), names: ['a', 'b', 'c', 'd'] }); // 2 per browser: they keep in step
    } finally {
      clearInterval(census);
    }
    const failed = statuses.filter((s) => s !== 200);
    t.diagnostic(`${statuses.length} requests, browsers seen ${seen.size}, at most ${most} at once`);
    assert.deepEqual(failed, [], 'no request fails while the browsers are recycled');
    assert.ok(seen.size >= 5, `both browsers were replaced, twice between them at least: ${[...seen]}`);
    assert.ok(most <= 3, `at most 2 pool browsers + 1 replacement at once, saw ${most}: ${JSON.stringify(worst)} (daemon ${daemon.pid})`);
  });
});
