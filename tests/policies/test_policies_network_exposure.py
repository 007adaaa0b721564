"""Internet exposure however it is written (issue 12, item 3) and the Azure Bastion NSG (a compliant design).

A rule's sources are judged together, by the public addresses they admit: '*' and 'Internet', a
/0, two /1 halves, four /2 quarters and large public ranges all expose, in ``sourceAddressPrefix``
and ``sourceAddressPrefixes``, on an NSG's inline rules, a standalone SecurityRule and an Azure
Virtual Network Manager admin rule. Private, shared, documentation and other non-public ranges
don't. The NSG that guards only ``AzureBastionSubnet`` may admit TCP 443 from the Internet, and
nothing else.
"""

from __future__ import annotations

import pytest

from crossgate.testing import Resource, evaluate
from crossgate.wire import UNKNOWN
from crossgate_azure_policies._addresses import admitted
from policy_cases import assert_case, evaluate_cases, fail, ok
from policy_stack import REPO_PACK, U, Spec, add, chain, diagnostics, set_

SSH, RDP, HTTP, UDP, ANY = ("nsg-deny-ssh-from-internet", "nsg-deny-rdp-from-internet", "nsg-deny-http-from-internet",
                            "nsg-deny-udp-from-internet", "nsg-deny-any-inbound-from-internet")
#: Each case's copy of the baseline shares its literal names, so the NSG named by a literal id has its own name.
LITERAL_NSG_NAME = "nsg-bastion-by-id"
LITERAL_NSG_ID = ("/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-data/providers/"
                  f"Microsoft.Network/networkSecurityGroups/{LITERAL_NSG_NAME}")


def rule(name: str, protocol: str, ports: str | list[str], sources: str | list[str], *, access: str = "Allow",
         direction: str = "Inbound", destination: str = "*", priority: int = 400) -> dict:
    """An NSG rule; a list of sources or ports goes to the plural property."""
    body = {"name": name, "priority": priority, "direction": direction, "access": access, "protocol": protocol,
            "sourcePortRange": "*", "destinationAddressPrefix": destination}
    body.update({"sourceAddressPrefixes": sources} if isinstance(sources, list) else {"sourceAddressPrefix": sources})
    body.update({"destinationPortRanges": ports} if isinstance(ports, list) else {"destinationPortRange": ports})
    return body


def admin_rule(access: str, protocol: str, ports: list[str], sources: list[tuple[str, str]]) -> Spec:
    """An AVNM security admin rule, which Azure evaluates before every NSG ('AlwaysAllow' skips them)."""
    return Spec("azure-native:network:AdminRule", {
        "resourceGroupName": U, "networkManagerName": "avnm", "configurationName": "security-admin",
        "ruleCollectionName": "platform", "kind": "Custom", "priority": 10, "access": access, "direction": "Inbound",
        "protocol": protocol, "sourcePortRanges": ["0-65535"], "destinationPortRanges": ports,
        "sources": [{"addressPrefix": p, "addressPrefixType": t} for p, t in sources],
        "destinations": [{"addressPrefix": "*", "addressPrefixType": "IPPrefix"}],
    }, {"resourceGroupName": ["rg"]})


#: Microsoft's documented rule set for the NSG on AzureBastionSubnet.
BASTION_RULES = [
    rule("AllowHttpsInbound", "Tcp", "443", "Internet", priority=120),
    rule("AllowGatewayManagerInbound", "Tcp", "443", "GatewayManager", priority=130),
    rule("AllowAzureLoadBalancerInbound", "Tcp", "443", "AzureLoadBalancer", priority=140),
    rule("AllowBastionHostCommunication", "*", ["8080", "5701"], "VirtualNetwork", destination="VirtualNetwork",
         priority=150),
    rule("AllowSshRdpOutbound", "*", ["22", "3389"], "*", direction="Outbound", destination="VirtualNetwork",
         priority=100),
    rule("AllowAzureCloudOutbound", "Tcp", "443", "*", direction="Outbound", destination="AzureCloud", priority=110),
    rule("AllowBastionCommunication", "*", ["8080", "5701"], "VirtualNetwork", direction="Outbound",
         destination="VirtualNetwork", priority=120),
    rule("AllowHttpOutbound", "*", "80", "*", direction="Outbound", destination="Internet", priority=130),
]


def bastion_nsg(rules: list[dict] | None = None, name: str | None = None) -> Spec:
    """The Bastion NSG; ``name`` makes its Azure name literal (else it is auto-named, so no literal id names it)."""
    return Spec("azure-native:network:NetworkSecurityGroup", {
        "resourceGroupName": "rg-data", "location": "westeurope",
        "securityRules": rules if rules is not None else BASTION_RULES,
        **({"networkSecurityGroupName": name} if name else {}),
    })


def bastion_subnet(name: str = "AzureBastionSubnet", nsg: str = "nsg-bastion") -> Spec:
    """A standalone subnet whose NSG is computed from ``nsg``."""
    return Spec("azure-native:network:Subnet", {
        "resourceGroupName": U, "virtualNetworkName": U, "subnetName": name, "addressPrefix": "10.20.250.0/26",
        "defaultOutboundAccess": False, "privateEndpointNetworkPolicies": "Enabled",
        "privateLinkServiceNetworkPolicies": "Enabled", "networkSecurityGroup": {"id": U},
    }, {"resourceGroupName": ["rg"], "virtualNetworkName": ["vnet"], "networkSecurityGroup": [nsg]})


def with_bastion(*more, subnet: Spec | None = None, nsg: Spec | None = None):
    """The baseline plus the Bastion NSG (with its diagnostics) on a standalone AzureBastionSubnet."""
    return chain(add("nsg-bastion", nsg or bastion_nsg()), add("diag-nsg-bastion", diagnostics("nsg-bastion", ["allLogs"])),
                 add("snet-bastion", subnet or bastion_subnet()), *more)


INLINE_BASTION_SUBNET = {
    "name": "AzureBastionSubnet", "addressPrefix": "10.30.250.0/26", "defaultOutboundAccess": False,
    "privateEndpointNetworkPolicies": "Enabled", "privateLinkServiceNetworkPolicies": "Enabled",
    "networkSecurityGroup": {"id": LITERAL_NSG_ID},
}
FOUR_QUARTERS = ["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/2"]

CASES = [
    # -- the public Internet, written another way ---------------------------------------------------
    fail(SSH, "nsg-pe", set_("nsg-pe", "securityRules.1", rule("halves", "Tcp", "22", ["0.0.0.0/1", "128.0.0.0/1"])),
         "rule 'halves' allows Tcp port(s) 22 from '0.0.0.0/1', '128.0.0.0/1', exposing SSH (22) to the Internet "
         "(every public IPv4 address", variant="two-halves"),
    fail(RDP, "rule-bastion-ssh", chain(
        set_("rule-bastion-ssh", "sourceAddressPrefix", FOUR_QUARTERS[0]),
        set_("rule-bastion-ssh", "sourceAddressPrefixes", FOUR_QUARTERS[1:]),
        set_("rule-bastion-ssh", "destinationPortRange", "3380-3390")),
         "allows Tcp port(s) 3380-3390 from '0.0.0.0/2', '64.0.0.0/2', '128.0.0.0/2', '192.0.0.0/2', exposing RDP "
         "(3389)", variant="quarters-split-across-properties"),
    fail(UDP, "nsg-workload", set_("nsg-workload", "securityRules.3", rule("wide", "Udp", "500", "52.0.0.0/8")),
         "rule 'wide' allows Udp port(s) 500 from '52.0.0.0/8', exposing UDP to the Internet (16,777,216 public IPv4 "
         "addresses, more than config maxPublicSourceAddresses allows (256))", variant="large-public-range"),
    fail(ANY, "nsg-pe", set_("nsg-pe", "securityRules.1", rule("v6", "Tcp", "8443", ["10.0.0.0/8", "2000::/3"])),
         "rule 'v6' allows Tcp port(s) 8443 from '2000::/3'; nothing in this platform is served to the Internet",
         variant="ipv6-global-unicast"),
    fail(ANY, "nsg-pe", set_("nsg-pe", "securityRules.1", rule("any-tag", "Tcp", "9000", "Any")),
         "rule 'any-tag' allows Tcp port(s) 9000 from 'Any'", variant="any-tag"),
    fail(HTTP, "nsg-workload", set_("nsg-workload", "securityRules.3",
                                    rule("public-ranges", "Tcp", "443", ["52.0.0.0/24", "52.0.1.0/24"])),
         "from '52.0.0.0/24', '52.0.1.0/24', exposing HTTP/HTTPS (80/443) to the Internet (512 public IPv4 addresses",
         variant="union-over-allowance"),
    # -- Azure Virtual Network Manager admin rules bypass the NSGs ----------------------------------
    fail(SSH, "admin", add("admin", admin_rule("AlwaysAllow", "Tcp", ["22"], [("Internet", "ServiceTag")])),
         "Admin rule 'fail-nsg-deny-ssh-from-internet-admin-always-allow' allows Tcp port(s) 22 from 'Internet', "
         "exposing SSH (22)", variant="admin-always-allow"),
    fail(RDP, "admin", add("admin", admin_rule("Allow", "Any", ["3389"], [("0.0.0.0/1", "IPPrefix"),
                                                                          ("128.0.0.0/1", "IPPrefix")])),
         "allows * port(s) 3389 from '0.0.0.0/1', '128.0.0.0/1', exposing RDP (3389)", variant="admin-allow",
         also={(UDP, "admin")}),
    fail(HTTP, "admin", add("admin", admin_rule("AlwaysAllow", "Tcp", ["443"], [("*", "IPPrefix")])),
         "allows Tcp port(s) 443 from '*', exposing HTTP/HTTPS", variant="admin-https"),
    fail(SSH, "admin", chain(add("admin", admin_rule("AlwaysAllow", "Tcp", ["22"], [])), set_("admin", "sources", None)),
         "allows Tcp port(s) 22 from '*', exposing SSH (22)", variant="admin-without-sources"),
    ok("admin-rule-deny-from-internet", "admin",
       add("admin", admin_rule("Deny", "Any", ["0-65535"], [("Internet", "ServiceTag")]))),
    ok("admin-rule-from-virtual-network", "admin",
       add("admin", admin_rule("AlwaysAllow", "Tcp", ["22"], [("VirtualNetwork", "ServiceTag")]))),
    # -- ranges that are not the Internet -------------------------------------------------------------
    ok("nsg-non-public-ranges", "nsg-pe", set_("nsg-pe", "securityRules.1", rule(
        "internal", "Tcp", "22", ["10.0.0.0/8", "100.64.0.0/10", "192.168.0.0/16", "203.0.113.0/24", "fd00::/8",
                                  "fe80::/10", "2001:db8::/32"]))),
    ok("nsg-few-public-addresses", "nsg-pe", set_("nsg-pe", "securityRules.1",
                                                  rule("partner", "Tcp", "22", ["52.1.2.3", "52.1.2.4/31"]))),
    # -- the Azure Bastion subnet's NSG ---------------------------------------------------------------
    ok("bastion-nsg-on-standalone-subnet", "nsg-bastion", with_bastion()),
    ok("bastion-nsg-by-literal-id-on-inline-subnet", "nsg-bastion", chain(
        add("nsg-bastion", bastion_nsg(name=LITERAL_NSG_NAME)),
        add("diag-nsg-bastion", diagnostics("nsg-bastion", ["allLogs"])), set_("spoke", "subnets.2", INLINE_BASTION_SUBNET))),
    ok("bastion-standalone-https-rule", "rule-https", with_bastion(
        add("rule-https", Spec("azure-native:network:SecurityRule", {
            "resourceGroupName": U, "networkSecurityGroupName": U, "name": "AllowHttpsInbound", "priority": 120,
            "direction": "Inbound", "access": "Allow", "protocol": "Tcp", "sourceAddressPrefix": "Internet",
            "sourcePortRange": "*", "destinationAddressPrefix": "*", "destinationPortRange": "443",
        }, {"resourceGroupName": ["rg"], "networkSecurityGroupName": ["nsg-bastion"]})),
        nsg=bastion_nsg(BASTION_RULES[1:]))),
    fail(HTTP, "nsg-bastion", with_bastion(set_("nsg-bastion", "securityRules.0.destinationPortRanges", ["80", "443"]),
                                           set_("nsg-bastion", "securityRules.0.destinationPortRange", None)),
         "rule 'AllowHttpsInbound' allows Tcp port(s) 80, 443 from 'Internet', exposing HTTP/HTTPS",
         variant="bastion-also-80"),
    fail(HTTP, "nsg-bastion", chain(add("nsg-bastion", bastion_nsg()),
                                    add("diag-nsg-bastion", diagnostics("nsg-bastion", ["allLogs"]))),
         "rule 'AllowHttpsInbound' allows Tcp port(s) 443 from 'Internet'", variant="bastion-rules-on-no-subnet"),
    fail(HTTP, "nsg-bastion", with_bastion(add("snet-other", bastion_subnet("workload-2", "nsg-bastion"))),
         "rule 'AllowHttpsInbound' allows Tcp port(s) 443 from 'Internet'", variant="bastion-nsg-shared"),
    fail(HTTP, "nsg-bastion", chain(
        add("nsg-bastion", bastion_nsg(name="nsg-bastion-and-nic")),
        add("diag-nsg-bastion", diagnostics("nsg-bastion", ["allLogs"])),
        set_("spoke", "subnets.2", {**INLINE_BASTION_SUBNET, "networkSecurityGroup": {"id": LITERAL_NSG_ID.replace(
            LITERAL_NSG_NAME, "nsg-bastion-and-nic")}}),
        add("nic", Spec("azure-native:network:NetworkInterface", {
            "resourceGroupName": "rg-data", "location": "westeurope",
            "networkSecurityGroup": {"id": LITERAL_NSG_ID.replace(LITERAL_NSG_NAME, "NSG-BASTION-AND-NIC")},
            "ipConfigurations": [{"name": "ipconfig", "subnet": {"id": U}}]}, {"ipConfigurations": ["snet-workload"]}))),
         "rule 'AllowHttpsInbound' allows Tcp port(s) 443 from 'Internet'", variant="bastion-nsg-also-on-a-nic"),
    fail(HTTP, "nsg-bastion", with_bastion(subnet=bastion_subnet("NotBastionSubnet")),
         "rule 'AllowHttpsInbound' allows Tcp port(s) 443 from 'Internet'", variant="bastion-rules-elsewhere"),
    fail(HTTP, "nsg-workload", set_("nsg-workload", "securityRules.3", BASTION_RULES[0]),
         "Network security group 'fail-nsg-deny-http-from-internet-workload-nsg' rule 'AllowHttpsInbound' allows Tcp "
         "port(s) 443 from 'Internet'", variant="workload-nsg"),
]


@pytest.fixture(scope="module")
def gate():
    return evaluate_cases(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_exposure_case(gate, case):
    assert_case(gate, case)


@pytest.mark.parametrize("sources, count", [
    (["*"], None), (["Internet"], None), (["0.0.0.0/0"], None), (["::/0"], None),
    (["0.0.0.0/1", "128.0.0.0/1"], 3_702_258_432), (FOUR_QUARTERS, 3_702_258_432),
    (["52.0.0.0/16", "52.0.0.0/17"], 65_536),  # overlapping sources count once
    (["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
      "224.0.0.0/4", "240.0.0.0/4", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"], 0),
    (["fc00::/7", "fe80::/10", "ff00::/8", "::1", "2001:db8::/32"], 0),
    (["VirtualNetwork", "AzureLoadBalancer", "GatewayManager"], 0),
    (["52.1.2.3"], 1),
])
def test_public_addresses_are_counted_over_the_union(sources, count):
    found = admitted(sources)
    if count is None:
        assert found.ipv4 >= 3_702_258_432 or found.ipv6 >= 2 ** 124
    else:
        assert found.count == count


def test_unreadable_source_counts_as_the_whole_internet():
    assert admitted(["10.0.0.0/33"]).ipv4 == admitted(["*"]).ipv4


def _lone(name: str, props: dict) -> Resource:
    return Resource("azure-native:network:SecurityRule", name, {
        "resourceGroupName": "rg", "networkSecurityGroupName": "nsg", "priority": 100, "direction": "Inbound",
        "access": "Allow", "protocol": "Tcp", "sourcePortRange": "*", "destinationAddressPrefix": "*",
        "destinationPortRange": "22", **props})


def test_allowance_comes_from_config_and_unknown_sources_are_indeterminate():
    result = evaluate(REPO_PACK, [
        _lone("two-public-hosts", {"sourceAddressPrefixes": ["52.1.2.3", "52.1.2.4"]}),
        _lone("unknown-source", {"sourceAddressPrefixes": ["10.0.0.0/8", UNKNOWN]}),
    ], config={SSH: {"maxPublicSourceAddresses": 1}})
    assert result.errors == ()
    assert [(f.policy, f.name) for f in result.violations] == [(SSH, "two-public-hosts")]
    assert "(2 public IPv4 addresses, more than config maxPublicSourceAddresses allows (1))" in \
        result.violations[0].message
    undecided = sorted((f.policy, f.name) for f in result.indeterminate if f.name == "unknown-source")
    assert undecided == sorted((p, "unknown-source") for p in (SSH, RDP, UDP, ANY))
    (stack_level,) = [f for f in result.indeterminate if f.policy == HTTP]
    assert "sourceAddressPrefixes.1 can't be known during preview (resource 'unknown-source')" in stack_level.message
