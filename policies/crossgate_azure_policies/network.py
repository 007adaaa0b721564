"""Networking: the VNet, its subnets, network security groups and flow logs.

Subnets come either as standalone ``network:Subnet`` resources or inline in
``VirtualNetwork.subnets[]``, and NSG rules either inline in ``securityRules[]`` or as standalone
``network:SecurityRule`` resources; each policy checks both shapes. Azure Virtual Network Manager
security admin rules (``network:AdminRule``, access 'Allow' or 'AlwaysAllow') are judged like NSG
rules: Azure applies them before any NSG, and 'AlwaysAllow' overrides the NSGs.

A rule is open to the Internet when the union of its sources admits more public addresses than the
policy's ``maxPublicSourceAddresses`` (see ``_addresses``). The one exposure Azure requires, inbound
TCP 443 on the NSG of ``AzureBastionSubnet``, takes the stack to see (an NSG does not know its
subnets), so nsg-deny-http-from-internet is a stack policy.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from pulumi_policy import PolicyResource

from ._addresses import Admitted, admitted
from ._props import UNKNOWN, canonical_type, eq, fmt, get, items, number, one_of, peek, present
from ._stack import StackView
from .metadata import Control, resource_rule, stack_rule
from .privatelink import ArmId, subnet_name

VNET = "azure-native:network:VirtualNetwork"
SUBNET = "azure-native:network:Subnet"
NSG = "azure-native:network:NetworkSecurityGroup"
SECURITY_RULE = "azure-native:network:SecurityRule"
FLOW_LOG = "azure-native:network:FlowLog"
ADMIN_RULE = "azure-native:network:AdminRule"

#: Subnets Azure manages itself, which must not (or need not) carry an NSG or PE policies.
PLATFORM_SUBNETS = frozenset(s.casefold() for s in (
    "GatewaySubnet", "AzureFirewallSubnet", "AzureFirewallManagementSubnet", "RouteServerSubnet"))
#: Azure's recursive resolver, reachable from every VNet.
AZURE_DNS = ipaddress.ip_address("168.63.129.16")


# -- subnets, in both shapes -------------------------------------------------------------------

@dataclass(frozen=True)
class SubnetView:
    """A subnet's properties and how to name it in a message."""

    props: Mapping[str, Any]
    name: str  # the subnet's Azure name when known
    where: str  # "Subnet 'x'" or "Virtual network 'v' subnet 'x'"
    prefix: str  # property path prefix for messages: "" or "subnets[0]."

    @property
    def platform(self) -> bool:
        return self.name.casefold() in PLATFORM_SUBNETS


def subnets(args: Any) -> list[SubnetView]:
    """The subnets a Subnet resource or a VirtualNetwork (inline ``subnets[]``) declares."""
    if canonical_type(args.resource_type) == SUBNET:
        name = get(args.props, "subnetName")
        name = name if isinstance(name, str) else args.name
        return [SubnetView(args.props, name, f"Subnet '{args.name}'", "")]
    views = []
    for i, subnet in enumerate(items(get(args.props, "subnets"))):
        name = get(subnet, "name")
        name = name if isinstance(name, str) else f"#{i}"
        views.append(SubnetView(subnet, name, f"Virtual network '{args.name}' subnet '{name}'", f"subnets[{i}]."))
    return views


def subnet_problems(subnet: SubnetView) -> dict[str, str]:
    """What each subnet control finds wrong with a subnet, keyed by policy name."""
    problems: dict[str, str] = {}
    if subnet.platform:
        return problems
    if not present(subnet.props, "networkSecurityGroup.id"):
        problems["subnet-nsg-associated"] = (
            f"{subnet.where} has no network security group ({subnet.prefix}networkSecurityGroup.id is not set); "
            "associate an NSG that denies inbound Internet traffic.")
    policies = get(subnet.props, "privateEndpointNetworkPolicies")
    if not one_of(policies, ("Enabled", "NetworkSecurityGroupEnabled")):
        problems["subnet-pe-network-policies-enabled"] = (
            f"{subnet.where} does not apply its NSG to private endpoint traffic "
            f"({subnet.prefix}privateEndpointNetworkPolicies is {fmt(policies)}); set it to 'Enabled' or "
            "'NetworkSecurityGroupEnabled'.")
    outbound = get(subnet.props, "defaultOutboundAccess")
    if outbound is not False:
        state = "is not set, which means true for network API versions before 2025-07-01" if outbound is None \
            else f"is {fmt(outbound)}"
        problems["private-subnet"] = (
            f"{subnet.where} has default outbound Internet access ({subnet.prefix}defaultOutboundAccess {state}); "
            "set it to false.")
    return problems


@resource_rule(Control(
    slug="vnet-subnets-private",
    description="Subnets declared inline in a virtual network must be private (no implicit default outbound "
                "Internet access).",
    severity=Severity.MEDIUM,
    resource_types=(VNET,),
    remediation="Set `defaultOutboundAccess` to false on every entry of `subnets` (create-time only), or declare "
                "subnets as standalone `network:Subnet` resources.",
    azure_policy=("7bca8353-aa3b-429b-904a-9229c4385837",),
    mcsb=("~NS-1",),
))
def vnet_subnets_private(args, config):
    for subnet in subnets(args):
        if not subnet.platform and "private-subnet" in (problems := subnet_problems(subnet)):
            yield problems["private-subnet"]


@resource_rule(Control(
    slug="vnet-ddos-protection",
    description="Virtual networks must be protected by an Azure DDoS Network Protection plan.",
    severity=Severity.LOW,
    resource_types=(VNET,),
    remediation="Set `enableDdosProtection` to true and `ddosProtectionPlan.id` to the plan's id.",
    cis=(("6.0.0", "8.5"),),
    azure_policy=("94de2ad3-e0c1-4caf-ad78-5d47bbc83d3d",),
    mcsb=("NS-5",),
    default_level=EnforcementLevel.DISABLED,
))
def vnet_ddos_protection(args, config):
    if get(args.props, "enableDdosProtection") is not True:
        yield (f"Virtual network '{args.name}' has no DDoS protection (enableDdosProtection is "
               f"{fmt(get(args.props, 'enableDdosProtection'))}); set it to true with a ddosProtectionPlan.")
    elif not present(args.props, "ddosProtectionPlan.id"):
        yield (f"Virtual network '{args.name}' enables DDoS protection without a plan (ddosProtectionPlan.id is "
               "not set); reference a DDoS protection plan.")


def _private_dns_server(server: Any) -> bool:
    try:
        address = ipaddress.ip_address(str(server).strip())
    except ValueError:
        return False
    return address == AZURE_DNS or address.is_private


@resource_rule(Control(
    slug="vnet-dns-azure-provided",
    description="Virtual networks must use Azure-provided DNS (168.63.129.16) or private in-VNet resolvers, so "
                "privatelink zones resolve.",
    severity=Severity.LOW,
    resource_types=(VNET,),
    remediation="Remove `dhcpOptions.dnsServers`, or list only private resolver addresses that forward to "
                "168.63.129.16.",
    checkov=("CKV_AZURE_183",),
))
def vnet_dns_azure_provided(args, config):
    servers = [s for s in items(get(args.props, "dhcpOptions.dnsServers")) if not _private_dns_server(s)]
    if servers:
        yield (f"Virtual network '{args.name}' uses DNS servers outside the network ({fmt(servers)} in "
               "dhcpOptions.dnsServers); use Azure-provided DNS or private in-VNet resolvers.")


@resource_rule(Control(
    slug="subnet-nsg-associated",
    description="Every workload and private-endpoint subnet must have a network security group (standalone "
                "subnets and inline VirtualNetwork.subnets[]; Azure's platform subnets are exempt).",
    severity=Severity.HIGH,
    resource_types=(SUBNET, VNET),
    remediation="Set `networkSecurityGroup.id` to an NSG that denies inbound Internet traffic.",
    cis=(("6.0.0", "7.11"),),
    checkov=("CKV2_AZURE_31",),
    azure_policy=("e71308d3-144b-4262-b144-efdc3cc90517",),
    mcsb=("NS-1",),
))
def subnet_nsg_associated(args, config):
    for subnet in subnets(args):
        if "subnet-nsg-associated" in (problems := subnet_problems(subnet)):
            yield problems["subnet-nsg-associated"]


@resource_rule(Control(
    slug="subnet-private-no-default-outbound",
    description="Subnets must be private: no default outbound Internet access.",
    severity=Severity.MEDIUM,
    resource_types=(SUBNET,),
    remediation="Set `defaultOutboundAccess` to false (create-time only); give workloads explicit egress "
                "(NAT gateway or firewall) if they need it.",
    azure_policy=("7bca8353-aa3b-429b-904a-9229c4385837",),
    mcsb=("~NS-1",),
))
def subnet_private_no_default_outbound(args, config):
    for subnet in subnets(args):
        if "private-subnet" in (problems := subnet_problems(subnet)):
            yield problems["private-subnet"]


@resource_rule(Control(
    slug="subnet-pe-network-policies-enabled",
    description="Subnets must apply network policies to private endpoint traffic, so NSG rules and routes "
                "take effect on it (standalone and inline subnets).",
    severity=Severity.MEDIUM,
    resource_types=(SUBNET, VNET),
    remediation="Set `privateEndpointNetworkPolicies` to 'Enabled' (or 'NetworkSecurityGroupEnabled'); the SDK "
                "fills 'Disabled' when it is omitted.",
    mcsb=("~NS-1",),
))
def subnet_pe_network_policies_enabled(args, config):
    for subnet in subnets(args):
        if "subnet-pe-network-policies-enabled" in (problems := subnet_problems(subnet)):
            yield problems["subnet-pe-network-policies-enabled"]


# -- NSG rules and AVNM security admin rules ----------------------------------------------------

#: Config property of every Internet-exposure policy: how many public addresses a rule may admit.
ALLOWANCE = "maxPublicSourceAddresses"
_ALLOWANCE_SCHEMA = {
    "type": "integer", "minimum": 0, "default": 256,
    "description": "Most public addresses the union of one rule's sources may admit before the rule counts as "
                   "open to the Internet (IPv4 and IPv6 addresses each count one). Private, shared (CGNAT), "
                   "loopback, link-local, multicast, reserved and documentation ranges are not public. The "
                   "default, 256, is one /24; '*', 'Internet', 'Any', a /0, two /1s or four /2s always exceed it, "
                   "and so does a service tag any Azure customer can send from ('AzureCloud', "
                   "'AzureFrontDoor.Backend', any tag but the platform tags VirtualNetwork, AzureLoadBalancer, "
                   "GatewayManager, AzureTrafficManager, AzureMachineLearning, BatchNodeManagement, ApiManagement, "
                   "AzureDatabricks, HDInsight, SqlManagement and AzurePlatformDNS/IMDS/LKM).",
}
#: Where Azure requires inbound HTTPS from the Internet: the subnet that hosts Azure Bastion.
BASTION_SUBNET = "AzureBastionSubnet"


def _strings(props: Any, path: str) -> list[Any]:
    """A string-or-list property as a list; reading an unknown element raises UnknownValueError (indeterminate)."""
    value = get(props, path)
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Sequence):
        return [value]
    return [get(props, [path, str(i)]) for i in range(len(value))]


@dataclass(frozen=True)
class RuleView:
    """One rule that admits or denies traffic: an NSG rule (inline or standalone) or an AVNM security admin rule."""

    props: Mapping[str, Any]
    where: str  # "Network security group 'n' rule 'r'", "Security rule 'r'" or "Admin rule 'r'"
    admin: bool = False  # an AVNM security admin rule, which is evaluated before (and may bypass) every NSG

    def inbound_allow(self) -> bool:
        # Both are required by the API; treat a missing value as the dangerous one. An admin rule's
        # 'AlwaysAllow' skips the NSGs altogether, and its 'Allow' hands the traffic on to them.
        allowing = ("Allow", "AlwaysAllow") if self.admin else ("Allow",)
        return one_of(get(self.props, "access") or "Allow", allowing) and \
            one_of(get(self.props, "direction") or "Inbound", ("Inbound",))

    def sources(self) -> list[Any]:
        """Every source of the rule, as written; a rule that names none admits any source.

        An NSG rule whose source is application security groups (and no prefix, as Azure requires)
        admits only the network interfaces in them, which have no public address.
        """
        if self.admin:
            sources = [get(self.props, ["sources", str(i), "addressPrefix"])
                       for i in range(len(_strings(self.props, "sources")))]
        else:
            sources = _strings(self.props, "sourceAddressPrefix") + _strings(self.props, "sourceAddressPrefixes")
            if not sources and _strings(self.props, "sourceApplicationSecurityGroups"):
                return []
        return sources or ["*"]

    def admitted(self) -> Admitted:
        return admitted(self.sources())

    def protocol(self) -> str:
        protocol = str(get(self.props, "protocol") or "*")
        return "*" if protocol.casefold() == "any" else protocol

    def port_ranges(self) -> list[str]:
        ranges = _strings(self.props, "destinationPortRanges") if self.admin else \
            _strings(self.props, "destinationPortRange") + _strings(self.props, "destinationPortRanges")
        return [str(r) for r in ranges] or ["*"]

    def covers_port(self, port: int) -> bool:
        return any(_range_covers(r, port) for r in self.port_ranges())

    def exposed(self, open_to: Admitted) -> str:
        """The rule as a message fragment: ``allows Tcp port(s) 22 from 'Internet'``."""
        return (f"allows {self.protocol()} port(s) {', '.join(self.port_ranges())} from "
                f"{', '.join(repr(s) for s in open_to.sources)}")


def _range_covers(text: str, port: int) -> bool:
    text = text.strip()
    if text in ("*", "0-65535"):
        return True
    low, _, high = text.partition("-")
    try:
        return int(low) <= port <= int(high or low)
    except ValueError:
        return True  # a range that can't be read is never taken as excluding the port


def security_rules(args: Any) -> list[RuleView]:
    """Inline ``securityRules[]`` of an NSG, or the standalone SecurityRule or AdminRule itself.

    ``args`` is a resource policy's arguments or a stack's resource (both have ``resource_type``,
    ``name`` and ``props``). An inline rule that is unknown as a whole makes the policy indeterminate.
    """
    kind = canonical_type(args.resource_type)
    if kind == SECURITY_RULE:
        return [RuleView(args.props, f"Security rule '{args.name}'")]
    if kind == ADMIN_RULE:
        return [RuleView(args.props, f"Admin rule '{args.name}'", admin=True)]
    views = []
    for i in range(len(items(get(args.props, "securityRules")))):
        rule = get(args.props, ["securityRules", str(i)])
        name = get(rule, "name")
        views.append(RuleView(rule, f"Network security group '{args.name}' rule "
                                    f"'{name if isinstance(name, str) else i}'"))
    return views


def _tcp(rule: RuleView) -> bool:
    return one_of(rule.protocol(), ("Tcp", "*"))


def _udp(rule: RuleView) -> bool:
    return one_of(rule.protocol(), ("Udp", "*"))


#: The specific exposures, by policy name; nsg-deny-any-inbound-from-internet reports the rest.
EXPOSURES = {
    "nsg-deny-rdp-from-internet": lambda r: _tcp(r) and r.covers_port(3389),
    "nsg-deny-ssh-from-internet": lambda r: _tcp(r) and r.covers_port(22),
    "nsg-deny-udp-from-internet": _udp,
    "nsg-deny-http-from-internet": lambda r: _tcp(r) and (r.covers_port(80) or r.covers_port(443)),
}
_WHAT = {
    "nsg-deny-rdp-from-internet": "RDP (3389)",
    "nsg-deny-ssh-from-internet": "SSH (22)",
    "nsg-deny-udp-from-internet": "UDP",
    "nsg-deny-http-from-internet": "HTTP/HTTPS (80/443)",
}


def _open_rules(args: Any, allowance: int) -> Iterator[tuple[RuleView, Admitted]]:
    """The inbound Allow rules whose sources admit more public addresses than ``allowance``."""
    for rule in security_rules(args):
        if not rule.inbound_allow():
            continue
        open_to = rule.admitted()
        if open_to.count > allowance:
            yield rule, open_to


def _exposing(args: Any, policy: str, allowance: int, exempt: Any = None) -> Iterator[str]:
    """One message per rule that exposes what ``policy`` guards; ``exempt(rule)`` may excuse a rule."""
    for rule, open_to in _open_rules(args, allowance):
        if exempt is not None and exempt(rule):
            continue
        how = f"{open_to.describe()}, more than config {ALLOWANCE} allows ({allowance})"
        if policy in EXPOSURES:
            if EXPOSURES[policy](rule):
                yield (f"{rule.where} {rule.exposed(open_to)}, exposing {_WHAT[policy]} to the Internet ({how}); "
                       "restrict the source to known private ranges or remove the rule.")
        elif not any(exposes(rule) for exposes in EXPOSURES.values()):
            yield (f"{rule.where} {rule.exposed(open_to)}; nothing in this platform is served to the Internet "
                   f"({how}), so restrict the source or remove the rule.")


_NSG_REMEDIATION = ("Remove the rule, or replace the sources ('*', 'Internet', 'Any', '0.0.0.0/0', '::/0', or "
                    "public ranges that together exceed config `maxPublicSourceAddresses`) with specific private "
                    "ranges or service tags; reach workloads through Bastion or private endpoints. The same holds "
                    "for Azure Virtual Network Manager admin rules with access 'Allow' or 'AlwaysAllow'.")


def _nsg_control(slug: str, description: str, severity: Severity, **refs: Any) -> Control:
    return Control(slug=slug, description=description, severity=severity,
                   resource_types=(NSG, SECURITY_RULE, ADMIN_RULE), remediation=_NSG_REMEDIATION, **refs)


@resource_rule(_nsg_control(
    "nsg-deny-rdp-from-internet", "No inbound Allow rule (NSG or AVNM admin rule) may expose RDP (TCP 3389) to the "
    "Internet.",
    Severity.CRITICAL, cis=(("3.0.0", "7.1"), ("6.0.0", "7.1")), checkov=("CKV_AZURE_9",),
    azure_policy=("22730e10-96f6-4aac-ad84-9383d35b5917",), mcsb=("NS-3",)), **{ALLOWANCE: _ALLOWANCE_SCHEMA})
def nsg_deny_rdp_from_internet(args, config):
    yield from _exposing(args, "nsg-deny-rdp-from-internet", config[ALLOWANCE])


@resource_rule(_nsg_control(
    "nsg-deny-ssh-from-internet", "No inbound Allow rule (NSG or AVNM admin rule) may expose SSH (TCP 22) to the "
    "Internet.",
    Severity.CRITICAL, cis=(("3.0.0", "7.2"), ("6.0.0", "7.2")), checkov=("CKV_AZURE_10",),
    azure_policy=("22730e10-96f6-4aac-ad84-9383d35b5917",), mcsb=("NS-3",)), **{ALLOWANCE: _ALLOWANCE_SCHEMA})
def nsg_deny_ssh_from_internet(args, config):
    yield from _exposing(args, "nsg-deny-ssh-from-internet", config[ALLOWANCE])


@resource_rule(_nsg_control(
    "nsg-deny-udp-from-internet", "No inbound Allow rule (NSG or AVNM admin rule) may admit UDP from the Internet.",
    Severity.HIGH, cis=(("3.0.0", "7.3"), ("6.0.0", "7.3")), checkov=("CKV_AZURE_77",), mcsb=("~NS-1",)),
    **{ALLOWANCE: _ALLOWANCE_SCHEMA})
def nsg_deny_udp_from_internet(args, config):
    yield from _exposing(args, "nsg-deny-udp-from-internet", config[ALLOWANCE])


@stack_rule(_nsg_control(
    "nsg-deny-http-from-internet", "No inbound Allow rule (NSG or AVNM admin rule) may expose HTTP or HTTPS (TCP "
    "80/443) to the Internet (nothing in this design is served publicly), except inbound HTTPS (TCP 443) on the NSG "
    "of the Azure Bastion subnet, which Azure requires.",
    Severity.HIGH, cis=(("3.0.0", "7.4"), ("6.0.0", "7.4")), checkov=("CKV_AZURE_160",), mcsb=("~NS-1",)),
    **{ALLOWANCE: _ALLOWANCE_SCHEMA})
def nsg_deny_http_from_internet(stack, config):
    allowance = config[ALLOWANCE]

    def check(resource: PolicyResource) -> list[str]:
        bastion: list[bool] = []  # whether the resource guards only Bastion subnets, looked up once if needed

        def exempt(rule: RuleView) -> bool:
            if not _bastion_https(rule):
                return False
            if not bastion:
                bastion.append(_guards_bastion_subnet(stack, resource))
            return bastion[0]

        return list(_exposing(resource, "nsg-deny-http-from-internet", allowance, exempt))

    yield from stack.each(stack.of_type(NSG, SECURITY_RULE, ADMIN_RULE), check)


@resource_rule(_nsg_control(
    "nsg-deny-any-inbound-from-internet", "No inbound Allow rule (NSG or AVNM admin rule) may admit any other "
    "traffic from the Internet (RDP, SSH, UDP and HTTP(S) exposures are reported by their own policies).",
    Severity.HIGH, azure_policy=("9daedab3-fb2d-461e-b861-71790eead4f6",), mcsb=("NS-1",)),
    **{ALLOWANCE: _ALLOWANCE_SCHEMA})
def nsg_deny_any_inbound_from_internet(args, config):
    yield from _exposing(args, "nsg-deny-any-inbound-from-internet", config[ALLOWANCE])


# -- the Azure Bastion subnet's NSG (stack) ----------------------------------------------------

def _bastion_https(rule: RuleView) -> bool:
    """The one exposure Azure Bastion needs: inbound TCP 443 only (not 80, not UDP)."""
    return not rule.admin and eq(rule.protocol(), "Tcp") and all(r.strip() == "443" for r in rule.port_ranges())


def _guards_bastion_subnet(stack: StackView, resource: PolicyResource) -> bool:
    """Whether ``resource`` (an NSG or a standalone rule of one) applies only to subnets named AzureBastionSubnet.

    An NSG is found for a standalone rule through its ``networkSecurityGroupName``; the NSG's users
    through every ``networkSecurityGroup`` input computed from it (standalone subnets, NICs...),
    inline ``subnets[]`` of virtual networks computed from it, and literal NSG ids. Anything
    unresolved, or any user that is not a Bastion subnet, keeps the rule judged as on any NSG.
    """
    if stack.is_type(resource, ADMIN_RULE):
        return False
    if stack.is_type(resource, SECURITY_RULE):
        nsgs = stack.deps(resource, "networkSecurityGroupName", NSG)
        name = stack.peek(resource, "networkSecurityGroupName")
        if not nsgs and isinstance(name, str):
            nsgs = stack.with_literal(NSG, "networkSecurityGroupName", name)
        return len(nsgs) == 1 and _guards_bastion_subnet(stack, nsgs[0])
    names = _subnets_using(stack, resource)
    return bool(names) and all(isinstance(n, str) and eq(n, BASTION_SUBNET) for n in names)


def _refers_to(stack: StackView, value: Any, nsg: PolicyResource) -> bool:
    parsed = ArmId.parse(value) if isinstance(value, str) else None
    return parsed is not None and parsed.provider_type == "microsoft.network/networksecuritygroups" and \
        parsed.names(stack, nsg, "networkSecurityGroupName")


def _subnets_using(stack: StackView, nsg: PolicyResource) -> list[Any]:
    """The names of the subnets (None for anything else, or an unknown name) an NSG may be applied to."""
    names: list[Any] = []
    for user in stack.dependents(nsg, "networkSecurityGroup"):
        names.append(subnet_name(stack, user) if stack.is_type(user, SUBNET) else None)
    if isinstance(stack.peek(nsg, "networkSecurityGroupName"), str):  # else no literal id can name it
        for user in stack.resources:  # subnets, NICs... that name it by a literal id
            if not stack.deps(user, "networkSecurityGroup") and _refers_to(
                    stack, stack.peek(user, "networkSecurityGroup.id"), nsg):
                names.append(subnet_name(stack, user) if stack.is_type(user, SUBNET) else None)
    for vnet in stack.of_type(VNET):
        computed = nsg in stack.deps(vnet, "subnets")
        inline = stack.peek(vnet, "subnets")
        if computed and inline is UNKNOWN:
            names.append(None)
        for subnet in items(inline):
            nsg_id = peek(subnet, "networkSecurityGroup.id") if subnet is not UNKNOWN else UNKNOWN
            # Dependencies are recorded per top-level input, so any inline subnet whose NSG id is
            # unknown may be the one computed from this NSG.
            if (computed and nsg_id is UNKNOWN) or _refers_to(stack, nsg_id, nsg):
                names.append(peek(subnet, "name") if subnet is not UNKNOWN else None)
    return names


# -- flow logs (stack) -------------------------------------------------------------------------

@stack_rule(Control(
    slug="vnet-flow-logs",
    description="Every virtual network must have a VNet flow log that is enabled, retains at least 90 days "
                "and feeds traffic analytics in Log Analytics.",
    severity=Severity.MEDIUM,
    resource_types=(VNET,),
    remediation="Declare an `azure-native:network:FlowLog` with `targetResourceId` set to the VNet's id, "
                "`enabled` true, `retentionPolicy` `{enabled: true, days: 90}` (or days 0 to keep forever) and "
                "`flowAnalyticsConfiguration.networkWatcherFlowAnalyticsConfiguration.enabled` true. NSG flow "
                "logs can no longer be created.",
    cis=(("3.0.0", "6.1.5"), ("3.0.0", "7.5"), ("6.0.0", "6.1.1.6"), ("6.0.0", "7.8"), ("5.0.0", "6.1.1.7")),
    checkov=("CKV_AZURE_12",),
    azure_policy=("4c3c6c5f-0d47-4402-99b8-aa543dd8bcee", "cd6f7aff-2845-4dab-99f2-6d1754a754b0"),
    mcsb=("~LT-4",),
    default_level=EnforcementLevel.DISABLED,
), minRetentionDays={"type": "integer", "minimum": 1, "default": 90,
                     "description": "Shortest flow-log retention allowed, in days (0 in the resource = forever)."})
def vnet_flow_logs(stack, config):
    minimum = config["minRetentionDays"]
    for vnet in stack.of_type(VNET):
        logs = stack.dependents(vnet, "targetResourceId", FLOW_LOG)
        if not logs:
            yield vnet, (f"Virtual network '{vnet.name}' has no flow log; declare a network:FlowLog whose "
                         "targetResourceId is the VNet's id.")
            continue
        problems = [(log, problem) for log, problem in stack.each(logs, lambda log: _flow_log_problems(log, minimum))]
        if len(problems) == len(logs):
            log, problem = problems[0]
            yield vnet, f"Virtual network '{vnet.name}' flow log '{log.name}' {problem}."


def _flow_log_problems(log: Any, minimum: int) -> list[str]:
    """Why a flow log falls short (at most one reason); reads literal fields only."""
    if get(log.props, "enabled") is False:
        return ["is disabled (enabled is false); set enabled to true"]
    retention_on = get(log.props, "retentionPolicy.enabled")
    days = number(get(log.props, "retentionPolicy.days"))
    if retention_on is not True or days is None or (days != 0 and days < minimum):
        return [f"keeps logs {fmt(days)} days (retentionPolicy.enabled is {fmt(retention_on)}); enable "
                f"retentionPolicy with at least {minimum} days (or 0 to keep forever)"]
    if get(log.props, "flowAnalyticsConfiguration.networkWatcherFlowAnalyticsConfiguration.enabled") is not True:
        return ["does not feed traffic analytics (flowAnalyticsConfiguration.networkWatcherFlowAnalytics"
                "Configuration.enabled is not true); enable it with a Log Analytics workspace"]
    return []


RULES = (
    vnet_subnets_private,
    vnet_ddos_protection,
    vnet_flow_logs,
    vnet_dns_azure_provided,
    subnet_nsg_associated,
    subnet_private_no_default_outbound,
    subnet_pe_network_policies_enabled,
    nsg_deny_rdp_from_internet,
    nsg_deny_ssh_from_internet,
    nsg_deny_udp_from_internet,
    nsg_deny_http_from_internet,
    nsg_deny_any_inbound_from_internet,
)
