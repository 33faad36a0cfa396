# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Make the figure tables of the README and docs from docs/records.

Each table between ``<!-- table:NAME ARGS -->`` and ``<!-- /table -->`` is
rendered by ``swiftformer_mm.analysis.doc_tables.BUILDERS[NAME]`` from the
records that the measuring tools append (``--record`` / ``RECORD=1``).

    python tools/analysis_tools/docs_tables.py           # rewrite the tables
    python tools/analysis_tools/docs_tables.py --check   # exit 1 if stale
"""
import argparse
import sys

from swiftformer_mm.analysis import doc_tables


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--check', action='store_true',
                        help='change nothing; list stale tables, exit 1')
    args = parser.parse_args()
    if args.check:
        problems = doc_tables.check()
        for p in problems:
            print(p)
        sys.exit(1 if problems else 0)
    errors = []
    changed = doc_tables.update(errors=errors)
    print('updated: ' + (', '.join(changed) if changed else 'nothing'))
    if errors:
        sys.exit('left empty, no figures for them:\n' + '\n'.join(errors))


if __name__ == '__main__':
    main()
