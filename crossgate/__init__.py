"""crossgate: an offline policy gate for Pulumi programs.

It runs a Pulumi Python program under the SDK's mock runtime (no cloud, no CLI), records every
planned resource as the engine would see it, and evaluates CrossGuard policy packs against them
over the Analyzer gRPC protocol, failing closed on anything it cannot decide.
"""

__version__ = "0.1.0"
