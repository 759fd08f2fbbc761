'use strict';
// Two daemons as a cluster on loopback (tests/e2e/cluster-proxy.test.js and
// bench/cluster-ws.js): one throwaway PostgreSQL (scripts/pg-throwaway.sh)
// as the shared store, node A (--node-capacity 8) and node B
// (--node-capacity 1), so placement prefers A; a shared --cluster-key-file.
// Two accounts made with the admin CLI on that store: a.token ("tenant-a",
// the one the tests drive A's sessions with, through B) and b.token
// ("tenant-b"). Everything is torn down by pair.stop(), by a failed start,
// and (PostgreSQL, daemons) at process exit whatever happened.
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { execFile, execFileSync } = require('node:child_process');
const {
  REPO_ROOT, startDaemon, makeTempDir, freePort, pollUntil, runAdmin, scaled,
} = require('./harness');

const PG_SCRIPT = path.join(REPO_ROOT, 'scripts', 'pg-throwaway.sh');

// PostgreSQL's server binaries (Debian: /usr/lib/postgresql/N/bin/initdb):
// without them the cluster tests skip.
function havePostgres() {
  try {
    return fs.readdirSync('/usr/lib/postgresql', { withFileTypes: true })
      .some((d) => fs.existsSync(path.join('/usr/lib/postgresql', d.name, 'bin', 'initdb')));
  } catch {
    return false;
  }
}

const stopPg = (dir) => {
  try { execFileSync(PG_SCRIPT, ['stop', dir], { stdio: 'ignore', timeout: scaled(60000) }); } catch { /* gone */ }
};

async function startPair({ allowPrivate = [] } = {}) {
  const pgDir = await makeTempDir('ppod-e2e-pg-');
  const daemons = [];
  let stopped = false;
  // The safety net: a test runner that dies on an error or a signal still
  // stops PostgreSQL. Before the harness's own exit hooks (prepended): they
  // kill the daemons' process groups and remove the temporary dirs, this
  // server's data dir among them.
  const onExit = () => { if (!stopped) { stopped = true; stopPg(pgDir); } };
  const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  process.prependListener('exit', onExit);
  for (const sig of SIGNALS) process.prependOnceListener(sig, onExit);
  const stop = async ({ clean = false } = {}) => {
    if (stopped) return;
    let err;
    for (const d of daemons.reverse()) {
      try {
        if (clean && !d.killed) await d.stopClean();
        else await d.stop('SIGKILL');
      } catch (e) {
        err = err || e;
        await d.stop('SIGKILL').catch(() => {});
      }
    }
    stopped = true;
    process.off('exit', onExit);
    for (const sig of SIGNALS) process.off(sig, onExit);
    stopPg(pgDir);
    if (err) throw err;
  };
  try {
    const url = execFileSync(PG_SCRIPT, ['start', pgDir], { encoding: 'utf8', timeout: scaled(120000) })
      .trim().split('\n').pop();
    if (!/^postgres:\/\/\S+$/.test(url)) throw new Error(`pg-throwaway.sh printed ${url}`);
    const keyFile = path.join(await makeTempDir('ppod-e2e-key-'), 'cluster.key');
    const key = crypto.randomBytes(24).toString('hex'); // 48 printable bytes
    fs.writeFileSync(keyFile, `${key}\n`, { mode: 0o600 });
    const account = async (name) => {
      const { stdout } = await runAdmin(['account', 'create', name, '--store', url]);
      return stdout.trim();
    };
    const tokenA = await account('tenant-a');
    const tokenB = await account('tenant-b');
    const psql = (q) => execFileSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', q],
      { encoding: 'utf8', timeout: scaled(15000) }).trim();
    const node = async (name, capacity, token) => {
      const port = await freePort();
      const d = await startDaemon({
        port,
        allowPrivate,
        dataDir: await makeTempDir('ppod-e2e-data-'),
        token,
        args: ['--store', url, '--node-url', `http://127.0.0.1:${port}`, '--node-name', name,
          '--cluster-key-file', keyFile, '--node-capacity', String(capacity)],
      });
      daemons.push(d);
      const m = /cluster node \S+, tag ([0-9a-f]{4})/.exec(d.stderr());
      if (!m) throw new Error(`node ${name} did not say its tag\n${d.stderr().slice(-2000)}`);
      d.tag = m[1];
      return d;
    };
    const a = await node('A', 8, tokenA);
    const b = await node('B', 1, tokenB);
    // Both up in the registry; each sees the other once a heartbeat
    // refreshed its snapshot (one a second).
    await pollUntil(() => +psql(`SELECT count(*) FROM nodes WHERE state = 'up' AND tag IN ('${a.tag}', '${b.tag}')`) === 2,
      { timeout: scaled(10000), what: 'both nodes up' });
    await new Promise((r) => setTimeout(r, 1500)); // ≥ one heartbeat of each after that
    const pair = { a, b, key, url, pgDir, psql, stop };
    // A node the harness shows as killed (the test's own kill -9) is not
    // asked to stop cleanly.
    pair.markKilled = (d) => { d.killed = true; };
    return pair;
  } catch (e) {
    await stop().catch(() => {});
    throw e;
  }
}

// A node of the test's own in the registry: tag, url, state; its heartbeat
// kept fresh (asynchronously, psql) until stop(), so that no node declares
// it lost while a test uses it.
function fakeNode(pair, tag, url, state = 'up') {
  if (!/^[0-9a-f]{4}$/.test(tag) || !/^http:\/\/[0-9a-z.:]+$/.test(url) || !/^[a-z]+$/.test(state))
    throw new Error('fakeNode: bad arguments');
  const now = Date.now();
  pair.psql(`INSERT INTO nodes (tag, name, url, capacity, sessions, state, started_ms, heartbeat_ms, ended_ms)
    VALUES ('${tag}', 'fake-${tag}', '${url}', 1, 0, '${state}', ${now}, ${now}, NULL)
    ON CONFLICT (tag) DO UPDATE SET url = EXCLUDED.url, state = EXCLUDED.state,
      started_ms = EXCLUDED.started_ms, heartbeat_ms = EXCLUDED.heartbeat_ms, ended_ms = NULL`);
  let busy = false;
  const t = setInterval(() => {
    if (busy) return;
    busy = true;
    execFile('psql', ['-X', '-q', '-d', pair.url, '-c', `UPDATE nodes SET heartbeat_ms = ${Date.now()} WHERE tag = '${tag}'`],
      { timeout: 5000 }, () => { busy = false; });
  }, 500);
  return { stop: () => clearInterval(t) };
}

module.exports = { startPair, fakeNode, havePostgres };
