# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""The README and docs tell the truth: their figure tables are what the
records give (docs/records, written by the tools that measured them), no
measured figure stands outside those tables, a speed ratio has two runs, and
every command they quote exists with the flags they give it."""
import ast
import functools
import os
import re
import shlex
import sys

import pytest

from swiftformer_mm.analysis import doc_tables, records

ROOT = records.ROOT


def read(doc):
    with open(os.path.join(ROOT, doc)) as f:
        return f.read()


def outside_tables(text: str) -> str:
    """``text`` with the generated tables blanked (line numbers kept)."""
    return doc_tables.MARKER.sub(
        lambda m: '\n' * m.group(0).count('\n'), text)


# ------------------------------------------------------------------ tables
def test_every_table_is_what_the_records_give():
    problems = doc_tables.check()
    assert not problems, '\n'.join(problems)


def test_every_document_with_figures_has_generated_tables():
    for doc in ('README.md', 'docs/benchmarks.md', 'docs/deployment.md'):
        assert doc_tables.MARKER.search(read(doc)), doc


def test_a_stale_figure_is_caught(tmp_path):
    """Edit one figure of a generated table by hand: the check names the
    document and the table."""
    doc = 'docs/deployment.md'
    text = read(doc)
    m = next(doc_tables.MARKER.finditer(text))
    body = m.group('body')
    number = re.search(r'\d+\.\d\d', body)
    stale = body[:number.start()] + '99.99' + body[number.end():]
    (tmp_path / 'docs').mkdir()
    (tmp_path / doc).write_text(text.replace(body, stale))
    problems = doc_tables.check(root=str(tmp_path), documents=(doc, ))
    assert problems == [f'{doc}: stale table(s) {m.group("name")}: run '
                        'python tools/analysis_tools/docs_tables.py']
    # and the tool puts the recorded figure back
    doc_tables.update(root=str(tmp_path), documents=(doc, ))
    assert (tmp_path / doc).read_text() == text


def test_a_speed_ratio_needs_two_runs():
    recs = records.load()
    runs = doc_tables.select(recs, 'benchmark', mode='deployed',
                             task='segmentor', arch='l1')
    assert len(runs) >= 2
    doc_tables.deployed(runs, task='segmentor', arch='l1')  # two: a table
    for cpu_runs in doc_tables.by_cpu(runs).values():
        with pytest.raises(doc_tables.FigureError, match='needs 2 runs'):
            doc_tables.deployed(cpu_runs[-1:], task='segmentor', arch='l1')


def test_a_table_without_records_fails():
    with pytest.raises(doc_tables.FigureError, match='no record'):
        doc_tables.render('<!-- table:demo -->\n<!-- /table -->\n', [])


def test_records_name_their_conditions():
    recs = records.load()
    assert recs
    for r in recs:
        c = r['conditions']
        for field in ('date', 'command', 'cpu', 'int8', 'isa', 'threads'):
            assert field in c, (r['run'], field)
        assert c['int8'] in ('AMX', 'AVX-512 VNNI', 'AVX-VNNI', 'AVX2 only',
                             'no AVX2'), r['run']
        assert r['source'] == 'measured' or r['source'].strip(), r['run']


def test_recording_appends_a_line(tmp_path, monkeypatch):
    monkeypatch.setenv(records.RECORDS_ENV, str(tmp_path))
    first = records.append('benchmark', dict(mode='x'), dict(ms=1.0))
    records.append('benchmark', dict(mode='x'), dict(ms=2.0))
    got = records.load(str(tmp_path))
    assert [r['figures']['ms'] for r in got] == [1.0, 2.0]
    assert got[0]['run'] == first['run'] != got[1]['run']
    assert got[0]['conditions']['cpu'] == records.cpu_model()
    with pytest.raises(ValueError, match='measured under'):
        records.append('benchmark', {}, {}, source='a note')


def test_a_run_from_another_directory_names_the_command_as_docs_do(
        monkeypatch):
    script = os.path.join(records.ROOT, 'tools', 'analysis_tools',
                          'benchmark.py')
    monkeypatch.setattr(sys, 'argv', [script, 'quantized-backbone'])
    assert records.conditions()['command'] == \
        'python tools/analysis_tools/benchmark.py quantized-backbone'


# ---------------------------------------------------- figures elsewhere
#: What a measured figure looks like: a ratio (0.62x), a time (38 ms,
#: 9 min, 174 s), a percentage with decimals (85.0%), an AP, mIoU or top-1
#: value (34.0 box AP, mIoU 81.25, 34.0 / 44.9 box / mask AP).
FIGURE = re.compile(
    r'(?<![\w.])\d+\.\d+x\b'
    r'|(?<![\w.])\d+(?:\.\d+)? ?(?:ms|min)\b'
    r'|(?<![\w.-])\d+ s\b'
    r'|(?<![\w.])\d+\.\d+ ?%'
    r'|(?<![\w.])\d{2}\.\d{1,2}(?: ?/ ?\d{2}\.\d{1,2})* ?'
    r'(?:box|mask|AP|mIoU|top-1)'
    r'|(?:AP|mIoU|top-1):? \d{2}\.\d')
#: Lines that quote the paper (its published results) or state a target:
#: not measurements.
CITATION = re.compile(r'paper|Table \d|target', re.I)


@pytest.mark.parametrize('doc', doc_tables.DOCUMENTS)
def test_no_measured_figure_outside_generated_tables(doc):
    found = []
    for number, line in enumerate(outside_tables(read(doc)).splitlines(), 1):
        if CITATION.search(line):
            continue
        for m in FIGURE.finditer(line):
            found.append(f'{doc}:{number}: {m.group(0)!r} in {line.strip()}')
    assert not found, ('figures must come from a generated table '
                       '(docs/records + tools/analysis_tools/docs_tables.py)'
                       ':\n' + '\n'.join(found))


# --------------------------------------------------------------- commands
@functools.lru_cache(None)
def script_interface(path):
    """The option strings a script's argparse accepts, and the choices of
    its positional arguments, read from its source."""
    options, choices = {'-h', '--help'}, []
    with open(os.path.join(ROOT, path)) as f:
        tree = ast.parse(f.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(
                node.func, 'attr', None) == 'add_argument':
            names = [a.value for a in node.args
                     if isinstance(a, ast.Constant)]
            if names and not names[0].startswith('-'):
                for kw in node.keywords:
                    if kw.arg == 'choices':
                        choices.append(set(ast.literal_eval(kw.value)))
            options.update(n for n in names if n.startswith('-'))
    return options, choices


def quoted_commands(text):
    """Command lines in ``bash`` (or unlabelled) fenced blocks, and inline
    code spans in the prose."""
    fence, block, prose = None, [], []
    for line in text.splitlines():
        if line.startswith('```'):
            if fence is None:
                fence = line[3:].strip()
            else:
                if fence in ('', 'bash', 'sh'):
                    yield from '\n'.join(block).replace('\\\n',
                                                        ' ').splitlines()
                fence, block = None, []
        elif fence is not None:
            block.append(line)
        else:
            prose.append(line)
    yield from re.findall(r'`([^`]+)`', '\n'.join(prose))


SCRIPT = re.compile(r'(?:^|\s)(tools/[\w/]+\.(?:py|sh))\b')


@pytest.mark.parametrize('doc', doc_tables.DOCUMENTS)
def test_quoted_commands_exist_with_their_flags(doc):
    bad = []
    for line in quoted_commands(read(doc)):
        line = line.split(' #')[0]
        for part in re.split(r'&&|\|\||;|\|', line):
            m = SCRIPT.search(part)
            if not m:
                continue
            script = m.group(1)
            if not os.path.exists(os.path.join(ROOT, script)):
                bad.append(f'{script}: no such file ({part.strip()})')
                continue
            if not script.endswith('.py'):
                continue
            try:
                words = shlex.split(part[m.end():])
            except ValueError:
                words = part[m.end():].split()
            options, choices = script_interface(script)
            for w in words:
                if w.startswith('--') and w.split('=')[0] not in options \
                        and not w.startswith('--cfg-options'):
                    bad.append(f'{script}: no option {w} ({part.strip()})')
            positional = [w for w in words if not w.startswith('-')
                          and not w.startswith('[')]
            if choices and positional and re.fullmatch(r'[\w-]+',
                                                       positional[0]):
                if positional[0] not in choices[0]:
                    bad.append(f'{script}: no mode {positional[0]} '
                               f'({part.strip()})')
    assert not bad, '\n'.join(bad)


PATH = re.compile(r'(?<![\w/.-])((?:configs|docs|tools|tests|swiftformer_mm)'
                  r'/[\w./-]+\.(?:py|md|sh|json))\b')


@pytest.mark.parametrize('doc', doc_tables.DOCUMENTS)
def test_quoted_paths_exist(doc):
    missing = sorted({p for p in PATH.findall(read(doc))
                      if not os.path.exists(os.path.join(ROOT, p))})
    assert not missing, missing


def test_interface_reader_sees_the_benchmark_modes():
    options, choices = script_interface(
        'tools/analysis_tools/benchmark.py')
    assert '--record' in options and '--threads' in options
    assert {'deployed', 'backbone'} <= choices[0]
