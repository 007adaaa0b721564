"""Large stacks are not cut short by gRPC's 4 MB default: crossgate allows 400 MB, as the Pulumi SDK does.

On loopback only: an AnalyzeStack request of more than 4 MB, answered with more than 4 MB of
diagnostics, through both launchers (crossgate's pack host and ``python -m pulumi.policy``).
"""

from __future__ import annotations

import textwrap

import pytest

import crossgate.packs.process as process
from crossgate.model import FindingKind
from crossgate.testing import Resource, evaluate

FOUR_MB = 4 * 1024 * 1024
RESOURCES = 450
FILLER = "x" * 10_000  # per resource: 10 KB in the request and 10 KB in the reply

BIG_PACK = '''
from pulumi_policy import EnforcementLevel, PolicyPack, StackValidationPolicy


def every_blob(args, report_violation):
    for r in args.resources:
        if "blob" in r.props:
            report_violation("echo " + r.props["blob"], r.urn)


PolicyPack("big", [StackValidationPolicy("every-blob", "Reports each blob.", validate=every_blob,
                                         enforcement_level=EnforcementLevel.ADVISORY)])
'''


@pytest.mark.parametrize("host", ["crossgate", "stock"])
def test_analyze_stack_over_4_mb_each_way_succeeds(monkeypatch, tmp_path, host):
    assert RESOURCES * len(FILLER) > FOUR_MB
    monkeypatch.setattr(process, "DEFAULT_HOST", host)
    pack = tmp_path / "big"
    pack.mkdir()
    (pack / "PulumiPolicy.yaml").write_text("runtime: python\nversion: 0.1.0\n")
    (pack / "__main__.py").write_text(textwrap.dedent(BIG_PACK))
    resources = [Resource("test:index:Blob", f"b{i:04d}", {"blob": FILLER}) for i in range(RESOURCES)]
    result = evaluate(str(pack), resources, parallel=1)
    assert result.errors == ()
    findings = [f for f in result.findings if f.kind is FindingKind.VIOLATION]
    assert len(findings) == RESOURCES
    assert {(f.policy, f.message) for f in findings} == {("every-blob", "echo " + FILLER)}
    assert sorted(f.name for f in findings) == [r.name for r in resources]


def test_every_channel_allows_400_mb_both_ways():
    assert dict(process.GRPC_OPTIONS) == {"grpc.max_receive_message_length": 400 * 1024 * 1024,
                                          "grpc.max_send_message_length": 400 * 1024 * 1024}
