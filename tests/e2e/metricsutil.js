'use strict';
// Helpers shared by the reliability tests and bench/soak.js, bench/load.js:
// Prometheus samples, the daemon's store through the sqlite3 CLI, /proc
// figures of a process tree, percentiles.

const fs = require('node:fs');
const path = require('node:path');
const http = require('node:http');
const { execFile } = require('node:child_process');

// Value of one Prometheus sample whose labels include all of `labels`
// (null when absent).
function metric(text, name, labels = {}) {
  for (const s of samples(text, name)) {
    if (Object.entries(labels).every(([k, v]) => s.labels[k] === String(v))) return s.value;
  }
  return null;
}

// Every sample of a metric: [{labels, value}].
function samples(text, name) {
  const out = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels = {};
    for (const lm of (m[2] || '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]] = lm[2];
    out.push({ labels, value: Number(m[3]) });
  }
  return out;
}

function getText(port, reqPath, timeout = 10000) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: reqPath, agent: false, timeout }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${reqPath}: timed out`)));
    req.on('error', reject);
  });
}

async function scrape(port) {
  const r = await getText(port, '/metrics');
  if (r.status !== 200) throw new Error(`GET /metrics: HTTP ${r.status}`);
  return r.text;
}

// Rows of a query on a data dir's store (sqlite3 CLI, JSON output).
function sql(dataDir, query, timeout = 15000) {
  return new Promise((resolve, reject) => {
    execFile('sqlite3', ['-json', '-cmd', '.timeout 5000', path.join(dataDir, 'ppod.db'), query],
      { timeout }, (err, stdout, stderr) => {
        if (err) {
          err.message += `\nsqlite3: ${query}\n${stderr}`;
          return reject(err);
        }
        const out = stdout.trim();
        try { resolve(out ? JSON.parse(out) : []); } catch { reject(new Error(`sqlite3 output: ${out}`)); }
      });
  });
}

function procStatus(pid, field) {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch { return null; }
}
const rssKb = (pid) => procStatus(pid, 'VmRSS');
function fdCount(pid) {
  try { return fs.readdirSync(`/proc/${pid}/fd`).length; } catch { return null; }
}

// Descendants of pid (children, grandchildren, ...).
function descendants(pid) {
  const kids = new Map();
  for (const n of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(n)) continue;
    let st;
    try { st = fs.readFileSync(`/proc/${n}/stat`, 'utf8'); } catch { continue; }
    const rest = st.slice(st.lastIndexOf(')') + 2).split(' ');
    if (rest[0] === 'Z' || rest[0] === 'X') continue;
    const ppid = Number(rest[1]);
    if (!kids.has(ppid)) kids.set(ppid, []);
    kids.get(ppid).push(Number(n));
  }
  const out = [];
  const stack = [...(kids.get(Number(pid)) || [])];
  while (stack.length) {
    const p = stack.pop();
    out.push(p);
    stack.push(...(kids.get(p) || []));
  }
  return out;
}

function ppidOf(pid) {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]);
  } catch { return 0; }
}

function cmdlineOf(pid) {
  try { return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean); } catch { return []; }
}

// Chromium processes (browsers and their helpers) under the daemon, and the
// browser processes among them (no --type=).
function chromiumUnder(pid) {
  const all = descendants(pid).filter((p) => cmdlineOf(p).join(' ').includes('chromium'));
  const piped = all.filter((p) => {
    const a = cmdlineOf(p);
    return a.some((x) => x.startsWith('--remote-debugging-pipe')) && !a.join(' ').includes('--type=');
  });
  // A browser's child between fork and exec still shows the browser's
  // command line: not a browser of its own.
  const browsers = piped.filter((p) => !piped.includes(ppidOf(p)));
  return { all, browsers };
}

function percentile(values, p) {
  if (values.length === 0) return NaN;
  const v = [...values].sort((a, b) => a - b);
  const i = Math.min(v.length - 1, Math.max(0, Math.ceil((p / 100) * v.length) - 1));
  return v[i];
}

module.exports = {
  metric, samples, scrape, getText, sql, rssKb, fdCount, descendants, chromiumUnder, cmdlineOf, percentile,
};
