"""No reporter prints a secret input, whatever else it shows about the resource."""

from __future__ import annotations

import dataclasses

import pytest
from google.protobuf import struct_pb2

from crossgate import wire
from crossgate.model import GateResult, PlannedResource, SourceLocation
from crossgate.report import FORMATS, formatter

from report_data import SECRET, TYPE, urn


@pytest.mark.parametrize("fmt", FORMATS)
def test_secret_input_appears_in_no_report(fmt: str, sample: GateResult) -> None:
    props = struct_pb2.Struct()
    props.update({"adminPassword": wire.make_secret(SECRET), "nested": {"token": wire.make_secret(SECRET)}})
    sample = dataclasses.replace(sample, resources=(*sample.resources, PlannedResource(
        urn=urn(TYPE, "vault"), type=TYPE, name="vault", custom=True, properties=props,
        source=SourceLocation("__main__.py", 50))))
    assert SECRET in str(sample.resources[-1].inputs)  # the value is really there to leak
    assert SECRET not in formatter(fmt)(sample)


# -- end to end: the program, the packs, every format --------------------------------------------

import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
from pathlib import Path  # noqa: E402

from helpers import FIXTURES, run_crossgate  # noqa: E402

SECRETS_PROGRAM = FIXTURES / "programs" / "secrets"
ECHO_PACK = FIXTURES / "packs" / "echo"
PASSPHRASE = "crossgate-test-passphrase"  # the fixture stack's, see its Pulumi.dev.yaml
#: Secret values the fixture program puts in a name, a key, a number and a nested value.
LEAKS = ("orders-db-7781", "cost-center-x9", "4242", "allow-10.1.2.3")


@pytest.fixture(scope="module")
def secret_run(tmp_path_factory) -> dict[str, str]:
    """One run of the fixture program with the echo pack; every format's text, stderr included."""
    out = tmp_path_factory.mktemp("secret-reports")
    files = {"json": out / "r.json", "sarif": out / "r.sarif", "junit": out / "r.xml", "markdown": out / "r.md"}
    proc = run_crossgate("preview", "--cwd", str(SECRETS_PROGRAM), "--stack", "dev", "--policy-pack", str(ECHO_PACK),
                         "--parallel", "1", "--format", "table", "--json", str(files["json"]),
                         "--sarif", str(files["sarif"]), "--junit", str(files["junit"]),
                         "--markdown", str(files["markdown"]),
                         env={**os.environ, "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE})
    assert proc.returncode == 1, proc.stderr
    texts = {name: Path(path).read_text(encoding="utf-8") for name, path in files.items()}
    texts["table"] = proc.stdout
    texts["stderr"] = proc.stderr
    return texts


@pytest.mark.parametrize("fmt", ["json", "sarif", "junit", "markdown", "table", "stderr"])
def test_no_secret_name_key_number_or_nested_value_in_any_format(secret_run, fmt):
    text = secret_run[fmt]
    assert [leak for leak in LEAKS if leak in text] == []
    assert not re.search(r"(?<![A-Za-z0-9_])eu(?![A-Za-z0-9_])", text)  # the two-character secret


def test_policy_messages_show_secret_marker_where_a_secret_number_boolean_or_short_string_was(secret_run):
    doc = json.loads(secret_run["json"])
    assert sorted((v["policy"], v["name"], v["message"]) for v in doc["violations"]) == sorted([
        ("echo-values", "[secret]", "[secret] keeps deleted items [secret] days"),
        ("echo-values", "[secret]", "public access is [secret]"),
        ("echo-values", "[secret]", "region [secret] is not allowed"),
        ("echo-values", "[secret]", "tag keys: [secret]"),
        ("echo-values", "[secret]", "acl [secret]"),
        ("echo-stack", "secrets-dev", "stack sees [secret] with retention [secret] and public [secret]"),
    ])


def test_secret_name_and_key_are_replaced_in_urns_inputs_remediations_and_logs(secret_run):
    doc = json.loads(secret_run["json"])
    thing = next(r for r in doc["resources"] if r["type"] == "test:index:Thing")
    assert (thing["urn"], thing["name"]) == ("urn:pulumi:dev::secrets::test:index:Thing::[secret]", "[secret]")
    assert thing["inputs"] == {"tags": {"[secret]": "finance"}, "retentionDays": {"$secret": True},
                               "publicAccess": {"$secret": True}, "region": {"$secret": True},
                               "network": {"acl": {"$secret": True}}}
    (remediation,) = doc["remediations"]
    assert (remediation["urn"], remediation["after"]["tags"]) == (thing["urn"], {"[secret]": "finance"})
    assert doc["warnings"][-1] == "warning: using database [secret]"


# -- the rules, on their own -----------------------------------------------------------------------

def test_short_secret_numbers_and_booleans_are_replaced_only_as_whole_words_about_their_resource():
    secrets = wire.Secrets()
    secrets.add_resource("urn:a", {"zone": wire.make_secret("a"), "days": wire.make_secret(42.0),
                                   "on": wire.make_secret(False)})
    assert secrets.text("a zone a1 in a; keeps 42 days, not 420 or 1.42, on is false", "urn:a") == \
        "[secret] zone a1 in [secret]; keeps [secret] days, not 420 or 1.42, on is [secret]"
    # Another resource's text is not garbled by them...
    assert secrets.text("a zone keeps 42 days, on is false", "urn:b") == "a zone keeps 42 days, on is false"
    # ...but text about any resource (stack findings, errors, logs) is scrubbed of them all.
    assert secrets.text("keeps 42 days", wire.ALL_RESOURCES) == "keeps [secret] days"
    # A whole field that is a short secret is replaced wherever it is.
    assert secrets.text("a") == "[secret]"


def test_a_marker_is_never_scrubbed_again():
    secrets = wire.Secrets()
    secrets.add_value("ecr")
    secrets.add_value("hunter2")
    assert secrets.text("hunter2 ecr") == "[secret] [secret]"


def test_errors_and_their_details_are_scrubbed_of_every_resources_secrets():
    from crossgate.collector import Collector, Subject
    from crossgate.errors import PackError

    props = struct_pb2.Struct()
    props.update({"days": wire.make_secret(4242), "key": wire.make_secret("k3y-value")})
    collector = Collector("block")
    collector.add_resource(PlannedResource(urn=urn(TYPE, "vault"), type=TYPE, name="vault", custom=True,
                                           properties=props, has_secrets=True))
    collector.error(PackError("policy pack p: Analyze failed: bad retention 4242.0 for k3y-value",
                              detail="Traceback ... days=4242"))
    result = collector.build(Subject(project="demo", stack="dev", project_dir="."))
    assert list(result.errors) == ["policy pack p: Analyze failed: bad retention [secret] for [secret]"]
    assert list(result.error_details) == ["Traceback ... days=[secret]"]
