"""The house rules, checked on the source: no import cycles, no import hidden in a function to
dodge one, dependencies one way (core ← apps; within ops: rollouts → slo, rollouts → status),
and services and selectors free of the HTTP framework."""

from __future__ import annotations

import ast

import pytest

from tests.architecture.imports import ROOT, cycles, imports, modules

FEATURE_APPS = ("contacts", "jobs", "files", "ops", "demo")


def test_there_is_no_import_cycle_among_the_projects_modules() -> None:
    assert cycles(list(imports())) == []


def test_only_app_configs_import_inside_functions() -> None:
    # AppConfig.ready() is where Django wants signal receivers and observers wired.
    local = [e for e in imports() if e.local and not e.importer.endswith(".apps")]
    assert local == []


def test_the_core_imports_no_feature_app() -> None:
    edges = [e for e in imports() if e.importer.split(".")[0] == "portal"]
    assert [e for e in edges if e.imported.split(".")[0] in FEATURE_APPS] == []


@pytest.mark.parametrize(
    ("room", "forbidden"),
    [
        ("ops.slo", ("ops.rollouts", "ops.status", "ops.models.rollouts", "ops.models.status")),
        ("ops.status", ("ops.rollouts", "ops.slo", "ops.models.rollouts", "ops.models.slo")),
        ("ops.models.slo", ("ops.models.rollouts", "ops.models.status")),
        ("ops.models.status", ("ops.models.rollouts", "ops.models.slo")),
        ("ops.console", ("ops.rollouts", "ops.slo", "ops.status")),
        ("ops.versions", ("ops.rollouts", "ops.slo", "ops.status")),
    ],
)
def test_dependencies_between_rooms_point_one_way(room: str, forbidden: tuple[str, ...]) -> None:
    edges = [e for e in imports() if e.importer == room or e.importer.startswith(f"{room}.")]
    assert [e for e in edges if e.imported.startswith(forbidden)] == []


def _external_imports(path: str) -> set[str]:
    tree = ast.parse((ROOT / path).read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_services_and_selectors_know_nothing_of_http_frameworks() -> None:
    layers = [
        str(path.relative_to(ROOT))
        for path in modules().values()
        if path.name in {"services.py", "selectors.py"}
    ]
    assert len(layers) >= 6
    for path in layers:
        http = {m for m in _external_imports(path) if m.split(".")[0] in {"rest_framework"}}
        assert not http, (path, http)
        source = (ROOT / path).read_text()
        assert "HttpRequest" not in source, path


def test_the_runtime_image_leaves_out_tools_and_tests() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {"tests", "bench", "scripts", "deploy", ".schemathesis"} <= ignored
