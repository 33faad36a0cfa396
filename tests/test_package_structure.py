"""The package's shape: every module imports, imports flow one way (no
circle, counting imports inside functions too), the model never imports the
deploy or analysis code, checkpoint handling never imports the models, and
no file grows past the size a reader can take in.

Run ``python tests/test_package_structure.py`` to print the import graph.
"""
import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = 'swiftformer_mm'
ROOT = Path(__file__).resolve().parents[1] / PACKAGE
MAX_LINES = 500
#: Modules allowed past MAX_LINES (a hint, not a reason to split what
#: belongs together), each with the reason.
LONGER_BY_DESIGN = {}


def _modules():
    """``{module name: path}`` for every .py file of the package."""
    found = {}
    for path in sorted(ROOT.rglob('*.py')):
        parts = list(path.relative_to(ROOT.parent).with_suffix('').parts)
        if parts[-1] == '__init__':
            parts = parts[:-1]
        found['.'.join(parts)] = path
    return found


def import_graph():
    """``{module: set of package modules it imports}``, from the source.

    Only explicit import statements count (importing ``a.b.c`` also runs
    ``a/__init__`` and ``a/b/__init__``, but those are not dependencies the
    module chose). ``from X import name`` depends on ``X.name`` when that is
    a module of the package, else on ``X``.
    """
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        is_pkg = path.name == '__init__.py'
        here = name.split('.') if is_pkg else name.split('.')[:-1]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here[:len(here) - node.level + 1]
                    target = '.'.join(base + ([node.module]
                                              if node.module else []))
                else:
                    target = node.module or ''
                targets = [f'{target}.{alias.name}'
                           if f'{target}.{alias.name}' in modules else target
                           for alias in node.names]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition('.')[0]  # a name in a module
                if target and target != name:
                    deps.add(target)
        graph[name] = deps
    return graph


def find_cycle(graph):
    """One import circle as a list of modules, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = 'open'
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 'open':
                return stack[stack.index(dep):] + [dep]
            if dep not in state:
                cycle = visit(dep)
                if cycle:
                    return cycle
        state[node] = 'done'
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def _reaches(graph, start, prefix):
    """Modules under ``prefix`` that ``start`` imports, directly or not."""
    seen, todo = set(), [start]
    while todo:
        for dep in graph[todo.pop()]:
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return sorted(m for m in seen
                  if m == prefix or m.startswith(prefix + '.'))


@pytest.mark.parametrize('module', sorted(_modules()))
def test_every_module_imports(module):
    importlib.import_module(module)


def test_no_import_circle():
    assert find_cycle(import_graph()) is None, find_cycle(import_graph())


def test_the_cycle_finder_finds_one():
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == [
        'a', 'b', 'c', 'a']
    assert find_cycle({'a': {'b'}, 'b': set()}) is None


def test_imports_flow_one_way():
    graph = import_graph()
    for module in graph:
        if module.startswith(f'{PACKAGE}.models'):
            assert not _reaches(graph, module, f'{PACKAGE}.deploy'), module
            assert not _reaches(graph, module, f'{PACKAGE}.analysis'), module
        if module.startswith(f'{PACKAGE}.checkpoint'):
            assert not _reaches(graph, module, f'{PACKAGE}.models'), module


@pytest.mark.parametrize('module', sorted(_modules()))
def test_files_stay_readable(module):
    lines = len(_modules()[module].read_text().splitlines())
    limit = MAX_LINES * (2 if module in LONGER_BY_DESIGN else 1)
    assert lines <= limit, f'{module}: {lines} lines'


if __name__ == '__main__':
    for module, deps in sorted(import_graph().items()):
        print(f'{module} -> {", ".join(sorted(deps)) or "-"}')
