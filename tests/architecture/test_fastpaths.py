"""The fence around the performance shortcuts: only portal/fastpaths reaches into the private
names of the frameworks (Django, DRF, django-filter, django-ratelimit, pybreaker, gunicorn …),
so an upgrade of one of them breaks in one package, behind one switch (FAST_PATHS).

A private name is one with a single leading underscore that the project does not define
itself: reading `obj._name` of another object, `self._name` inherited from a framework class,
importing `_name` from a framework, or poking at another object's `__dict__`. Django's
documented underscore APIs (`Model._meta`, `Model._default_manager`) are public."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.architecture.imports import ROOT, modules

FENCE = "portal.fastpaths"
DOCUMENTED = {"_meta", "_default_manager", "_base_manager"}
# drf-spectacular's AutoSchema methods its documentation tells extensions to call; the schema
# is built once, never on a request's path.
SCHEMA_HOOKS = {"_map_serializer_field", "_get_response_for_code"}


def _own_private_names() -> set[str]:
    """Every underscore name the project itself defines (functions, classes, attributes,
    module globals), which its own code may use anywhere."""
    names: set[str] = set()
    for path in modules().values():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
    return {name for name in names if name.startswith("_")}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _reaches(node: ast.Attribute, own: set[str]) -> bool:
    if node.attr == "__dict__":
        return not (isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"})
    return _private(node.attr) and node.attr not in own | DOCUMENTED | SCHEMA_HOOKS


def _internals(path: Path, own: set[str]) -> list[str]:
    found = []
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            top = node.module.split(".")[0]
            if top not in {"portal", "contacts", "jobs", "files", "ops", "demo", "tests"}:
                if any(_private(part) for part in node.module.split(".")):
                    found.append(f"{where} imports {node.module}")
                found += [
                    f"{where} imports {node.module}.{alias.name}"
                    for alias in node.names
                    if _private(alias.name)
                ]
        elif isinstance(node, ast.Attribute) and _reaches(node, own):
            found.append(f"{where} reads {ast.unparse(node)}")
    return found


def test_only_the_fast_paths_touch_framework_internals() -> None:
    own = _own_private_names()
    outside = [
        path
        for name, path in modules().items()
        if not (name == FENCE or name.startswith(FENCE + "."))
    ]
    found = [line for path in outside for line in _internals(path, own)]
    assert found == []


def test_the_check_sees_each_kind_of_reach(tmp_path: Path) -> None:
    sample = ROOT / "tests" / "architecture" / "_reach_sample.py"
    sample.write_text(
        "from django_ratelimit.core import _split_rate\n"
        "from django.utils import _os\n"
        "def f(request, serializer, view):\n"
        "    request._request\n"
        "    serializer._readable_fields\n"
        "    view.__dict__\n"
        "    request.user._meta\n"
    )
    try:
        found = _internals(sample, own=set())
    finally:
        sample.unlink()
    assert [line.split(" ", 1)[1] for line in found] == [
        "imports django_ratelimit.core._split_rate",
        "imports django.utils._os",
        "reads request._request",
        "reads serializer._readable_fields",
        "reads view.__dict__",
    ]


def test_the_fence_holds_what_it_says() -> None:
    inside = [name for name in modules() if name.startswith(FENCE + ".")]
    assert {n.rpartition(".")[2] for n in inside} >= {
        "prepared",
        "drf",
        "cycles",
        "backends",
        "ratelimit",
        "shared_reads",
    }


def test_portal_has_at_most_fifteen_modules_at_its_top_level() -> None:
    top = [
        entry.name
        for entry in (ROOT / "portal").iterdir()
        if (entry.suffix == ".py") or (entry.is_dir() and (entry / "__init__.py").exists())
    ]
    assert len(top) <= 15, sorted(top)
