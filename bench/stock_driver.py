"""Runs a Pulumi program under the SDK's stock mocks, as a unit test with ``set_mocks`` does.

Usage: ``python stock_driver.py PROGRAM_DIR`` in a fresh interpreter (the benchmark times the whole
process). The stack config comes from ``PULUMI_CONFIG`` as the language host passes it. Prints one
JSON line: how many resources the mocks saw and the time spent in the program and in waiting for
outstanding RPCs.

Standard library and the pulumi SDK only: nothing here is crossgate's.
"""

from __future__ import annotations

import asyncio
import json
import os
import runpy
import sys
import time

PLACEHOLDER_CLIENT = {
    "clientId": "00000000-0000-0000-0000-000000000001",
    "objectId": "00000000-0000-0000-0000-000000000002",
    "subscriptionId": "00000000-0000-0000-0000-000000000003",
    "tenantId": "00000000-0000-0000-0000-000000000004",
}


def main() -> int:
    program_dir = os.path.abspath(sys.argv[1])
    started = time.perf_counter()
    import pulumi
    from pulumi.runtime.stack import wait_for_rpcs

    imported = time.perf_counter()
    counts = {"resources": 0, "calls": 0}

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs):
            counts["resources"] += 1
            return args.name + "_id", args.inputs

        def call(self, args: pulumi.runtime.MockCallArgs):
            counts["calls"] += 1
            if args.token == "azure-native:authorization:getClientConfig":
                return dict(PLACEHOLDER_CLIENT)
            return {}

    # set_mocks creates the root Stack on the current event loop: make it the one we drive.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    pulumi.runtime.set_mocks(Mocks(), project=os.environ.get("PULUMI_PROJECT"),
                             stack=os.environ.get("PULUMI_STACK"), preview=True)
    os.chdir(program_dir)
    runpy.run_path(program_dir, run_name="__main__")
    ran = time.perf_counter()
    loop.run_until_complete(wait_for_rpcs())
    waited = time.perf_counter()
    loop.close()
    print(json.dumps({
        "resources": counts["resources"],
        "invokes": counts["calls"],
        "import_seconds": imported - started,
        "program_seconds": ran - imported,
        "wait_seconds": waited - ran,
    }), flush=True)
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown of thousands of objects, as crossgate's host does


if __name__ == "__main__":
    sys.exit(main())
