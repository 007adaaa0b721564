"""Each distribution declares exactly what its code imports (and what it launches), nothing more.

The imports are read with ``ast`` from every module, each one is mapped to the distribution whose
files provide it in the test environment, and the set is compared with ``[project].dependencies``.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import re
import sys
import tomllib
from pathlib import Path

import pytest

from helpers import REPO

#: Declared for what the gate launches: packs that declare no virtualenv run on its own interpreter,
#: under pulumi-policy (its pack host script imports it too, so it may also count as imported).
LAUNCHED = {"crossgate": {"pulumi-policy"}, "crossgate-azure-policies": set()}

DISTRIBUTIONS = [
    ("crossgate", REPO / "pyproject.toml", [REPO / "crossgate"], "crossgate"),
    ("crossgate-azure-policies", REPO / "policies" / "pyproject.toml",
     [REPO / "policies" / "crossgate_azure_policies", REPO / "policies" / "__main__.py"], "crossgate_azure_policies"),
]


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(pyproject: Path) -> set[str]:
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    return {_normalise(re.match(r"[A-Za-z0-9._-]+", d)[0]) for d in deps}


def imported_modules(paths: list[Path], own: str) -> set[str]:
    """Absolute imports outside the standard library, the distribution's own package and the modules
    beside each other (a Pulumi program's ``import vault``)."""
    files = [f for p in paths for f in ([p] if p.is_file() else sorted(p.rglob("*.py")))]
    local = {own, "__future__"} | {f.stem for f in files}
    names: set[str] = set()
    for file in files:
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
    return {n for n in names
            if n.split(".")[0] not in sys.stdlib_module_names and n.split(".")[0] not in local}


def distribution_of(module: str) -> str:
    """The installed distribution whose files hold ``module`` (namespace packages like ``google`` too)."""
    spec = importlib.util.find_spec(module)
    assert spec is not None, f"{module} is imported but not installed"
    origin = Path(spec.origin or next(iter(spec.submodule_search_locations))).resolve()
    candidates = importlib.metadata.packages_distributions().get(module.split(".")[0], [])
    for name in candidates:
        dist = importlib.metadata.distribution(name)
        if any(Path(dist.locate_file(f)).resolve() == origin for f in dist.files or ()):
            return _normalise(name)
    raise AssertionError(f"no installed distribution holds {module} ({origin}); candidates {candidates}")


@pytest.mark.parametrize("dist, pyproject, paths, own", DISTRIBUTIONS, ids=[d[0] for d in DISTRIBUTIONS])
def test_dependencies_are_exactly_what_the_code_imports_or_launches(dist, pyproject, paths, own):
    needed = {distribution_of(m) for m in imported_modules(paths, own)}
    assert needed - declared(pyproject) == set(), "imported but not declared"
    assert declared(pyproject) - needed == LAUNCHED[dist] - needed, "declared but neither imported nor launched"
    assert LAUNCHED[dist] <= declared(pyproject), "launched but not declared"


def test_the_gate_does_not_depend_on_any_provider_sdk():
    assert not {d for d in declared(REPO / "pyproject.toml") if d.startswith("pulumi-") and d != "pulumi-policy"}


def test_the_reference_programs_sdks_are_in_its_requirements():
    requirements = {_normalise(re.match(r"[A-Za-z0-9._-]+", line)[0])
                    for line in (REPO / "requirements.txt").read_text().splitlines()
                    if line.strip() and not line.startswith("#")}
    needed = {distribution_of(m) for m in imported_modules([REPO / "infra"], "infra")}
    assert needed - requirements == set()
