"""The host's faster paths through pulumi SDK internals (issue 14) answer as the SDK does, and stay
out of the way on an SDK release they weren't checked against.

Each case runs in a fresh interpreter: installing them patches the SDK process-wide.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from helpers import REPO

PROLOGUE = textwrap.dedent('''
    import json, sys, typing
    sys.path.insert(0, sys.argv[1])
    import _host_outputs, _host_shortcuts
    import pulumi
    from pulumi import _types, _version, output
    from pulumi.runtime import rpc
''')


def run(body: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    proc = subprocess.run([sys.executable, "-c", PROLOGUE + textwrap.dedent(body), str(REPO / "crossgate" / "program")],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_type_unwrapping_is_the_sdks_and_is_worked_out_once_per_type():
    out = run('''
        from pulumi_azure_native.storage import _inputs
        stock = _types.unwrap_type
        calls = []
        _types.unwrap_type = lambda t: calls.append(t) or stock(t)
        reason = _host_shortcuts.install(_host_outputs.KNOWN_RELEASES)
        assert reason is None, reason + ': check the shortcuts against it, then add it to KNOWN_RELEASES'
        samples = [pulumi.Input[str], typing.Optional[pulumi.Input[str]], pulumi.Output[int],
                   pulumi.Input[_inputs.SkuArgs], typing.Optional[pulumi.Input[typing.Sequence[pulumi.Input[str]]]],
                   typing.Mapping[str, pulumi.Input[str]], str, typing.Optional[int]]
        same = [_types.unwrap_type(t) == stock(t) for t in samples for _ in range(3)]
        print(json.dumps({"same": all(same), "underlying": len(calls), "distinct": len(samples)}))
    ''')
    assert out == {"same": True, "underlying": 8, "distinct": 8}


def test_an_sdk_release_not_checked_leaves_the_sdks_own_paths_in_place():
    out = run('''
        _version.version = _version.version.replace(minor=_version.version.minor + 1)
        before = (rpc.transfer_properties, output.Output.__getattr__, output.Output._untrack, _types.unwrap_type)
        reasons = [_host_outputs.install(), _host_shortcuts.install(_host_outputs.KNOWN_RELEASES)]
        after = (rpc.transfer_properties, output.Output.__getattr__, output.Output._untrack, _types.unwrap_type)
        print(json.dumps({"reasons": reasons, "untouched": all(a is b for a, b in zip(before, after))}))
    ''')
    assert out["untouched"] is True
    assert all("is not a release the host's" in r for r in out["reasons"])


def test_a_urn_of_plain_strings_is_the_one_the_sdk_builds():
    out = run('''
        import asyncio
        from pulumi.runtime import resource, mocks
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        class NoMocks(mocks.Mocks):
            new_resource = call = None
        pulumi.runtime.set_mocks(NoMocks(), project="proj", stack="dev", preview=True)
        stock = resource.create_urn
        reason = _host_shortcuts.install(_host_outputs.KNOWN_RELEASES)
        assert reason is None, reason + ': check the shortcuts against it, then add it to KNOWN_RELEASES'
        parent = "urn:pulumi:dev::proj::my:comp:Thing::parent"

        async def seen(urn):
            data = await urn._data
            return [data.value, data.is_known, data.is_secret, sorted(map(str, data.resources))]

        async def main():
            cases = [("sa", "azure-native:storage:StorageAccount", None), ("sa", "a:b:C", parent),
                     ("sa", "a:b:C", ""), (pulumi.Output.from_input("sa"), "a:b:C", parent)]
            return [[await seen(stock(*c)), await seen(resource.create_urn(*c))] for c in cases]

        print(json.dumps({"pairs": loop.run_until_complete(main())}))
    ''')
    pairs = out["pairs"]
    assert all(mine == stock for stock, mine in pairs)
    assert [mine[0] for _, mine in pairs] == [
        "urn:pulumi:dev::proj::azure-native:storage:StorageAccount::sa",
        "urn:pulumi:dev::proj::my:comp:Thing$a:b:C::sa", "$a:b:C::sa", "urn:pulumi:dev::proj::my:comp:Thing$a:b:C::sa"]
    assert pairs[0][1][1:] == [True, False, []]


def test_plain_input_values_serialise_as_the_sdk_serialises_them():
    out = run('''
        import asyncio, enum
        from pulumi_azure_native import storage
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        stock = rpc.serialize_property
        reason = _host_shortcuts.install(_host_outputs.KNOWN_RELEASES)
        assert reason is None, reason + ': check the shortcuts against it, then add it to KNOWN_RELEASES'

        class Colour(str, enum.Enum):
            RED = "red"

        values = ["a", "", True, False, 0, 7, 2.5, None, Colour.RED, ["a", 1], {"k": "v"}]
        types = [None, pulumi.Input[str], typing.Optional[pulumi.Input[storage.Kind]], typing.Any]

        async def both(value, typ):
            results = []
            for serialize in (stock, rpc.serialize_property):
                deps = []
                try:
                    got = await serialize(value, deps, "prop", None, None, typ)
                    results.append([repr(got), type(got).__name__, deps])
                except Exception as exc:
                    results.append(["raised", type(exc).__name__])
            return results

        async def main():
            return [await both(v, t) for v in values for t in types]

        print(json.dumps({"pairs": loop.run_until_complete(main())}))
    ''')
    pairs = out["pairs"]
    assert len(pairs) == 44
    assert all(mine == stock for stock, mine in pairs)
    assert pairs[0][1] == ["'a'", "str", []]
