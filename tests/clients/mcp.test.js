'use strict';
// The agent tools people use, as real MCP servers driven over stdio by the
// MCP SDK's client, each pointed at an acquired session by its http
// discovery URL (?token=, as the tools cannot send a header there):
// @playwright/mcp with --cdp-endpoint, chrome-devtools-mcp with --browserUrl.
// Each fills and submits a fixture form and reads the result from a
// snapshot, uploads a file through the API and the tool, and downloads a
// file whose bytes come back through the session's downloads endpoint.
const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { Client } = require('@modelcontextprotocol/sdk/client/index.js');
const { StdioClientTransport } = require('@modelcontextprotocol/sdk/client/stdio.js');
const {
  REPO_ROOT, FIXTURES_DIR, useDaemon, scaled, makeTempDir, pollUntil,
  acquireSession, releaseSession,
} = require('../e2e/harness');

const acquired = new Set();
after(async () => {
  for (const id of acquired) await releaseSession(daemon, id).catch(() => {});
});

const { daemon, fixtures } = useDaemon();

const NODE_MODULES = path.join(REPO_ROOT, 'node_modules');
const PLAYWRIGHT_MCP = path.join(NODE_MODULES, '@playwright/mcp/cli.js');
const DEVTOOLS_MCP = path.join(NODE_MODULES, 'chrome-devtools-mcp/build/src/bin/chrome-devtools-mcp.js');
const REPORT = fs.readFileSync(path.join(FIXTURES_DIR, 'agent-report.csv'));
const UPLOAD = Buffer.from('notes for the agent: ppod upload check\n');

// An MCP server as a child process, its stderr kept for failure messages.
async function mcpServer(t, script, args) {
  const stderr = [];
  const transport = new StdioClientTransport({
    command: process.execPath, args: [script, ...args], stderr: 'pipe', cwd: await makeTempDir('ppod-mcp-cwd-'),
  });
  transport.stderr.on('data', (b) => stderr.push(b));
  const client = new Client({ name: 'ppod-e2e', version: '1.0.0' });
  await client.connect(transport);
  t.after(() => client.close().catch(() => {}));
  const call = async (name, params = {}) => {
    const res = await client.callTool({ name, arguments: params }, undefined, { timeout: scaled(60000) });
    const text = (res.content || []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');
    assert.ok(!res.isError, `${name} failed: ${text}\n--- server stderr ---\n${Buffer.concat(stderr).toString().slice(-4000)}`);
    return text;
  };
  return { client, call };
}

// The reference a snapshot line gives the element with that role and name.
function playwrightRef(snapshot, role, name) {
  const re = new RegExp(`${role} "${name}"[^\\n]*\\[ref=([^\\]]+)\\]`);
  const m = snapshot.match(re);
  assert.ok(m, `no ${role} "${name}" in the snapshot:\n${snapshot}`);
  return m[1];
}

function devtoolsUid(snapshot, role, name) {
  const re = new RegExp(`uid=(\\S+) ${role} "${name}"`);
  const m = snapshot.match(re);
  assert.ok(m, `no ${role} "${name}" in the snapshot:\n${snapshot}`);
  return m[1];
}

// Puts a file into the session's upload area; the path the browser can use.
async function upload(id, name, body) {
  const res = await daemon.request('POST', `/browser/sessions/${id}/files?name=${encodeURIComponent(name)}`, {
    body, headers: { 'Content-Type': 'application/octet-stream' },
  });
  assert.equal(res.status, 200, `upload: ${res.body}`);
  const { path: p, bytes } = res.json.result;
  assert.equal(bytes, body.length);
  assert.ok(path.isAbsolute(p), `an absolute path: ${p}`);
  return p;
}

// The session's completed download of that suggested name, its bytes read
// back through the API.
async function downloaded(id, suggested) {
  let entry;
  await pollUntil(async () => {
    const res = await daemon.request('GET', `/browser/sessions/${id}/downloads`);
    assert.equal(res.status, 200, String(res.body));
    entry = res.json.result.find((d) => d.suggestedFilename === suggested);
    return entry && entry.state === 'completed';
  }, { timeout: scaled(20000), what: `download ${suggested} completed` });
  assert.equal(entry.bytes, REPORT.length);
  const body = await daemon.request('GET', `/browser/sessions/${id}/downloads/${entry.id}`);
  assert.equal(body.status, 200);
  return body.body;
}

async function newSession() {
  const { sessionId: id } = await acquireSession(daemon, { keep_alive: 60000 });
  acquired.add(id);
  return { id, httpUrl: `${daemon.url}/browser/sessions/${id}?token=${daemon.token}` };
}

test('@playwright/mcp over --cdp-endpoint <http discovery URL>', { timeout: scaled(180000) }, async (t) => {
  const { id, httpUrl } = await newSession();
  const outDir = await makeTempDir('ppod-pwmcp-out-');
  // The returned upload path is outside the tool's workspace: a remote
  // browser's files are, so the tool is told to allow it.
  const { call } = await mcpServer(t, PLAYWRIGHT_MCP, [
    '--cdp-endpoint', httpUrl, '--allow-unrestricted-file-access', '--output-dir', outDir,
  ]);
  const page = `${fixtures.url}/agent-form.html`;

  await t.test('fills and submits a form, reads the result from a snapshot', async () => {
    const nav = await call('browser_navigate', { url: page });
    assert.match(nav, /agent form/);
    const snap = await call('browser_snapshot');
    await call('browser_fill_form', {
      fields: [
        { target: playwrightRef(snap, 'textbox', 'Full name'), name: 'Full name', type: 'textbox', value: 'Ada Lovelace' },
        { target: playwrightRef(snap, 'textbox', 'City'), name: 'City', type: 'textbox', value: 'London' },
      ],
    });
    await call('browser_click', { element: 'Register button', target: playwrightRef(snap, 'button', 'Register') });
    const after = await call('browser_snapshot');
    assert.match(after, /Registered Ada Lovelace from London/);
  });

  await t.test('uploads a file put into the session through the API', async () => {
    const p = await upload(id, 'notes.txt', UPLOAD);
    const snap = await call('browser_snapshot');
    const chooser = await call('browser_click', { element: 'Attachment file input', target: playwrightRef(snap, 'button', 'Attachment') });
    assert.match(chooser, /[Ff]ile chooser/);
    await call('browser_file_upload', { paths: [p] });
    // The page reads the file asynchronously after the change event.
    const picked = new RegExp(`Picked notes.txt \\(${UPLOAD.length} bytes\\): notes for the agent`);
    await pollUntil(async () => picked.test(await call('browser_snapshot')), { what: 'the page shows the picked file' });
  });

  await t.test('a download comes back through the downloads endpoint', async () => {
    const snap = await call('browser_snapshot');
    await call('browser_click', { element: 'Download report link', target: playwrightRef(snap, 'link', 'Download report') });
    assert.deepEqual(await downloaded(id, 'quarterly-report.csv'), REPORT);
  });
});

test('chrome-devtools-mcp over --browserUrl <http discovery URL>', { timeout: scaled(180000) }, async (t) => {
  const { id, httpUrl } = await newSession();
  const { call } = await mcpServer(t, DEVTOOLS_MCP, [
    '--browserUrl', httpUrl, '--no-usage-statistics', '--no-performance-crux',
  ]);
  const page = `${fixtures.url}/agent-form.html`;
  let pageId;

  await t.test('fills and submits a form, reads the result from a snapshot', async () => {
    // Tools name the page they act on by the id list_pages gives it.
    const m = (await call('list_pages')).match(/^(\d+): .*\[selected\]$/m);
    assert.ok(m, 'list_pages shows the selected page');
    pageId = Number(m[1]);
    await call('navigate_page', { pageId, type: 'url', url: page });
    const snap = await call('take_snapshot', { pageId });
    await call('fill', { pageId, uid: devtoolsUid(snap, 'textbox', 'Full name'), value: 'Grace Hopper' });
    await call('fill', { pageId, uid: devtoolsUid(snap, 'textbox', 'City'), value: 'Arlington' });
    await call('click', { pageId, uid: devtoolsUid(snap, 'button', 'Register') });
    const after = await call('take_snapshot', { pageId });
    assert.match(after, /Registered Grace Hopper from Arlington/);
  });

  await t.test('upload_file with a path put into the session through the API', async () => {
    const p = await upload(id, 'notes.txt', UPLOAD);
    const snap = await call('take_snapshot', { pageId });
    await call('upload_file', { pageId, uid: devtoolsUid(snap, 'button', 'Attachment'), filePaths: [p] });
    // The page reads the file asynchronously after the change event.
    const picked = new RegExp(`Picked notes.txt \\(${UPLOAD.length} bytes\\): notes for the agent`);
    await pollUntil(async () => picked.test(await call('take_snapshot', { pageId })), { what: 'the page shows the picked file' });
  });

  await t.test('a download comes back through the downloads endpoint', async () => {
    const snap = await call('take_snapshot', { pageId });
    await call('click', { pageId, uid: devtoolsUid(snap, 'link', 'Download report') });
    assert.deepEqual(await downloaded(id, 'quarterly-report.csv'), REPORT);
  });
});
