"""The offline runner's record: URNs as the engine builds them, parents, dependencies, secrets,
source lines, invokes, and the documented JSON document."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import jsonschema
import pytest

from crossgate.project import encrypt_for_tests
from helpers import FIXTURES, REPO, run_crossgate

SCHEMA = json.loads((REPO / "crossgate" / "schemas" / "result.schema.json").read_text())
THINGS = FIXTURES / "programs" / "things"


def preview_json(cwd: Path, stack: str = "dev", *extra: str, env: dict[str, str] | None = None) -> dict:
    proc = run_crossgate("preview", "--cwd", str(cwd), "--stack", stack, "--format", "json", *extra, env=env)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    jsonschema.validate(doc, SCHEMA)
    return doc


def by_name(doc: dict, name: str) -> dict:
    return next(r for r in doc["resources"] if r["name"] == name)


@pytest.fixture(scope="module")
def things() -> dict:
    return preview_json(THINGS)


def test_urns_have_no_stack_type_prefix_and_children_carry_the_parent_type(things):
    assert by_name(things, "things-dev")["urn"] == "urn:pulumi:dev::things::pulumi:pulumi:Stack::things-dev"
    assert by_name(things, "base")["urn"] == "urn:pulumi:dev::things::test:index:Thing::base"
    assert by_name(things, "child")["urn"] == "urn:pulumi:dev::things::test:index:Thing$test:index:Thing::child"


def test_parents_and_property_dependencies(things):
    base, child = by_name(things, "base"), by_name(things, "child")
    assert base["parent"] == "urn:pulumi:dev::things::pulumi:pulumi:Stack::things-dev"
    assert child["parent"] == base["urn"]
    assert child["propertyDependencies"]["target"] == [base["urn"]]
    assert base["urn"] in child["dependencies"]


def test_ids_of_resources_not_yet_created_are_unknown(things):
    assert by_name(things, "child")["inputs"]["target"] == {"$unknown": True}


def test_config_values_reach_the_program(things):
    assert by_name(things, "base")["inputs"] == {"public": True, "size": 12}


def test_source_points_at_the_declaring_line(things):
    assert by_name(things, "base")["source"] == {"file": "__main__.py", "line": 13}
    assert by_name(things, "child")["source"] == {"file": "__main__.py", "line": 14}


def test_resources_are_listed_in_declaration_order(things):
    declared = [r["name"] for r in things["resources"] if not r["type"].startswith("pulumi:providers:")]
    assert declared == ["things-dev", "base", "child", "noted"]


def test_default_provider_is_planned_as_the_engine_does(things):
    provider = by_name(things, "default")
    assert provider["urn"] == "urn:pulumi:dev::things::pulumi:providers:test::default"
    assert by_name(things, "base")["provider"] == provider["urn"] + "::04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def test_nothing_checked_is_said_plainly(things):
    assert things["note"] == "no policy pack was given: nothing was checked"
    assert things["summary"]["checked"] is False


def write_secret_program(root: Path, stack_yaml: str) -> Path:
    root.mkdir()
    (root / "Pulumi.yaml").write_text("name: secrets\nruntime: python\n")
    (root / "Pulumi.dev.yaml").write_text(stack_yaml)
    (root / "__main__.py").write_text(textwrap.dedent("""
        import pulumi

        class Thing(pulumi.CustomResource):
            def __init__(self, name, props):
                super().__init__("test:index:Thing", name, props)

        cfg = pulumi.Config()
        Thing("t", {"password": cfg.require_secret("password"), "plain": cfg.get("plain")})
    """))
    return root


def test_secure_config_is_decrypted_with_the_passphrase_and_stays_secret(tmp_path):
    salt, secure = encrypt_for_tests("correct horse", b"0123456789abcdef", "hunter2")
    program = write_secret_program(tmp_path / "p", f"encryptionsalt: {salt}\nconfig:\n"
                                                   f"  secrets:password:\n    secure: {secure}\n"
                                                   "  secrets:plain: visible\n")
    env = {**os.environ, "PULUMI_CONFIG_PASSPHRASE": "correct horse"}
    proc = run_crossgate("preview", "--cwd", str(program), "--stack", "dev", "--format", "json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "hunter2" not in proc.stdout
    doc = json.loads(proc.stdout)
    assert by_name(doc, "t")["inputs"] == {"password": {"$secret": True}, "plain": "visible"}
    # The policy sees the decrypted value: the basic pack flags the well-known password.
    gated = run_crossgate("preview", "--cwd", str(program), "--stack", "dev", "--format", "json",
                          "--policy-pack", str(FIXTURES / "packs" / "basic"), env=env)
    assert "hunter2" not in gated.stdout + gated.stderr
    assert [v["policy"] for v in json.loads(gated.stdout)["violations"]] == ["secret-value"]


def test_secure_config_without_passphrase_is_an_unknown_secret(tmp_path):
    salt, secure = encrypt_for_tests("correct horse", b"0123456789abcdef", "hunter2")
    program = write_secret_program(tmp_path / "p", f"encryptionsalt: {salt}\nconfig:\n"
                                                   f"  secrets:password:\n    secure: {secure}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_CONFIG_PASSPHRASE")}
    doc = preview_json(program, env=env)
    assert by_name(doc, "t")["inputs"]["password"] == {"$secret": True}
    gated = run_crossgate("preview", "--cwd", str(program), "--stack", "dev", "--format", "json",
                          "--policy-pack", str(FIXTURES / "packs" / "basic"), env=env)
    # The policy can't decide on an unknown secret: indeterminate is not a pass.
    assert gated.returncode == 0 or json.loads(gated.stdout)["indeterminate"]
    assert json.loads(gated.stdout)["violations"] == []


def test_wrong_passphrase_is_a_clear_error(tmp_path):
    salt, secure = encrypt_for_tests("correct horse", b"0123456789abcdef", "hunter2")
    program = write_secret_program(tmp_path / "p", f"encryptionsalt: {salt}\nconfig:\n"
                                                   f"  secrets:password:\n    secure: {secure}\n")
    env = {**os.environ, "PULUMI_CONFIG_PASSPHRASE": "wrong"}
    proc = run_crossgate("preview", "--cwd", str(program), "--stack", "dev", env=env)
    assert proc.returncode == 2
    assert "incorrect passphrase for this stack" in proc.stderr


def test_passphrase_file(tmp_path):
    salt, secure = encrypt_for_tests("from a file", b"fedcba9876543210", "s3cret")
    program = write_secret_program(tmp_path / "p", f"encryptionsalt: {salt}\nconfig:\n"
                                                   f"  secrets:password:\n    secure: {secure}\n")
    phrase = tmp_path / "phrase"
    phrase.write_text("from a file\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_CONFIG_PASSPHRASE")}
    env["PULUMI_CONFIG_PASSPHRASE_FILE"] = str(phrase)
    doc = preview_json(program, env=env)
    assert by_name(doc, "t")["inputs"]["password"] == {"$secret": True}


def test_reference_stack_records_sources_in_infra(reference_plan):
    jsonschema.validate(reference_plan, SCHEMA)
    azure = [r for r in reference_plan["resources"] if r["type"].startswith("azure-native:")]
    assert len(azure) >= 25
    assert all(r["source"] and r["source"]["file"].startswith("infra/") for r in azure)
    storage = next(r for r in azure if r["type"] == "azure-native:storage:StorageAccount")
    assert storage["source"]["file"] == "infra/data_storage.py"


def test_reference_stack_lists_its_placeholder_invoke(reference_plan):
    assert {"token": "azure-native:authorization:getClientConfig", "placeholder": True} == {
        k: v for k, v in reference_plan["invokes"][0].items() if k != "count"}


def test_reference_stack_has_a_default_provider(reference_plan):
    providers = [r for r in reference_plan["resources"] if r["type"] == "pulumi:providers:azure-native"]
    assert [p["urn"].rsplit("::", 1)[-1] for p in providers] == ["default_3_29_0"] or len(providers) == 1
    storage = next(r for r in reference_plan["resources"] if r["type"] == "azure-native:storage:StorageAccount")
    assert storage["provider"].startswith(providers[0]["urn"] + "::")


def test_secret_values_are_scrubbed_wherever_the_program_copies_them(tmp_path):
    salt, secure = encrypt_for_tests("correct horse", b"0123456789abcdef", "hunter2SECRET")
    program = tmp_path / "p"
    program.mkdir()
    (program / "Pulumi.yaml").write_text("name: secrets\nruntime: python\n")
    (program / "Pulumi.dev.yaml").write_text(f"encryptionsalt: {salt}\nconfig:\n  secrets:pw:\n    secure: {secure}\n")
    (program / "__main__.py").write_text(textwrap.dedent("""
        import pulumi

        class Thing(pulumi.CustomResource):
            def __init__(self, name, props):
                super().__init__("test:index:Thing", name, props)

        cfg = pulumi.Config()
        Thing("copied", {"plain": cfg.get("pw"), "password": cfg.require_secret("pw")})
        pulumi.log.warn("connecting with " + cfg.get("pw"))
    """))
    env = {**os.environ, "PULUMI_CONFIG_PASSPHRASE": "correct horse"}
    outputs = []
    for fmt in ("json", "table", "sarif", "junit", "markdown"):
        proc = run_crossgate("preview", "--cwd", str(program), "--stack", "dev", "--format", fmt,
                             "--policy-pack", str(FIXTURES / "packs" / "basic"), env=env)
        outputs.append(proc.stdout + proc.stderr)
    assert all("hunter2SECRET" not in out for out in outputs)
    doc = json.loads(outputs[0])
    assert by_name(doc, "copied")["inputs"]["plain"] == "[secret]"
    assert doc["warnings"] == ["warning: connecting with [secret]"]
    # And a program error that quotes the value.
    (program / "__main__.py").write_text("import pulumi\nint(pulumi.Config().get('pw'))\n")
    proc = run_crossgate("preview", "--cwd", str(program), "--stack", "dev", "--verbose", env=env)
    assert proc.returncode == 2
    assert "hunter2SECRET" not in proc.stdout + proc.stderr
    assert "invalid literal for int() with base 10: '[secret]'" in proc.stderr


def test_undecrypted_secure_config_is_reported(tmp_path):
    salt, secure = encrypt_for_tests("correct horse", b"0123456789abcdef", "hunter2")
    program = write_secret_program(tmp_path / "p", f"encryptionsalt: {salt}\nconfig:\n"
                                                   f"  secrets:password:\n    secure: {secure}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_CONFIG_PASSPHRASE")}
    doc = preview_json(program, env=env)
    assert doc["warnings"] == ["secure config secrets:password could not be decrypted (no passphrase): the "
                               "program saw unknown values; set PULUMI_CONFIG_PASSPHRASE to evaluate them"]
