"""The isolated network: one VNet, a workload subnet and a private-endpoint subnet.

Subnets are standalone ``network:Subnet`` resources (never inline in the VNet,
which would make the two fight over the subnet list on every update). Both
subnets turn off default outbound access and sit behind an NSG that denies
inbound traffic from the Internet explicitly, so the posture does not depend
on Azure's default rules staying as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import network, resources

from platform_config import Settings

# Evaluated before any rule a later change might add (lower number = first).
DENY_INTERNET_PRIORITY = 100


@dataclass(frozen=True)
class Network:
    """The network resources other modules attach to."""

    vnet: network.VirtualNetwork
    workload_subnet: network.Subnet
    private_endpoint_subnet: network.Subnet
    # Keyed by the subnet role ("workload", "pe") used in logical names.
    security_groups: Mapping[str, network.NetworkSecurityGroup]


def _deny_internet_nsg(name: str, settings: Settings, rg: resources.ResourceGroup) -> network.NetworkSecurityGroup:
    return network.NetworkSecurityGroup(
        name,
        resource_group_name=rg.name,
        location=settings.location,
        security_rules=[
            network.SecurityRuleArgs(
                name="deny-internet-inbound",
                description="Nothing in this VNet is reachable from the Internet.",
                priority=DENY_INTERNET_PRIORITY,
                direction="Inbound",
                access="Deny",
                protocol="*",
                source_address_prefix="Internet",
                source_port_range="*",
                destination_address_prefix="*",
                destination_port_range="*",
            )
        ],
    )


def create_network(settings: Settings, rg: resources.ResourceGroup) -> Network:
    """Declare the VNet, both subnets and their NSGs."""
    prefix = settings.name_prefix
    vnet = network.VirtualNetwork(
        f"{prefix}-vnet",
        resource_group_name=rg.name,
        location=settings.location,
        address_space=network.AddressSpaceArgs(address_prefixes=[str(settings.vnet_cidr)]),
    )

    def private_subnet(name: str, cidr: str, depends_on: list[pulumi.Resource]
                       ) -> tuple[network.Subnet, network.NetworkSecurityGroup]:
        nsg = _deny_internet_nsg(f"{prefix}-{name}-nsg", settings, rg)
        subnet = network.Subnet(
            f"{prefix}-{name}-snet",
            resource_group_name=rg.name,
            virtual_network_name=vnet.name,
            address_prefix=cidr,
            default_outbound_access=False,
            # "Enabled" makes the NSG apply to private endpoint traffic too (set on both subnets,
            # should an endpoint ever land in the workload subnet).
            private_endpoint_network_policies="Enabled",
            network_security_group=network.NetworkSecurityGroupArgs(id=nsg.id),
            # Azure rejects concurrent writes to subnets of one VNet.
            opts=pulumi.ResourceOptions(depends_on=depends_on),
        )
        return subnet, nsg

    workload_subnet, workload_nsg = private_subnet("workload", str(settings.workload_subnet_cidr), [])
    private_endpoint_subnet, private_endpoint_nsg = private_subnet(
        "pe", str(settings.private_endpoint_subnet_cidr), [workload_subnet])

    return Network(
        vnet=vnet,
        workload_subnet=workload_subnet,
        private_endpoint_subnet=private_endpoint_subnet,
        security_groups={"workload": workload_nsg, "pe": private_endpoint_nsg},
    )
