# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Records of measurements: every figure the README and docs quote.

A tool that measures something a document quotes (``benchmark.py``,
``get_flops.py``, ``deploy_accuracy.py``, the demos, the set-up and the test
suite) appends one JSON line per run to ``docs/records/<kind>.jsonl`` when
asked to (``--record`` for the Python tools, ``RECORD=1`` for the shell
scripts). A record holds the figures and the conditions they were measured
under: the command, the commit, the date, the CPU model and its INT8-relevant
instruction sets, threads and load average. Records are appended, never
edited; ``.dev_scripts/docs_tables.py`` renders the documents' figure
tables from them (``.dev_scripts/doc_tables.py``).

Example:
    >>> from swiftformer_mm.analysis import records
    >>> rec = records.append('benchmark', dict(mode='backbone'),
    ...                      dict(latency_ms=12.5))  # doctest: +SKIP
    >>> rec['conditions']['int8']  # doctest: +SKIP
    'AVX-512 VNNI'
"""
import datetime
import fcntl
import json
import os
import shlex
import subprocess
import sys
import uuid
from typing import Optional

from ..cpu import (ISA_FLAGS, cpu_flags, cpu_identity, cpu_int8_class,
                   cpu_model)


def _is_clone(folder: str) -> bool:
    return os.path.isdir(os.path.join(folder, 'docs', 'records')) and \
        os.path.isfile(os.path.join(folder, 'swiftformer_mm', '__init__.py'))


def find_repository(start=None):
    """The swiftformer_mm clone whose docs/records hold the figures: the one
    this package is imported from (an editable install), else the one
    ``start`` (default: the working directory) is in; None outside one (an
    installed wheel run elsewhere)."""
    package_parent = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    if _is_clone(package_parent):
        return package_parent
    folder = os.path.abspath(start or os.getcwd())
    while True:
        if _is_clone(folder):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


#: The repository root (docs/records lives there); None outside a clone.
ROOT = find_repository()
#: Where records go; ``SWIFTFORMER_MM_RECORDS`` moves them (the tests use a
#: temporary folder so that running a tool in a test leaves docs/ alone).
RECORDS_ENV = 'SWIFTFORMER_MM_RECORDS'
__all__ = ['ISA_FLAGS', 'append', 'conditions', 'cpu_flags', 'cpu_int8_class',
           'cpu_model', 'find_repository', 'load', 'records_dir']


def records_dir() -> str:
    """``$SWIFTFORMER_MM_RECORDS``, else the clone's docs/records.

    Raises:
        FileNotFoundError: Neither is there (an installed package run outside
            a clone).
    """
    if os.environ.get(RECORDS_ENV):
        return os.environ[RECORDS_ENV]
    if ROOT is None:
        raise FileNotFoundError(
            'records are figures of the swiftformer_mm repository '
            '(docs/records/): run from a clone of it, or set '
            f'{RECORDS_ENV}=FOLDER to write them elsewhere.')
    return os.path.join(ROOT, 'docs', 'records')


def _git(*args) -> str:
    if ROOT is None:
        return ''
    try:
        return subprocess.run(['git', '-C', ROOT, *args], check=True,
                              capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ''


def _repo_relative(argv):
    """``argv`` with a script given by its absolute path inside the
    repository (a run from another directory) named as the docs name it."""
    script = argv[0] if argv else ''
    if ROOT and os.path.isabs(script) and script.startswith(ROOT + os.sep):
        return [os.path.relpath(script, ROOT)] + list(argv[1:])
    return list(argv)


def conditions(command=None, threads=None) -> dict:
    """What a figure was measured under."""
    if threads is None:
        try:
            import torch
            threads = torch.get_num_threads()
        except ImportError:  # a shell script's record: no torch needed
            threads = None
    flags = cpu_flags()
    return dict(
        date=datetime.datetime.now(datetime.timezone.utc).strftime(
            '%Y-%m-%dT%H:%M:%SZ'),
        commit=_git('rev-parse', '--short', 'HEAD'),
        dirty=bool(_git('status', '--porcelain', '--untracked-files=no')),
        command=command or ' '.join(
            ['python'] + [shlex.quote(a) for a in _repo_relative(sys.argv)]),
        cpu=cpu_model(),
        **cpu_identity(),
        int8=cpu_int8_class(flags),
        isa=sorted(f for f in ISA_FLAGS if f in flags),
        cores=os.cpu_count(),
        threads=threads,
        load_avg=round(os.getloadavg()[0], 2) if hasattr(
            os, 'getloadavg') else None)


def append(kind: str, key: dict, figures: dict, *, command=None,
           threads=None, source='measured', measured_under=None,
           path=None) -> dict:
    """Append one record to ``docs/records/<kind>.jsonl`` and return it.

    Args:
        kind: what was measured, also the file name (``'benchmark'``,
            ``'flops'``, ``'accuracy'``, ``'demo'``, ``'setup'``,
            ``'suite'``).
        key: what identifies the experiment; two runs of the same command
            have the same key (e.g. ``dict(mode='deployed', task=
            'segmentor', arch='l1', size='512x512')``).
        figures: the measured values, raw (milliseconds, AP, seconds).
        command: the command line (default: this process's).
        source: ``'measured'``, or where a figure measured before records
            existed was transcribed from.
        measured_under: for a transcribed figure, the conditions it was
            measured under (date, CPU, ...), which replace this machine's.
    """
    if source != 'measured' and not measured_under:
        raise ValueError('a transcribed figure needs the conditions it was '
                         'measured under')
    record = dict(kind=kind, key=key, figures=figures,
                  conditions=dict(conditions(command, threads),
                                  **(measured_under or {})),
                  run=uuid.uuid4().hex[:12], source=source)
    path = path or os.path.join(records_dir(), f'{kind}.jsonl')
    os.makedirs(os.path.dirname(path), exist_ok=True)
    line = json.dumps(record, sort_keys=True) + '\n'
    # One write of one line to a file opened for appending, under a lock:
    # concurrent runs never interleave and a crash never leaves half a line.
    with open(path, 'a') as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write(line)
        f.flush()
        os.fsync(f.fileno())
    print(f'[record] {kind}: {os.path.relpath(path)} (run {record["run"]})')
    return record


def load(folder=None) -> list:
    """Every record in ``folder`` (default: docs/records), oldest first."""
    folder = folder or records_dir()
    out = []
    if not os.path.isdir(folder):
        return out
    for name in sorted(os.listdir(folder)):
        if not name.endswith('.jsonl'):
            continue
        with open(os.path.join(folder, name)) as f:
            for number, line in enumerate(f, 1):
                if line.strip():
                    try:
                        out.append(json.loads(line))
                    except json.JSONDecodeError as e:
                        raise ValueError(f'{name}:{number}: not a record '
                                         f'({e})') from e
    return sorted(out, key=lambda r: r['conditions']['date'])


def recorded_int8_ratios(runtime: str, microarchitecture: str,
                         folder=None) -> list:
    """INT8 against fp32 of ``runtime`` (time ratios, < 1: INT8 faster)
    in the ``quantized-backbone`` records of CPUs of this
    ``microarchitecture`` (``cpu_identity()``), oldest first; empty where
    the records (a clone's docs/records) have none."""
    if microarchitecture in ('', 'unknown', None):
        return []
    ratios = []
    for record in load(folder):
        conditions, figures = record['conditions'], record['figures']
        times = figures.get('per_image_ms', {})
        if record.get('key', {}).get('mode') == 'quantized-backbone' and \
                conditions.get('cpu_microarchitecture') == \
                microarchitecture and runtime in times and \
                f'{runtime}-int8' in times:
            ratios.append(round(times[f'{runtime}-int8'] / times[runtime],
                                2))
    return ratios


def fp32_of(name: str, names) -> Optional[str]:
    """The fp32 candidate an INT8 one (``'openvino-int8 (variant)'``) is
    compared with: the same runtime's fp32 under the same variant where
    there is one (a runtime setting applied to both), else its plain fp32;
    ``None`` for an fp32 candidate."""
    runtime, _, variant = name.partition(' (')
    if not runtime.endswith('-int8'):
        return None
    fp32 = runtime[:-len('-int8')]
    same = f'{fp32} ({variant}'
    return same if variant and same in names else fp32


def main(argv=None):
    """``python -m swiftformer_mm.analysis.records KIND KEY=V ... --figure
    NAME=VALUE ... --command CMD``: a record from a shell script (the
    set-up, the test suite, the demos)."""
    import argparse
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument('kind')
    parser.add_argument('key', nargs='*', help='KEY=VALUE')
    parser.add_argument('--figure', nargs='+', default=[],
                        help='NAME=NUMBER')
    parser.add_argument('--command', required=True)
    args = parser.parse_args(argv)

    def pairs(items, number):
        out = {}
        for item in items:
            name, sep, value = item.partition('=')
            if not sep:
                parser.error(f'{item!r}: expected NAME=VALUE')
            out[name] = float(value) if number else value
        return out
    threads = os.environ.get('OMP_NUM_THREADS')
    append(args.kind, pairs(args.key, False), pairs(args.figure, True),
           command=args.command,
           threads=int(threads) if threads else os.cpu_count())


if __name__ == '__main__':
    main()
