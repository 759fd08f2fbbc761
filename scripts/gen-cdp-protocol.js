#!/usr/bin/env node
// The CDP protocol description ppod serves at
// /browser/sessions/{id}/json/protocol, as Chromium serves /json/protocol:
// {version, domains: [{domain, types, commands, events, ...}]}. Run by hand
// when devtools-protocol moves (with gen-cdp-policy.js); the output is
// committed and compiled into the daemon (CMakeLists.txt embeds it), so the
// service reads no node_modules at run time.
//
//   node scripts/gen-cdp-protocol.js --chrome FILE   writes src/cdp/protocol.json
//   node scripts/gen-cdp-protocol.js --chrome FILE --check
//                                   exit 1 if the committed file differs
//
// Source: the protocol the installed browser serves itself (the authority
// for what Chromium 156 accepts; fetch it as scripts/gen-cdp-policy.js
// says:
//   chromium --headless=new --remote-debugging-address=127.0.0.1 \
//     --remote-debugging-port=9337 --user-data-dir=$(mktemp -d) about:blank &
//   curl -s http://127.0.0.1:9337/json/protocol > /tmp/chrome_protocol.json
// ); without --chrome, the devtools-protocol npm package pinned in
// package-lock.json, which lacks some of Chromium 156's domains. Descriptions are
// dropped (they are most of the bytes and no client needs them to drive a
// browser). Every command is kept here: the daemon removes, when it starts,
// the commands the session policy (src/cdp/policy_table.c) does not allow
// (src/cdp/protocol.c), so the answer follows the table without this file
// being made again.
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const out = path.join(root, 'src/cdp/protocol.json');
const dir = path.join(root, 'node_modules/devtools-protocol/json');

const args = process.argv.slice(2);
const chromeAt = args.indexOf('--chrome');
let proto;
if (chromeAt >= 0) {
  proto = JSON.parse(fs.readFileSync(args[chromeAt + 1], 'utf8'));
} else {
  const js = JSON.parse(fs.readFileSync(path.join(dir, 'js_protocol.json'), 'utf8'));
  const browser = JSON.parse(fs.readFileSync(path.join(dir, 'browser_protocol.json'), 'utf8'));
  proto = { version: browser.version, domains: [...js.domains, ...browser.domains] };
}
proto.domains.sort((a, b) => (a.domain < b.domain ? -1 : a.domain > b.domain ? 1 : 0));
const text = JSON.stringify(proto, (k, v) => (k === 'description' ? undefined : v)) + '\n';

if (args.includes('--check')) {
  const cur = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '';
  if (cur !== text) {
    console.error(`${path.relative(root, out)} is stale: run node scripts/gen-cdp-protocol.js`);
    process.exit(1);
  }
  process.exit(0);
}
fs.writeFileSync(out, text);
console.log(`${path.relative(root, out)}: ${proto.domains.length} domains, ${text.length} bytes`);
