'use strict';
// The service's own MCP server (/mcp, Streamable HTTP; `ppod mcp` over
// stdio), driven by the official MCP SDK client and the MCP Inspector's CLI
// mode: every tool against fixture pages on loopback, errors as tool
// results, progress on a long call, and the attacks next to them (no token,
// another account's MCP or browser session, a foreign Origin, bodies that
// are too big, malformed or too deep, batches, private addresses).
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { execFile, spawn } = require('node:child_process');
const { promisify } = require('node:util');
const { Client } = require('@modelcontextprotocol/sdk/client/index.js');
const { StreamableHTTPClientTransport } = require('@modelcontextprotocol/sdk/client/streamableHttp.js');
const { StdioClientTransport } = require('@modelcontextprotocol/sdk/client/stdio.js');
const {
  REPO_ROOT, useDaemon, scaled, makeTempDir, createAccount, decodePng, pollUntil,
} = require('../e2e/harness');
const { metric } = require('../e2e/metricsutil');

const { daemon, fixtures } = useDaemon({ browsers: 2 });
const INSPECTOR = path.join(REPO_ROOT, 'node_modules/@modelcontextprotocol/inspector-cli/build/cli.js');
const TOOLS = ['screenshot', 'pdf', 'markdown', 'content', 'scrape', 'links', 'snapshot', 'test',
  'acquire', 'release', 'sessions', 'live_url', 'crawl', 'crawl_start', 'crawl_status',
  'crawl_results', 'crawl_cancel', 'accessibility_tree', 'extract_json'];

function ppodBin() {
  return path.join(process.env.PPOD_BIN_DIR || path.join(REPO_ROOT, 'build'), 'ppod');
}

async function httpClient(t, token = daemon.token) {
  const transport = new StreamableHTTPClientTransport(new URL(`${daemon.url}/mcp`), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  const client = new Client({ name: 'ppod-e2e', version: '1.0.0' });
  await client.connect(transport);
  t.after(() => client.close().catch(() => {}));
  return { client, transport };
}

const callOpts = () => ({ timeout: scaled(60000) });
const textOf = (res) => (res.content || []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');
async function ok(client, name, args) {
  const res = await client.callTool({ name, arguments: args }, undefined, callOpts());
  assert.ok(!res.isError, `${name} failed: ${textOf(res)}`);
  return res;
}

// One JSON-RPC message POSTed by hand, for what the SDK would never send.
async function rpc(body, { token = daemon.token, headers = {}, raw } = {}) {
  const h = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  const res = await fetch(`${daemon.url}/mcp`, { method: 'POST', headers: h, body: raw !== undefined ? raw : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json };
}

async function initSession(token = daemon.token) {
  const res = await rpc({
    jsonrpc: '2.0', id: 1, method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
  }, { token });
  assert.equal(res.status, 200, res.text);
  const sid = res.headers.get('mcp-session-id');
  assert.match(sid, /^[0-9a-f]{32}$/);
  return sid;
}

describe('MCP server over Streamable HTTP (SDK client)', { timeout: scaled(300000) }, () => {
  it('negotiates the protocol and lists every tool with its route\'s schema', async (t) => {
    const { client, transport } = await httpClient(t);
    assert.equal(client.getServerVersion().name, 'ppod-browser');
    assert.equal(transport.protocolVersion, '2025-11-25', 'the SDK\'s newest version is answered as asked');
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((x) => x.name).sort(), [...TOOLS].sort());
    const shot = tools.find((x) => x.name === 'screenshot').inputSchema;
    assert.equal(shot.type, 'object');
    for (const k of ['url', 'html', 'viewport', 'screenshotOptions', 'selector', 'gotoOptions']) {
      assert.ok(shot.properties[k], `screenshot takes ${k} as the HTTP API does`);
    }
    assert.ok(!JSON.stringify(shot).includes('.json#'), 'every $ref is local to the tool\'s schema');
    const live = tools.find((x) => x.name === 'live_url').inputSchema;
    assert.ok(live.required.includes('sessionId'));
    assert.deepEqual(live.properties.mode.enum, ['interactive', 'view']);

    const openapi = await (await fetch(`${daemon.url}/openapi.json`)).json();
    assert.ok(openapi.paths['/mcp'].post, 'the route table lists POST /mcp');

    // An older client is answered in its version; an unknown one in ours.
    for (const [asked, answered] of [['2025-03-26', '2025-03-26'], ['2024-01-01', '2025-11-25']]) {
      const res = await rpc({ jsonrpc: '2.0', id: 7, method: 'initialize', params: { protocolVersion: asked, capabilities: {}, clientInfo: { name: 'x', version: '1' } } });
      assert.equal(res.json.result.protocolVersion, answered);
    }
  });

  it('runs the page tools against fixtures', async (t) => {
    const { client } = await httpClient(t);
    const url = `${fixtures.url}/title.html`;

    const shot = await ok(client, 'screenshot', { url, viewport: { width: 320, height: 200 } });
    assert.equal(shot.content[0].type, 'image');
    assert.equal(shot.content[0].mimeType, 'image/png');
    const png = decodePng(Buffer.from(shot.content[0].data, 'base64'));
    assert.deepEqual([png.width, png.height], [320, 200]);

    const jpeg = await ok(client, 'screenshot', { url, screenshotOptions: { type: 'jpeg', quality: 50 } });
    assert.equal(jpeg.content[0].mimeType, 'image/jpeg');
    assert.equal(Buffer.from(jpeg.content[0].data, 'base64').subarray(0, 2).toString('hex'), 'ffd8');

    const pdf = await ok(client, 'pdf', { url });
    const res = pdf.content[0];
    assert.equal(res.type, 'resource');
    assert.equal(res.resource.mimeType, 'application/pdf');
    const bytes = Buffer.from(res.resource.blob, 'base64');
    assert.equal(bytes.subarray(0, 5).toString(), '%PDF-');
    assert.ok(bytes.includes(Buffer.from('%%EOF')));

    assert.match(textOf(await ok(client, 'markdown', { url })), /# ppod fixture title/);
    assert.match(textOf(await ok(client, 'content', { url })), /<h1 id="heading">ppod fixture title<\/h1>/);
    const scraped = JSON.parse(textOf(await ok(client, 'scrape', { url, elements: [{ selector: '#heading' }] })));
    assert.equal(scraped[0].results[0].text, 'ppod fixture title');
    const links = JSON.parse(textOf(await ok(client, 'links', { url: `${fixtures.url}/links/index.html` })));
    assert.ok(links.includes(`${fixtures.url}/links/page.html`), JSON.stringify(links));
    assert.ok(links.includes(`${fixtures.url}/title.html`));

    const ax = JSON.parse(textOf(await ok(client, 'accessibility_tree', { url })));
    assert.equal(ax.accessibilityTree.role, 'RootWebArea', JSON.stringify(ax).slice(0, 300));
    assert.ok(JSON.stringify(ax).includes('ppod fixture title'), 'the heading is in the tree');
    const extracted = JSON.parse(textOf(await ok(client, 'extract_json', {
      url, schema: { type: 'object', properties: { title: { type: 'string', 'x-selector': '#heading' } } },
    })));
    assert.deepEqual(extracted, { title: 'ppod fixture title' });
    const noModel = await client.callTool({ name: 'extract_json', arguments: { url, prompt: 'the title' } });
    assert.equal(noModel.isError, true);
    assert.match(textOf(noModel), /NO_MODEL/);

    const snap = await ok(client, 'snapshot', { url });
    assert.match(snap.content[0].text, /ppod fixture title/);
    assert.equal(snap.content[1].type, 'image');
    assert.ok(decodePng(Buffer.from(snap.content[1].data, 'base64')).width > 0);
  });

  it('runs a test script that passes and one that fails', async (t) => {
    const { client } = await httpClient(t);
    const url = `${fixtures.url}/title.html`;
    const pass = JSON.parse(textOf(await ok(client, 'test', { url, steps: [{ action: 'expectTitle', title: 'ppod fixture title' }] })));
    assert.equal(pass.passed, true);
    const failed = await ok(client, 'test', { url, steps: [{ action: 'expectTitle', title: 'another title', timeout: 500 }] });
    const fail = JSON.parse(failed.content[0].text);
    assert.equal(fail.passed, false);
    assert.equal(fail.steps[0].status, 'failed');
  });

  it('acquires a session, lists it, makes a live link and releases it', async (t) => {
    const { client } = await httpClient(t);
    const acq = JSON.parse(textOf(await ok(client, 'acquire', { keep_alive: 60000 })));
    assert.match(acq.sessionId, /^[A-Za-z0-9_-]+$/);
    const listed = JSON.parse(textOf(await ok(client, 'sessions', {})));
    assert.ok(listed.some((x) => x.id === acq.sessionId || x.sessionId === acq.sessionId), JSON.stringify(listed));
    // A quick action inside the session, by sessionId, as over HTTP.
    assert.match(textOf(await ok(client, 'markdown', { url: `${fixtures.url}/title.html`, sessionId: acq.sessionId })), /ppod fixture title/);
    const live = JSON.parse(textOf(await ok(client, 'live_url', { sessionId: acq.sessionId, mode: 'view' })));
    assert.equal(live.mode, 'view');
    const page = await fetch(live.url.startsWith('http') ? live.url : `${daemon.url}${live.url}`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<html/i);
    await ok(client, 'release', { sessionId: acq.sessionId });
    const after = JSON.parse(textOf(await ok(client, 'sessions', {})));
    assert.ok(!after.some((x) => x.id === acq.sessionId || x.sessionId === acq.sessionId));
    const again = await client.callTool({ name: 'release', arguments: { sessionId: acq.sessionId } });
    assert.equal(again.isError, true);
    assert.match(textOf(again), /^SESSION_NOT_FOUND: /);
  });

  it('crawls a site: start, status, results page by page with the cursor, cancel; another account\'s crawl is not found', async (t) => {
    const { client } = await httpClient(t);
    // The crawl's id as the text (Cloudflare's POST answers it as the result).
    const start = { id: textOf(await ok(client, 'crawl_start', { url: `${fixtures.url}/links/index.html`, limit: 4, depth: 1 })) };
    assert.match(start.id, /^[0-9a-f]+$/);
    const status = await pollUntil(async () => {
      const st = JSON.parse(textOf(await ok(client, 'crawl_status', { id: start.id })));
      return st.status !== 'running' && st.status !== 'queued' && st;
    }, { timeout: scaled(60000), interval: 200, what: 'the crawl to end' });
    assert.equal(status.status, 'completed');
    assert.deepEqual(status.records, [], 'status carries no records');
    assert.equal(status.finished, status.total);
    const total = status.counts.done + status.counts.failed + status.counts.skipped;
    assert.ok(total >= 2 && total <= 4, JSON.stringify(status.counts));
    // Page by page, one result each, with the cursor each answer gives.
    const urls = [];
    let cursor;
    for (let i = 0; i < 10; i++) {
      const page = JSON.parse(textOf(await ok(client, 'crawl_results', { id: start.id, limit: 1, ...(cursor ? { cursor } : {}) })));
      urls.push(...page.records.map((r) => r.url));
      if (!page.cursor || !page.records.length) break;
      cursor = page.cursor;
    }
    assert.equal(urls.length, total, JSON.stringify(urls));
    assert.equal(new Set(urls).size, urls.length, 'no page twice');
    assert.ok(urls.includes(`${fixtures.url}/links/index.html`), JSON.stringify(urls));
    // Bad paging arguments are tool errors.
    for (const args of [{ id: start.id, cursor: '../x' }, { id: start.id, cursor: -1 }, { id: start.id, cursor: 1.5 }, { id: start.id, limit: 501 }, { id: start.id, limit: 1.5 }]) {
      const bad = await client.callTool({ name: 'crawl_results', arguments: args }, undefined, callOpts());
      assert.ok(bad.isError, JSON.stringify(args));
      assert.match(textOf(bad), /^INVALID_REQUEST: (cursor|limit)/);
    }
    // Cancelling an ended crawl is answered; another account does not find it.
    await ok(client, 'crawl_cancel', { id: start.id });
    const tokenB = await createAccount(daemon.dataDir, 'mcp-crawl-b');
    const { client: b } = await httpClient(t, tokenB);
    for (const name of ['crawl_status', 'crawl_results', 'crawl_cancel']) {
      const res = await b.callTool({ name, arguments: { id: start.id } }, undefined, callOpts());
      assert.ok(res.isError, name);
      assert.match(textOf(res), /^CRAWL_NOT_FOUND/, name);
    }
  });

  it('crawl waits for a crawl to end, with the pages done as progress, and answers its results', async (t) => {
    const { client } = await httpClient(t);
    const progress = [];
    const res = await client.callTool(
      { name: 'crawl', arguments: { url: `${fixtures.url}/chain?n=5&ms=600`, limit: 6, depth: 10 } }, undefined,
      { timeout: scaled(120000), onprogress: (p) => progress.push(p) });
    assert.ok(!res.isError, textOf(res));
    const out = JSON.parse(textOf(res));
    assert.equal(out.status, 'completed');
    assert.equal(out.counts.done, 6, JSON.stringify(out.counts));
    assert.deepEqual(out.records.map((r) => new URL(r.url).searchParams.get('n')).sort(), ['0', '1', '2', '3', '4', '5']);
    assert.ok(out.records.every((r) => /chain page \d/.test(r.markdown)), 'each page as Markdown');
    assert.ok(progress.length >= 2, `progress notifications: ${JSON.stringify(progress)}`);
    for (let i = 1; i < progress.length; i++) assert.ok(progress[i].progress > progress[i - 1].progress, 'progress increases');
    assert.ok(progress.every((p) => p.total === 6 && p.progress <= 6), JSON.stringify(progress));
    // Without a progress token the same call is one plain answer.
    const plain = await ok(client, 'crawl', { url: `${fixtures.url}/chain?n=1`, limit: 2 });
    assert.equal(JSON.parse(textOf(plain)).counts.done, 2);
  });

  it('a followed crawl whose client cancels the call or leaves is no longer waited for', async (t) => {
    const { client } = await httpClient(t);
    const inFlight = async () => metric(await (await fetch(`${daemon.url}/metrics`)).text(), 'ppod_requests_in_flight');
    const ac = new AbortController();
    let told;
    const progressed = new Promise((r) => { told = r; });
    const call = client.callTool({ name: 'crawl', arguments: { url: `${fixtures.url}/chain?n=6&ms=400`, limit: 7, depth: 10 } },
      undefined, { signal: ac.signal, timeout: scaled(120000), onprogress: () => told() });
    call.catch(() => {});
    await progressed;
    ac.abort();
    await assert.rejects(call);
    await pollUntil(async () => (await inFlight()) === 0, { timeout: scaled(5000), what: 'the cancelled call to end' });
    // A client that drops its connection while the crawl runs.
    const sid = await initSession();
    for (const accept of ['application/json', 'application/json, text/event-stream']) {
      const hit = fixtures.nextRequest('/chain');
      const drop = new AbortController();
      const post = fetch(`${daemon.url}/mcp`, {
        method: 'POST', signal: drop.signal,
        headers: { Authorization: `Bearer ${daemon.token}`, 'Content-Type': 'application/json', Accept: accept, 'Mcp-Session-Id': sid },
        body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'crawl', _meta: { progressToken: 't' }, arguments: { url: `${fixtures.url}/chain?n=3&ms=400`, limit: 4, depth: 10 } } }),
      });
      post.catch(() => {});
      await hit;
      drop.abort();
      await pollUntil(async () => (await inFlight()) === 0, { timeout: scaled(5000), what: `the dropped call to end (${accept})` });
    }
  });

  it('answers bad arguments with a tool error carrying the validator\'s message', async (t) => {
    const { client } = await httpClient(t);
    for (const [name, args, re] of [
      ['screenshot', { url: `${fixtures.url}/title.html`, viewport: { width: -5, height: 10 } }, /^INVALID_REQUEST: viewport\.width/],
      ['screenshot', { url: `${fixtures.url}/title.html`, fullPage: 'yes please' }, /^INVALID_REQUEST: .*fullPage/],
      ['markdown', {}, /^INVALID_REQUEST: /],
      ['release', {}, /^INVALID_REQUEST: sessionId/],
      ['release', { sessionId: '../../contexts' }, /^INVALID_REQUEST: sessionId/],
      ['sessions', { extra: 1 }, /^INVALID_REQUEST: extra/],
      ['screenshot', { url: 'file:///etc/passwd' }, /^(INVALID_REQUEST|FORBIDDEN_URL): /],
    ]) {
      const res = await client.callTool({ name, arguments: args });
      assert.equal(res.isError, true, `${name} ${JSON.stringify(args)}: ${textOf(res)}`);
      assert.match(textOf(res), re);
    }
    // An unknown tool is a protocol error (-32602), as the spec says.
    await assert.rejects(client.callTool({ name: 'no_such_tool', arguments: {} }), /-32602|unknown tool/);
  });

  it('streams progress notifications during a long call, then the result', async (t) => {
    const { client } = await httpClient(t);
    const progress = [];
    const res = await client.callTool(
      { name: 'markdown', arguments: { url: `${fixtures.url}/slow?ms=2600` } }, undefined,
      { timeout: scaled(60000), onprogress: (p) => progress.push(p) });
    assert.ok(!res.isError, textOf(res));
    assert.match(textOf(res), /slow 2600/);
    assert.ok(progress.length >= 2, `progress notifications: ${JSON.stringify(progress)}`);
    for (let i = 1; i < progress.length; i++) assert.ok(progress[i].progress > progress[i - 1].progress, 'progress increases');
    assert.match(progress[0].message, /^markdown (queued|running)/);

    // A large answer comes whole through the event stream (many writes).
    const lines = Array.from({ length: 500 }, (_, i) => `<p>${i} ${Math.random().toString(36).repeat(6)}</p>`).join('');
    const big = await client.callTool(
      { name: 'screenshot', arguments: { html: `<html><body style="margin:0;font:14px monospace">${lines}</body></html>`, screenshotOptions: { fullPage: true } } },
      undefined, { timeout: scaled(60000), onprogress: () => {} });
    assert.ok(!big.isError, textOf(big));
    const bytes = Buffer.from(big.content[0].data, 'base64');
    assert.ok(bytes.length > 1 << 20, `a large image: ${bytes.length} bytes`);
    assert.ok(decodePng(bytes).height > 7000);
  });

  it('cancels the job when the client cancels the call or goes away', async (t) => {
    const { client } = await httpClient(t);
    const hit = fixtures.nextRequest('/hang');
    const ac = new AbortController();
    const call = client.callTool({ name: 'content', arguments: { url: `${fixtures.url}/hang`, timeout: 60000 } }, undefined,
      { signal: ac.signal, timeout: scaled(60000) });
    call.catch(() => {});
    await hit;
    const inFlight = async () => metric(await (await fetch(`${daemon.url}/metrics`)).text(), 'ppod_requests_in_flight');
    assert.equal(await inFlight(), 1, 'the call\'s job runs');
    ac.abort();
    await assert.rejects(call);
    // The job stops long before the call's 60 s timeout.
    await pollUntil(async () => (await inFlight()) === 0, { timeout: scaled(5000), what: 'the abandoned job to stop' });
    assert.match(textOf(await ok(client, 'markdown', { url: `${fixtures.url}/title.html` })), /ppod fixture title/);

    // A client that drops its connection mid-call (JSON and event stream).
    const sid = await initSession();
    for (const accept of ['application/json', 'application/json, text/event-stream']) {
      const hit2 = fixtures.nextRequest('/hang');
      const ac2 = new AbortController();
      const post = fetch(`${daemon.url}/mcp`, {
        method: 'POST', signal: ac2.signal,
        headers: { Authorization: `Bearer ${daemon.token}`, 'Content-Type': 'application/json', Accept: accept, 'Mcp-Session-Id': sid },
        body: JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'content', arguments: { url: `${fixtures.url}/hang`, timeout: 60000 } } }),
      });
      post.catch(() => {});
      await hit2;
      assert.equal(await inFlight(), 1);
      ac2.abort();
      await pollUntil(async () => (await inFlight()) === 0, { timeout: scaled(5000), what: `the dropped call's job to stop (${accept})` });
    }
    // And a batch (2025-03-26) whose client drops it.
    const init = await rpc({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-03-26', capabilities: {}, clientInfo: { name: 'old', version: '1' } } });
    const hit3 = fixtures.nextRequest('/hang');
    const ac3 = new AbortController();
    fetch(`${daemon.url}/mcp`, {
      method: 'POST', signal: ac3.signal,
      headers: { Authorization: `Bearer ${daemon.token}`, 'Content-Type': 'application/json', 'Mcp-Session-Id': init.headers.get('mcp-session-id') },
      body: JSON.stringify([{ jsonrpc: '2.0', id: 1, method: 'ping' },
        { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'content', arguments: { url: `${fixtures.url}/hang`, timeout: 60000 } } }]),
    }).catch(() => {});
    await hit3;
    ac3.abort();
    await pollUntil(async () => (await inFlight()) === 0, { timeout: scaled(5000), what: 'the dropped batch\'s job to stop' });
  });
});

describe('MCP clients: Inspector CLI and ppod mcp (stdio)', { timeout: scaled(200000) }, () => {
  it('the Inspector\'s CLI mode lists the tools and calls one', async () => {
    // The Inspector's launcher (bin mcp-inspector-cli) in --cli mode; it
    // looks for its package.json from the working directory.
    const run = (args) => promisify(execFile)(process.execPath, [INSPECTOR, '--cli', `${daemon.url}/mcp`,
      '--transport', 'http', '--header', `Authorization: Bearer ${daemon.token}`, ...args],
    { timeout: scaled(60000), cwd: path.dirname(INSPECTOR) });
    const list = JSON.parse((await run(['--method', 'tools/list'])).stdout);
    assert.deepEqual(list.tools.map((x) => x.name).sort(), [...TOOLS].sort());
    const call = JSON.parse((await run(['--method', 'tools/call', '--tool-name', 'markdown', '--tool-arg', `url=${fixtures.url}/title.html`])).stdout);
    assert.ok(!call.isError, JSON.stringify(call));
    assert.match(call.content[0].text, /ppod fixture title/);
  });

  it('`ppod mcp` relays stdio to the service with the saved token', async (t) => {
    const home = await makeTempDir('ppod-mcp-home-');
    const env = { ...process.env, XDG_CONFIG_HOME: home, PAPERPOD_URL: daemon.url };
    delete env.PAPERPOD_TOKEN;
    await promisify(execFile)(ppodBin(), ['login', daemon.token], { env });
    const stderr = [];
    const transport = new StdioClientTransport({ command: ppodBin(), args: ['mcp'], stderr: 'pipe', env });
    transport.stderr.on('data', (b) => stderr.push(b));
    const client = new Client({ name: 'ppod-e2e-stdio', version: '1.0.0' });
    await client.connect(transport);
    t.after(() => client.close().catch(() => {}));
    const why = () => Buffer.concat(stderr).toString().slice(-2000);
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((x) => x.name).sort(), [...TOOLS].sort(), why());
    const shot = await ok(client, 'screenshot', { url: `${fixtures.url}/title.html`, viewport: { width: 200, height: 100 } });
    assert.equal(decodePng(Buffer.from(shot.content[0].data, 'base64')).width, 200);
    const progress = [];
    const slow = await client.callTool({ name: 'content', arguments: { url: `${fixtures.url}/slow?ms=2200` } }, undefined,
      { timeout: scaled(60000), onprogress: (p) => progress.push(p) });
    assert.match(textOf(slow), /slow 2200/);
    assert.ok(progress.length >= 1, 'progress is relayed as it comes');
    const bad = await client.callTool({ name: 'pdf', arguments: { url: 42 } });
    assert.equal(bad.isError, true);
    assert.match(textOf(bad), /^INVALID_REQUEST: url/);
    await client.ping();
  });

  it('`ppod mcp` answers line by line and exits 0 when stdin ends', async () => {
    const child = spawn(ppodBin(), ['mcp', '--url', daemon.url, '--token', daemon.token], { stdio: ['pipe', 'pipe', 'pipe'] });
    const lines = [];
    let buf = '';
    const got = new Promise((resolve) => child.stdout.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) { lines.push(JSON.parse(buf.slice(0, i))); buf = buf.slice(i + 1); }
      if (lines.length >= 3) resolve();
    }));
    const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
    child.stdin.write(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }) + '\n');
    child.stdin.write('{"jsonrpc":"2.0","method":"notifications/initialized"}\n');
    child.stdin.write('{"jsonrpc":"2.0","id":2,"method":"ping"}\n{"jsonrpc":"2.0","id":3,"method":"nope"}\n');
    await got;
    child.stdin.end();
    assert.equal(await exited, 0);
    const byId = Object.fromEntries(lines.map((l) => [l.id, l]));
    assert.equal(byId[1].result.protocolVersion, '2025-06-18');
    assert.deepEqual(byId[2].result, {});
    assert.equal(byId[3].error.code, -32601);
  });
});

describe('MCP attacks', { timeout: scaled(200000) }, () => {
  let other;
  before(async () => { other = await createAccount(daemon.dataDir, 'mcp-other'); });

  it('refuses a request without a valid token, with WWW-Authenticate', async () => {
    for (const token of [null, 'ppod_not_a_token']) {
      const res = await rpc({ jsonrpc: '2.0', id: 1, method: 'ping' }, { token });
      assert.equal(res.status, 401);
      assert.match(res.headers.get('www-authenticate'), /^Bearer /);
      assert.match(res.json.errors[0].code, /UNAUTHORIZED|INVALID_TOKEN/);
    }
  });

  it('needs a session after initialize, and another account\'s session id is unknown (404)', async () => {
    const mine = await initSession();
    const theirs = await initSession(other);
    let res = await rpc({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    assert.equal(res.status, 400, 'no Mcp-Session-Id');
    res = await rpc({ jsonrpc: '2.0', id: 2, method: 'ping' }, { headers: { 'Mcp-Session-Id': mine } });
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { jsonrpc: '2.0', id: 2, result: {} });
    res = await rpc({ jsonrpc: '2.0', id: 3, method: 'ping' }, { headers: { 'Mcp-Session-Id': theirs } });
    assert.equal(res.status, 404);
    res = await rpc({ jsonrpc: '2.0', id: 3, method: 'ping' }, { headers: { 'Mcp-Session-Id': 'f'.repeat(32) } });
    assert.equal(res.status, 404);
    // DELETE ends a session; another account cannot end it.
    const del = (sid, token) => fetch(`${daemon.url}/mcp`, { method: 'DELETE', headers: { Authorization: `Bearer ${token}`, 'Mcp-Session-Id': sid } });
    assert.equal((await del(mine, other)).status, 404);
    assert.equal((await del(mine, daemon.token)).status, 200);
    res = await rpc({ jsonrpc: '2.0', id: 4, method: 'ping' }, { headers: { 'Mcp-Session-Id': mine } });
    assert.equal(res.status, 404);
    // GET: no server-initiated stream.
    const get = await fetch(`${daemon.url}/mcp`, { headers: { Authorization: `Bearer ${daemon.token}`, Accept: 'text/event-stream' } });
    assert.equal(get.status, 405);
  });

  it('keeps at most 32 MCP sessions an account: the oldest goes, another account\'s stay', async () => {
    const many = await createAccount(daemon.dataDir, 'mcp-many');
    const keep = await initSession(other);
    const sids = [];
    for (let i = 0; i < 33; i++) sids.push(await initSession(many));
    const ping = (sid, token) => rpc({ jsonrpc: '2.0', id: 1, method: 'ping' }, { token, headers: { 'Mcp-Session-Id': sid } });
    assert.equal((await ping(sids[0], many)).status, 404, 'the oldest was ended');
    assert.equal((await ping(sids[1], many)).status, 200);
    assert.equal((await ping(sids[32], many)).status, 200);
    assert.equal((await ping(keep, other)).status, 200, 'another account keeps its session');
  });

  it('refuses a foreign Origin (DNS rebinding) and an unknown MCP-Protocol-Version', async () => {
    const sid = await initSession();
    for (const origin of ['http://evil.example', 'null', `http://127.0.0.1:${daemon.port + 1}`]) {
      const res = await rpc({ jsonrpc: '2.0', id: 1, method: 'ping' }, { headers: { Origin: origin, 'Mcp-Session-Id': sid } });
      assert.equal(res.status, 403, origin);
    }
    const same = await rpc({ jsonrpc: '2.0', id: 1, method: 'ping' }, { headers: { Origin: daemon.url, 'Mcp-Session-Id': sid } });
    assert.equal(same.status, 200, 'the service\'s own origin is fine');
    const v = await rpc({ jsonrpc: '2.0', id: 1, method: 'ping' }, { headers: { 'MCP-Protocol-Version': '1999-01-01', 'Mcp-Session-Id': sid } });
    assert.equal(v.status, 400);
  });

  it('answers malformed, deep, huge, batched and unknown messages as JSON-RPC says', async () => {
    const sid = await initSession();
    const h = { headers: { 'Mcp-Session-Id': sid } };
    let res = await rpc(null, { ...h, raw: '{"jsonrpc":"2.0","id":1,"method":' });
    assert.equal(res.status, 400);
    assert.equal(res.json.error.code, -32700);
    res = await rpc(null, { ...h, raw: '['.repeat(100000) + ']'.repeat(100000) });
    assert.equal(res.json.error.code, -32700, 'deep nesting is a parse error, not a crash');
    res = await rpc(null, { ...h, raw: '{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}' });
    assert.equal(res.json.error.code, -32700, 'a duplicate key is refused');
    res = await rpc(Array.from({ length: 1000 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'screenshot', arguments: { url: fixtures.url } } })), h);
    assert.equal(res.status, 400);
    assert.equal(res.json.error.code, -32600);
    assert.match(res.json.error.message, /batch/);
    res = await rpc({ jsonrpc: '2.0', id: 'x', method: 'resources/list' }, h);
    assert.equal(res.json.error.code, -32601);
    res = await rpc({ jsonrpc: '1.0', id: 1, method: 'ping' }, h);
    assert.equal(res.json.error.code, -32600);
    res = await rpc({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'markdown', arguments: [1] } }, h);
    assert.equal(res.json.error.code, -32602);
    res = await rpc({ jsonrpc: '2.0', method: 'notifications/initialized' }, h);
    assert.equal(res.status, 202);
    res = await rpc(null, { ...h, raw: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping', params: { pad: 'x'.repeat(11 << 20) } }) });
    assert.equal(res.status, 413);
    // The service still answers.
    res = await rpc({ jsonrpc: '2.0', id: 9, method: 'ping' }, h);
    assert.equal(res.status, 200);
  });

  it('answers a batch in a 2025-03-26 session, bounded, and none in later versions', async () => {
    const init = await rpc({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-03-26', capabilities: {}, clientInfo: { name: 'old', version: '1' } } });
    assert.equal(init.json.result.protocolVersion, '2025-03-26');
    const h = { headers: { 'Mcp-Session-Id': init.headers.get('mcp-session-id') } };
    let res = await rpc([
      { jsonrpc: '2.0', method: 'notifications/initialized' },
      { jsonrpc: '2.0', id: 'p', method: 'ping' },
      { jsonrpc: '2.0', id: 'm', method: 'tools/call', params: { name: 'markdown', arguments: { url: `${fixtures.url}/title.html` } } },
      { jsonrpc: '2.0', id: 'bad', method: 'tools/call', params: { name: 'markdown', arguments: { url: 7 } } },
      { jsonrpc: '2.0', id: 'i', method: 'initialize', params: { protocolVersion: '2025-03-26' } },
      { nonsense: true },
    ], h);
    assert.equal(res.status, 200, res.text);
    const byId = Object.fromEntries(res.json.filter((m) => m.id !== null).map((m) => [m.id, m]));
    assert.deepEqual(byId.p.result, {});
    assert.match(byId.m.result.content[0].text, /# ppod fixture title/);
    assert.equal(byId.bad.result.isError, true);
    assert.equal(byId.i.error.code, -32600);
    assert.equal(res.json.length, 5, 'one answer a request, one for the invalid message, none for the notification');
    res = await rpc([{ jsonrpc: '2.0', method: 'notifications/initialized' }], h);
    assert.equal(res.status, 202);
    res = await rpc(Array.from({ length: 17 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'ping' })), h);
    assert.equal(res.status, 400);
    assert.equal(res.json.error.code, -32600);
    res = await rpc([], h);
    assert.equal(res.status, 400);
  });

  it('keeps a tool from private addresses, as the HTTP route does', async (t) => {
    const { client } = await httpClient(t);
    for (const url of ['http://10.0.0.1/', 'http://169.254.169.254/latest/meta-data/', 'http://[::1]:9/']) {
      const res = await client.callTool({ name: 'screenshot', arguments: { url } }, undefined, callOpts());
      assert.equal(res.isError, true, url);
      assert.match(textOf(res), /^FORBIDDEN_URL: /, url);
    }
  });

  it('keeps one account\'s MCP session away from another account\'s browser session', async (t) => {
    const { client: mine } = await httpClient(t);
    const { client: theirs } = await httpClient(t, other);
    const acq = JSON.parse(textOf(await ok(theirs, 'acquire', { keep_alive: 60000 })));
    t.after(() => ok(theirs, 'release', { sessionId: acq.sessionId }).catch(() => {}));
    for (const [name, args] of [
      ['release', { sessionId: acq.sessionId }],
      ['live_url', { sessionId: acq.sessionId }],
      ['content', { url: `${fixtures.url}/title.html`, sessionId: acq.sessionId }],
    ]) {
      const res = await mine.callTool({ name, arguments: args }, undefined, callOpts());
      assert.equal(res.isError, true, name);
      assert.match(textOf(res), /^SESSION_NOT_FOUND: /, name);
    }
    const mineList = JSON.parse(textOf(await ok(mine, 'sessions', {})));
    assert.ok(!mineList.some((x) => JSON.stringify(x).includes(acq.sessionId)), 'not listed to another account');
    const still = JSON.parse(textOf(await ok(theirs, 'sessions', {})));
    assert.ok(still.some((x) => JSON.stringify(x).includes(acq.sessionId)), 'the session lives on');
  });
});
