"""A Configure sent to a pack by anyone but the gate cannot change what the gate reports."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from pulumi.runtime.proto import analyzer_pb2

from crossgate.collector import Collector
from crossgate.errors import PackError
from crossgate.model import Level
from helpers import FIXTURES, run_crossgate

ROGUE = FIXTURES / "programs" / "rogue"
BASIC = str(FIXTURES / "packs" / "basic")


def test_program_that_disables_every_policy_over_the_packs_port_still_fails(tmp_path):
    program = tmp_path / "rogue"
    shutil.copytree(ROGUE, program)
    marker = tmp_path / "attacked"
    (program / "Pulumi.dev.yaml").write_text(f"config:\n  rogue:marker: {marker}\n")
    proc = run_crossgate("preview", "--cwd", str(program), "--stack", "dev", "--policy-pack", BASIC,
                         "--parallel", "1", "--format", "json")
    ports_attacked, daemon_pid = marker.read_text().split()
    assert ports_attacked == "1"  # the program really reached the pack and disabled its policies
    doc = json.loads(proc.stdout)
    assert proc.returncode == 1, proc.stderr
    assert [(v["policy"], v["name"], v["level"]) for v in doc["violations"]] == [
        ("no-public-flag", "pub", "mandatory")]
    assert ("the program left 1 process(es) running after it exited; crossgate stopped them before evaluating "
            "policies") in doc["warnings"]
    assert not os.path.exists(f"/proc/{daemon_pid}")  # the daemon it left behind was stopped


def _pack(levels: dict[str, Level]):
    return SimpleNamespace(name="basic", levels=levels, info=None)


@pytest.mark.parametrize("configured, reported", [
    (Level.MANDATORY, analyzer_pb2.ADVISORY),   # downgraded behind the gate's back
    (Level.DISABLED, analyzer_pb2.MANDATORY),   # a policy the gate disabled answered
])
def test_a_diagnostic_at_another_level_than_configured_is_an_error(configured, reported):
    response = analyzer_pb2.AnalyzeResponse()
    response.diagnostics.add(policyName="no-public-flag", message="thing is public", enforcementLevel=reported)
    collector = Collector("block")
    with pytest.raises(PackError) as caught:
        collector.diagnostics(_pack({"no-public-flag": configured}), response, "urn:pulumi:s::p::t::n")
    assert caught.value.message.startswith("policy pack basic: a diagnostic for 'no-public-flag' came back")
    assert caught.value.message.endswith(f"but the gate configured it {configured.value}: something other than "
                                         "the gate reconfigured the pack during the run")


def test_a_remediate_policy_reports_its_violation_as_mandatory_and_that_is_not_an_error():
    response = analyzer_pb2.AnalyzeResponse()
    response.diagnostics.add(policyName="tag-things", message="m", enforcementLevel=analyzer_pb2.MANDATORY)
    collector = Collector("block")
    collector.diagnostics(_pack({"tag-things": Level.REMEDIATE}), response, "urn:pulumi:s::p::t::n")
    assert not collector.failed


def test_not_applicable_from_a_disabled_policy_is_an_error():
    response = analyzer_pb2.AnalyzeResponse()
    response.not_applicable.add(policy_name="only-things", reason="only things")
    with pytest.raises(PackError, match="a not-applicable answer for 'only-things' came back, but the gate "
                                        "configured it disabled"):
        Collector("block").diagnostics(_pack({"only-things": Level.DISABLED}), response, "urn:pulumi:s::p::t::n")
