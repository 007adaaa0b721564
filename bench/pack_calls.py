"""``python -m bench.pack_calls``: the cost of starting a pack and of one Analyze round trip.

Starts the pack the way crossgate does (its pack host; ``--host stock``: ``python -u -m pulumi.policy``
as the Pulumi CLI does), times start-up until the
port accepts connections, then times Analyze calls for one resource through crossgate's client.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from crossgate.engine import _analyze_request
from crossgate.packs import config as pack_config
from crossgate.packs.process import PackProcess, StackIdentity, read_manifest
from crossgate.testing import Resource, plan

REPO = Path(__file__).resolve().parent.parent
STORAGE = Resource("azure-native:storage:StorageAccount", "data", {
    "kind": "StorageV2", "sku": {"name": "Standard_GZRS"}, "publicNetworkAccess": "Disabled",
    "allowBlobPublicAccess": False, "allowSharedKeyAccess": False, "minimumTlsVersion": "TLS1_2",
    "networkRuleSet": {"defaultAction": "Deny", "bypass": "AzureServices"}})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pack", default=str(REPO / "policies"))
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--host", choices=("crossgate", "stock"), default="crossgate",
                        help="crossgate's pack host (default) or `python -m pulumi.policy`, as the CLI runs packs")
    args = parser.parse_args()
    manifest = read_manifest(args.pack)
    starts = []
    for _ in range(args.starts):
        proc = PackProcess(manifest, StackIdentity("bench", "bench"), call_timeout=60, host=args.host)
        began = time.monotonic()
        proc.start(time.monotonic() + 60)
        starts.append(time.monotonic() - began)
        proc.stop()
    proc = PackProcess(manifest, StackIdentity("bench", "bench"), call_timeout=60, host=args.host)
    proc.start(time.monotonic() + 60)
    try:
        proc.configure_stack()
        info = proc.analyzer_info()
        reconciled = pack_config.reconcile(info, [], manifest.path.name)
        proc.call("Configure", pack_config.configure_request(reconciled.policies))
        resource = plan([STORAGE])[1]
        request = _analyze_request(resource, resource.properties)
        for _ in range(20):
            proc.call("Analyze", request)
        calls = []
        for _ in range(args.calls):
            began = time.perf_counter()
            proc.call("Analyze", request)
            calls.append(time.perf_counter() - began)
    finally:
        proc.stop()
    resource_policies = sum(1 for p in info.policies if p.policy_type == 1)
    print(f"pack {info.name} ({len(info.policies)} policies, {resource_policies} resource policies), "
          f"served by {proc.servicer} ({args.host} launcher)")
    print(f"start-up until the port accepts connections: median {statistics.median(starts):.3f} s "
          f"over {len(starts)} starts (min {min(starts):.3f}, max {max(starts):.3f})")
    print(f"one Analyze round trip (a storage account): median {statistics.median(calls) * 1000:.2f} ms, "
          f"p90 {sorted(calls)[int(len(calls) * 0.9)] * 1000:.2f} ms over {len(calls)} calls")


if __name__ == "__main__":
    main()
