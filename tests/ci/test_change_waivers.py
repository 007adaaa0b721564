"""ci/change-waivers.sh: the judge reads the change's waivers file as one git blob of its commit,
fetched as objects only, and refuses anything but a regular file."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "ci" / "change-waivers.sh"
GIT = shutil.which("git")
BASH = shutil.which("bash")

pytestmark = pytest.mark.skipif(GIT is None or BASH is None, reason="needs git and bash")
ENV = {**{k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "CROSSGATE_"))},
       "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
       "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_NOSYSTEM": "1",
       "HOME": "/nonexistent"}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run([GIT, *args], cwd=cwd, env=ENV, check=True, capture_output=True, text=True).stdout.strip()


def commit(repo: Path, files: dict[str, str | None], *, link: str | None = None) -> str:
    for name, text in files.items():
        path = repo / name
        if text is None:
            path.unlink()
        else:
            path.write_text(text)
    if link:
        (repo / "policy-waivers.yaml").symlink_to(link)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", "change")
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repos(tmp_path: Path) -> tuple[Path, Path]:
    """A 'remote' with the base and a change on top, and a judge's clone of the base only."""
    remote = tmp_path / "remote"
    remote.mkdir()
    git(remote, "init", "-q", "-b", "main")
    commit(remote, {"Pulumi.yaml": "name: p\n", "policy-waivers.yaml": "waivers: []  # base\n"})
    judge = tmp_path / "judge"
    git(tmp_path, "clone", "-q", "--depth=1", f"file://{remote}", str(judge))
    return remote, judge


def read(judge: Path, sha: str, out: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BASH, str(SCRIPT), sha, str(out)], cwd=judge, env={**ENV, **env},
                          capture_output=True, text=True, timeout=60)


def test_the_changes_waivers_are_fetched_as_data_and_nothing_is_checked_out(repos, tmp_path):
    remote, judge = repos
    sha = commit(remote, {"policy-waivers.yaml": "waivers: []  # the change\n", "__main__.py": "import os\n"})
    before = git(judge, "rev-parse", "HEAD")
    out = tmp_path / "change" / "policy-waivers.yaml"
    result = read(judge, sha, out)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{out}\n"
    assert out.read_text() == "waivers: []  # the change\n"
    # The judge's work tree is still the base: the change's files were never written to it.
    assert git(judge, "rev-parse", "HEAD") == before
    assert not (judge / "__main__.py").exists()
    assert (judge / "policy-waivers.yaml").read_text() == "waivers: []  # base\n"


def test_a_change_without_waivers_file_prints_nothing(repos, tmp_path):
    remote, judge = repos
    sha = commit(remote, {"policy-waivers.yaml": None})
    result = read(judge, sha, tmp_path / "out.yaml")
    assert (result.returncode, result.stdout) == (0, "")
    assert not (tmp_path / "out.yaml").exists()


def test_a_waivers_file_that_is_a_symlink_fails_closed(repos, tmp_path):
    remote, judge = repos
    sha = commit(remote, {"policy-waivers.yaml": None}, link="/etc/passwd")
    result = read(judge, sha, tmp_path / "out.yaml")
    assert result.returncode == 2
    assert result.stderr.strip() == (f"change-waivers.sh: policy-waivers.yaml in {sha} is a symbolic link; "
                                     "commit the file itself")
    assert not (tmp_path / "out.yaml").exists()


@pytest.mark.parametrize("sha, message", [
    ("main", "not a full commit SHA: main"),
    ("0" * 40, f"cannot fetch commit {'0' * 40} from origin"),
])
def test_a_commit_that_cannot_be_read_fails_closed(repos, tmp_path, sha, message):
    _, judge = repos
    result = read(judge, sha, tmp_path / "out.yaml")
    assert result.returncode == 2
    assert f"change-waivers.sh: {message}" in result.stderr.splitlines()
