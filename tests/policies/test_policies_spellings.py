"""Issue 12, item 1: a covered type is judged however its token is spelled, and only azure-native's are.

Spellings: an API-versioned module, a local SDK package from ``pulumi package add azure-native
<module> <version>`` (both token shapes it has had), the v2 aliases, and letter-case variants. Each
bad case is one field of the compliant baseline, under one spelling, and must give exactly one
finding of the expected policy on that resource; the whole baseline under local-SDK spellings must
give none.
"""

from __future__ import annotations

from collections import Counter

import pytest

from crossgate.model import Level
from crossgate.testing import Resource, evaluate
from crossgate_azure_policies import rules, select
from crossgate_azure_policies._props import canonical_type, type_matches
from policy_stack import REPO_PACK, baseline, materialize, materialize_alone, mutated, retype, set_, chain, drop

KIND = {r.name: r.kind for r in rules()}
ALL_MANDATORY = {"all": "mandatory"}
RESOURCE_POLICIES_ONLY = {**ALL_MANDATORY, **{name: "disabled" for name, kind in KIND.items() if kind == "stack"}}


def local_sdk(token: str, version: str = "v20230101") -> str:
    """``azure-native:storage:StorageAccount`` as the local SDK for that module and version spells it."""
    _, module, name = token.split(":")
    return f"azure-native_{module}_{version}:{module}:{name}"


SPELLINGS = {
    "versioned": lambda t: t.replace(":", "/v20230501:", 2).replace("/v20230501:", ":", 1),
    "local-sdk": local_sdk,
    "local-sdk-preview": lambda t: local_sdk(t, "v20240101preview"),
    "local-sdk-versioned-module": lambda t: local_sdk(t).replace(":", "/v20230101:", 2).replace("/v20230101:", ":", 1),
    "case": lambda t: t.replace(":", "%").upper().replace("%", ":").replace("AZURE-NATIVE", "azure-native"),
}


@pytest.mark.parametrize("token, canonical", [
    ("azure-native_storage_v20230101:storage:StorageAccount", "azure-native:storage:StorageAccount"),
    ("azure-native_storage_v20230101:storage/v20230101:StorageAccount", "azure-native:storage:StorageAccount"),
    ("azure-native_keyvault_v20240401preview:keyvault:Vault", "azure-native:keyvault:Vault"),
    ("azure-native_insights_v20210501preview:insights:DiagnosticSetting", "azure-native:monitor:DiagnosticSetting"),
    ("azure-native_network_v20240101:network:PrivateZone", "azure-native:privatedns:PrivateZone"),
    ("azure-native:Storage:storageaccount", "azure-native:storage:StorageAccount"),
    ("AZURE-NATIVE:KEYVAULT/V20230701:VAULT", "azure-native:keyvault:Vault"),
    ("azure-native:authorization:roleassignment", "azure-native:authorization:RoleAssignment"),
    # other packages are never widened into azure-native
    ("azure-native_network_v20230101:storage:StorageAccount", "azure-native_network_v20230101:storage:StorageAccount"),
    ("azure-native_storage:storage:StorageAccount", "azure-native_storage:storage:StorageAccount"),
    ("azure-native-extra:storage:StorageAccount", "azure-native-extra:storage:StorageAccount"),
    ("azure-nativex:storage:StorageAccount", "azure-nativex:storage:StorageAccount"),
    ("azure:storage/account:Account", "azure:storage/account:Account"),
    ("pulumi:providers:azure-native", "pulumi:providers:azure-native"),
])
def test_canonical_type_recognises_every_azure_native_spelling_and_nothing_else(token, canonical):
    assert canonical_type(token) == canonical


def test_every_covered_type_canonicalises_from_every_spelling():
    for rule in rules():
        for token in rule.control.resource_types:
            if not token.startswith("azure-native:"):
                continue
            for spelling, spell in SPELLINGS.items():
                assert canonical_type(spell(token)) == token, (spelling, spell(token))


def test_select_by_resource_type_accepts_local_sdk_tokens():
    by_local = {p.name for p in select(resource_type="azure-native_storage_v20230101:storage:StorageAccount")}
    assert by_local == {p.name for p in select(resource_type="azure-native:storage:StorageAccount")}
    assert "storage-https-only" in by_local
    assert not type_matches("azure:storage/account:Account", ("azure-native:storage:StorageAccount",))


#: (role, path, value, policy, message): one field of the baseline made insecure, per covered family.
BAD = [
    ("storage", "allowBlobPublicAccess", True, "storage-disallow-public-blob-access",
     "may allow anonymous blob access (allowBlobPublicAccess is true); set it to false."),
    ("container", "publicAccess", "Container", "container-no-public-access",
     "allows anonymous access (publicAccess is 'Container'); set it to 'None'."),
    ("kv", "properties.enableRbacAuthorization", False, "kv-rbac-authorization",
     "uses access policies instead of RBAC (properties.enableRbacAuthorization is false)"),
    ("key", "properties.attributes.exportable", True, "kv-key-not-exportable",
     "is exportable (properties.attributes.exportable is true); set it to false."),
    ("mlw", "publicNetworkAccess", "Enabled", "ml-public-network-disabled",
     "allows public network access (publicNetworkAccess is 'Enabled'); set it to 'Disabled'."),
]


def _bad_cases():
    for role, path, value, policy, message in BAD:
        for spelling in SPELLINGS:
            yield f"fail-{policy}-{spelling}", role, path, value, policy, message, spelling


BAD_CASES = list(_bad_cases())


@pytest.fixture(scope="module")
def resource_gate():
    resources = []
    for case, role, path, value, _, _, spelling in BAD_CASES:
        stack = mutated(set_(role, path, value))
        stack[role].type = SPELLINGS[spelling](stack[role].type)
        resources += materialize_alone(stack, case, role)
    # Look-alike packages are not azure-native: no storage policy reads them.
    bad_account = mutated(set_("storage", "allowBlobPublicAccess", True))["storage"].props
    resources += [Resource("azure-native-extra:storage:StorageAccount", "other-package-extra", bad_account),
                  Resource("azure-native_network_v20230101:storage:StorageAccount", "other-package-module-mismatch",
                           bad_account)]
    return evaluate(REPO_PACK, resources, config=RESOURCE_POLICIES_ONLY, parallel=2)


@pytest.mark.parametrize("case, role, path, value, policy, message, spelling", BAD_CASES,
                         ids=[c[0] for c in BAD_CASES])
def test_insecure_field_is_found_under_every_spelling(resource_gate, case, role, path, value, policy, message,
                                                      spelling):
    findings = [f for f in resource_gate.findings if f.name == case]
    assert [(f.kind.value, f.policy) for f in findings] == [("violation", policy)]
    (finding,) = findings
    assert message in finding.message and f"'{case}'" in finding.message
    assert finding.level is Level.MANDATORY
    assert finding.type == SPELLINGS[spelling](mutated(None)[role].type)


def test_look_alike_packages_are_not_judged_as_azure_native(resource_gate):
    found = Counter((f.name, f.policy) for f in resource_gate.findings if f.name.startswith("other-package-"))
    # A package that starts like a local SDK but isn't one is blocked by the coverage policy instead.
    assert found == Counter({("other-package-module-mismatch", "unevaluated-resource-provider"): 1})


def _every_role_in_local_sdk_spelling(stack):
    for spec in stack.values():
        spec.type = local_sdk(spec.type) if spec.type.startswith("azure-native:") else spec.type


@pytest.fixture(scope="module")
def local_sdk_stack_gate():
    good = mutated(_every_role_in_local_sdk_spelling)
    bad = mutated(chain(_every_role_in_local_sdk_spelling, drop("diag-kv")))
    resources = materialize(good, "pass-local-sdk", None) + materialize(bad, "fail-local-sdk-diag", "kv")
    return evaluate(REPO_PACK, resources, config=ALL_MANDATORY, parallel=2)


def test_compliant_baseline_in_local_sdk_spellings_passes(local_sdk_stack_gate):
    assert local_sdk_stack_gate.errors == ()
    assert [(f.policy, f.name) for f in local_sdk_stack_gate.findings if f.name.startswith("pass-local-sdk")] == []


def test_stack_policy_relates_local_sdk_resources(local_sdk_stack_gate):
    findings = [(f.kind.value, f.policy, f.name) for f in local_sdk_stack_gate.findings
                if f.name.startswith("fail-local-sdk-diag")]
    assert findings == [("violation", "diag-kv-audit-logs", "fail-local-sdk-diag")]
    (finding,) = [f for f in local_sdk_stack_gate.findings if f.name == "fail-local-sdk-diag"]
    assert "Key vault 'fail-local-sdk-diag' has no diagnostic setting, so its audit logs are not kept" in finding.message
