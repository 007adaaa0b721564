"""How much of the public Internet a set of network sources admits.

A rule's sources are judged together: two ``/1`` halves admit the whole IPv4 Internet as surely as
``0.0.0.0/0`` does. :func:`admitted` takes the union of every source (CIDR prefixes and single
addresses, IPv4 and IPv6, and the service tags that mean "anywhere"), removes the ranges that are
not reachable from the public Internet (private, shared/CGNAT, loopback, link-local, multicast,
reserved, documentation, benchmarking and the like) and counts the public addresses left. A policy
compares that count with its allowance.

A source that is neither an address, a prefix nor a service tag (``10.0.0.0/33``, ``1.2.3``) is
counted as the whole Internet: what can't be read is never taken as narrow.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Union

__all__ = ["INTERNET_TAGS", "PLATFORM_TAGS", "Admitted", "is_platform_tag", "is_shared_tag", "admitted", "public_count",
           "is_public_network"]

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

#: Service tags (and wildcards) that mean "any address", compared case-insensitively.
INTERNET_TAGS = frozenset({"*", "internet", "any"})
#: Service tags whose addresses carry only the platform's own traffic or the customer's own networks, so a
#: rule from them admits no public sender (compared case-insensitively, a regional suffix such as
#: ``.WestEurope`` ignored): the tags Azure documents as inbound sources for Bastion, load balancer probes,
#: gateways, Traffic Manager probes and the control planes of Azure ML, Batch, API Management, Databricks,
#: HDInsight and SQL Managed Instance, and the platform's DNS, IMDS and licensing addresses. Every other tag
#: (``AzureCloud``, ``AzureFrontDoor.Backend``, ``AppService``, ``AzureDevOps``, ...) names addresses any
#: Azure customer can send from, so it counts as the public Internet: an unknown tag is never taken as narrow.
PLATFORM_TAGS = frozenset({"virtualnetwork", "azureloadbalancer", "gatewaymanager", "azuretrafficmanager",
                           "azuremachinelearning", "batchnodemanagement", "apimanagement", "azuredatabricks",
                           "hdinsight", "sqlmanagement", "azureplatformdns", "azureplatformimds",
                           "azureplatformlkm"})

#: Bare addresses that Azure reads as "any address" in a rule source.
_ANY_ADDRESSES = frozenset({"0.0.0.0", "::"})
_SERVICE_TAG = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]*$")

_ALL_V4 = ipaddress.ip_network("0.0.0.0/0")
_ALL_V6 = ipaddress.ip_network("::/0")

#: IPv4 ranges no Internet host can come from (IANA special-purpose registry, RFC 6890 and successors).
_NOT_PUBLIC_V4 = tuple(ipaddress.collapse_addresses(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8",        # "this network"
    "10.0.0.0/8",       # private
    "100.64.0.0/10",    # shared address space (carrier-grade NAT)
    "127.0.0.0/8",      # loopback
    "169.254.0.0/16",   # link-local
    "172.16.0.0/12",    # private
    "192.0.0.0/24",     # IETF protocol assignments
    "192.0.2.0/24",     # documentation (TEST-NET-1)
    "192.88.99.0/24",   # deprecated 6to4 relay anycast
    "192.168.0.0/16",   # private
    "198.18.0.0/15",    # benchmarking
    "198.51.100.0/24",  # documentation (TEST-NET-2)
    "203.0.113.0/24",   # documentation (TEST-NET-3)
    "224.0.0.0/4",      # multicast
    "240.0.0.0/4",      # reserved, and the limited broadcast address
)))
#: IPv6: only global unicast (2000::/3) is public, minus its documentation and benchmarking blocks.
_PUBLIC_V6 = ipaddress.ip_network("2000::/3")
_NOT_PUBLIC_IN_V6_GLOBAL = tuple(ipaddress.collapse_addresses(ipaddress.ip_network(n) for n in (
    "2001:2::/48",      # benchmarking
    "2001:db8::/32",    # documentation
    "3fff::/20",        # documentation (RFC 9637)
)))
_PUBLIC_V4_TOTAL = _ALL_V4.num_addresses - sum(n.num_addresses for n in _NOT_PUBLIC_V4)
_PUBLIC_V6_TOTAL = _PUBLIC_V6.num_addresses - sum(n.num_addresses for n in _NOT_PUBLIC_IN_V6_GLOBAL)


def _overlap(a: Network, b: Network) -> int:
    """Addresses two prefixes share (prefixes either nest or are disjoint)."""
    if a.version != b.version:
        return 0
    if a.subnet_of(b):  # type: ignore[arg-type]
        return a.num_addresses
    if b.subnet_of(a):  # type: ignore[arg-type]
        return b.num_addresses
    return 0


def _public_in(network: Network) -> int:
    if network.version == 4:
        return network.num_addresses - sum(_overlap(network, n) for n in _NOT_PUBLIC_V4)
    inside = _overlap(network, _PUBLIC_V6)
    if not inside:
        return 0
    clipped = network if network.subnet_of(_PUBLIC_V6) else _PUBLIC_V6  # type: ignore[arg-type]
    return inside - sum(_overlap(clipped, n) for n in _NOT_PUBLIC_IN_V6_GLOBAL)


def is_public_network(network: Network) -> bool:
    """Whether any address of ``network`` is reachable from the public Internet."""
    return _public_in(network) > 0


def is_platform_tag(source: str) -> bool:
    """Whether ``source`` is a service tag that admits no public sender (see :data:`PLATFORM_TAGS`)."""
    return source.strip().casefold().split(".", 1)[0] in PLATFORM_TAGS


def is_shared_tag(source: str) -> bool:
    """Whether ``source`` is a service tag (not "anywhere", not a platform tag) whose addresses any Azure
    customer can send from."""
    text = source.strip()
    if text.casefold() in INTERNET_TAGS or is_platform_tag(text):
        return False
    try:
        ipaddress.ip_network(text, strict=False)
        return False
    except ValueError:
        return bool(_SERVICE_TAG.match(text))


def _networks(source: str) -> list[Network]:
    """The prefixes a source stands for: both families for the "anywhere" tags, none for other tags
    (platform tags admit no public sender; shared tags are counted apart, see :class:`Admitted`)."""
    text = source.strip()
    folded = text.casefold()
    if folded in INTERNET_TAGS or folded in _ANY_ADDRESSES:
        return [_ALL_V4, _ALL_V6]
    try:
        return [ipaddress.ip_network(text, strict=False)]
    except ValueError:
        pass
    if _SERVICE_TAG.match(text):
        return []  # a service tag other than Internet: counted by is_shared_tag, not as prefixes
    return [_ALL_V4, _ALL_V6]  # unreadable: never taken as narrow


@dataclass(frozen=True)
class Admitted:
    """The public part of a set of sources."""

    #: Public IPv4 and IPv6 addresses in the union of the sources.
    ipv4: int
    ipv6: int
    #: The sources that contribute public addresses, as written, in order.
    sources: tuple[str, ...]
    #: Service tags shared with every Azure customer (``AzureCloud``): their size is not counted, as
    #: anyone can send from them they exceed any allowance.
    shared_tags: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        shared = _PUBLIC_V4_TOTAL if self.shared_tags else 0
        return self.ipv4 + self.ipv6 + shared

    def describe(self) -> str:
        """What is admitted, for a message: ``every public IPv4 address``, ``65,536 public IPv4 addresses``."""
        parts = []
        if self.ipv4:
            parts.append("every public IPv4 address" if self.ipv4 >= _PUBLIC_V4_TOTAL
                         else f"{self.ipv4:,} public IPv4 address{'es' if self.ipv4 != 1 else ''}")
        if self.ipv6:
            if self.ipv6 >= _PUBLIC_V6_TOTAL:
                parts.append("every public IPv6 address")
            elif self.ipv6 >= 1 << 16 and self.ipv6 & (self.ipv6 - 1) == 0:
                parts.append(f"2^{self.ipv6.bit_length() - 1} public IPv6 addresses")
            else:
                parts.append(f"{self.ipv6:,} public IPv6 address{'es' if self.ipv6 != 1 else ''}")
        if self.shared_tags:
            tags = ", ".join(f"'{t}'" for t in self.shared_tags)
            parts.append(f"the addresses of service tag {tags}, which any Azure customer can send from")
        return " and ".join(parts) or "no public address"


def admitted(sources: Iterable[object]) -> Admitted:
    """The public addresses the union of ``sources`` admits; non-string sources are ignored."""
    networks: list[Network] = []
    contributing: list[str] = []
    shared: list[str] = []
    for source in sources:
        if not isinstance(source, str):
            continue
        if is_shared_tag(source):
            contributing.append(source)
            shared.append(source.strip())
            continue
        found = _networks(source)
        if any(is_public_network(n) for n in found):
            contributing.append(source)
        networks.extend(found)
    counts = {}
    for version in (4, 6):
        family = [n for n in networks if n.version == version]
        counts[version] = sum(_public_in(n) for n in ipaddress.collapse_addresses(family))  # type: ignore[arg-type]
    return Admitted(counts[4], counts[6], tuple(contributing), tuple(shared))


def public_count(sources: Iterable[object]) -> int:
    """How many public addresses the union of ``sources`` admits."""
    return admitted(sources).count
