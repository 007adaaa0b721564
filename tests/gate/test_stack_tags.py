"""Packs get the stack's own tags, as the engine hands them over in ConfigureStack: from the file
backend's ``<project>/<stack>.pulumi-tags``, ``pulumi:tags`` in the project or stack config, and
``--stack-tag``, plus the tags the CLI adds itself. Modelled on Pulumi's ``policy-stack-tags``
conformance case."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from helpers import FIXTURES, run_crossgate

TAGGED = FIXTURES / "programs" / "tagged"
PACK = str(FIXTURES / "packs" / "stacktags")


def run(cwd: Path, *args: str, env: dict[str, str] | None = None):
    base = {k: v for k, v in os.environ.items() if k != "PULUMI_BACKEND_URL"}
    proc = run_crossgate("preview", "--cwd", str(cwd), "--stack", "dev", "--policy-pack", PACK, "--parallel", "1",
                         "--format", "json", *args, env={**base, **(env or {})})
    return proc, json.loads(proc.stdout) if proc.stdout else None


def tags_seen(doc) -> dict[str, str]:
    (finding,) = [v for v in doc["violations"] if v["policy"] == "tags-seen"]
    return json.loads(finding["message"])


def copy_program(tmp_path: Path) -> Path:
    target = tmp_path / "tagged"
    shutil.copytree(TAGGED, target)
    return target


def test_tags_from_stack_config_reach_the_pack_with_the_cli_tags():
    proc, doc = run(TAGGED)
    assert proc.returncode == 0, proc.stderr
    assert tags_seen(doc) == {"pulumi:description": "A program whose stack tags decide a policy",
                              "pulumi:project": "tagged", "pulumi:runtime": "python", "team": "data",
                              "value": "true"}
    assert [v["policy"] for v in doc["violations"]] == ["tags-seen"]


def test_stack_tag_flag_wins_and_the_tag_decides_the_policy():
    proc, doc = run(TAGGED, "--stack-tag", "value=false", "--stack-tag", "ci=yes")
    assert proc.returncode == 1, proc.stderr
    assert [(v["policy"], v["name"], v["level"], v["message"]) for v in doc["violations"]
            if v["policy"] == "allowed"] == [("allowed", "res", "mandatory", "Property was true")]
    assert tags_seen(doc)["value"] == "false"
    assert tags_seen(doc)["ci"] == "yes"


def test_tags_in_project_config_are_used(tmp_path):
    program = copy_program(tmp_path)
    (program / "Pulumi.dev.yaml").unlink()
    (program / "Pulumi.yaml").write_text("name: tagged\nruntime: python\nconfig:\n  pulumi:tags:\n"
                                         "    value:\n      value: \"true\"\n")
    proc, doc = run(program)
    assert proc.returncode == 0, proc.stderr
    assert tags_seen(doc) == {"pulumi:project": "tagged", "pulumi:runtime": "python", "value": "true"}


def test_file_backend_tags_are_read_and_config_tags_win_over_them(tmp_path):
    program = copy_program(tmp_path)
    state = tmp_path / "state"
    tags_file = state / ".pulumi" / "stacks" / "tagged" / "dev.pulumi-tags"
    tags_file.parent.mkdir(parents=True)
    tags_file.write_text(json.dumps({"version": 1, "tags": {"owner": "platform", "team": "old"}}))
    proc, doc = run(program, env={"PULUMI_BACKEND_URL": f"file://{state}"})
    assert proc.returncode == 0, proc.stderr
    seen = tags_seen(doc)
    assert (seen["owner"], seen["team"], seen["value"]) == ("platform", "data", "true")


def test_a_malformed_tags_file_is_an_error_naming_it(tmp_path):
    state = tmp_path / "state"
    tags_file = state / ".pulumi" / "stacks" / "tagged" / "dev.pulumi-tags"
    tags_file.parent.mkdir(parents=True)
    tags_file.write_text(json.dumps({"version": 2, "tags": {}}))
    proc, _ = run(TAGGED, env={"PULUMI_BACKEND_URL": f"file://{state}"})
    assert proc.returncode == 2
    assert f"crossgate: error: stack tags file {tags_file}: unsupported stack tags version" in proc.stderr


def test_a_tag_the_pack_needs_but_nobody_set_fails_closed(tmp_path):
    program = copy_program(tmp_path)
    (program / "Pulumi.dev.yaml").unlink()
    proc, doc = run(program)
    assert proc.returncode == 2
    assert "policy pack stacktags: Analyze failed: Exception calling application: 'value'" in proc.stderr


def test_stack_tag_flag_must_be_key_equals_value():
    proc, _ = run(TAGGED, "--stack-tag", "novalue")
    assert proc.returncode == 2
    assert "crossgate: error: --stack-tag 'novalue': expected KEY=VALUE" in proc.stderr
