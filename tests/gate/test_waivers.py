"""Waivers hide exactly their finding until they expire, and can't be used to switch the gate off."""

from __future__ import annotations

import datetime as dt
import json
import os
import textwrap
import time

import jsonschema
import pytest
import yaml

from crossgate import waivers as waivers_module
from crossgate.errors import GateError
from crossgate.model import GateResult, Level, WaiverUse
from crossgate.report import formatter
from crossgate.testing import Resource, evaluate, urn_of
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
    assert result.errors == ()
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
    (waiver(owner=""), "line 1: waivers[0].owner must not be empty"),
    ({k: v for k, v in waiver().items() if k != "reason"},
     "line 1: waivers[0].reason is missing (every waiver needs policy, resource, reason, owner, expires)"),
    (waiver(expires="next week"), "line 1: waivers[0].expires 'next week' is not a date (YYYY-MM-DD)"),
    (waiver(expires="2027-02-30"), "line 1: waivers[0].expires '2027-02-30' is not a date (YYYY-MM-DD)"),
    (waiver(policy="no-such-policy"), "waiver for 'no-such-policy' names a policy that no pack has"),
    (waiver(expires="2027-03-01"), "expires 2027-03-01, more than 90 days ahead (latest allowed: 2027-02-24)"),
    (waiver(policy="no-public-flag", resource="*"),
     "'no-public-flag' is critical and basic does not allow critical policies to be waived"),
    (waiver(extra="x"),
     "line 1: waivers[0].extra is not a known field (allowed: policy, resource, reason, owner, expires)"),
    (waiver(owner=True), "line 1: waivers[0].owner must be text, not bool True (quote it)"),
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
    assert result.errors == ()
    assert sorted((f.policy, f.name) for f in result.waived) == [("no-public-flag", "pub"), ("size-limit", "big")]


def test_malformed_waivers_file(tmp_path):
    path = tmp_path / "w.yaml"
    path.write_text("waivers: {not: a list}\n")
    result = evaluate(BASIC, BIG[:1], waivers=str(path), today=TODAY)
    assert list(result.errors) == [f"waivers file {path}, line 1: waivers must be a list, not {{'not': 'a list'}}"]


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
    assert list(result.errors) == [f"waivers file {tmp_path / 'policy-waivers.yaml'}: 'size-limit' is critical and "
                             "dup does not allow critical policies to be waived"]


# -- read strictly: what a reviewer reads is what the gate applies --------------------------------

ENTRY = """\
  - policy: size-limit
    resource: "*::big"
    reason: Migration tracked in DATA-412.
    owner: data-platform@example.com
    expires: 2027-01-31
"""


def yaml_file(tmp_path, text: str, name: str = "policy-waivers.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def only_error(tmp_path, text: str) -> str:
    result = evaluate(BASIC, BIG, waivers=yaml_file(tmp_path, text), today=TODAY)
    assert result.exit_code == 2 and len(result.errors) == 1, result.errors
    assert result.waived == []
    return result.errors[0]


def test_a_duplicate_key_that_would_widen_a_waiver_exits_2_naming_its_line(tmp_path):
    widened = "waivers:\n" + ENTRY + '    resource: "*"\n'
    assert only_error(tmp_path, widened).endswith(", line 7: not accepted YAML: duplicate key 'resource'")


def test_a_duplicate_top_level_key_exits_2(tmp_path):
    assert "line 7: not accepted YAML: duplicate key 'waivers'" in only_error(
        tmp_path, "waivers:\n" + ENTRY + "waivers: []\n")


@pytest.mark.parametrize("text, line", [
    ("waivers:\n  - &w\n    " + ENTRY[4:] + "  - *w\n", 2),
    ("common: &c {owner: a@example.com}\nwaivers: []\n", 1),
])
def test_anchors_and_aliases_exit_2(tmp_path, text, line):
    assert f"line {line}: not accepted YAML: anchors and aliases (&, *) are not allowed" in only_error(tmp_path, text)


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
    assert "line 1: not accepted YAML: anchors and aliases (&, *) are not allowed" in only_error(tmp_path, bomb)


def test_a_merge_key_exits_2(tmp_path):
    merged = "waivers:\n  - <<: {resource: '*'}\n    " + ENTRY[4:]
    assert "line 2: not accepted YAML: merge keys (<<) are not allowed" in only_error(tmp_path, merged)


def test_a_file_over_the_size_limit_exits_2_unparsed(tmp_path):
    big = "waivers:\n" + ENTRY + "# " + "x" * waivers_module.MAX_BYTES + "\n"
    assert only_error(tmp_path, big).endswith("is larger than 256 KiB")


def test_a_symlinked_waivers_file_is_refused(tmp_path):
    real = yaml_file(tmp_path, "waivers:\n" + ENTRY, "elsewhere.yaml")
    link = tmp_path / "policy-waivers.yaml"
    link.symlink_to(real)
    result = evaluate(BASIC, BIG, waivers=str(link), today=TODAY)
    assert list(result.errors) == [f"waivers file {link} is a symbolic link (or lies under one); "
                             "waivers are read only from a regular file"]
    assert result.waived == []


def test_a_waivers_file_under_a_symlinked_directory_is_refused(tmp_path, monkeypatch):
    (tmp_path / "real").mkdir()
    yaml_file(tmp_path / "real", "waivers:\n" + ENTRY)
    (tmp_path / "linked").symlink_to(tmp_path / "real", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    result = evaluate(BASIC, BIG, waivers="linked/policy-waivers.yaml", today=TODAY)
    assert list(result.errors) == ["waivers file linked/policy-waivers.yaml is a symbolic link (or lies under one); "
                             "waivers are read only from a regular file"]


def test_a_dangling_default_waivers_symlink_is_refused_not_ignored(tmp_path):
    (tmp_path / "policy-waivers.yaml").symlink_to(tmp_path / "missing.yaml")
    assert waivers_module.default_waivers_path(tmp_path) == tmp_path / "policy-waivers.yaml"


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "policy-waivers.yaml"
    os.mkfifo(fifo)
    result = evaluate(BASIC, BIG, waivers=str(fifo), today=TODAY)
    assert list(result.errors) == [f"waivers file {fifo} is not a regular file"]


def test_errors_point_at_the_field_and_its_line(tmp_path):
    second = ENTRY.replace('"*::big"', '"*::huge"').replace("owner: data-platform@example.com", "owner: yes")
    error = only_error(tmp_path, "waivers:\n" + ENTRY + second)
    assert error.endswith(", line 10: waivers[1].owner must be text, not bool True (quote it)")


def test_the_published_schema_is_the_one_the_gate_validates_with(tmp_path):
    schema = json.loads(waivers_module.SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    doc = yaml.load("waivers:\n" + ENTRY, Loader=waivers_module._StrictLoader)
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(doc)) == []
    assert waivers_module.SCHEMA_PATH.parent.name == "schemas" and waivers_module.SCHEMA_PATH.exists()
    assert sorted(schema["$defs"]["waiver"]["required"]) == sorted(waivers_module.REQUIRED)


def test_the_waiver_phase_stops_at_the_deadline(tmp_path):
    result = evaluate(BASIC, BIG, today=TODAY)
    loaded = waivers_module.load_waivers(yaml_file(tmp_path, "waivers:\n" + ENTRY))
    past = time.monotonic() - 1
    with pytest.raises(GateError, match="timed out applying waivers \\(raise --timeout\\)"):
        waivers_module.load_waivers(yaml_file(tmp_path, "waivers:\n" + ENTRY), deadline=past)
    with pytest.raises(GateError, match="timed out applying waivers"):
        waivers_module.apply(result.findings, result.packs, loaded, today=TODAY, settings={"basic": _settings()},
                             where="w", deadline=past)
    assert result.waived == []


def _settings():
    from crossgate.packs.settings import GateSettings
    return GateSettings()


# -- every report lists the URNs each waiver matched ---------------------------------------------

def test_each_waiver_lists_the_urns_it_matched_in_every_report(tmp_path):
    wide = waiver(resource="*::*")
    narrow = waiver(policy="advisory-note", resource="*::h*")
    things = [Resource(THING, "big", {"size": 12}), Resource(THING, "huge", {"size": 99, "note": "x"})]
    result = evaluate(BASIC, things, waivers=waivers_file(tmp_path, wide, narrow), today=TODAY)
    big, huge = urn_of(THING, "big"), urn_of(THING, "huge")
    assert result.errors == () and result.exit_code == 0
    assert [(u.waiver.policy, u.waiver.resource, u.urns) for u in result.waiver_uses] == [
        ("advisory-note", "*::h*", (huge,)), ("size-limit", "*::*", (big, huge))]
    doc = json.loads(formatter("json")(result))
    assert [(a["policy"], a["resource"], a["urns"]) for a in doc["waivers"]["applied"]] == [
        ("advisory-note", "*::h*", [huge]), ("size-limit", "*::*", [big, huge])]
    schema = json.loads((waivers_module.SCHEMA_PATH.parent / "result.schema.json").read_text())
    jsonschema.validate(doc, schema)
    sarif = json.loads(formatter("sarif")(result))
    notes = [n["message"]["text"] for r in sarif["runs"] for i in r["invocations"]
             for n in i.get("toolConfigurationNotifications", [])]
    assert (f"Waiver for size-limit on *::* (owner data-platform@example.com, expires 2027-01-31) matched: "
            f"{big}, {huge}.") in notes
    assert f"waiver: size-limit on *::* matched {big}, {huge} (owner data-platform@example.com, " \
           "expires 2027-01-31)" in formatter("junit")(result)
    assert f"- `size-limit` on `*::*`: `{big}`, `{huge}`" in formatter("markdown")(result)
