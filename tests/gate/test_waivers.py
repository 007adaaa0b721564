"""Waivers hide exactly their finding until they expire, and can't be used to switch the gate off."""

from __future__ import annotations

import datetime as dt
import json
import textwrap

import pytest

from crossgate.model import Level
from crossgate.testing import Resource, evaluate
from helpers import FIXTURES, run_crossgate

BASIC = str(FIXTURES / "packs" / "basic")
THING = "test:index:Thing"
TAGS = {"tags": {"owner": "me"}}
TODAY = dt.date(2026, 11, 26)
BIG = [Resource(THING, "big", {"size": 12, **TAGS}), Resource(THING, "huge", {"size": 99, **TAGS})]


def waivers_file(tmp_path, *entries: dict) -> str:
    path = tmp_path / "policy-waivers.yaml"
    path.write_text(json.dumps({"waivers": list(entries)}))  # JSON is YAML
    return str(path)


def waiver(**overrides) -> dict:
    base = {"policy": "size-limit", "resource": "*::big", "reason": "Migration tracked in DATA-412.",
            "owner": "data-platform@example.com", "expires": "2027-01-31"}
    return {**base, **overrides}


def test_a_waiver_hides_exactly_its_finding(tmp_path):
    result = evaluate(BASIC, BIG, waivers=waivers_file(tmp_path, waiver()), today=TODAY)
    assert result.errors == []
    assert [(f.policy, f.name) for f in result.violations] == [("size-limit", "huge")]
    assert [(f.policy, f.name, f.waiver.owner, f.waiver.expires) for f in result.waived] == [
        ("size-limit", "big", "data-platform@example.com", "2027-01-31")]
    assert result.exit_code == 1  # 'huge' still blocks


def test_waived_findings_do_not_block(tmp_path):
    result = evaluate(BASIC, BIG, waivers=waivers_file(tmp_path, waiver(resource="*::*")), today=TODAY)
    assert result.violations == []
    assert len(result.waived) == 2
    assert result.exit_code == 0


def test_the_expiry_day_is_inclusive_then_the_finding_returns(tmp_path):
    path = waivers_file(tmp_path, waiver(expires="2026-11-26"))
    assert evaluate(BASIC, BIG[:1], waivers=path, today=TODAY).exit_code == 0
    expired = evaluate(BASIC, BIG[:1], waivers=path, today=TODAY + dt.timedelta(days=1))
    assert [(f.policy, f.name) for f in expired.violations] == [("size-limit", "big")]
    assert [w.expires for w in expired.expired_waivers] == ["2026-11-26"]
    assert expired.exit_code == 1


def test_a_waiver_matching_nothing_is_reported_but_does_not_change_the_verdict(tmp_path):
    result = evaluate(BASIC, BIG[:1], waivers=waivers_file(tmp_path, waiver(resource="*::nothing")), today=TODAY)
    assert [w.resource for w in result.unused_waivers] == ["*::nothing"]
    assert result.exit_code == 1


def test_stack_level_findings_are_waived_by_the_stack_urn(tmp_path):
    things = [Resource(THING, f"t{i}", TAGS) for i in range(4)]
    path = waivers_file(tmp_path, waiver(policy="stack-checks", resource="*::pulumi:pulumi:Stack::*"))
    result = evaluate(BASIC, things, waivers=path, today=TODAY)
    assert [(f.policy, f.name) for f in result.waived] == [("stack-checks", "test-test")]
    assert result.exit_code == 0


@pytest.mark.parametrize("entry, message", [
    (waiver(owner=""), "waiver #1 is missing owner"),
    ({k: v for k, v in waiver().items() if k != "reason"}, "waiver #1 is missing reason"),
    (waiver(expires="next week"), "waiver #1 expires 'next week' is not a date (YYYY-MM-DD)"),
    (waiver(policy="no-such-policy"), "waiver for 'no-such-policy' names a policy that no pack has"),
    (waiver(expires="2027-03-01"), "expires 2027-03-01, more than 90 days ahead (latest allowed: 2027-02-24)"),
    (waiver(policy="no-public-flag", resource="*"),
     "'no-public-flag' is critical and basic does not allow critical policies to be waived"),
    (waiver(extra="x"), "waiver #1 has unknown field(s) extra"),
])
def test_invalid_waivers_exit_2(tmp_path, entry, message):
    result = evaluate(BASIC, BIG[:1], waivers=waivers_file(tmp_path, entry), today=TODAY)
    assert result.exit_code == 2
    assert len(result.errors) == 1 and message in result.errors[0]


def test_the_packs_config_sets_the_maximum_age_and_critical_waivers(tmp_path):
    path = waivers_file(tmp_path, waiver(expires="2027-03-01"),
                        waiver(policy="no-public-flag", resource="*::pub"))
    config = {"crossgate": {"waiverMaxDays": 120, "allowCriticalWaivers": True}}
    result = evaluate(BASIC, [BIG[0], Resource(THING, "pub", {"public": True, **TAGS})], config=config,
                      waivers=path, today=TODAY)
    assert result.errors == []
    assert sorted((f.policy, f.name) for f in result.waived) == [("no-public-flag", "pub"), ("size-limit", "big")]


def test_malformed_waivers_file(tmp_path):
    path = tmp_path / "w.yaml"
    path.write_text("waivers: {not: a list}\n")
    result = evaluate(BASIC, BIG[:1], waivers=str(path), today=TODAY)
    assert result.errors == [f"waivers file {path} must be a mapping with one key, 'waivers', holding a list"]


def test_the_project_waivers_file_is_used_by_default(tmp_path):
    program = FIXTURES / "programs" / "things"
    project = tmp_path / "things"
    project.mkdir()
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "__main__.py"):
        (project / name).write_text((program / name).read_text())
    expires = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    (project / "policy-waivers.yaml").write_text(textwrap.dedent(f"""
        waivers:
          - policy: size-limit
            resource: "*::base"
            reason: Sizing review in PLAT-7.
            owner: platform@example.com
            expires: {expires}
    """))
    proc = run_crossgate("preview", "--cwd", str(project), "--stack", "dev", "--policy-pack", BASIC,
                         "--format", "json")
    doc = json.loads(proc.stdout)
    assert [(w["policy"], w["name"], w["waiver"]["owner"]) for w in doc["waived"]] == [
        ("size-limit", "base", "platform@example.com")]
    assert "size-limit" not in [v["policy"] for v in doc["violations"]]


def test_a_waiver_must_be_allowed_by_every_pack_that_has_the_policy(tmp_path):
    # `dup` also has a 'size-limit', at critical severity: the waiver would hide its finding too.
    dup = str(FIXTURES / "packs" / "dup")
    result = evaluate([BASIC, dup], BIG[:1], waivers=waivers_file(tmp_path, waiver()), today=TODAY)
    assert result.exit_code == 2
    assert result.errors == [f"waivers file {tmp_path / 'policy-waivers.yaml'}: 'size-limit' is critical and "
                             "dup does not allow critical policies to be waived"]
