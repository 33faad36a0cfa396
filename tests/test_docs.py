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

import doc_tables  # .dev_scripts/ (tests/conftest.py)
from swiftformer_mm.analysis import records

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
                        'python .dev_scripts/docs_tables.py']
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


def test_int8_is_compared_with_fp32_under_the_same_runtime_settings():
    """A runtime setting timed on both (OpenVINO's CPU hints) compares INT8
    with fp32 under that setting; a recipe (an INT8-only variant) compares
    with the runtime's plain fp32."""
    hints = 'openvino (CPU hints: x)'
    record = dict(figures=dict(per_image_ms={
        'PyTorch eager': 200., 'openvino': 100., hints: 80.,
        'openvino-int8': 60., 'openvino-int8 (CPU hints: x)': 60.,
        'openvino-int8 (performance preset)': 50.}))
    eager, fp32 = doc_tables._ratios(record)
    assert fp32 == {'openvino-int8': 0.6,
                    'openvino-int8 (CPU hints: x)': 0.75,
                    'openvino-int8 (performance preset)': 0.5}
    assert eager[hints] == 0.4


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
                       '(docs/records + .dev_scripts/docs_tables.py)'
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


# ------------------------------------------------------ stale sentences
def test_one_cpu_has_one_label():
    """Records of one CPU (same model name, INT8 class and instruction set)
    get one label, whatever a person added when transcribing them."""
    recs = records.load()
    assert not doc_tables.cpu_label_problems(recs)

    def as_written(r):  # the name as recorded, qualifiers and all
        return f"{r['conditions']['cpu']} ({r['conditions']['int8']})"
    # the records hold 'AMD EPYC, Zen 3' (transcribed) and 'AMD EPYC'
    assert any('AMD EPYC' in p for p in
               doc_tables.cpu_label_problems(recs, label=as_written))


def test_a_cpu_under_two_labels_is_caught():
    def rec(cpu):
        return dict(conditions=dict(cpu=cpu, int8='AVX2 only', isa=['avx2']))
    planted = [rec('AMD EPYC'), rec('AMD EPYC (Zen 3)')]
    assert doc_tables.cpu_label_problems(planted) == [
        "one CPU 'amd epyc' (AVX2 only), 2 labels: AMD EPYC (AVX2 only) / "
        'AMD EPYC (Zen 3) (AVX2 only)']
    assert doc_tables.cpu_label_problems([rec('AMD EPYC'),
                                          rec('AMD EPYC, Zen 3')]) == []


CPU_IN_PROSE = re.compile(
    r'((?:AMD|Intel)\b[\w ,-]*?) \((AMX|AVX-512 VNNI|AVX-VNNI|AVX2 only|'
    r'no AVX2)\)')


def cpus_not_labelled(text, labels):
    """CPUs named in prose as ``NAME (INT8 CLASS)`` that no record's
    label spells so."""
    prose = doc_tables.MARKER.sub('', text)
    return sorted({m.group(0) for m in CPU_IN_PROSE.finditer(prose)
                   if m.group(0) not in labels})


@pytest.mark.parametrize('doc', doc_tables.DOCUMENTS)
def test_prose_names_cpus_as_the_tables_do(doc):
    labels = {doc_tables.cpu_label(r) for r in records.load()}
    assert not cpus_not_labelled(read(doc), labels)


def test_a_cpu_label_of_its_own_in_prose_is_caught():
    labels = {doc_tables.cpu_label(r) for r in records.load()}
    planted = 'Measured on an AMD EPYC, Zen 3 (AVX2 only) as well.\n'
    assert cpus_not_labelled(planted, labels) == [
        'AMD EPYC, Zen 3 (AVX2 only)']
    assert cpus_not_labelled(planted.replace(', Zen 3', ''), labels) == []


def _tables(text):
    """``(start, end, rows)`` of each generated table; rows as dicts of
    header -> cell."""
    out = []
    for m in doc_tables.MARKER.finditer(text):
        lines = [line for line in m.group('body').splitlines()
                 if line.startswith('|')]
        if len(lines) < 2:
            continue
        cells = [[c.strip() for c in line.strip('|').split('|')]
                 for line in lines]
        out.append((m.start(), m.end(),
                    [dict(zip(cells[0], row)) for row in cells[2:]]))
    return out


SPEED_CLAIM = re.compile(
    r'(?P<runtime>ONNX Runtime|OpenVINO|ExecuTorch) INT8 (?:is|was|runs|ran)'
    r' (?:\w+ )?(?P<dir>slower|faster) than (?:its |the |its own )?fp32'
    r'(?: on the (?P<cpu>(?:AMD|Intel)(?: [A-Z][\w-]*)*))?')


def contradicted_speed_claims(text):
    """Sentences saying a runtime's INT8 is slower (faster) than its fp32
    where the generated table they follow (the nearest one above with rows
    of that runtime) shows an INT8 / fp32 ratio below (above) 1 for it, on
    the CPU the sentence names or on any."""
    flat = text.replace('\n', ' ')
    tables = _tables(text)
    problems = []
    for m in SPEED_CLAIM.finditer(flat):
        if any(s <= m.start() < e for s, e, _ in tables):
            continue
        name = f"{m.group('runtime')} INT8"
        candidates = []
        for start, _, rows in tables:
            ratios = [float(v.rstrip('x')) for row in rows
                      if row.get('runtime') == name and (
                          not m.group('cpu') or m.group('cpu') in row['CPU'])
                      for v in row.get('INT8 vs fp32, same runtime',
                                       '').split(' / ') if v]
            if ratios:
                candidates.append((start, ratios))
        above = [c for c in candidates if c[0] < m.start()]
        if not candidates:
            problems.append(f'{m.group(0)!r}: no table shows it')
            continue
        ratios = (above or candidates)[-1 if above else 0][1]
        wrong = [r for r in ratios if (r < 1 if m.group('dir') == 'slower'
                                       else r > 1)]
        if wrong:
            problems.append(f'{m.group(0)!r}, but its table shows '
                            + ' / '.join(f'{r:.2f}x' for r in ratios))
    return problems


@pytest.mark.parametrize('doc', doc_tables.DOCUMENTS)
def test_no_speed_claim_contradicts_its_table(doc):
    assert not contradicted_speed_claims(read(doc))


def test_a_stale_speed_claim_is_caught():
    text = read('docs/benchmarks.md')
    anchor = '\n**ExecuTorch (XNNPACK), fp32 and INT8**'
    assert anchor in text
    planted = text.replace(anchor, '\nONNX Runtime INT8 is slower than its '
                           'fp32 here.\n' + anchor, 1)
    problems = contradicted_speed_claims(planted)
    assert len(problems) == 1 and 'ONNX Runtime INT8 is slower' in \
        problems[0], problems
    # true of the Xeon's rows alone, so said of the Xeon it stands
    assert not contradicted_speed_claims(planted.replace(
        'than its fp32 here', 'than its fp32 on the Intel Xeon'))


#: Files of other projects that the docs name (the authors' repository,
#: mmdet's and mmseg's configs, ImageNet's layout), and files users bring.
FOREIGN = {'util/datasets.py', 'main.py', 'meta/val.txt',
           'mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
           'poolformer/fpn_poolformer_s12_8xb4-40k_ade20k-512x512.py',
           'sem_fpn/fpn_r50_4xb4-160k_ade20k-512x512.py'}
#: What the tools write (deploy.py's ExecuTorch manifest, mmdeploy SDK's
#: files).
WRITTEN = {'executorch.json', 'deploy.json', 'pipeline.json', 'detail.json'}
#: Where the tools write and users put data: not in the repository.
RUNTIME_DIRS = ('work_dirs/', 'outputs/', 'data/', 'checkpoints/', '.venv/',
                '/', '~', '$', 'WORK_DIR/')
FILE_NAME = re.compile(r'[\w./{},-]+\.(?:py|sh|md|json|jsonl|yml|yaml|txt|'
                       r'png|jpg|jpeg|cfg|ini|svg)')


def _expand(word):
    m = re.search(r'\{([^{}]*)\}', word)
    if not m:
        return [word]
    return [w for part in m.group(1).split(',') for w in
            _expand(word[:m.start()] + part + word[m.end():])]


@functools.lru_cache(None)
def _repository_files(root):
    found = set()
    for folder, dirs, files in os.walk(root):
        # hidden folders hold no documented file but .dev_scripts/ and .ci/
        dirs[:] = [d for d in dirs if (not d.startswith('.') or d in (
            '.dev_scripts', '.ci')) and d not in (
                'work_dirs', 'data', 'outputs', 'checkpoints', '__pycache__')]
        rel = os.path.relpath(folder, root)
        found.update(os.path.normpath(os.path.join(rel, f)) for f in files)
    return frozenset(found)


def files_named_missing(text, doc, root=ROOT):
    """File names in code spans and shell blocks (``demo.jpg``,
    ``docs/x.md``, ``models/fusion.py``) that are in none of the
    repository's files: as given from the root or from the document's
    folder, or as the tail of a path in the repository."""
    files = _repository_files(root)
    missing = set()
    for line in quoted_commands(text):
        for word in line.split():
            word = word.strip('\'",;:()[]')
            if not FILE_NAME.fullmatch(word) or word.startswith(
                    RUNTIME_DIRS) or word in FOREIGN | WRITTEN:
                continue
            for name in _expand(word):
                here = os.path.normpath(os.path.join(os.path.dirname(doc),
                                                     name))
                if os.path.normpath(name) in files or here in files or any(
                        f.endswith('/' + name) for f in files):
                    continue
                missing.add(name)
    return sorted(missing)


@pytest.mark.parametrize('doc', doc_tables.DOCUMENTS)
def test_named_files_exist(doc):
    assert not files_named_missing(read(doc), doc)


def test_a_file_that_does_not_exist_is_caught():
    planted = ('```bash\npython demo/det_image_demo.py demo.jpg '
               'configs/detection/mask_rcnn_swiftformer_l1.py CKPT\n```\n'
               'See `docs/nowhere.md` and `models/fusion.py`.\n')
    assert files_named_missing(planted, 'README.md') == ['demo.jpg',
                                                         'docs/nowhere.md']


# -------------------------------------------------------------- model zoo
def test_model_index_lists_every_metafile_and_each_model_has_its_config():
    import yaml
    with open(os.path.join(ROOT, 'model-index.yml')) as f:
        index = yaml.safe_load(f)
    assert sorted(index['Import']) == sorted(doc_tables.METAFILES.values())
    names = []
    for task in doc_tables.METAFILES:
        meta = doc_tables.load_metafile(task)
        collections = {c['Name'] for c in meta['Collections']}
        for m in meta['Models']:
            names.append(m['Name'])
            assert m['In Collection'] in collections, m['Name']
            assert os.path.exists(os.path.join(ROOT, m['Config'])), m
            assert os.path.basename(m['Config']) == m['Name'] + '.py'
            # no trained weights exist: no download may be promised
            assert 'Weights' not in m, m['Name']
    assert len(names) == len(set(names))


def test_metafile_figures_that_differ_from_the_records_are_caught(
        monkeypatch):
    meta = doc_tables.load_metafile('segmentation')
    meta['Models'][0]['Metadata']['Parameters'] += 1
    monkeypatch.setattr(doc_tables, 'load_metafile', lambda task: meta)
    with pytest.raises(doc_tables.FigureError, match='Parameters'):
        doc_tables.model_zoo(records.load(), task='segmentation')


def _slug(heading):
    """GitHub's anchor of a heading."""
    text = re.sub(r'[^\w\- ]', '', heading.strip().lower())
    return text.replace(' ', '-')


def broken_links(text, doc, root=ROOT):
    """Links to a repository file or one of its headings that lead
    nowhere."""
    bad = []
    for target in re.findall(r'\]\(([^)\s]+)\)', text):
        if re.match(r'\w+://', target):
            continue
        path, _, anchor = target.partition('#')
        file = os.path.normpath(os.path.join(root, os.path.dirname(doc),
                                             path)) if path else \
            os.path.join(root, doc)
        if not os.path.exists(file):
            bad.append(target)
            continue
        if anchor and file.endswith('.md'):
            with open(file) as f:
                heads = {_slug(h) for h in re.findall(r'^#+ (.*)$', f.read(),
                                                      re.M)}
            if anchor not in heads:
                bad.append(target)
    return bad


@pytest.mark.parametrize('doc', doc_tables.DOCUMENTS)
def test_links_lead_somewhere(doc):
    assert not broken_links(read(doc), doc)


def test_a_broken_link_is_caught():
    assert broken_links('[a](docs/demo.md#no-such-part) [b](docs/none.md) '
                        '[c](docs/demo.md#pictures)', 'README.md') == [
        'docs/demo.md#no-such-part', 'docs/none.md']
