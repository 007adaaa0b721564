"""The gate drives packs as the Pulumi engine does: levels, config, stack policies, remediation,
unknowns, secrets, not_applicable and several packs. Modelled on the behaviour pinned by Pulumi's own
policy conformance tests (policy_simple, policy_config, policy_config_schema, policy_enforcement_config,
policy_remediate, policy_resource_metadata, policy_analyze_stack) and pulumi-policy's integration tests.
"""

from __future__ import annotations

import pytest

from crossgate import wire
from crossgate.model import FindingKind, Level, Severity
from crossgate.testing import Resource, evaluate, root_urn, urn_of

from helpers import FIXTURES

BASIC = str(FIXTURES / "packs" / "basic")
SECOND = str(FIXTURES / "packs" / "second")
CONFIGURED = str(FIXTURES / "packs" / "configured")
THING = "test:index:Thing"
TAGS = {"tags": {"owner": "me"}}


def pairs(findings):
    return sorted((f.policy, f.name) for f in findings)


def test_mandatory_and_advisory_levels_and_severity():
    result = evaluate(BASIC, [Resource(THING, "pub", {"public": True, **TAGS}),
                              Resource(THING, "noted", {"note": "x", **TAGS})])
    assert result.errors == ()
    by_policy = {f.policy: f for f in result.violations}
    assert pairs(result.violations) == [("advisory-note", "noted"), ("no-public-flag", "pub")]
    assert by_policy["no-public-flag"].level is Level.MANDATORY
    assert by_policy["no-public-flag"].severity is Severity.CRITICAL
    assert by_policy["no-public-flag"].message == "thing is public"
    assert by_policy["advisory-note"].level is Level.ADVISORY
    assert result.exit_code == 1


def test_only_advisory_findings_pass():
    result = evaluate(BASIC, [Resource(THING, "noted", {"note": "x", **TAGS})])
    assert pairs(result.violations) == [("advisory-note", "noted")]
    assert result.exit_code == 0


def test_config_disables_a_policy_and_the_policy_is_never_called():
    result = evaluate(BASIC, [Resource(THING, "big", {"size": 12, **TAGS})],
                      config={"size-limit": "disabled"})
    assert result.violations == []
    pack = result.packs[0]
    assert pack.policy("size-limit").enforcement_level is Level.DISABLED
    assert pack.policy("size-limit").default_level is Level.MANDATORY
    assert list(result.downgrades) == ["basic 1.2.3: size-limit configured mandatory -> disabled"]


def test_config_upgrades_advisory_to_mandatory():
    result = evaluate(BASIC, [Resource(THING, "noted", {"note": "x", **TAGS})],
                      config={"advisory-note": {"enforcementLevel": "mandatory"}})
    assert [(f.policy, f.level) for f in result.violations] == [("advisory-note", Level.MANDATORY)]
    assert result.downgrades == ()
    assert result.exit_code == 1


def test_downgrading_a_critical_policy_is_refused():
    for config in ({"no-public-flag": "advisory"}, {"all": "disabled"}):
        result = evaluate(BASIC, [Resource(THING, "pub", {"public": True, **TAGS})], config=config)
        assert result.exit_code == 2
        assert list(result.errors) == ["policy config disables or downgrades critical policy no-public-flag; the "
                                 "pack's config must set crossgate.allowCriticalDowngrades to allow it"]


def test_all_key_sets_every_level_then_specific_entries_win():
    result = evaluate(BASIC, [Resource(THING, "pub", {"public": True, "note": "x", **TAGS})],
                      config={"crossgate": {"allowCriticalDowngrades": True},
                              "all": "advisory", "advisory-note": "mandatory"})
    levels = {f.policy: f.level for f in result.violations}
    assert levels == {"no-public-flag": Level.ADVISORY, "advisory-note": Level.MANDATORY}
    assert "basic 1.2.3: no-public-flag configured mandatory -> advisory" in result.downgrades


def test_unknown_crossgate_setting_is_an_error():
    result = evaluate(BASIC, [], config={"crossgate": {"disableGate": True}})
    assert result.exit_code == 2
    assert "unknown crossgate setting 'disableGate'" in result.errors[0]


def test_schema_default_applies_and_config_overrides_it():
    big = [Resource(THING, "big", {"size": 12, **TAGS})]
    assert pairs(evaluate(BASIC, big).violations) == [("size-limit", "big")]
    assert evaluate(BASIC, big, config={"size-limit": {"maxSize": 20}}).violations == []


def test_config_type_error_names_policy_and_property():
    result = evaluate(BASIC, [Resource(THING, "a", TAGS)], config={"size-limit": {"maxSize": "ten"}})
    assert result.exit_code == 2
    assert list(result.errors) == ["validating policy config: basic 1.2.3: size-limit: property 'maxSize': "
                             "'ten' is not of type 'integer'"]


def test_config_unknown_policy_is_an_error():
    result = evaluate(BASIC, [Resource(THING, "a", TAGS)], config={"no-such-policy": "mandatory"})
    assert result.exit_code == 2
    assert "basic 1.2.3 has no policy named 'no-such-policy'" in result.errors[0]


def test_required_config_property_missing_is_an_error():
    result = evaluate(CONFIGURED, [Resource(THING, "a", {})])
    assert result.exit_code == 2
    assert list(result.errors) == ["validating policy config: configured 0.3.0: allowed-regions: "
                             "required property 'regions' is missing"]


def test_min_items_is_validated():
    result = evaluate(CONFIGURED, [Resource(THING, "a", {})], config={"allowed-regions": {"regions": []}})
    assert result.exit_code == 2
    assert "allowed-regions: property 'regions': [] should be non-empty" in result.errors[0]


def test_initial_config_merges_with_file_config_and_keeps_the_level():
    result = evaluate(CONFIGURED, [Resource(THING, "a", {"region": "eastus"})],
                      config={"allowed-regions": {"regions": ["westeurope"]}})
    assert [(f.policy, f.level, f.message) for f in result.violations] == [
        ("allowed-regions", Level.MANDATORY, "region eastus not in ['westeurope'] (owner platform)")]


def test_stack_policy_sees_property_dependencies_and_attributes_to_the_named_urn():
    result = evaluate(BASIC, [
        Resource(THING, "pub", {"public": True, **TAGS}),
        Resource(THING, "child", {"target": wire.UNKNOWN, **TAGS}, parent="pub",
                 property_dependencies={"target": ["pub"]}),
    ], config={"reads-unknown": "disabled"})
    stack = [f for f in result.violations if f.policy == "stack-checks"]
    assert [(f.name, f.urn, f.message) for f in stack] == [
        ("child", urn_of(THING, "child", THING), "depends on a public thing")]


def test_stack_violation_without_urn_is_attributed_to_the_stack():
    things = [Resource(THING, f"t{i}", TAGS) for i in range(4)]
    result = evaluate(BASIC, things)
    assert [(f.policy, f.urn, f.message) for f in result.violations] == [
        ("stack-checks", root_urn(), "4 things")]


def test_remediation_is_reported_and_analyze_sees_the_remediated_properties():
    result = evaluate(BASIC, [Resource(THING, "bare", {"size": 1})])
    assert [(r.policy, r.name, r.changed_keys) for r in result.remediations] == [
        ("tag-things", "bare", ("tags",))]
    assert result.remediations[0].after["tags"] == {"owner": "crossgate"}
    # requires-tags would fire on the original inputs; it sees the remediated ones.
    assert result.violations == []


def test_disabled_remediation_changes_nothing():
    result = evaluate(BASIC, [Resource(THING, "bare", {"size": 1})], config={"tag-things": "disabled"})
    assert result.remediations == ()
    assert pairs(result.violations) == [("requires-tags", "bare")]


def test_unknown_value_blocks_a_mandatory_policy_by_default():
    result = evaluate(BASIC, [Resource(THING, "u", {"target": wire.UNKNOWN, **TAGS})])
    assert [(f.kind, f.policy, f.name, f.level) for f in result.indeterminate] == [
        (FindingKind.INDETERMINATE, "reads-unknown", "u", Level.MANDATORY)]
    # Named by its PulumiPolicy.yaml version, as the engine names it (pulumi-policy itself says v0.0.1).
    assert result.indeterminate[0].message == (
        "can't run policy 'reads-unknown' from policy pack 'basic@v1.2.3' during preview: "
        "string value at .target can't be known during preview")
    assert result.exit_code == 1


def test_unknowns_advisory_reproduces_the_engine():
    result = evaluate(BASIC, [Resource(THING, "u", {"target": wire.UNKNOWN, **TAGS})], unknowns="advisory")
    assert [(f.policy, f.level) for f in result.indeterminate] == [("reads-unknown", Level.ADVISORY)]
    assert result.exit_code == 0


def test_unknown_read_by_an_advisory_policy_does_not_block():
    result = evaluate(BASIC, [Resource(THING, "u", {"target": wire.UNKNOWN, **TAGS})],
                      config={"reads-unknown": "advisory"})
    assert [(f.policy, f.level) for f in result.indeterminate] == [("reads-unknown", Level.ADVISORY)]
    assert result.exit_code == 0


def test_secrets_reach_policies_unwrapped():
    result = evaluate(BASIC, [Resource(THING, "s", {"password": wire.make_secret("hunter2"), **TAGS})])
    assert pairs(result.violations) == [("secret-value", "s")]


def test_not_applicable_is_reported():
    result = evaluate(BASIC, [Resource("test:index:Other", "o", {})])
    assert ("only-things", "o") in pairs(result.not_applicable)
    assert result.exit_code == 0


def test_two_packs_in_one_run():
    result = evaluate([BASIC, SECOND], [Resource(THING, "big", {"size": 12, **TAGS})])
    assert sorted((f.pack, f.policy) for f in result.violations) == [
        ("basic", "size-limit"), ("second", "no-big-things")]
    assert [(p.name, p.version) for p in result.packs] == [("basic", "1.2.3"), ("second", "2.0.0")]


@pytest.mark.parametrize("parallel", [1, 3])
def test_parallel_processes_give_the_same_findings(parallel):
    things = [Resource(THING, f"t{i}", {"public": i % 2 == 0, **TAGS}) for i in range(3)]
    result = evaluate(BASIC, things, parallel=parallel)
    assert pairs(result.violations) == [("no-public-flag", "t0"), ("no-public-flag", "t2")]


def test_pack_version_comes_from_pulumipolicy_yaml():
    result = evaluate(BASIC, [])
    assert result.packs[0].version == "1.2.3"
