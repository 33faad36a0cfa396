# Copyright (c) swiftformer_mm contributors. Licensed under the Apache License 2.0.
"""Make the figure tables of the README and docs from docs/records.

Each table between ``<!-- table:NAME ARGS -->`` and ``<!-- /table -->`` is
rendered by ``doc_tables.BUILDERS[NAME]`` (beside this file) from the
records that the measuring tools append (``--record`` / ``RECORD=1``).

    python .dev_scripts/docs_tables.py           # rewrite the tables
    python .dev_scripts/docs_tables.py --check   # exit 1 if stale

Repository tooling, as OpenMMLab keeps it in .dev_scripts/: the installed
package does not carry it.
"""
import argparse
import sys

import doc_tables  # beside this file (the script's folder is on sys.path)


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
