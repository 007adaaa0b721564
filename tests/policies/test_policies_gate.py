"""The pack through the real gate, on whole programs: the reference platform passes with no finding
at all, and the starting sketch is blocked with exactly its golden list of findings."""

from __future__ import annotations

import json
import os

import pytest

from crossgate_azure_policies import rules
from helpers import FIXTURES, REPO, run_crossgate

PACK = str(REPO / "policies")
SKETCH = FIXTURES / "sketch"
GOLDEN = SKETCH / "expected-findings.json"


def gate(cwd, stack, *extra):
    proc = run_crossgate("preview", "--cwd", str(cwd), "--stack", stack, "--policy-pack", PACK,
                         *extra, "--format", "json")
    return proc, json.loads(proc.stdout)


@pytest.mark.parametrize("stack, config", [("dev", None), ("dev", "dev"), ("prod", "prod")])
def test_reference_platform_passes_with_no_findings(stack, config):
    extra = ("--policy-pack-config", str(REPO / "policies" / "config" / f"{config}.json")) if config else ()
    proc, doc = gate(REPO, stack, *extra)
    assert proc.returncode == 0, proc.stderr
    assert doc["errors"] == []
    assert doc["violations"] == []
    assert doc["indeterminate"] == []
    assert doc["waived"] == []
    assert doc["summary"]["policies"] == len(rules())


def test_starting_sketch_is_blocked_with_its_golden_findings():
    proc, doc = gate(SKETCH, "dev")
    assert proc.returncode == 1
    assert doc["errors"] == []
    found = sorted([f["policy"], f["name"], f["level"]] for f in doc["violations"] + doc["indeterminate"])
    if os.environ.get("CROSSGATE_UPDATE_GOLDEN"):
        golden = json.loads(GOLDEN.read_text())
        golden["findings"] = found
        GOLDEN.write_text(json.dumps(golden, indent=1) + "\n")
    assert found == json.loads(GOLDEN.read_text())["findings"]


@pytest.mark.parametrize("policy, resource", [
    ("storage-disable-public-network-access", "aidatastorage"),   # reachable from the internet
    ("storage-network-default-deny", "aidatastorage"),
    ("storage-disable-shared-key", "aidatastorage"),             # account keys stay on
    ("storage-min-tls-1-2", "aidatastorage"),                     # no minimum TLS
    ("storage-infrastructure-encryption", "aidatastorage"),
    ("blob-soft-delete-enabled", "aidatastorage"),                # no soft delete or versioning
    ("blob-versioning-enabled", "aidatastorage"),
    ("kv-public-network-disabled", "ai-keyvault"),                # SDK default 'enabled'
    ("kv-purge-protection", "ai-keyvault"),
    ("kv-private-endpoint-required", "ai-keyvault"),              # no private endpoint for the vault
    ("pe-dns-zone-group", "storage-private-endpoint"),           # no private DNS zone
    ("subnet-nsg-associated", "ai-data-subnet"),                  # no NSGs
    ("diag-kv-audit-logs", "ai-keyvault"),                        # no diagnostics
])
def test_each_sketch_defect_is_caught_by_the_expected_policy(policy, resource):
    rows = {(p, r) for p, r, _ in json.loads(GOLDEN.read_text())["findings"]}
    assert (policy, resource) in rows


def test_sketch_sarif_validates_and_places_each_finding_at_its_declaring_line(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    schema_path = REPO.parent / "shared" / "sarif-schema-2.1.0.json"
    if not schema_path.exists():
        pytest.skip(f"{schema_path} is not available")
    sarif_path, json_path = tmp_path / "sketch.sarif", tmp_path / "sketch.json"
    proc = run_crossgate("preview", "--cwd", str(SKETCH), "--stack", "dev", "--policy-pack", PACK,
                         "--sarif", str(sarif_path), "--json", str(json_path))
    assert proc.returncode == 1
    sarif = json.loads(sarif_path.read_text())
    jsonschema.Draft4Validator(json.loads(schema_path.read_text())).validate(sarif)
    lines = {r["urn"]: r["source"]["line"] for r in json.loads(json_path.read_text())["resources"] if r["source"]}
    results = sarif["runs"][0]["results"]
    assert results
    for result in results:
        location = result["locations"][0]
        urn = location["logicalLocations"][0]["fullyQualifiedName"]
        physical = location["physicalLocation"]
        assert physical["artifactLocation"]["uri"] == "tests/fixtures/sketch/__main__.py"
        assert physical["region"]["startLine"] == lines[urn]
