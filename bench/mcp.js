// The MCP `screenshot` tool (POST /mcp, tools/call, through the official
// SDK client over Streamable HTTP) beside POST /browser/screenshot on the
// same fixture page, interleaved call by call in one run, so the MCP
// layer's overhead is the difference of the p50s (aim <= 10 ms). The
// median of the per-pair differences is printed too (steadier on a busy
// machine), and the same comparison on a route with no browser work (the
// `sessions` tool beside GET /browser/sessions): the layer's own cost.
// Usage: node bench/mcp.js   (BENCH_MCP_N, default 30; BENCH_MCP_LIGHT_N,
// default 300, for the route with no browser work; 3 warm-up calls each)
'use strict';
const { Client } = require('@modelcontextprotocol/sdk/client/index.js');
const { StreamableHTTPClientTransport } = require('@modelcontextprotocol/sdk/client/streamableHttp.js');
const { startFixtureServer, startService, stats } = require('./run.js');

const N = Number(process.env.BENCH_MCP_N || 30);
const N_LIGHT = Number(process.env.BENCH_MCP_LIGHT_N || 300);
const WARMUP = 3;
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;

(async () => {
  const fixture = await startFixtureServer();
  const url = `http://127.0.0.1:${fixture.port}/page.html`;
  const svc = await startService(fixture.port);
  const base = `http://127.0.0.1:${svc.port}`;
  const auth = { Authorization: `Bearer ${svc.token}` };
  const client = new Client({ name: 'ppod-bench', version: '1.0.0' });
  const httpMs = [], mcpMs = [], diff = [], httpLight = [], mcpLight = [];
  const args = { url, viewport: { width: 1280, height: 720 } };
  try {
    await client.connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { requestInit: { headers: auth } }));
    for (let i = 0; i < N + WARMUP; i++) {
      // Alternate which goes first, so drift lands on both alike.
      const pair = [async () => {
        const t0 = process.hrtime.bigint();
        const r = await fetch(`${base}/browser/screenshot`, {
          method: 'POST', body: JSON.stringify(args), headers: { ...auth, 'Content-Type': 'application/json' },
        });
        const png = Buffer.from(await r.arrayBuffer());
        if (r.status !== 200 || png.length < 100) throw new Error(`HTTP screenshot: ${r.status}`);
        return ['http', ms(t0)];
      }, async () => {
        const t0 = process.hrtime.bigint();
        const res = await client.callTool({ name: 'screenshot', arguments: args });
        if (res.isError || res.content[0].type !== 'image') throw new Error(`MCP screenshot: ${JSON.stringify(res).slice(0, 300)}`);
        Buffer.from(res.content[0].data, 'base64');
        return ['mcp', ms(t0)];
      }];
      if (i % 2) pair.reverse();
      const got = Object.fromEntries([await pair[0](), await pair[1]()]);
      if (i < WARMUP) continue;
      httpMs.push(got.http);
      mcpMs.push(got.mcp);
      diff.push(got.mcp - got.http);
    }
    for (let i = 0; i < N_LIGHT + WARMUP; i++) {
      let t0 = process.hrtime.bigint();
      const r = await fetch(`${base}/browser/sessions`, { headers: auth });
      await r.text();
      const light = ms(t0);
      t0 = process.hrtime.bigint();
      await client.callTool({ name: 'sessions', arguments: {} });
      const mlight = ms(t0);
      if (i < WARMUP) continue;
      httpLight.push(light);
      mcpLight.push(mlight);
    }
  } finally {
    await client.close().catch(() => {});
    await svc.close();
    fixture.close();
  }
  const h = stats(httpMs), m = stats(mcpMs), d = stats(diff), hl = stats(httpLight), ml = stats(mcpLight);
  console.log(`== screenshot of the fixture page, ${N} calls each (${WARMUP} warm-up), interleaved, ms`);
  console.log(`POST /browser/screenshot          p50 ${h.p50.toFixed(1)}  p95 ${h.p95.toFixed(1)}`);
  console.log(`MCP tools/call screenshot (SDK)   p50 ${m.p50.toFixed(1)}  p95 ${m.p95.toFixed(1)}`);
  console.log(`MCP overhead at p50 = ${(m.p50 - h.p50).toFixed(1)} ms (aim <= 10); median of pair differences ${d.p50.toFixed(1)} ms`);
  console.log(`no browser work (${N_LIGHT} calls each): GET /browser/sessions p50 ${hl.p50.toFixed(2)}, MCP sessions tool p50 ${ml.p50.toFixed(2)} (+${(ml.p50 - hl.p50).toFixed(2)} ms)`);
})().catch((e) => { console.error(e); process.exit(1); });
