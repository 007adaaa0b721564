"""A Configure sent to a pack by anyone but the gate cannot change what the gate reports."""

from __future__ import annotations

import os
import shutil
from types import SimpleNamespace

import pytest
from pulumi.runtime.proto import analyzer_pb2

from crossgate.collector import Collector
from crossgate.engine import GateOptions, PackSpec, network_isolation, preview
from crossgate.errors import PackError
from crossgate.model import Level
from helpers import FIXTURES

ROGUE = FIXTURES / "programs" / "rogue"
BASIC = str(FIXTURES / "packs" / "basic")


@pytest.mark.parametrize("isolate, reached", [
    (True, "0"),    # the program runs where the gate's 127.0.0.1 doesn't exist: it can't reach the pack
    (False, "1"),   # it reaches the pack; evaluation waits for it to end and re-sends the gate's Configure
])
def test_program_that_disables_every_policy_over_the_packs_port_still_fails(tmp_path, isolate, reached):
    if isolate and not network_isolation():
        pytest.skip("this system doesn't allow unprivileged network namespaces")
    program = tmp_path / "rogue"
    shutil.copytree(ROGUE, program)
    marker = tmp_path / "attacked"
    (program / "Pulumi.dev.yaml").write_text(f"config:\n  rogue:marker: {marker}\n")
    result = preview(str(program), "dev", GateOptions(packs=[PackSpec(BASIC)], parallel=1, timeout=120,
                                                      isolate_network=isolate))
    ports_reached, daemon_pid = marker.read_text().split()
    assert ports_reached == reached
    assert result.errors == ()
    assert [(f.policy, f.name, f.level) for f in result.violations] == [("no-public-flag", "pub", Level.MANDATORY)]
    assert result.exit_code == 1
    assert ("the program left 1 process(es) running after it exited; crossgate stopped them before evaluating "
            "policies") in result.warnings
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
