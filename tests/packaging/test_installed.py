"""crossgate and the pack work as users install them, not only from this checkout.

The wheels are built as `pip install .` and `pip install ./policies` build them (from a copy of the
sources, offline: `pip wheel --no-deps --no-build-isolation`), installed with `--no-deps` into a
throwaway virtualenv that finds the test environment's packages through a ``.pth`` file (so no
network), and the gate is run from that virtualenv's `crossgate` script on a failing and a passing
program, with the pack unpacked from its sdist, as "pip download, then --policy-pack" does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

from helpers import FIXTURES, REPO

#: Never part of a build: local state, caches and earlier build output.
_NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "out", "*.egg-info", "__pycache__",
                                     "*.pyc", ".pytest_cache", "results")
#: The pack's files that make an unpacked sdist a pack `--policy-pack` (and `pulumi preview`) accepts.
PACK_FILES = {"PulumiPolicy.yaml", "__main__.py", "requirements.txt", "README.md", "config/dev.json",
              "config/prod.json"}


def _run(*cmd: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None,
         check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def _user_env() -> dict[str, str]:
    """The environment without anything that would let the checkout leak into the installed gate."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


def _package_files(root: Path) -> set[str]:
    return {p.relative_to(root.parent).as_posix() for p in root.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    """Both wheels and both sdists, built from a clean copy of the sources."""
    base = tmp_path_factory.mktemp("packaging")
    src = base / "src"
    shutil.copytree(REPO, src, ignore=_NOT_SOURCE, symlinks=True)
    wheels = base / "wheels"
    _run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--wheel-dir", wheels, src, src / "policies")
    sdists = base / "sdists"
    for project in (src, src / "policies"):
        _run(sys.executable, "-c", f"from setuptools import build_meta; build_meta.build_sdist({str(sdists)!r})",
             cwd=project)
    return {
        "src": src,
        "gate_wheel": next(wheels.glob("crossgate-*.whl")),
        "pack_wheel": next(wheels.glob("crossgate_azure_policies-*.whl")),
        "gate_sdist": next(sdists.glob("crossgate-*.tar.gz")),
        "pack_sdist": next(sdists.glob("crossgate_azure_policies-*.tar.gz")),
    }


@pytest.fixture(scope="module")
def user_venv(built, tmp_path_factory) -> Path:
    """A fresh virtualenv holding only the two wheels; their dependencies come from the test venv."""
    venv = tmp_path_factory.mktemp("user") / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    # Appended after the venv's own site-packages, and its .pth files are not processed: the
    # editable installs of this checkout stay invisible, the installed wheels win.
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "test-env-deps.pth").write_text("".join(f"{d}\n" for d in sorted(deps)))
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", "--no-index",
         built["gate_wheel"], built["pack_wheel"])
    return venv


@pytest.fixture(scope="module")
def pack_from_sdist(built, tmp_path_factory) -> Path:
    """The pack as `pip download --no-binary :all: crossgate-azure-policies` (unpacked) gives it."""
    dest = tmp_path_factory.mktemp("download")
    with tarfile.open(built["pack_sdist"]) as tar:
        tar.extractall(dest, filter="data")
    return next(dest.iterdir())


def test_the_gate_wheel_holds_every_file_of_the_package(built):
    with zipfile.ZipFile(built["gate_wheel"]) as whl:
        shipped = {n for n in whl.namelist() if n.startswith("crossgate/")}
    assert _package_files(built["src"] / "crossgate") - shipped == set()
    assert "crossgate/program/placeholders.json" in shipped


def test_the_pack_wheel_holds_every_file_of_the_library(built):
    with zipfile.ZipFile(built["pack_wheel"]) as whl:
        shipped = set(whl.namelist())
    assert _package_files(built["src"] / "policies" / "crossgate_azure_policies") - shipped == set()


def test_the_gate_sdist_holds_the_package_and_its_data(built):
    with tarfile.open(built["gate_sdist"]) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert _package_files(built["src"] / "crossgate") - names == set()
    assert {"pyproject.toml", "README.md"} <= names


def test_the_pack_sdist_is_a_complete_policy_pack(built):
    with tarfile.open(built["pack_sdist"]) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert PACK_FILES - names == set()
    assert _package_files(built["src"] / "policies" / "crossgate_azure_policies") - names == set()


def test_the_installed_gate_is_the_wheel_not_this_checkout(user_venv, tmp_path):
    proc = _run(user_venv / "bin" / "python", "-c",
                "import crossgate, crossgate_azure_policies as p; print(crossgate.__file__); print(p.__file__)",
                cwd=tmp_path, env=_user_env())
    for line in proc.stdout.split():
        assert Path(line).is_relative_to(user_venv), line


def test_installed_gate_blocks_the_sketch_with_its_golden_findings(user_venv, pack_from_sdist, tmp_path):
    program = tmp_path / "sketch"
    shutil.copytree(FIXTURES / "sketch", program, ignore=_NOT_SOURCE)
    proc = _run(user_venv / "bin" / "crossgate", "preview", "--cwd", program, "--stack", "dev",
                "--policy-pack", pack_from_sdist, "--parallel", "1", "--format", "json",
                cwd=tmp_path, env=_user_env(), check=False)
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["errors"] == []
    found = sorted([f["policy"], f["name"], f["level"]] for f in doc["violations"] + doc["indeterminate"])
    assert found == json.loads((FIXTURES / "sketch" / "expected-findings.json").read_text())["findings"]


def test_installed_gate_passes_the_reference_stack(user_venv, pack_from_sdist, tmp_path):
    project = tmp_path / "platform"
    project.mkdir()
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "requirements.txt"):
        shutil.copy(REPO / name, project / name)
    shutil.copytree(REPO / "infra", project / "infra", ignore=_NOT_SOURCE)
    # Pulumi.yaml runs the program in the project's .venv; the test environment has its SDKs.
    (project / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    proc = _run(user_venv / "bin" / "crossgate", "preview", "--cwd", project, "--stack", "dev",
                "--policy-pack", pack_from_sdist, "--policy-pack-config", pack_from_sdist / "config" / "dev.json",
                "--parallel", "1", "--format", "json", cwd=tmp_path, env=_user_env(), check=False)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert (doc["errors"], doc["violations"], doc["indeterminate"]) == ([], [], [])
    assert doc["summary"]["checked"] is True and doc["summary"]["resources"] > 20
