'use strict';
// POST /browser/test and `ppod browser:test`: JSON test scripts run against
// the fixture web app (tests/fixtures/app/) in a real daemon and Chromium.
// Passing scripts exercise every selector engine and the actionability
// waits; failing ones must name the right step and say why, as a person
// reading the report would need.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const fsp = require('node:fs/promises');
const path = require('node:path');
const {
  useDaemon, makeTempDir, decodePng, scaled, expectError, PNG_MAGIC, REPO_ROOT,
} = require('./harness');

const PPOD = path.join(process.env.PPOD_BIN_DIR ? path.resolve(process.env.PPOD_BIN_DIR)
  : path.join(REPO_ROOT, 'build'), 'ppod');

function run(args, env) {
  return new Promise((resolve, reject) => {
    execFile(PPOD, args, { env: { ...process.env, ...env }, timeout: scaled(60000), maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') return reject(err);
        resolve({ code: err ? err.code : 0, stdout, stderr });
      });
  });
}

// A strict, small XML well-formedness check: one root, balanced tags,
// quoted attributes without duplicates, only the five predefined entities
// or character references, no '<' or stray '&' in text. Returns the
// elements as {name, attrs, children, text}.
function parseXml(xml) {
  let i = 0;
  const fail = (msg) => { throw new Error(`XML: ${msg} at offset ${i}: ${JSON.stringify(xml.slice(i, i + 40))}`); };
  const entity = /^&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/;
  const decode = (s) => {
    for (let j = s.indexOf('&'); j >= 0; j = s.indexOf('&', j + 1)) if (!entity.test(s.slice(j))) fail('bad entity');
    return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;|&#39;/g, "'").replace(/&amp;/g, '&');
  };
  if (xml.startsWith('<?xml')) {
    const e = xml.indexOf('?>');
    if (e < 0) fail('unterminated declaration');
    i = e + 2;
  }
  const ws = () => { while (/\s/.test(xml[i] || '')) i++; };
  const name = () => {
    const m = /^[A-Za-z_][\w.-]*/.exec(xml.slice(i));
    if (!m) fail('expected a name');
    i += m[0].length;
    return m[0];
  };
  function element() {
    if (xml[i] !== '<') fail('expected <');
    i++;
    const el = { name: name(), attrs: {}, children: [], text: '' };
    for (;;) {
      ws();
      if (xml.startsWith('/>', i)) { i += 2; return el; }
      if (xml[i] === '>') { i++; break; }
      const a = name();
      if (a in el.attrs) fail(`duplicate attribute ${a}`);
      ws();
      if (xml[i] !== '=') fail('expected =');
      i++;
      ws();
      const q = xml[i];
      if (q !== '"' && q !== "'") fail('unquoted attribute');
      const end = xml.indexOf(q, i + 1);
      if (end < 0) fail('unterminated attribute');
      const raw = xml.slice(i + 1, end);
      if (raw.includes('<')) fail('< in attribute');
      el.attrs[a] = decode(raw);
      i = end + 1;
    }
    for (;;) {
      const lt = xml.indexOf('<', i);
      if (lt < 0) fail(`unclosed <${el.name}>`);
      el.text += decode(xml.slice(i, lt));
      i = lt;
      if (xml.startsWith('</', i)) {
        i += 2;
        const n = name();
        if (n !== el.name) fail(`</${n}> closes <${el.name}>`);
        ws();
        if (xml[i] !== '>') fail('expected >');
        i++;
        return el;
      }
      el.children.push(element());
    }
  }
  ws();
  const root = element();
  ws();
  if (i !== xml.length) fail('content after the root element');
  return root;
}

describe('JSON test scripts (POST /browser/test, ppod browser:test)', { timeout: scaled(170000) }, () => {
  const { daemon, fixtures } = useDaemon({ browsers: 1, timeout: scaled(60000) });
  let tmp;
  let app;

  before(async () => {
    tmp = await makeTempDir('ppod-e2e-testrun-');
    app = `${fixtures.url}/app`;
  });

  async function test(body, { query = '' } = {}) {
    const res = await daemon.request('POST', `/browser/test${query}`, { json: body, timeout: scaled(40000) });
    assert.equal(res.status, 200, `POST /browser/test: ${res.body.subarray(0, 800).toString('utf8')}`);
    return res;
  }
  async function result(body) {
    const res = await test(body);
    assert.equal(res.json.success, true);
    return res.json.result;
  }
  const summary = (r) => r.steps.map((s) => `${s.index} ${s.action} ${s.status}${s.error ? `: ${s.error}` : ''}`).join('\n');
  async function passes(body) {
    const r = await result(body);
    assert.equal(r.passed, true, `the script should pass:\n${summary(r)}`);
    for (const s of r.steps) assert.equal(s.status, 'passed');
    return r;
  }
  // Fails at step `index` with an error matching `re`; the rest skipped.
  async function failsAt(body, index, re) {
    const r = await result(body);
    assert.equal(r.passed, false, `the script should fail:\n${summary(r)}`);
    r.steps.forEach((s, i) => {
      assert.equal(s.index, i);
      assert.equal(s.status, i < index ? 'passed' : i === index ? 'failed' : 'skipped', summary(r));
    });
    assert.match(r.steps[index].error, re);
    assert.ok(r.failureScreenshot, 'a failing test carries a screenshot');
    assert.ok(Buffer.from(r.failureScreenshot, 'base64').subarray(0, 8).equals(PNG_MAGIC));
    return r;
  }

  it('logs in: fill, role/text selectors, click, web-first assertions, the result shape', async () => {
    const r = await passes({
      url: `${app}/login.html`,
      steps: [
        { action: 'expectTitle', title: 'Sign in' },
        { action: 'fill', selector: '#username', value: 'alice' },
        { action: 'fill', selector: 'role=textbox[name="Password"]', value: 'secret' },
        { action: 'check', selector: '#remember' },
        { action: 'expectVisible', selector: 'text=Remember me' },
        { action: 'click', selector: 'role=button[name="Sign in"]', name: 'submit' },
        { action: 'expectText', selector: '#welcome', equals: 'Welcome, alice' },
        { action: 'expectTitle', title: 'Home' },
        { action: 'expectHidden', selector: '#error' },
        { action: 'evaluate', expression: 'document.getElementById("remember").checked' },
      ],
    });
    assert.equal(typeof r.durationMs, 'number');
    assert.deepEqual(Object.keys(r).sort(), ['console', 'durationMs', 'pageErrors', 'passed', 'screenshots', 'steps']);
    assert.equal(r.steps[5].name, 'submit');
    assert.equal(r.steps[5].action, 'click');
    assert.equal(typeof r.steps[5].durationMs, 'number');
    assert.equal(r.steps[9].value, true);
  });

  it('types and presses keys: chords, Enter submits', async () => {
    await passes({
      url: `${app}/login.html`,
      steps: [
        { action: 'type', selector: '#username', text: 'bob' },
        { action: 'press', selector: '#username', key: 'Control+A' },
        { action: 'type', selector: '#username', text: 'carol' },
        { action: 'expectValue', selector: '#username', value: 'carol' },
        { action: 'press', key: 'Shift+ArrowLeft' },
        { action: 'press', key: 'Backspace' },
        { action: 'expectValue', selector: '#username', value: 'caro' },
        { action: 'fill', selector: '#password', value: 'secret' },
        { action: 'press', selector: '#password', key: 'Enter' },
        { action: 'expectText', selector: '#welcome', contains: 'caro' },
      ],
    });
  });

  it('waits for a late list, text= and xpath= selectors, counts, console and page errors', async () => {
    const r = await passes({
      url: `${app}/list.html`,
      steps: [
        { action: 'expectCount', selector: 'li.item', count: 5 },
        { action: 'click', selector: 'text=Load more' },
        { action: 'expectCount', selector: 'li.item', count: 8 },
        { action: 'expectText', selector: 'xpath=//li[last()]', equals: 'Item 8' },
        { action: 'expectText', selector: 'text="Item 3"', matches: '^Item \\d$' },
        { action: 'waitFor', selector: '#never', state: 'attached' },
        { action: 'waitFor', selector: '#never', state: 'hidden' },
        { action: 'waitForLoadState', state: 'load' },
      ],
    });
    assert.ok(r.console.some((c) => c.type === 'error' && c.text === 'list page error log'), JSON.stringify(r.console));
    assert.ok(r.pageErrors.some((e) => /late boom/.test(e)), JSON.stringify(r.pageErrors));
  });

  it('refuses to click under a modal and names the element covering it', async () => {
    await failsAt({
      url: `${app}/modal.html`,
      steps: [
        { action: 'expectText', selector: '#status', equals: 'not bought' },
        { action: 'click', selector: '#buy', timeout: 1000 },
        { action: 'expectText', selector: '#status', equals: 'bought' },
      ],
    }, 1, /covered by <div id=cookie-modal class=modal>/);
    await passes({
      url: `${app}/modal.html`,
      steps: [
        { action: 'click', selector: 'role=button[name="Accept"]' },
        { action: 'click', selector: '#buy' },
        { action: 'expectText', selector: '#status', equals: 'bought' },
      ],
    });
  });

  it('selects options, checks boxes, scrolls, reads attributes', async () => {
    const r = await passes({
      url: `${app}/dropdown.html`,
      steps: [
        { action: 'select', selector: '#color', values: 'g' },
        { action: 'expectText', selector: '#chosen', equals: 'Green' },
        { action: 'select', selector: 'role=combobox[name="Colour"]', values: ['Blue'] },
        { action: 'expectValue', selector: '#color', value: 'b' },
        { action: 'check', selector: 'role=checkbox[name="I agree"]' },
        { action: 'expectAttribute', selector: '#agreed', name: 'data-state', value: 'yes' },
        { action: 'uncheck', selector: '#terms' },
        { action: 'expectText', selector: '#agreed', equals: 'no' },
        { action: 'scroll', selector: '#bottom' },
        { action: 'evaluate', expression: 'scrollY > 1000' },
        { action: 'scroll', x: 0, y: 0 },
        { action: 'evaluate', expression: 'scrollY' },
      ],
    });
    assert.deepEqual(r.steps[2].value, ['b']);
    assert.equal(r.steps[9].value, true);
    assert.equal(r.steps[11].value, 0);
  });

  it('follows a history.pushState route change', async () => {
    await passes({
      url: `${app}/spa.html`,
      steps: [
        { action: 'click', selector: 'role=link[name="Settings"]' },
        { action: 'waitForURL', url: '**/app/settings?tab=profile' },
        { action: 'expectURL', pattern: '/app/settings\\?tab=profile$' },
        { action: 'expectTitle', title: 'SPA settings' },
        { action: 'expectText', selector: 'main', equals: 'Settings view' },
      ],
    });
  });

  it('waits for an animated element to come to rest before clicking', async () => {
    await passes({
      url: `${app}/animated.html`,
      steps: [
        { action: 'click', selector: '#mover' },
        { action: 'expectText', selector: '#clicks', equals: '1' },
      ],
    });
    await failsAt({
      url: `${app}/animated.html`,
      steps: [{ action: 'click', selector: '#spinner', timeout: 800 }],
    }, 0, /not stable/);
  });

  it('fails with the right step and message: wrong text, never visible, count mismatch', async () => {
    const login = [
      { action: 'fill', selector: '#username', value: 'alice' },
      { action: 'fill', selector: '#password', value: 'secret' },
      { action: 'click', selector: 'text=Sign in' },
    ];
    await failsAt({
      url: `${app}/login.html`,
      steps: [...login, { action: 'expectText', selector: '#welcome', equals: 'Welcome, bob', timeout: 1000 },
        { action: 'expectTitle', title: 'Home' }],
    }, 3, /text is "Welcome, alice", expected "Welcome, bob"/);
    await failsAt({
      url: `${app}/list.html`,
      steps: [{ action: 'expectVisible', selector: '#never', timeout: 700 }, { action: 'click', selector: '#more' }],
    }, 0, /#never'.*not visible.*700 ms/);
    await failsAt({
      url: `${app}/list.html`,
      steps: [{ action: 'expectCount', selector: 'li.item', count: 4, timeout: 1500 }],
    }, 0, /found 5 elements, expected 4/);
    await failsAt({
      url: `${app}/login.html`,
      steps: [{ action: 'click', selector: '#sso', timeout: 500 }],
    }, 0, /not enabled/);
  });

  it('compares screenshots: a match passes, a change over the threshold fails with a diff image', async () => {
    const shot = await passes({
      url: `${app}/visual.html`,
      steps: [{ action: 'screenshot', name: 'panel', selector: '#panel' }],
    });
    const baseline = shot.screenshots.panel;
    const png = decodePng(Buffer.from(baseline, 'base64'));
    assert.deepEqual([png.width, png.height], [200, 100]);
    await passes({
      url: `${app}/visual.html`,
      steps: [{ action: 'expectScreenshot', name: 'panel', selector: '#panel', baseline }],
    });
    const r = await failsAt({
      url: `${app}/visual.html?variant=b`,
      steps: [{ action: 'expectScreenshot', name: 'panel', selector: '#panel', baseline, maxDiffPixels: 100, timeout: 600 }],
    }, 0, /expectScreenshot 'panel': \d+ pixels .* differ, more than allowed \(maxDiffPixels 100\)/);
    const diff = Number(/(\d+) pixels/.exec(r.steps[0].error)[1]);
    assert.ok(diff >= 2000 && diff <= 3300, `a moved 40x40 dot differs in about 3200 px, got ${diff}`);
    assert.equal(r.steps[0].value.diffPixels, diff);
    assert.ok(r.screenshots['panel-diff'], 'the diff image is in the report');
    const d = decodePng(Buffer.from(r.screenshots['panel-diff'], 'base64'));
    assert.deepEqual([d.width, d.height], [200, 100]);
    // Within a generous ratio the same change passes.
    await passes({
      url: `${app}/visual.html?variant=b`,
      steps: [{ action: 'expectScreenshot', name: 'panel', selector: '#panel', baseline, maxDiffRatio: 0.2 }],
    });
  });

  it('answers 400 naming the step and field of a malformed script', async () => {
    const bad = async (steps, re) => {
      const res = await daemon.request('POST', '/browser/test', { json: { url: `${app}/login.html`, steps } });
      const e = expectError(assert, res, 400, 'INVALID_REQUEST');
      assert.match(e.message, re);
    };
    await bad([{ action: 'expectTitle', title: 'x' }, { action: 'click' }], /^steps\[1\]\.selector: click needs selector/);
    await bad([{ action: 'teleport' }], /steps\[0\]\.action/);
    await bad([{ action: 'click', selector: '#a', colour: 1 }], /steps\[0\]\.colour/);
    await bad([{ action: 'press', key: 'Control+Banana' }], /steps\[0\]\.key: 'Control\+Banana': unknown key/);
    await bad([{ action: 'click', selector: 'role=button[name="x' }], /steps\[0\]\.selector/);
    await bad([{ action: 'expectText', selector: 'h1' }], /steps\[0\]\.equals/);
    await bad([{ action: 'expectScreenshot', name: 'x', baseline: 'bm90IGEgcG5n' }], /steps\[0\]\.baseline: not a base64 PNG/);
    await bad(Array.from({ length: 501 }, () => ({ action: 'wait', ms: 0 })), /steps/);
  });

  it('keeps goto to what quick actions may load (403 before the script runs), and stops a runaway evaluate', async () => {
    for (const [steps, re] of [
      [[{ action: 'goto', url: `${app}/login.html` }, { action: 'goto', url: 'http://169.254.169.254/latest/meta-data/' }], /^steps\[1\]\.url: /],
      [[{ action: 'goto', url: 'file:///etc/passwd' }], /^steps\[0\]\.url: /],
    ]) {
      const res = await daemon.request('POST', '/browser/test', { json: { url: `${app}/index.html`, steps } });
      const e = expectError(assert, res, 403, 'FORBIDDEN_URL');
      assert.match(e.message, re);
    }
    const t0 = Date.now();
    await failsAt({
      url: `${app}/index.html`,
      steps: [{ action: 'evaluate', expression: 'for (;;) {}', timeout: 1000 }],
    }, 0, /still running after 1000 ms; the script was terminated/);
    assert.ok(Date.now() - t0 < scaled(10000), 'the loop was stopped at its timeout');
    await failsAt({
      url: `${app}/index.html`,
      steps: [{ action: 'evaluate', expression: '"x".repeat(300000)' }],
    }, 0, /over the cap/);
    // The browser is still usable.
    const r = await passes({
      url: `${app}/index.html`,
      steps: [{ action: 'evaluate', expression: 'new Promise(r => setTimeout(() => r({a: [1, "two"]}), 50))' },
        { action: 'expectTitle', title: 'Fixture App' }],
    });
    assert.deepEqual(r.steps[0].value, { a: [1, 'two'] });
    assert.ok(r.console.some((c) => c.text === 'index ready'), 'console logged before the first step is reported');
  });

  it('answers JUnit XML with ?format=junit', async () => {
    const res = await test({
      url: `${app}/login.html`,
      steps: [
        { action: 'expectTitle', title: 'Sign in', name: 'title <is> "Sign in" & more' },
        { action: 'expectText', selector: '#nothing', equals: 'x', timeout: 300 },
        { action: 'click', selector: '#username' },
      ],
    }, { query: '?format=junit' });
    assert.match(String(res.headers['content-type']), /^application\/xml/);
    const root = parseXml(res.body.toString('utf8'));
    assert.equal(root.name, 'testsuites');
    const [suite] = root.children;
    assert.equal(suite.name, 'testsuite');
    assert.deepEqual([suite.attrs.tests, suite.attrs.failures, suite.attrs.skipped], ['3', '1', '1']);
    const cases = suite.children.filter((c) => c.name === 'testcase');
    assert.equal(cases.length, 3);
    assert.equal(cases[0].attrs.name, '0. title <is> "Sign in" & more');
    assert.equal(cases[0].children.length, 0);
    assert.equal(cases[1].children[0].name, 'failure');
    assert.match(cases[1].children[0].attrs.message, /no element matches/);
    assert.equal(cases[2].children[0].name, 'skipped');
  });

  it('ppod browser:test: report, --json, --junit, --screenshots, exit codes', async () => {
    const env = { PAPERPOD_TOKEN: daemon.token, PAPERPOD_URL: daemon.url, XDG_CONFIG_HOME: path.join(tmp, 'no-config') };
    const base = [];
    const good = JSON.stringify({ steps: [{ action: 'expectTitle', title: 'Sign in' }, { action: 'screenshot', name: 'page' }] });
    let r = await run([...base, 'browser:test', `${app}/login.html`, good], env);
    assert.equal(r.code, 0, `exit 0 when passed\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /expectTitle/);
    assert.match(r.stdout, /passed/i);

    const shots = path.join(tmp, 'shots');
    const junit = path.join(tmp, 'report.xml');
    const failing = path.join(tmp, 'failing.json');
    await fsp.writeFile(failing, JSON.stringify({
      steps: [{ action: 'screenshot', name: 'start' }, { action: 'expectText', selector: 'h1', equals: 'nope', timeout: 300 }],
    }));
    r = await run([...base, 'browser:test', `${app}/index.html`, '--file', failing, '--junit', junit, '--screenshots', shots], env);
    assert.equal(r.code, 1, `exit 1 when a step failed\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout + r.stderr, /expectText/);
    assert.match(r.stdout + r.stderr, /the text is "Fixture App", expected "nope"/);
    parseXml(await fsp.readFile(junit, 'utf8'));
    assert.ok(fs.readFileSync(path.join(shots, 'start.png')).subarray(0, 8).equals(PNG_MAGIC));
    assert.ok(fs.readFileSync(path.join(shots, 'failure.png')).subarray(0, 8).equals(PNG_MAGIC));

    r = await run([...base, 'browser:test', `${app}/login.html`, good, '--json'], env);
    assert.equal(r.code, 0);
    assert.equal(JSON.parse(r.stdout).passed, true);

    r = await run([...base, 'browser:test', `${app}/index.html`, '{"steps":[{"action":"click"}]}'], env);
    assert.equal(r.code, 2, `exit 2 for a bad script\n${r.stderr}`);
    assert.match(r.stderr, /steps\[0\]\.selector/);
    r = await run([...base, 'browser:test', `${app}/index.html`, '{not json'], env);
    assert.equal(r.code, 2, `exit 2 for a script that is not JSON\n${r.stderr}`);
    r = await run([...base, 'browser:test'], env);
    assert.equal(r.code, 2, 'exit 2 for usage');
  });
});
