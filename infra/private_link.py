"""Private endpoints with the private DNS that makes them resolvable.

A private endpoint alone is not enough: clients in the VNet would still
resolve the public name to the public IP (and be refused). Each endpoint
therefore gets its ``privatelink.*`` zone, a link from the zone to the VNet,
and a zone group that keeps the endpoint's A record in the zone.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import network, privatedns, resources

from networking import Network
from platform_config import Settings


@dataclass(frozen=True)
class PrivateLink:
    """An endpoint and the DNS resources that serve its address."""

    endpoint: network.PrivateEndpoint
    zone: privatedns.PrivateZone
    vnet_link: privatedns.VirtualNetworkLink
    zone_group: network.PrivateDnsZoneGroup


def create_private_link(
    name: str,
    settings: Settings,
    rg: resources.ResourceGroup,
    net: Network,
    *,
    target_id: pulumi.Input[str],
    group_id: str,
    zone_name: str,
) -> PrivateLink:
    """Connect ``target_id``'s ``group_id`` sub-resource into the private-endpoint subnet.

    ``name`` prefixes the logical names of the four resources declared here.
    """
    endpoint = network.PrivateEndpoint(
        f"{name}-pe",
        resource_group_name=rg.name,
        location=settings.location,
        # A plain reference: SubnetArgs would fill in its policy defaults and
        # make the endpoint appear to reconfigure the subnet.
        subnet={"id": net.private_endpoint_subnet.id},
        private_link_service_connections=[
            network.PrivateLinkServiceConnectionArgs(
                name=f"{name}-connection",
                private_link_service_id=target_id,
                group_ids=[group_id],
            )
        ],
    )

    zone = privatedns.PrivateZone(
        f"{name}-dns-zone",
        private_zone_name=zone_name,
        resource_group_name=rg.name,
        location="global",
    )

    vnet_link = privatedns.VirtualNetworkLink(
        f"{name}-dns-link",
        private_zone_name=zone.name,
        resource_group_name=rg.name,
        location="global",
        virtual_network=privatedns.SubResourceArgs(id=net.vnet.id),
        # The VNet resolves records in the zone; it does not write its own.
        registration_enabled=False,
        resolution_policy="Default",
    )

    zone_group = network.PrivateDnsZoneGroup(
        f"{name}-dns-zone-group",
        private_dns_zone_group_name="default",
        private_endpoint_name=endpoint.name,
        resource_group_name=rg.name,
        private_dns_zone_configs=[
            network.PrivateDnsZoneConfigArgs(
                name=zone_name.replace(".", "-"),
                private_dns_zone_id=zone.id,
            )
        ],
    )

    return PrivateLink(endpoint=endpoint, zone=zone, vnet_link=vnet_link, zone_group=zone_group)
