"""The crossgate-azure policy pack: every policy in crossgate_azure_policies, at its default level."""

from pulumi_policy import EnforcementLevel, PolicyPack

from crossgate_azure_policies import all_policies

PolicyPack(
    name="crossgate-azure",
    # Each policy sets its own level; this only applies to a policy that doesn't.
    enforcement_level=EnforcementLevel.ADVISORY,
    policies=all_policies(),
)
