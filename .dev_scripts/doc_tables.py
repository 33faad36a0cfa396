# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""The figure tables of the README and docs, made from records
(:mod:`swiftformer_mm.analysis.records`).

A document marks each generated table::

    <!-- table:deployed task=segmentor arch=l1 -->
    ...the table, written by .dev_scripts/docs_tables.py...
    <!-- /table -->

The name selects a builder in :data:`BUILDERS`, the ``key=value`` words are
its arguments. A builder selects records, computes what the table shows
(ratios from the raw medians of each run) and raises :class:`FigureError`
when a figure it needs has no record, or a speed ratio has fewer than two
runs on any CPU that is shown. Tables are grouped by CPU (model and INT8
instructions): figures are bit-identical on one kind of CPU, not across kinds.

Example:
    >>> import doc_tables  # python .dev_scripts/docs_tables.py runs it
    >>> problems = doc_tables.check()   # [] when every table is current
"""
import os
import re
import statistics

from swiftformer_mm.analysis import records as rec

#: The repository this file is in (repository tooling: the installed package
#: does not carry it).
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: Documents with generated tables, relative to the repository root.
DOCUMENTS = ('README.md', 'docs/benchmarks.md', 'docs/classification.md',
             'docs/demo.md', 'docs/deployment.md', 'docs/detection.md',
             'docs/development.md', 'docs/installation.md',
             'docs/model_zoo.md', 'docs/reliability.md',
             'docs/segmentation.md')
MARKER = re.compile(r'^<!-- table:(?P<name>[\w-]+)(?P<args>[^>]*?) -->\n'
                    r'(?P<body>.*?)^<!-- /table -->$', re.M | re.S)
#: Speed ratios need this many runs of one command on one CPU.
MIN_SPEED_RUNS = 2


class FigureError(ValueError):
    """A table cannot be made: a figure has no record, or too few runs."""


# ----------------------------------------------------------------- helpers
def cpu_name(record) -> str:
    """The CPU's model name as the tools record it (``/proc/cpuinfo``), without
    trademark signs and without a qualifier a person added after a comma when
    transcribing a figure (``'AMD EPYC, Zen 3'`` is ``'AMD EPYC'``: under KVM
    the tools see only the name, so a qualifier no tool can check would make
    one CPU look like two)."""
    name = re.sub(r'\((R|TM)\)', '', record['conditions']['cpu'])
    name = name.split(',')[0]
    return re.sub(r'\s+', ' ', name).strip()


def cpu_identity(record) -> tuple:
    """What tells two CPUs apart in a record: the model name (trademarks,
    hand-added qualifiers and parenthesised remarks left out), the INT8 class
    and the instruction-set flags. Records with one identity must get one
    :func:`cpu_label`."""
    c = record['conditions']
    name = re.sub(r'\([^)]*\)', '', c['cpu']).split(',')[0]
    return (re.sub(r'\s+', ' ', name).strip().lower(), c['int8'],
            tuple(sorted(c.get('isa', ()))), _family(c))


def _family(conditions) -> str:
    """``'family F model M'`` where a record has them (``lscpu``'s CPU
    family and model tell apart CPUs that KVM names alike), else ``''``."""
    if conditions.get('cpu_family') is None:
        return ''
    arch = conditions.get('cpu_microarchitecture', 'unknown')
    return (f"family {conditions['cpu_family']} model "
            f"{conditions.get('cpu_model_number', '?')}"
            + ('' if arch == 'unknown' else f', {arch}'))


def cpu_label(record) -> str:
    c = record['conditions']
    family = _family(c)
    return (f"{cpu_name(record)}{', ' + family if family else ''} "
            f"({c['int8']})")


def cpu_label_problems(records, label=None) -> list:
    """``'one CPU, N labels: ...'`` for each CPU identity (:func:`cpu_identity`)
    whose records get more than one label."""
    label = label or cpu_label
    seen = {}
    for r in records:
        seen.setdefault(cpu_identity(r), set()).add(label(r))
    return [f'one CPU {ident[0]!r} ({ident[1]}), {len(names)} labels: '
            + ' / '.join(sorted(names))
            for ident, names in seen.items() if len(names) > 1]


def select(records, kind, **key):
    """Records of ``kind`` whose key has these values."""
    return [r for r in records if r['kind'] == kind and all(
        r['key'].get(k) == v for k, v in key.items())]


def by_cpu(records) -> dict:
    """CPU label -> its records, oldest first; CPUs in order of first
    record."""
    out = {}
    for r in records:
        out.setdefault(cpu_label(r), []).append(r)
    return out


def speed_runs(records, what: str) -> dict:
    """CPU label -> the latest :data:`MIN_SPEED_RUNS` runs; CPUs with
    fewer runs are left out, and none left is an error."""
    runs = {cpu: rs[-MIN_SPEED_RUNS:] for cpu, rs in by_cpu(records).items()
            if len(rs) >= MIN_SPEED_RUNS}
    if not runs:
        have = {cpu: len(rs) for cpu, rs in by_cpu(records).items()}
        raise FigureError(f'{what}: a speed ratio needs {MIN_SPEED_RUNS} '
                          f'runs of the command on one CPU; records have '
                          f'{have or "none"}')
    return runs


def when(record) -> str:
    c = record['conditions']
    where = '' if record['source'] == 'measured' else ', transcribed'
    load = c.get('load_avg')
    load = '' if load is None else f', load {load:.1f}'
    return f"{c['date'][:10]}{load}{where}"


def latest_rows(pairs) -> dict:
    """``{ident: value}`` of ``(ident, value)`` pairs in record order: the
    latest value of each ident, in the order of the latest runs."""
    out = {}
    for ident, value in pairs:
        out.pop(ident, None)
        out[ident] = value
    return out


def table(header, rows) -> str:
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows]
    return '\n'.join(lines)


def runs_note(runs_per_cpu) -> str:
    """Which runs a table shows, one line per CPU."""
    lines = []
    for cpu, runs in runs_per_cpu.items():
        cmds = sorted({r['conditions']['command'] for r in runs})
        lines.append(f'{cpu}: ' + ' / '.join(when(r) for r in runs) +
                     f" (`{'`, `'.join(cmds)}`, {runs[0]['conditions']['threads']}"
                     ' threads)')
    return '\n'.join(f'- {line}' for line in lines)


def pair(values, fmt='{:.2f}x') -> str:
    return ' / '.join(fmt.format(v) for v in values)


# ---------------------------------------------------------------- builders
def demo(records, **_):
    """Pretrained vs scratch on the demo validation sets, per CPU and seed."""
    rows = []
    for demo_name, metrics in (('detection', ('box_ap', 'mask_ap')),
                               ('segmentation', ('miou', ))):
        found = select(records, 'demo', demo=demo_name)
        if not found:
            raise FigureError(f'demo {demo_name}: no record (RECORD=1 bash '
                              'tools/run_demo.sh / run_seg_demo.sh)')
        for cpu, rs in by_cpu(found).items():
            latest = {}
            for r in rs:  # the latest run of each seed
                latest[r['key']['seed']] = r
            seeds = sorted(latest)
            for metric in metrics:
                scratch = [latest[s]['figures'][metric]['scratch']
                           for s in seeds]
                pre = [latest[s]['figures'][metric]['pretrained']
                       for s in seeds]
                gains = [p - s for p, s in zip(pre, scratch)]
                label = dict(box_ap='box AP', mask_ap='mask AP',
                             miou='mIoU')[metric]
                model = ('Mask R-CNN XS, 40 images' if demo_name ==
                         'detection' else 'Semantic FPN XS, 16 scenes')
                fmt = '{:.1f}' if metric != 'miou' else '{:.2f}'
                rows.append([
                    cpu, model, label,
                    ' / '.join(map(str, seeds)),
                    ' / '.join(fmt.format(v) for v in scratch),
                    ' / '.join(fmt.format(v) for v in pre),
                    f'**{statistics.mean(gains):+.1f}**' + (
                        f' ({min(gains):+.1f} to {max(gains):+.1f})'
                        if len(gains) > 1 else ''),
                    ', '.join(sorted({when(latest[s]) for s in seeds}))])
    rows.sort(key=lambda row: row[0])  # by CPU, stable within one
    return table(['CPU', 'demo (validation set)', 'metric', 'seeds',
                  'from scratch', 'from the pretrained classifier',
                  'gain: mean (min to max)', 'measured'], rows)


def _minutes(seconds) -> str:
    seconds = int(round(seconds))
    return f'{seconds // 60} min {seconds % 60:02d} s'


def demo_time(records, **_):
    """The classifier's top-1 and the demos' wall time, per CPU."""
    rows = []
    for r in select(records, 'demo', demo='classification'):
        f = r['figures']
        rows.append([cpu_label(r), '`bash tools/run_cls_demo.sh`',
                     f"top-1 {f['top1']:.2f}%",
                     _minutes(f['seconds']) if 'seconds' in f else
                     'not recorded', when(r)])
    for r in select(records, 'demo', demo='detection'):
        s = r['figures'].get('seconds', {})
        if 'total' not in s:
            continue
        parts = ', '.join(f'{k.replace("_", " ")} {_minutes(v)}' for k, v in
                          s.items() if k != 'total')
        rows.append([cpu_label(r), f"`{r['conditions']['command']}`",
                     parts, _minutes(s['total']), when(r)])
    for r in select(records, 'demo', demo='segmentation'):
        if 'total' not in r['figures'].get('seconds', {}):
            continue
        rows.append([cpu_label(r), f"`{r['conditions']['command']}`",
                     'classifier there, set-up done',
                     _minutes(r['figures']['seconds']['total']), when(r)])
    if not rows:
        raise FigureError('demo-time: no demo record')
    rows.sort(key=lambda row: row[0])
    return table(['CPU', 'command', 'result / parts', 'wall time',
                  'measured'], rows)


def setup(records, **_):
    """Set-up times of .venv/."""
    rows = []
    for r in select(records, 'setup'):
        k = r['key']
        what = ('fresh machine, nothing cached' if k.get('venv_existed') ==
                'false' and k.get('mmcv_built') == 'true' else
                'new .venv/, mmcv wheel cached' if k.get('venv_existed') ==
                'false' else 'existing .venv/ brought up to date')
        # a figure reported as approximate keeps its "about"
        about = 'about ' if 'about' in r['source'] else ''
        rows.append([_stack(r), cpu_label(r), what,
                     about + _minutes(r['figures']['seconds']), when(r)])
    if not rows:
        raise FigureError('setup: no record (RECORD=1 bash '
                          'tools/setup_env.sh)')
    return table(['stack', 'CPU', 'case', '`[STACK=oldest] bash '
                  'tools/setup_env.sh`', 'measured'], rows)


#: The supported stacks: their name in the records, the constraints file
#: that pins them and how the README names them.
STACKS = {'oldest': ('requirements/constraints-oldest.txt',
                     '`STACK=oldest bash tools/setup_env.sh`'),
          'newest': ('requirements/constraints.txt',
                     '`bash tools/setup_env.sh`')}
STACK_PACKAGES = (('torch', 'torch'), ('mmcv', 'mmcv'),
                  ('mmengine', 'mmengine'), ('mmdet', 'mmdet'),
                  ('mmsegmentation', 'mmseg'), ('mmpretrain', 'mmpretrain'),
                  ('numpy', 'numpy'), ('onnxruntime', 'ONNX Runtime'),
                  ('openvino', 'OpenVINO'), ('nncf', 'NNCF'),
                  ('executorch', 'ExecuTorch'))


def pins(path) -> dict:
    """``name -> version`` of a constraints file's ``==`` pins."""
    out = {}
    with open(path) as f:
        for line in f:
            name, sep, version = line.split('#')[0].strip().partition('==')
            if sep:
                out[name.strip().lower()] = version.strip()
    return out


def _stack(record) -> str:
    # records from before the oldest stack existed ran the newest one
    return record['key'].get('stack', 'newest')


def stacks(records, root=None, **_):
    """The supported stacks (their pins) and what each lane of the suite
    passed on them, the latest run per stack, lane and CPU."""
    root = root or ROOT
    latest = {}
    for r in select(records, 'suite'):
        args = r['key'].get('args', '').split()
        if any(a.startswith('tests') or a in ('-k', '-m') for a in args):
            continue  # a selection of tests, not a lane
        latest[(_stack(r), r['key'].get('lane'), cpu_label(r))] = r
    rows = []
    for stack, (constraints, setup_command) in STACKS.items():
        pinned = pins(os.path.join(root, constraints))
        versions = ', '.join(
            f'{label} {pinned[name]}' for name, label in STACK_PACKAGES
            if name in pinned)
        lanes = sorted((k, r) for k, r in latest.items() if k[0] == stack)
        if not lanes:
            rows.append([f'**{stack}** ({setup_command})', versions, '-', '-',
                         'no run recorded', '-', '-'])
        for n, ((_, lane, cpu), r) in enumerate(lanes):
            f = r['figures']
            first = n == 0  # the stack and its pins once, on its first row
            rows.append([f'**{stack}** ({setup_command})' if first else '',
                         versions if first else '', cpu,
                         f'`--{lane}`' if lane != 'everything' else
                         'everything',
                         f"{f['passed']:.0f} passed, {f['failed']:.0f} "
                         f"failed, {f['skipped']:.0f} skipped",
                         _minutes(f['seconds']), when(r)])
    return table(['stack', 'pinned versions', 'CPU', 'lane '
                  '(`bash tools/run_tests.sh ...`)', 'tests', 'time',
                  'measured'], rows)


def suite(records, **_):
    """Test-suite times, the latest run of each lane per CPU."""
    latest = {}
    for r in select(records, 'suite'):
        args = r['key'].get('args', '').split()
        if any(a.startswith('tests') or a in ('-k', '-m') for a in args):
            continue  # a selection of tests, not a lane
        # the oldest stack's lane is a lane of its own, not "everything"
        lane = {'fast': 'fast lane (`--fast`)',
                'oldest': 'oldest stack (`--oldest`)'}.get(
                    r['key'].get('lane'), 'everything')
        latest[(cpu_label(r), lane)] = r
    if not latest:
        raise FigureError('suite: no record (RECORD=1 bash '
                          'tools/run_tests.sh)')
    rows = []
    for (cpu, lane), r in latest.items():
        f = r['figures']
        rows.append([cpu, lane, r['key']['workers'],
                     f"{f['passed']:.0f} passed, {f['failed']:.0f} failed, "
                     f"{f['skipped']:.0f} skipped", _minutes(f['seconds']),
                     when(r)])
    return table(['CPU', 'lane', 'workers', 'tests', 'time', 'measured'],
                 rows)


RUNTIME_NAMES = {'onnxruntime': 'ONNX Runtime', 'openvino': 'OpenVINO',
                 'onnxruntime-int8': 'ONNX Runtime INT8',
                 'openvino-int8': 'OpenVINO INT8', 'executorch': 'ExecuTorch',
                 'executorch-int8': 'ExecuTorch INT8'}
METRIC_NAMES = {'accuracy/top1': 'top-1', 'coco/bbox_mAP': 'box AP',
                'coco/segm_mAP': 'mask AP', 'mIoU': 'mIoU'}
ACCURACY_MODELS = {'classifier': 'classifier XS', 'detector':
                   'Mask R-CNN XS', 'segmentor': 'Semantic FPN XS'}


def deploy_accuracy(records, **_):
    """Demo models: PyTorch vs every runtime, the latest run per CPU."""
    found = [r for r in select(records, 'accuracy')
             if 'variant' not in r['key']]
    if not found:
        raise FigureError('deploy-accuracy: no record (python '
                          'tools/deployment/deploy_accuracy.py --record)')
    runtimes = [r for r in RUNTIME_NAMES if any(
        r in x['figures'] for x in found)]
    rows = []
    for cpu, rs in by_cpu(found).items():
        latest = {}
        for r in rs:
            for runtime, metrics in r['figures'].items():
                latest[(r['key']['model'], runtime)] = (metrics, r)
        for model in ACCURACY_MODELS:
            if (model, 'PyTorch') not in latest:
                continue
            ref, ref_record = latest[(model, 'PyTorch')]
            for metric, value in ref.items():
                cells = [f'{value:.2f}']
                for runtime in runtimes:
                    got = latest.get((model, runtime))
                    cells.append('' if got is None else
                                 f'{got[0][metric]:.2f} '
                                 f'({got[0][metric] - value:+.2f})')
                scale = ref_record['key'].get('val_scale', 1)
                rows.append([cpu, f'{ACCURACY_MODELS[model]}'
                             + (f' (val x{scale})' if scale > 1 else ''),
                             METRIC_NAMES.get(metric, metric), *cells,
                             when(ref_record)])
    return table(['CPU', 'model (validation set)', 'metric', 'PyTorch'] +
                 [RUNTIME_NAMES[r] for r in runtimes] + ['measured'], rows)


def int8_choices(records, **_):
    """What stays in floating point: INT8 variants measured on the demo
    sets (records of kind ``accuracy`` with a ``variant``; the latest of
    each)."""
    found = [r for r in records if r['kind'] == 'accuracy'
             and 'variant' in r['key']]
    if not found:
        raise FigureError('int8-choices: no record')
    latest = latest_rows(
        ((cpu_label(r), r['key']['model'], r['key']['runtime'],
          r['key']['variant'], r['key'].get('val_scale', 1)), r)
        for r in found)
    rows = []
    for (cpu, model, runtime, variant, scale), r in latest.items():
        rows.append([cpu, ACCURACY_MODELS[model] +
                     (f' (val x{scale})' if scale > 1 else ''),
                     RUNTIME_NAMES.get(runtime, runtime), variant,
                     ' / '.join(f'{METRIC_NAMES.get(m, m)} {v:.2f}'
                                for m, v in r['figures'].items()), when(r)])
    return table(['CPU', 'model (demo validation set)', 'runtime',
                  'what is quantized, how', 'result', 'measured'], rows)


def deploy_agreement(records, **_):
    """Each runtime's predictions matched with PyTorch's one by one, the
    latest run per CPU, model and recipe."""
    found = select(records, 'agreement')
    if not found:
        raise FigureError('deploy-agreement: no record (python tools/'
                          'deployment/deploy_accuracy.py --record)')
    latest = latest_rows(
        ((cpu_label(r), r['key']['model'], runtime, r['key'].get('variant')),
         (figures, r))
        for r in found for runtime, figures in r['figures'].items())
    rows = []
    for (cpu, model, runtime, variant), (figures, r) in latest.items():
        name = RUNTIME_NAMES.get(runtime, runtime)
        count = figures.get('detections')
        rows.append([cpu, ACCURACY_MODELS[model], name + (
            f' ({variant})' if variant else ''), f"{r['key']['images']}"
            + ('' if figures.get('cropped', True) else ', uncropped')
            + (f' ({count} detections)' if count is not None else ''),
            ', '.join(f'{what}: {v:.1f}%' for what, v in figures.items()
                      if what not in ('detections', 'cropped')), when(r)])
    return table(['CPU', 'model', 'runtime', 'images', 'same as PyTorch',
                  'measured'], rows)


def parity(records, **_):
    """Deployed vs mmdet/mmseg at the level users see, per family, runtime
    and image size: the latest record of each (``RECORD_PARITY=1 bash
    tools/run_tests.sh -k deploy_families``,
    tests/test_deploy_families.py)."""
    found = select(records, 'parity')
    if not found:
        raise FigureError('parity: no record (RECORD_PARITY=1 bash '
                          'tools/run_tests.sh -k deploy_families)')
    latest = {}
    for r in found:
        k = r['key']
        latest[(cpu_label(r), k['family'], k['runtime'], k['size'],
                str(k.get('batch', 1)))] = r
    rows = []
    for (cpu, family, runtime, size, batch), r in latest.items():
        f = r['figures']
        if 'pixels_equal' in f:
            equal, ties = f['pixels_equal'], f.get('tie_pixels', 0)
            result = [f'{equal * 100:.3f}% of pixels equal'
                      + (f' (the rest within rounding of a tie: {ties} '
                         'near-tie pixels in all)' if equal < 1 else ''),
                      '', '', '']
        else:
            masks = ''
            if 'min_mask_iou' in f:
                masks = f" (masks {f['min_mask_iou']:.4f}"
                off = f.get('max_mask_pixels_diff', 0)
                if off:
                    masks += (f', at most {off} pixel(s) off, ' + (
                        'all on the edge' if not
                        f['max_mask_pixels_off_edge'] else
                        'some inside or outside the mask'))
                masks += ')'
            result = [f"{f['matched']}/{f['total']}",
                      f"{f['deployed_matched']}/{f['deployed_total']}",
                      f"{f['min_iou']:.4f}{masks}",
                      f"{f['max_score_diff']:.1e}"]
        rows.append([cpu, family, RUNTIME_NAMES.get(runtime, runtime),
                     f"{f.get('images', 1)} of {size}, batch {batch}",
                     *result, when(r)])
    return table(['CPU', 'family', 'runtime', 'images',
                  "library's detections (pixels) matched by the deployed "
                  'model', "deployed model's detections matched by the "
                  "library's", 'lowest IoU', 'largest score difference',
                  'measured'], rows)


def _ratios(record, eager='PyTorch eager'):
    """``(vs eager, vs fp32 of the same runtime)`` of a deployed-speed run,
    each ``{candidate: ratio}``, from its medians (or, for a run recorded
    before records kept medians, its transcribed ratios)."""
    f = record['figures']
    if 'vs_eager' in f:
        return f['vs_eager'], f.get('vs_fp32', {})
    ms = f['per_image_ms']
    eager_ratio, fp32 = {}, {}
    for name, t in ms.items():
        if name.startswith('PyTorch'):
            continue
        part = ', network only' if name.endswith(', network only') else ''
        base = name[:len(name) - len(part)] if part else name
        eager_ratio[name] = t / ms[f'{eager}{part}']
        ref = rec.fp32_of(base, [n[:len(n) - len(part)] if part else n
                                 for n in ms])
        if ref and ms.get(ref + part):
            fp32[name] = t / ms[ref + part]
    return eager_ratio, fp32


def _ms(record, name) -> str:
    """The median milliseconds per image of ``name`` in a speed run, or
    ``'-'`` for a run transcribed before records kept the medians."""
    t = record['figures'].get('per_image_ms', {}).get(name)
    if t is None:
        return '-'
    return f'{t:.0f}' if t >= 100 else f'{t:.1f}'


def _setting(record) -> str:
    """Threads and batch of a speed run, as the tables show them."""
    batch = record['key'].get('batch', [1])
    batch = '/'.join(map(str, batch)) if isinstance(batch, list) else batch
    return f"{record['conditions']['threads']} / {batch}"


def _ms_pair(rs, name) -> str:
    cells = [_ms(r, name) for r in rs]
    return 'not recorded' if set(cells) == {'-'} else ' / '.join(cells)


def deployed(records, task='segmentor', arch='l1', **_):
    """Deployed speed (``benchmark.py deployed``), two runs per CPU: the
    median milliseconds per image of each run beside the ratios computed
    from them."""
    found = [r for r in select(records, 'benchmark', mode='deployed',
                               task=task, arch=arch)]
    runs = speed_runs(found, f'deployed {task} {arch}')
    rows = []
    for cpu, rs in runs.items():
        ratios = [_ratios(r) for r in rs]
        names = [n for n in ratios[0][0] if not n.endswith('network only')
                 and all(n in e for e, _ in ratios)]
        setting = ', '.join(sorted({_setting(r) for r in rs}))
        eager, eager_net = 'PyTorch eager', 'PyTorch eager, network only'
        if any('per_image_ms' in r['figures'] for r in rs):
            rows.append([cpu, setting, eager, _ms_pair(rs, eager),
                         'reference',
                         '', _ms_pair(rs, eager_net) if any(
                             eager_net in r['figures'].get('per_image_ms', {})
                             for r in rs) else '', '', ''])
        for name in names:
            net = f'{name}, network only'
            has_net = net in ratios[0][0] and all(net in e for e, _ in ratios)
            rows.append([
                cpu, setting, RUNTIME_NAMES.get(name, name),
                _ms_pair(rs, name),
                pair(e[name] for e, _ in ratios),
                pair(f[name] for _, f in ratios) if name in ratios[0][1]
                else '',
                _ms_pair(rs, net) if has_net else '',
                pair(e[net] for e, _ in ratios) if has_net else '',
                pair(f[net] for _, f in ratios) if net in ratios[0][1]
                and all(net in f for _, f in ratios) else ''])
    header = ['CPU', 'threads / batch', 'runtime', 'end to end, ms per image',
              'vs PyTorch eager', 'INT8 vs fp32, same runtime',
              'network only, ms', 'network only vs eager',
              'network INT8 vs fp32']
    keep = [i for i in range(len(header)) if i < 6 or any(
        row[i] for row in rows)]  # no network-only columns without figures
    return table([header[i] for i in keep],
                 [[row[i] for i in keep] for row in rows]) + \
        '\n\nRuns (run 1 / run 2; ms: median per image of each run, "not ' \
        'recorded" for runs transcribed with their ratios only):\n' + \
        runs_note(runs)


def quantized_backbone(records, arch='l1', runtimes='onnxruntime,openvino',
                       **_):
    """The backbone alone, fp32 and INT8 recipes (``quantized-backbone``) in
    ``runtimes`` (records before the key existed timed ONNX Runtime and
    OpenVINO), with the median milliseconds per image of each run."""
    found = [r for r in select(records, 'benchmark', mode='quantized-backbone',
                               arch=arch)
             if r['key'].get('runtimes', ['onnxruntime', 'openvino'])
             == runtimes.split(',')]
    runs = speed_runs(found, f'quantized-backbone {arch} {runtimes}')
    rows = []
    for cpu, rs in runs.items():
        ratios = [_ratios(r, 'PyTorch eager (deploy form)') for r in rs]
        setting = ', '.join(sorted({_setting(r) for r in rs}))
        if any('per_image_ms' in r['figures'] for r in rs):
            rows.append([cpu, setting, 'PyTorch eager (deploy form)',
                         _ms_pair(rs, 'PyTorch eager (deploy form)'),
                         'reference', ''])
        for name in ratios[0][0]:
            runtime, _, variant = name.partition(' (')
            rows.append([cpu, setting, RUNTIME_NAMES.get(runtime, runtime)
                         + (f' ({variant}' if variant else ''),
                         _ms_pair(rs, name),
                         pair(e[name] for e, _ in ratios),
                         pair(f[name] for _, f in ratios)
                         if name in ratios[0][1] else ''])
    return table(['CPU', 'threads / batch', 'runtime', 'ms per image',
                  'vs PyTorch (deploy form)', 'INT8 vs fp32, same runtime'],
                 rows) + \
        '\n\nRuns (run 1 / run 2; ms: median per image of each run, "not ' \
        'recorded" for runs transcribed with their ratios only):\n' + \
        runs_note(runs)


def int8_ops(records, arch='l1', top=6, **_):
    """Where the backbone's time goes per op type, fp32 against INT8, in
    each runtime's own profiler (``int8-ops``): the sum of the ops and the
    ``top`` op types of the latest run (by the larger of their fp32 and
    INT8 times), each with both runs' milliseconds."""
    found = select(records, 'benchmark', mode='int8-ops', arch=arch)
    runs = speed_runs(found, f'int8-ops {arch}')
    rows = []
    for cpu, rs in runs.items():
        for runtime in ('onnxruntime', 'openvino'):
            fp32 = [r['figures']['op_ms'][runtime] for r in rs]
            int8 = [r['figures']['op_ms'][f'{runtime}-int8'] for r in rs]
            name = RUNTIME_NAMES.get(runtime, runtime)
            rows.append([cpu, name, 'sum of the ops',
                         pair((sum(f.values()) for f in fp32), '{:.1f}'),
                         pair((sum(i.values()) for i in int8), '{:.1f}')])
            ops = sorted(set(fp32[-1]) | set(int8[-1]), key=lambda o: -max(
                fp32[-1].get(o, 0), int8[-1].get(o, 0)))[:top]
            rows += [[cpu, name, f'`{op}`',
                      pair((f.get(op, 0) for f in fp32), '{:.1f}'),
                      pair((i.get(op, 0) for i in int8), '{:.1f}')]
                     for op in ops]
    return table(['CPU', 'runtime', 'op type (kernel)', 'fp32 ms',
                  'INT8 ms'], rows) + '\n\nRuns (run 1 / run 2):\n' + \
        runs_note(runs)


def backbone(records, sizes='224x224', arch='l1', **_):
    """Backbone latency against timm (``benchmark.py backbone``)."""
    found = [r for r in select(records, 'benchmark', mode='backbone',
                               arch=arch, device='cpu')
             if r['key']['sizes'] == sizes.split(',')]
    runs = speed_runs(found, f'backbone {arch} {sizes}')
    rows = []
    for cpu, rs in runs.items():
        lat = [r['figures']['latency_ms']['fp32'] for r in rs]
        for size in sizes.split(','):
            for batch in lat[0][size]:
                timm = f'timm swiftformer_{arch}'
                for name in lat[0][size][batch]:
                    ts = [lt[size][batch][name] for lt in lat]
                    rows.append([cpu, size, batch, name,
                                 pair(ts, '{:.1f}'),
                                 pair((lt[size][batch][name] /
                                       lt[size][batch][timm] for lt in lat))])
    return table(['CPU', 'input', 'batch', 'model', 'latency (ms)',
                  'vs timm'], rows) + '\n\nRuns (run 1 / run 2):\n' + \
        runs_note(runs)


def scaling(records, arch='l1', **_):
    found = select(records, 'benchmark', mode='scaling', arch=arch)
    runs = speed_runs(found, f'scaling {arch}')
    rows = []
    for cpu, rs in runs.items():
        lat = [r['figures']['latency_ms'] for r in rs]
        for name in lat[0]:
            rows.append([cpu, name,
                         pair((lt[name]['224x224'] for lt in lat), '{:.1f}'),
                         pair((lt[name]['800x1344'] for lt in lat), '{:.1f}'),
                         pair((lt[name]['800x1344'] / lt[name]['224x224']
                               for lt in lat), '{:.1f}')])
    return table(['CPU', 'model', '224x224 (ms)', '800x1344 (ms)',
                  'ratio (pixels: 21.4)'], rows) + \
        '\n\nRuns (run 1 / run 2):\n' + runs_note(runs)


def dense_vs_r50(records, mode='detector', arch='l1', **_):
    """Mask R-CNN / Semantic FPN with our backbone against R-50."""
    found = select(records, 'benchmark', mode=mode, arch=arch)
    runs = speed_runs(found, f'{mode} {arch}')
    rows = []
    for cpu, rs in runs.items():
        key = 'per_image_s' if mode == 'detector' else 'per_image_ms'
        per = [r['figures'][key] for r in rs]
        base = next(n for n in per[0] if 'R-50' in n)
        for name in per[0]:
            row = [cpu, name,
                   pair((p[name] for p in per),
                        '{:.2f}' if mode == 'detector' else '{:.0f}'),
                   pair(p[name] / p[base] for p in per)]
            if mode == 'detector':
                trunk = [r['figures']['backbone_s'][name] for r in rs]
                row.append(pair(trunk, '{:.2f}'))
            rows.append(row)
    unit = 's' if mode == 'detector' else 'ms'
    header = ['CPU', 'model', f'per image ({unit})', 'vs R-50']
    if mode == 'detector':
        header.append('backbone alone (s)')
    return table(header, rows) + '\n\nRuns (run 1 / run 2):\n' + \
        runs_note(runs)


def memory(records, arch='l1', **_):
    found = select(records, 'benchmark', mode='memory', arch=arch)
    if not found:
        raise FigureError(f'memory {arch}: no record')
    rows = []
    for cpu, rs in by_cpu(found).items():
        r = rs[-1]
        m = r['figures']['memory_mib']
        for cp in ('false', 'true'):
            rows.append([cpu, cp, f"{m[cp]['base']:.0f}",
                         f"{m[cp]['peak']:.0f}",
                         f"{m[cp]['peak'] - m[cp]['base']:.0f}", when(r)])
        step = [m[c]['peak'] - m[c]['base'] for c in ('false', 'true')]
        rows.append([cpu, 'with_cp effect', '',
                     f"{m['true']['peak'] / m['false']['peak'] - 1:+.0%}",
                     f'{step[1] / step[0] - 1:+.0%}', ''])
    return table(['CPU', 'with_cp', 'before the step (MiB)', 'peak (MiB)',
                  'step: peak - before (MiB)', 'measured'], rows)


def tie(records, arch='l1', **_):
    found = select(records, 'benchmark', mode='tie', arch=arch)
    runs = speed_runs(found, f'tie {arch}')
    rows = []
    for cpu, rs in runs.items():
        s = [r['figures']['step_ms'] for r in rs]
        rows.append([cpu, pair((x['with the tie'] for x in s), '{:.0f}'),
                     pair((x['without'] for x in s), '{:.0f}'),
                     pair((x['with the tie'] / x['without'] for x in s),
                          '{:.3f}')])
    return table(['CPU', 'with the tie (ms)', 'without (ms)', 'ratio'],
                 rows) + '\n\nRuns (run 1 / run 2):\n' + runs_note(runs)


def flops_arch(records, **_):
    """Backbone parameters and GMACs of every arch against the paper."""
    from swiftformer_mm.analysis.flops import PAPER
    found = [r for r in select(records, 'flops', shape=[224, 224],
                               deploy=False) if 'archs' in r['key']]
    if not found:
        raise FigureError('flops-arch: no record (python '
                          'tools/analysis_tools/get_flops.py --record)')
    f = found[-1]['figures']
    rows = []
    for arch, ref in PAPER.items():
        if arch not in f:
            raise FigureError(f'flops-arch: no record of {arch}')
        x = f[arch]
        rows.append([arch.upper(), f"{x['params']:,}",
                     f"{ref['backbone_params']:,}", f"{x['cls_params']:,}",
                     f"{ref['cls_params']:,}", f"{x['gmacs']:.3f}",
                     ref['gmacs']])
    return table(['arch', 'backbone params (ours)', "authors' code",
                  'classifier params', 'paper', 'GMACs 224x224', 'paper'],
                 rows) + f'\n\n({when(found[-1])})'


def flops_dense(records, **_):
    """Backbone, backbone + neck and whole-model figures of dense configs."""
    found = [r for r in select(records, 'flops') if 'config' in r['key']]
    if not found:
        raise FigureError('flops-dense: no record (python '
                          'tools/analysis_tools/get_flops.py --config ... '
                          '--record)')
    latest = {}
    for r in found:
        latest[(r['key']['config'], tuple(r['key']['shape']),
                r['key']['deploy'])] = r
    rows = []
    for (config, shape, deploy), r in latest.items():
        f = r['figures']
        cells = [f"{f[p]['params'] / 1e6:.2f} M / {f[p]['gmacs']:.1f}"
                 if p in f else '' for p in
                 ('backbone', 'backbone+neck', 'whole model (tensor mode)')]
        rows.append([f'`{config}`' + (' (deploy)' if deploy else ''),
                     f'{shape[0]}x{shape[1]}', *cells])
    return table(['config', 'input', 'backbone params / GMACs',
                  'backbone + neck', 'whole model (tensor mode)'], rows)


# -------------------------------------------------------------- model zoo
#: Model-zoo metafiles (mmdet's schema), relative to the repository root.
METAFILES = {'detection': 'configs/detection/metafile.yml',
             'segmentation': 'configs/segmentation/metafile.yml',
             'classification': 'configs/classification/metafile.yml'}
#: Input size of the Parameters / FLOPs figures of each task.
ZOO_SHAPES = {'detection': [800, 1344], 'segmentation': [512, 512],
              'classification': [224, 224]}


def load_metafile(task, root=None) -> dict:
    import yaml
    with open(os.path.join(root or ROOT, METAFILES[task])) as f:
        return yaml.safe_load(f)


def zoo_figures(records, task, config) -> tuple:
    """``(parameters, FLOPs, record)`` of ``config`` as the latest
    ``get_flops.py --record`` gives them: the whole model (tensor mode) for
    a detection or segmentation config, the classifier with both heads for
    a classification config; FLOPs are multiply-adds."""
    shape = ZOO_SHAPES[task]
    if task == 'classification':
        arch = re.search(r'swiftformer_(\w+?)_in1k', config).group(1)
        found = [r for r in select(records, 'flops', shape=shape,
                                   deploy=False) if 'archs' in r['key']
                 and arch in r['figures']]
        if not found:
            raise FigureError(f'model-zoo: no FLOPs record of {arch} '
                              '(python tools/analysis_tools/get_flops.py '
                              '--record)')
        f = found[-1]['figures'][arch]
        return f['cls_params'], round(f['gmacs'] * 1e9), found[-1]
    found = [r for r in select(records, 'flops', config=config, shape=shape,
                               deploy=False)
             if not r['key'].get('cfg_options')]
    if not found:
        raise FigureError(
            f'model-zoo: no FLOPs record of {config} (python tools/'
            f'analysis_tools/get_flops.py --config {config} --record)')
    f = found[-1]['figures']['whole model (tensor mode)']
    return f['params'], round(f['gmacs'] * 1e9), found[-1]


def _train_command(task, config):
    if task == 'classification':
        return (f'`python tools/test.py {config} '
                'checkpoints/SwiftFormer_' +
                re.search(r'swiftformer_(\w+?)_in1k', config).group(1).upper()
                + '.pth`')
    return f'`bash tools/dist_train.sh {config} 8`'


def model_zoo(records, task='detection', link='', **_):
    """The model zoo of one task, from its metafile (``configs/TASK/
    metafile.yml``, the file ``mim search`` reads): config, backbone,
    ImageNet file, schedule, the paper's figures, parameters and FLOPs
    (checked against the FLOPs records), status, and the command that
    reproduces it. ``link`` prefixes the config links (``../`` in docs/)."""
    meta = load_metafile(task)
    rows = []
    for m in meta['Models']:
        md, config = m['Metadata'], m['Config']
        params, flops, r = zoo_figures(records, task, config)
        if (md.get('Parameters'), md.get('FLOPs')) != (params, flops):
            raise FigureError(
                f"model-zoo: {METAFILES[task]} gives {m['Name']} "
                f"Parameters {md.get('Parameters')} FLOPs {md.get('FLOPs')}, "
                f'the record {r["run"]} {params} / {flops}')
        metrics = {}
        for res in m.get('Results') or []:
            metrics.update(res['Metrics'])
        arch = re.search(r'swiftformer_(xs|s|l1|l3)', config).group(1)
        sched = (f"{md['Epochs']} epochs" if 'Epochs' in md else
                 f"{md['Iterations'] // 1000}k iterations")
        sched += f", batch {md['Batch Size']}"
        name = f"[{m['Name']}]({link}{config})"
        pretrained = f"`{md['Pretrained']}`"
        if task == 'detection':
            paper = [f"{metrics['box AP']:.1f}" if 'box AP' in metrics
                     else '-', f"{metrics['mask AP']:.1f}"
                     if 'mask AP' in metrics else '-']
        elif task == 'segmentation':
            paper = [f"{metrics['mIoU']:.1f}" if 'mIoU' in metrics else '-']
        else:
            paper = [f"{metrics['Top 1 Accuracy']:.1f}"]
        rows.append([name, f'SwiftFormer-{arch.upper()}', pretrained, sched,
                     *paper, f'{params / 1e6:.2f} M', f'{flops / 1e9:.1f} G',
                     md['Status'], _train_command(task, config)])
    shape = 'x'.join(map(str, ZOO_SHAPES[task]))
    paper = {'detection': ['box AP (paper)', 'mask AP (paper)'],
             'segmentation': ['mIoU (paper)'],
             'classification': ['top-1 (paper)']}[task]
    return table(['config', 'backbone', 'ImageNet weights loaded'
                  if task != 'classification' else 'weights (the authors\' file)',
                  'schedule', *paper, 'params', f'FLOPs ({shape})',
                  'status here', 'reproduce' if task != 'classification'
                  else 'check'], rows)


BUILDERS = {
    'demo': demo, 'demo-time': demo_time, 'setup': setup, 'suite': suite,
    'stacks': stacks,
    'deploy-accuracy': deploy_accuracy, 'int8-choices': int8_choices,
    'deploy-agreement': deploy_agreement,
    'parity': parity,
    'deployed': deployed,
    'quantized-backbone': quantized_backbone, 'int8-ops': int8_ops,
    'backbone': backbone,
    'scaling': scaling, 'dense-vs-r50': dense_vs_r50, 'memory': memory,
    'tie': tie, 'flops-arch': flops_arch, 'flops-dense': flops_dense,
    'model-zoo': model_zoo,
}


# ------------------------------------------------------------- documents
def render(text: str, records, errors=None) -> str:
    """``text`` with every marked table made anew from ``records``.

    A table that cannot be made raises :class:`FigureError`; with an
    ``errors`` list, the error is appended there instead and the table is
    left empty, so that the others are still made.
    """
    def replace(m):
        name = m.group('name')
        try:
            if name not in BUILDERS:
                raise FigureError(f'unknown table {name!r} (known: '
                                  f'{", ".join(sorted(BUILDERS))})')
            args = dict(a.split('=', 1) for a in m.group('args').split())
            body = BUILDERS[name](records, **args) + '\n'
        except FigureError as e:
            if errors is None:
                raise
            errors.append(f'table {name}{m.group("args")}: {e}')
            body = ''
        return (f"<!-- table:{name}{m.group('args')} -->\n{body}"
                '<!-- /table -->')
    return MARKER.sub(replace, text)


def _documents(root, documents):
    """``(name, path, text)`` of each document."""
    for doc in documents:
        path = os.path.join(root or ROOT, doc)
        with open(path) as f:
            yield doc, path, f.read()


def check(root=None, records=None, documents=DOCUMENTS) -> list:
    """Problems: ``'FILE: ...'`` for each document whose tables differ from
    what the records give, or whose tables cannot be made."""
    records = rec.load() if records is None else records
    problems = []
    for doc, _, text in _documents(root, documents):
        try:
            new = render(text, records)
        except FigureError as e:
            problems.append(f'{doc}: {e}')
            continue
        if new != text:
            stale = [m.group('name') for m, o in zip(
                MARKER.finditer(new), MARKER.finditer(text))
                if m.group(0) != o.group(0)]
            problems.append(f'{doc}: stale table(s) {", ".join(stale)}: run '
                            'python .dev_scripts/docs_tables.py')
    return problems


def update(root=None, records=None, documents=DOCUMENTS,
           errors=None) -> list:
    """Rewrite the marked tables of ``documents``; return those changed.
    Tables that cannot be made are left empty and their errors appended to
    ``errors`` (raised when it is None)."""
    records = rec.load() if records is None else records
    changed = []
    for doc, path, text in _documents(root, documents):
        new = render(text, records, errors)
        if new != text:  # whole file at once: never half a document
            tmp = path + '.tmp'
            with open(tmp, 'w') as f:
                f.write(new)
            os.replace(tmp, path)
            changed.append(doc)
    return changed
