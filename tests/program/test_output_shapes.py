"""Preview outputs take the shape of the SDK's output types (issue 10, item 5)."""

from __future__ import annotations

import json
import textwrap

from google.protobuf import struct_pb2
from google.protobuf.json_format import MessageToDict
from pulumi_azure_native import storage

from crossgate import wire
from crossgate.program._host_shapes import OutputShaper, load_conversions
from helpers import run_crossgate

IDENTITY = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/cmk"
ACCOUNT = "azure-native:storage:StorageAccount"


def shaped(inputs: dict, cls=storage.StorageAccount, token=ACCOUNT) -> dict:
    struct = struct_pb2.Struct()
    struct.update(inputs)
    return MessageToDict(OutputShaper(load_conversions()).outputs(cls, token, struct))


def test_user_assigned_identities_list_becomes_a_map_keyed_by_id_with_computed_values():
    out = shaped({"identity": {"type": "UserAssigned", "userAssignedIdentities": [IDENTITY]}, "kind": "StorageV2"})
    assert out == {"identity": {"type": "UserAssigned", "userAssignedIdentities": {IDENTITY: wire.UNKNOWN}},
                   "kind": "StorageV2"}


def test_user_assigned_identities_inside_a_secret_keep_the_secret():
    out = shaped({"identity": wire.make_secret({"type": "UserAssigned", "userAssignedIdentities": [IDENTITY]})})
    assert out["identity"] == wire.make_secret({"type": "UserAssigned",
                                                "userAssignedIdentities": {IDENTITY: wire.UNKNOWN}})


def test_user_assigned_identities_with_an_id_unknown_until_deployment_is_unknown():
    out = shaped({"identity": {"type": "UserAssigned", "userAssignedIdentities": [wire.UNKNOWN]}, "kind": "StorageV2"})
    assert out == {"kind": "StorageV2"}  # absent: the SDK resolves it as unknown in a preview


def test_a_value_without_a_documented_conversion_whose_shape_differs_is_unknown():
    # tags is a map in the output type; a list has no documented conversion.
    out = shaped({"tags": ["a", "b"], "kind": "StorageV2"})
    assert out == {"kind": "StorageV2"}


def test_a_list_where_the_output_type_is_an_object_is_unknown():
    out = shaped({"sku": ["Standard_LRS"], "kind": "StorageV2"})
    assert out == {"kind": "StorageV2"}


def test_values_that_already_have_the_output_shape_are_handed_back_unchanged():
    inputs = {"identity": {"type": "UserAssigned", "userAssignedIdentities": {IDENTITY: {}}},
              "tags": {"a": "b"}, "sku": {"name": "Standard_LRS"}, "accessTier": wire.UNKNOWN}
    struct = struct_pb2.Struct()
    struct.update(inputs)
    assert OutputShaper(load_conversions()).outputs(storage.StorageAccount, ACCOUNT, struct) is struct


def test_a_program_reading_a_user_assigned_identity_map_runs(tmp_path):
    root = tmp_path / "uami"
    root.mkdir()
    (root / "Pulumi.yaml").write_text("name: uami\nruntime: python\n")
    (root / "__main__.py").write_text(textwrap.dedent(f"""
        import pulumi
        from pulumi_azure_native import storage

        account = storage.StorageAccount(
            "data", resource_group_name="rg", kind="StorageV2", sku={{"name": "Standard_LRS"}},
            identity={{"type": "UserAssigned", "user_assigned_identities": ["{IDENTITY}"]}})
        pulumi.export("identity", account.identity)
    """))
    proc = run_crossgate("preview", "--cwd", str(root), "--stack", "dev", "--parallel", "1", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = next(r for r in json.loads(proc.stdout)["resources"] if r["name"] == "data")
    # The packs still see the inputs as the program wrote them, as the engine's Analyze does.
    assert data["inputs"]["identity"] == {"type": "UserAssigned", "userAssignedIdentities": [IDENTITY]}


def test_each_declared_type_is_introspected_once_however_many_resources_have_it(monkeypatch):
    # Issue 14: the typing introspection per value per resource was 3 s of the host's CPU at 10k.
    from crossgate.program import _host_shapes

    calls = []
    real = _host_shapes._plain_type
    monkeypatch.setattr(_host_shapes, "_plain_type", lambda typ: calls.append(typ) or real(typ))
    shaper = OutputShaper(load_conversions())
    inputs = {"identity": {"type": "UserAssigned", "userAssignedIdentities": [IDENTITY]},
              "sku": {"name": "Standard_LRS"}, "tags": {"a": "b"}, "kind": "StorageV2"}
    results = []
    for _ in range(3):
        struct = struct_pb2.Struct()
        struct.update(inputs)
        results.append(MessageToDict(shaper.outputs(storage.StorageAccount, ACCOUNT, struct)))
    first = len(calls)
    struct = struct_pb2.Struct()
    struct.update(inputs)
    shaper.outputs(storage.StorageAccount, ACCOUNT, struct)
    assert len(calls) == first  # nothing new to learn about types already seen
    assert len(calls) == len(set(map(repr, calls)))
    assert results == [results[0]] * 3
    assert results[0]["identity"]["userAssignedIdentities"] == {IDENTITY: wire.UNKNOWN}
