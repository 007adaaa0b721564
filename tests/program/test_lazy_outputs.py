"""The host builds a resource's output ``Output`` objects only when the program uses them (issue 14).

What the program observes must be what the SDK's own ``transfer_properties`` gives: the same
values, knownness, secretness and dependencies, read before or after the registration resolves,
and the same failure when it fails. Each case runs the same script in a fresh interpreter twice,
once on the SDK's own path and once with ``_host_outputs`` installed, and compares.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from helpers import REPO

SCRIPT = textwrap.dedent('''
    import asyncio, json, sys
    sys.path.insert(0, sys.argv[1])
    import _host_outputs
    lazy = sys.argv[2] == "lazy"
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    if lazy:
        reason = _host_outputs.install()
        assert reason is None, reason + ': check _host_outputs against it, then add it to KNOWN_RELEASES'
    import pulumi
    from pulumi.runtime import mocks, settings
    from pulumi.runtime.stack import wait_for_rpcs

    class Mocks(mocks.Mocks):
        def new_resource(self, args):
            if args.name == "broken":
                raise Exception("the provider refused it")
            return "", dict(args.inputs)  # a preview: inputs carried over, the rest unknown
        def call(self, args):
            return {}

    pulumi.runtime.set_mocks(Mocks(), preview=True)
    from pulumi_azure_native import resources, storage

    async def observe(out):
        try:
            return {"value": await out.future(with_unknowns=True) if await out.is_known() else None,
                    "known": await out.is_known(), "secret": await out.is_secret(),
                    "deps": sorted(r._name for r in await out.resources()),
                    "type": type(out).__name__}
        except Exception as exc:
            return {"error": str(exc)}

    async def program():
        rg = resources.ResourceGroup("rg", location="westeurope")
        acct = storage.StorageAccount(
            "sa", resource_group_name=rg.name, kind="StorageV2", sku={"name": "Standard_LRS"},
            tags=pulumi.Output.secret({"team": "ml"}), allow_blob_public_access=False)
        broken = resources.ResourceGroup("broken", location="westeurope")
        early = [asyncio.ensure_future(observe(o)) for o in (acct.kind, acct.primary_endpoints, broken.location)]
        tracked = len(settings.SETTINGS.outputs)
        properties = sum(1 for r in (rg, acct, broken) for k, v in vars(r).items()
                         if isinstance(v, pulumi.Output) and k not in ("urn", "id"))
        try:
            await wait_for_rpcs()
        except Exception:
            pass
        seen = {"early": [await t for t in early]}
        seen["late"] = [await observe(o) for o in (acct.sku, acct.tags, acct.allow_blob_public_access,
                                                   acct.access_tier, rg.location, broken.tags)]
        seen["lifted"] = await observe(acct.sku.name)
        seen["applied"] = await observe(acct.kind.apply(lambda k: k.lower()))
        seen["keys"] = sorted(k for k in vars(acct) if not k.startswith("_"))[:5]
        return seen, tracked, properties

    seen, tracked, properties = loop.run_until_complete(program())
    print(json.dumps({"seen": seen, "tracked": tracked, "properties": properties}))
''')


def run(mode: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(REPO / "crossgate" / "program"), mode],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_lazy_outputs_resolve_to_what_the_sdks_own_outputs_resolve_to():
    stock, lazy = run("stock"), run("lazy")
    assert lazy["seen"] == stock["seen"]
    early, late = lazy["seen"]["early"], lazy["seen"]["late"]
    assert early[0] == {"value": "StorageV2", "known": True, "secret": False, "deps": ["sa"], "type": "Output"}
    assert early[1] == {"value": None, "known": False, "secret": False, "deps": ["sa"], "type": "Output"}
    assert early[2] == {"error": "the provider refused it"}
    assert late[1] == {"value": {"team": "ml"}, "known": True, "secret": True, "deps": ["sa"], "type": "Output"}
    assert late[2]["value"] is False and late[2]["known"] is True
    assert late[5] == {"error": "the provider refused it"}
    assert lazy["seen"]["lifted"]["value"] == "Standard_LRS"
    assert lazy["seen"]["applied"]["value"] == "storagev2"


def test_output_properties_nobody_reads_are_not_tracked_as_pending_work():
    stock, lazy = run("stock"), run("lazy")
    assert stock["properties"] == lazy["properties"] > 60
    # Stock: every output property is a tracked task from construction on. Lazy: none yet, as the
    # tasks that will read three of them haven't started when the program counts.
    assert stock["tracked"] - lazy["tracked"] == lazy["properties"]
