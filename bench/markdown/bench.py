#!/usr/bin/env python3
"""The issue-4 table: our html2md beside turndown 7.2.5, in one run, on the
outside corpora in ../shared/corpora/markdown (never copied into the project).
usage: bench.py --html2md PATH --corpus DIR [--out DIR] [--no-peer]"""
import argparse, json, os, re, statistics, subprocess, sys, time

ap = argparse.ArgumentParser()
ap.add_argument('--html2md', required=True)
ap.add_argument('--corpus', required=True)
ap.add_argument('--out', default='/tmp/bench-markdown')
ap.add_argument('--no-peer', action='store_true')
a = ap.parse_args()
H = os.path.join(a.corpus, 'harness')
PAGES = os.path.join(a.corpus, 'readability-pages')
NM = os.environ.get('MDPEERS_NODE_MODULES', '/tmp/mdpeers/node_modules')
peer = not a.no_peer and os.path.isdir(os.path.join(NM, 'turndown'))
here = os.path.dirname(os.path.abspath(__file__))
# The options the harness peer uses for pages, so both sides write the same style.
PAGE_OPTS = {"headingStyle": "atx", "codeBlockStyle": "fenced", "bulletListMarker": "-"}
ours = [os.path.abspath(a.html2md)]
tdcli = ['node', os.path.join(H, 'turndown_cli.js')]
env = dict(os.environ, MDPEERS_NODE_MODULES=NM)


def run(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, env=kw.pop('env', env), **kw)
    if p.returncode:
        sys.stderr.write(p.stderr)
        raise SystemExit(f'failed: {" ".join(cmd)}')
    return p.stdout + p.stderr


def golden(cases, conv, only_default=False):
    args = ['python3', os.path.join(H, 'golden.py'), os.path.join(a.corpus, cases)]
    if only_default:
        args.append('--only-default-options')
    out = run(args + ['--'] + conv)
    m = re.search(r'n=(\d+) exact=(\d+) .*?cm_equiv=(\d+) \(([\d.]+)%\)', out)
    return dict(n=int(m[1]), exact=int(m[2]), cm=int(m[3]), cm_pct=float(m[4]))


def mdscore(cand_dir):
    out = run(['python3', os.path.join(H, 'mdscore.py'), PAGES, 'expected.html', cand_dir, 'conv.md'])
    r = {'leaks': int(re.search(r'raw_html_leaks=(\d+)', out)[1]),
         'text': float(re.search(r'text\(4-gram, macro\).*?F1=([\d.]+)', out)[1])}
    for k in ('code_block', 'table_cell', 'image', 'link'):
        r[k] = float(re.search(k + r'\s+P=[\d.]+ R=[\d.]+ F1=([\d.]+)', out)[1])
    return r


def roundtrip(conv):
    out = run(['python3', os.path.join(H, 'roundtrip.py'), PAGES, 'expected.html', '--'] + conv)
    m = re.search(r'stable (\d+)/(\d+) \(([\d.]+)%\)', out)
    return float(m[3])


pages = sorted(p for p in os.listdir(PAGES) if os.path.exists(os.path.join(PAGES, p, 'expected.html')))
R = {'ours': {}, 'turndown': {}}
print(f'corpus: {a.corpus} ({len(pages)} pages); peer turndown: {"yes" if peer else "no (install it, see the corpus README)"}', flush=True)

R['ours']['td'] = golden('turndown_cases.jsonl', ours)
R['ours']['mdf'] = golden('markdownify_cases.jsonl', ours, True)
# conv.md for every page; one process per page, the way the harness peer works
od = os.path.join(a.out, 'ours')
penv = dict(env, HTML2MD_OPTIONS=json.dumps(PAGE_OPTS))
for p in pages:
    os.makedirs(os.path.join(od, p), exist_ok=True)
    with open(os.path.join(PAGES, p, 'expected.html'), 'rb') as fi, open(os.path.join(od, p, 'conv.md'), 'wb') as fo:
        subprocess.run(ours, stdin=fi, stdout=fo, env=penv, check=True)
R['ours']['pages'] = mdscore(od)
R['ours']['rt'] = roundtrip(ours)
tout = run(ours + ['--time', '-o', os.path.join(a.out, 'timing')] +
           [os.path.join(PAGES, p, 'expected.html') for p in pages], env=penv)
R['ours']['ms'] = statistics.median(float(l.split('\t')[2]) for l in tout.splitlines() if l.startswith('time\t'))


def cli_ms(conv, e):
    """Median wall time per page of one process per page: the harness contract."""
    t = []
    for p in pages:
        with open(os.path.join(PAGES, p, 'expected.html'), 'rb') as fi:
            data = fi.read()
        t0 = time.perf_counter()
        subprocess.run(conv, input=data, capture_output=True, env=e, check=True)
        t.append((time.perf_counter() - t0) * 1000)
    return statistics.median(t)


R['ours']['cli_ms'] = cli_ms(ours, penv)

if peer:
    R['turndown']['td'] = golden('turndown_cases.jsonl', tdcli)
    R['turndown']['mdf'] = golden('markdownify_cases.jsonl', tdcli, True)
    tdd = os.path.join(a.out, 'turndown')
    run(['node', os.path.join(H, 'peer_turndown.js'), PAGES, tdd])
    R['turndown']['pages'] = mdscore(tdd)
    R['turndown']['rt'] = roundtrip(tdcli)
    R['turndown']['cli_ms'] = cli_ms(tdcli, dict(penv, HTML2MD_OPTIONS=json.dumps(dict(PAGE_OPTS, plugins=['gfm']))))
    R['turndown']['ms'] = json.loads(run(['node', os.path.join(here, 'turndown_time.js'), PAGES]).strip().splitlines()[-1])['median_ms']


def g(side, *path, fmt='{}'):
    v = R[side]
    for k in path:
        if not isinstance(v, dict) or k not in v:
            return '–'
        v = v[k]
    return fmt.format(v)


def f1s(side):
    if 'pages' not in R[side]:
        return '–'
    p = R[side]['pages']
    return ' / '.join(f'{p[k]:.3f}' for k in ('code_block', 'table_cell', 'image', 'link', 'text'))


speed = speed_cli = '–'
if 'ms' in R['turndown']:
    speed = f"{R['turndown']['ms'] / R['ours']['ms']:.1f}× faster"
    speed_cli = f"{R['turndown']['cli_ms'] / R['ours']['cli_ms']:.0f}× faster"
rows = [
    ('turndown\'s own cases, exact, each case\'s options', g('turndown', 'td', 'exact', fmt='{}/147'), g('ours', 'td', 'exact', fmt='{}/147'), '≥ 143'),
    ('markdownify default-option cases, cm_equiv', g('turndown', 'mdf', 'cm_pct', fmt='{:.1f}%'), g('ours', 'mdf', 'cm_pct', fmt='{:.1f}%'), '≥ 85%'),
    ('readability pages code / table-cell / image / link / text F1', f1s('turndown'), f1s('ours'), '≥ 0.95 / 0.95 / 0.97 / 0.98 / 0.995'),
    ('raw HTML leaked (130 pages)', g('turndown', 'pages', 'leaks'), g('ours', 'pages', 'leaks'), '0'),
    ('round-trip stability', g('turndown', 'rt', fmt='{:.1f}%'), g('ours', 'rt', fmt='{:.1f}%'), '≥ 90%'),
    ('time per page, median, in-process (warm JIT for turndown)', g('turndown', 'ms', fmt='{:.2f} ms'), g('ours', 'ms', fmt='{:.3f} ms') + (f' ({speed})' if speed != '–' else ''), '≥ 20× faster'),
    ('time per page, median, one process per page (CLI)', g('turndown', 'cli_ms', fmt='{:.1f} ms'), g('ours', 'cli_ms', fmt='{:.2f} ms') + (f' ({speed_cli})' if speed_cli != '–' else ''), '≥ 20× faster'),
]
w0 = max(len(r[0]) for r in rows)
print()
print(f'| {"measure":<{w0}} | turndown 7.2.5 | ours (html2md) | goal |')
print(f'|{"-" * (w0 + 2)}|---|---|---|')
for r in rows:
    print(f'| {r[0]:<{w0}} | {r[1]} | {r[2]} | {r[3]} |')
print('\nend to end (source.html through /browser/markdown): bench/markdown/e2e.js, next.')
json.dump(R, open(os.path.join(a.out, 'results.json'), 'w'), indent=1)
