'use strict';
// A file system each browser cannot see past. Started as root, the service
// runs every browser as a uid of its own, in a mount namespace of its own
// where the temp dir (every profile), the data dir (tokens, traces), /tmp
// and /dev/shm are fresh tmpfs, its own profile is bound back in, and /proc
// shows only its own processes. Checked from inside: a probe process entering
// one browser's mount namespace (nsenter -m) as that browser's uid (setpriv),
// i.e. what a file-read bug in that Chromium could reach; the same probe on
// the host, as root, is the control showing every path it tries exists.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFile, spawn } = require('node:child_process');
const {
  useDaemon, startDaemon, assertCleanExit, createAccount, scaled, freePort, pollUntil, httpRequest, childrenOf, cmdline, makeTempDir, PNG_MAGIC,
} = require('./harness');

// A /proc/PID/status field as numbers; null once the process is gone (a
// helper process may exit between listing and reading).
const field = (pid, name) => {
  let text;
  try { text = fs.readFileSync(`/proc/${pid}/status`, 'utf8'); } catch { return null; }
  const m = new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(text);
  return m ? m[1].split(/\s+/).map(Number) : null;
};
const profileOf = (pid) => {
  const a = cmdline(pid).find((x) => x.startsWith('--user-data-dir='));
  return a && a.slice('--user-data-dir='.length);
};

// For each path: what reading it gives ('read' with the first bytes, or a
// directory listing, or the error code); and whether it can write a file
// into the directories named after '--write'.
const PROBE = `
const fs = require('node:fs');
const out = { uid: process.getuid(), read: {}, wrote: {} };
const args = process.argv.slice(1);
const w = args.indexOf('--write');
const reads = w < 0 ? args : args.slice(0, w);
const writes = w < 0 ? [] : args.slice(w + 1);
for (const p of reads) {
  try {
    const st = fs.statSync(p);
    out.read[p] = st.isDirectory() ? { dir: fs.readdirSync(p).sort() }
      : { read: fs.readFileSync(p).subarray(0, 64).toString('latin1') };
  } catch (e) { out.read[p] = { error: e.code }; }
}
for (const d of writes) {
  try { fs.writeFileSync(d + '/probe-' + process.pid, 'x'); out.wrote[d] = 'ok'; } catch (e) { out.wrote[d] = e.code; }
}
process.stdout.write(JSON.stringify(out));
`;

function run(cmd, args) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: scaled(20000) }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${cmd}: ${err.message}\n${stderr}`));
      try { resolve(JSON.parse(stdout)); } catch { reject(new Error(`${cmd} output: ${stdout}\n${stderr}`)); }
    });
  });
}

// As the browser pid's uid and gid, in its mount namespace.
const probeAs = (pid, paths, writes = []) => {
  const [uid] = field(pid, 'Uid');
  const [gid] = field(pid, 'Gid');
  return run('nsenter', ['-t', String(pid), '-m', 'setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups',
    process.execPath, '-e', PROBE, ...paths, '--write', ...writes]);
};
const probeHost = (paths) => run(process.execPath, ['-e', PROBE, ...paths]);

// Its data dir outside /tmp (in /run, which no browser's namespace
// covers otherwise): hidden because it is the data dir.
async function startFullChromium(fixtures) {
  const dataDir = fs.mkdtempSync('/run/ppod-e2e-data-');
  const token = await createAccount(dataDir, 'test');
  const d = await startDaemon({
    browsers: 1, allowPrivate: [fixtures.host], dataDir, token,
    args: ['--chromium', '/usr/lib/chromium/chromium', '--spares', '0'],
  });
  const stop = d.stop;
  d.stop = async (...a) => {
    try { return await stop(...a); } finally { fs.rmSync(dataDir, { recursive: true, force: true }); }
  };
  return d;
}

describe('a file system of its own per browser', {
  skip: process.getuid() !== 0 && 'needs root (the service isolates browsers only as root)',
  timeout: scaled(300000),
}, () => {
  let markerDir;
  let marker;

  before(async () => {
    markerDir = await makeTempDir('ppod-e2e-marker-');
    marker = path.join(markerDir, 'host-secret');
    fs.writeFileSync(marker, 'host marker 6f1d');
    fs.chmodSync(markerDir, 0o755);
    fs.chmodSync(marker, 0o644); // readable by any uid on the host: only the namespace hides it
  });

  const { daemon, fixtures } = useDaemon({ browsers: 2, args: ['--spares', '0'], timeout: scaled(60000) });

  before(async () => {
    // A trace so the data dir's traces/ holds a file.
    const res = await daemon.request('POST', '/browser/screenshot', { json: { html: '<p>x</p>', trace: true } });
    assert.equal(res.status, 200, res.body.subarray(0, 300).toString('utf8'));
  }, { timeout: scaled(60000) });

  // Registered after useDaemon(): runs once the daemon has exited.
  after(async () => {
    if (markerDir) fs.rmSync(markerDir, { recursive: true, force: true });
  });

  it('/healthz says how browsers are isolated', async () => {
    const h = (await daemon.request('GET', '/healthz')).json.result;
    assert.equal(h.isolation, 'mountns+uid');
  });

  it('each browser runs as a uid of its own from the range, all its processes too', () => {
    const browsers = daemon.browserPids();
    assert.equal(browsers.length, 2, `browsers: ${browsers}`);
    const uids = browsers.map((b) => field(b, 'Uid')[0]);
    assert.notEqual(uids[0], uids[1], `uids ${uids}`);
    for (const [i, b] of browsers.entries()) {
      const u = uids[i];
      assert.ok(u >= 61000 && u < 61100, `uid ${u} in the default range`);
      assert.deepEqual(field(b, 'Uid'), [u, u, u, u]);
      assert.deepEqual(field(b, 'Gid'), [u, u, u, u]);
      const st = fs.statSync(profileOf(b));
      assert.equal(st.uid, u, 'its profile is its own');
      assert.equal(st.mode & 0o777, 0o700);
      for (const p of childrenOf(b)) {
        const pu = field(p, 'Uid');
        if (pu) assert.deepEqual(pu, [u, u, u, u], `child ${p}: ${cmdline(p).join(' ').slice(0, 100)}`);
      }
    }
  });

  it('from inside one browser, as its uid: its own profile only; not the other\'s, the data dir, the host /tmp or the daemon', async (t) => {
    const [a, b] = daemon.browserPids();
    const mine = profileOf(a);
    const other = profileOf(b);
    const db = path.join(daemon.dataDir, 'ppod.db');
    const traces = path.join(daemon.dataDir, 'traces');
    const dproc = `/proc/${daemon.pid}`;
    const paths = [mine, other, daemon.tmpDir, daemon.dataDir, db, traces, marker, markerDir,
      `${dproc}/environ`, `${dproc}/cmdline`, `${dproc}/fd`, `/proc/${b}/cmdline`, `/proc/${b}/root${other}`,
      '/root', '/dev/shm'];
    // The control: on the host, as root, every one of them is there.
    const host = await probeHost(paths.slice(0, 12));
    for (const p of paths.slice(0, 12)) assert.ok(!host.read[p].error, `host control: ${p} ${JSON.stringify(host.read[p])}`);
    assert.match(host.read[marker].read, /host marker/);

    const inside = await probeAs(a, paths, [mine, '/tmp', '/dev/shm', daemon.tmpDir]);
    t.diagnostic(JSON.stringify(inside));
    assert.equal(inside.uid, field(a, 'Uid')[0]);
    assert.ok(inside.read[mine].dir, `own profile listed: ${JSON.stringify(inside.read[mine])}`);
    assert.equal(inside.wrote[mine], 'ok', 'own profile writable');
    // The temp dir holds its own profile and nothing else.
    assert.deepEqual(inside.read[daemon.tmpDir], { dir: [path.basename(mine)] });
    for (const p of [other, daemon.dataDir, db, traces, marker, markerDir, `${dproc}/environ`, `${dproc}/cmdline`,
      `${dproc}/fd`, `/proc/${b}/cmdline`, `/proc/${b}/root${other}`]) {
      assert.ok(inside.read[p].error, `${p} must not be reachable: ${JSON.stringify(inside.read[p])}`);
    }
    assert.ok(!JSON.stringify(inside).includes('host marker'), 'no marker byte');
    assert.ok(inside.read['/root'].error || inside.read['/root'].dir.length === 0, '/root empty or closed');
    // Its /tmp and /dev/shm work (Chromium's shared memory) and are its own.
    assert.equal(inside.wrote['/tmp'], 'ok');
    assert.equal(inside.wrote['/dev/shm'], 'ok');
    const hostShm = fs.readdirSync('/dev/shm').filter((n) => n.startsWith('probe-'));
    assert.deepEqual(hostShm, [], 'nothing it writes to /dev/shm reaches the host\'s');
    assert.ok(!fs.readdirSync(daemon.tmpDir).some((n) => n.startsWith('probe-')), 'nor the host temp dir');
  });

  it('Chromium\'s sandbox still runs inside: renderers under seccomp, as the browser\'s uid', async () => {
    const res = await daemon.request('POST', '/browser/screenshot', { json: { url: `${fixtures.url}/title.html` } });
    assert.equal(res.status, 200, res.body.subarray(0, 300).toString('utf8'));
    assert.ok(res.body.subarray(0, 8).equals(PNG_MAGIC));
    for (const b of daemon.browserPids()) {
      const u = field(b, 'Uid')[0];
      const renderers = childrenOf(b).filter((p) => cmdline(p).join(' ').includes('--type=renderer'));
      assert.ok(renderers.length >= 1, 'a renderer runs');
      for (const p of renderers) {
        // A renderer just forked may not have entered its sandbox yet.
        const seccomp = field(p, 'Seccomp');
        const pu = field(p, 'Uid');
        if (!seccomp || seccomp[0] !== 2 || !pu) continue;
        assert.equal(pu[0], u);
      }
      assert.ok(renderers.some((p) => (field(p, 'Seccomp') || [])[0] === 2), 'a renderer under seccomp');
    }
  });

  it('the full Chromium (not the headless shell) works the same way', async () => {
    const full = await startFullChromium(fixtures);
    try {
      const res = await full.request('POST', '/browser/screenshot', { json: { url: `${fixtures.url}/title.html` } });
      assert.equal(res.status, 200, res.body.subarray(0, 300).toString('utf8'));
      assert.ok(res.body.subarray(0, 8).equals(PNG_MAGIC));
      const [b] = full.browserPids();
      assert.match(cmdline(b)[0], /\/chromium$/);
      const u = field(b, 'Uid')[0];
      assert.ok(u >= 61000 && u < 61100);
      assert.ok(full.dataDir.startsWith('/run/'));
      const db = path.join(full.dataDir, 'ppod.db');
      assert.ok(fs.existsSync(db), 'control: the tokens db is there on the host');
      const inside = await probeAs(b, [profileOf(b), full.dataDir, db, marker, `/proc/${full.pid}/cmdline`]);
      assert.ok(inside.read[profileOf(b)].dir);
      assert.deepEqual(inside.read[full.dataDir], { dir: [] }, 'the data dir is an empty tmpfs');
      for (const p of [db, marker, `/proc/${full.pid}/cmdline`]) assert.ok(inside.read[p].error, p);
      const renderers = childrenOf(b).filter((p) => cmdline(p).join(' ').includes('--type=renderer'));
      assert.ok(renderers.some((p) => (field(p, 'Seccomp') || [])[0] === 2), 'a renderer under seccomp');
    } finally {
      assertCleanExit(await full.stop(), full.stderr());
    }
  });

  it('--browser-uids 0 turns it off, and /healthz says so', async () => {
    const plain = await startDaemon({ browsers: 1, args: ['--browser-uids', '0', '--spares', '0'] });
    try {
      assert.equal((await plain.request('GET', '/healthz')).json.result.isolation, 'none');
      const [b] = plain.browserPids();
      assert.equal(field(b, 'Uid')[0], 65534);
    } finally {
      await plain.stopClean();
    }
  });

  // Without root there is no uid of its own and no namespace: /healthz says
  // "none", and what the daemon can still close to its same-uid browsers it
  // does (not dumpable: its environ and fds are not theirs to read).
  it('not root: /healthz says "none", and the daemon\'s environ and fds stay closed to its browsers', async () => {
    const bin = path.resolve(process.env.PPOD_BIN_DIR || 'build', 'ppod-browserd');
    const top = fs.mkdtempSync(path.join(os.tmpdir(), 'ppod-e2e-nonroot-'));
    const dataDir = path.join(top, 'data');
    const tmp = path.join(top, 'tmp');
    fs.mkdirSync(dataDir, { mode: 0o700 });
    fs.mkdirSync(tmp, { mode: 0o1777 });
    for (const d of [top, dataDir, tmp]) fs.chownSync(d, 65534, 65534);
    fs.chmodSync(top, 0o755);
    const port = await freePort();
    const asNobody = ['--reuid=65534', '--regid=65534', '--clear-groups'];
    const proc = spawn('setpriv', [...asNobody, bin, '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir,
      '--browsers', '1', '--spares', '0'], {
      stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, TMPDIR: tmp, PPOD_E2E_SECRET: 'env-secret-9c2e' },
    });
    let err = '';
    proc.stderr.on('data', (d) => { err += d; });
    const exited = new Promise((r) => proc.on('exit', r));
    try {
      await pollUntil(async () => {
        try { return (await httpRequest(port, 'GET', '/healthz', { timeout: 2000 })).status === 200; } catch { return false; }
      }, { timeout: scaled(30000), what: 'the non-root daemon to answer' }).catch((e) => assert.fail(`${e.message}\n${err}`));
      const h = (await httpRequest(port, 'GET', '/healthz')).json.result;
      assert.equal(h.isolation, 'none');
      assert.match(err, /isolation: none \(not root\)/);
      const probe = await run('setpriv', [...asNobody, process.execPath, '-e', PROBE,
        `/proc/${proc.pid}/environ`, `/proc/${proc.pid}/fd`, '--write']);
      assert.ok(probe.read[`/proc/${proc.pid}/environ`].error, JSON.stringify(probe));
      assert.ok(probe.read[`/proc/${proc.pid}/fd`].error, JSON.stringify(probe));
      assert.ok(!JSON.stringify(probe).includes('env-secret'));
      // The control: root reads it.
      assert.match(fs.readFileSync(`/proc/${proc.pid}/environ`, 'latin1'), /env-secret-9c2e/);
    } finally {
      proc.kill('SIGTERM');
      assertCleanExit(await exited, err);
      fs.rmSync(top, { recursive: true, force: true });
    }
  });
});
