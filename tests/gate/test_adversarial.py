"""The gate attacked the way a careless or hostile contributor would: each test is a hole that was
open, named by what must hold now. Programs live in ``tests/fixtures/programs/adversarial-*``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from helpers import FIXTURES, run_crossgate

PROGRAMS = FIXTURES / "programs"
BASIC_PACK = FIXTURES / "packs" / "basic"
PASSPHRASE = "crossgate-test-passphrase"  # the secrets fixture's stack, see its Pulumi.dev.yaml
FORMATS = ("table", "json", "sarif", "junit", "markdown")


def preview(program: str, *args: str, env: dict[str, str] | None = None, pack: Path = BASIC_PACK):
    return run_crossgate("preview", "--cwd", str(PROGRAMS / program), "--stack", "dev", "--policy-pack", str(pack),
                         "--parallel", "1", *args, env=env)


@pytest.mark.parametrize("fmt", FORMATS)
def test_secret_copied_into_a_resource_type_or_invoke_token_is_printed_in_no_format(fmt):
    proc = preview("adversarial-secret-in-type", "--format", fmt,
                   env={**os.environ, "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE})
    assert proc.returncode == 0, proc.stderr
    for leak in ("orders-db-7781", ":eu"):
        assert leak not in proc.stdout and leak not in proc.stderr
    if fmt == "json":
        doc = json.loads(proc.stdout)
        assert sorted(r["type"] for r in doc["resources"] if r["type"].startswith("test:")) == [
            "test:[secret]:Thing", "test:index:[secret]"]
        assert [i["token"] for i in doc["invokes"]] == ["test:index:get[secret]"]
        assert "urn:pulumi:dev::secrets::test:[secret]:Thing::long" in {r["urn"] for r in doc["resources"]}
