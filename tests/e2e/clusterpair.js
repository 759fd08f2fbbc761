'use strict';
// Two daemons as a cluster on loopback (r-proxy's e2e and bench/cluster-ws.js):
// node A (capacity 8) and node B (capacity 1), so placement prefers A; the
// node registry in a shared database: a SQLite file of the test's own (the
// daemon's PB_TEST_CLUSTER_* wiring), each node its own store. A tenant's
// token is A's: B never authenticates what it relays, A does.
const crypto = require('node:crypto');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { startDaemon, makeTempDir, freePort, pollUntil, scaled } = require('./harness');

async function startPair({ allowPrivate = [] } = {}) {
  const dir = await makeTempDir('ppod-cluster-');
  const db = path.join(dir, 'cluster.db');
  const key = crypto.randomBytes(24).toString('hex'); // 48 chars
  const node = async (capacity) => {
    const port = await freePort();
    const d = await startDaemon({
      port,
      allowPrivate,
      env: {
        PB_TEST_CLUSTER_DB: db,
        PB_TEST_NODE_URL: `http://127.0.0.1:${port}`,
        PB_TEST_CLUSTER_KEY: key,
        PB_TEST_NODE_CAPACITY: String(capacity),
      },
    });
    d.tag = /cluster \(test wiring\): node ([0-9a-f]{4})/.exec(d.stderr())[1];
    return d;
  };
  const a = await node(8);
  const b = await node(1);
  const sql = (q) => execFileSync('sqlite3', ['-cmd', '.timeout 5000', db, q], { encoding: 'utf8' });
  // Both see each other once a heartbeat refreshed their snapshots.
  await pollUntil(() => +sql("SELECT count(*) FROM nodes WHERE state = 'up'") >= 2,
    { timeout: scaled(10000), what: 'both nodes up' });
  return { a, b, key, db, sql };
}

// A node of the test's own in the registry: tag, url, state; its heartbeat
// kept fresh by the caller's sql until stop().
function fakeNode(pair, tag, url, state = 'up') {
  const now = Date.now();
  pair.sql(`INSERT OR REPLACE INTO nodes VALUES('${tag}','fake-${tag}','${url}',1,0,'${state}',${now},${now},NULL)`);
  const t = setInterval(() => {
    try { pair.sql(`UPDATE nodes SET heartbeat_ms = ${Date.now()} WHERE tag = '${tag}'`); } catch { /* busy */ }
  }, 500);
  return { stop: () => clearInterval(t) };
}

module.exports = { startPair, fakeNode };
