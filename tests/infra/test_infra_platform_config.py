"""Stack-config validation of the reference program (infra/platform_config.py).

The loader is pure, so these run without a Pulumi engine: each case feeds a
mapping and pins the exact one-line error, which must name the offending key.
"""

from __future__ import annotations

import contextvars
import ipaddress
import json

import pulumi
import pytest

import platform_config
from plan_query import dev_stack_values

VALID = {
    "location": "westeurope",
    "namePrefix": "aidp-test",
    "vnetCidr": "10.0.0.0/16",
    "workloadSubnetCidr": "10.0.1.0/24",
    "privateEndpointSubnetCidr": "10.0.2.0/24",
}
VAULT_ID = (
    "/subscriptions/33333333-3333-4333-8333-333333333333/resourceGroups/keys-rg"
    "/providers/Microsoft.KeyVault/vaults/corp-keys"
)
CMK = {"keyVaultId": VAULT_ID, "keyVaultUri": "https://corp-keys.vault.azure.net/", "keyName": "storage-cmk"}
READER = "11111111-1111-4111-8111-111111111111"


def error_for(**overrides: object) -> str:
    """The message raised for VALID with ``overrides`` (a ``None`` value removes the key)."""
    raw = {**VALID, **overrides}
    raw = {key: value for key, value in raw.items() if value is not None}
    with pytest.raises(platform_config.ConfigError) as excinfo:
        platform_config.load(raw)
    return str(excinfo.value)


def test_config_valid_minimal_applies_defaults() -> None:
    settings = platform_config.load(VALID)
    assert settings.vnet_cidr == ipaddress.IPv4Network("10.0.0.0/16")
    assert settings.workload_subnet_cidr == ipaddress.IPv4Network("10.0.1.0/24")
    assert settings.private_endpoint_subnet_cidr == ipaddress.IPv4Network("10.0.2.0/24")
    assert settings.data_reader_principals == ()
    assert settings.customer_managed_key is None
    assert settings.log_retention_days == platform_config.DEFAULT_LOG_RETENTION_DAYS


def test_config_dev_stack_file_is_valid() -> None:
    settings = platform_config.load(dev_stack_values())
    assert settings.location == "westeurope"


@pytest.mark.parametrize("key", platform_config.REQUIRED_KEYS)
def test_config_missing_required_key(key: str) -> None:
    assert error_for(**{key: None}) == f"invalid config ai-data-platform:{key}: missing required value"


def test_config_empty_required_value_counts_as_missing() -> None:
    assert error_for(vnetCidr="") == "invalid config ai-data-platform:vnetCidr: missing required value"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("workloadSubnetCidr", "10.0.1.0/33"),
        ("workloadSubnetCidr", "10.0.1.0"),
        ("privateEndpointSubnetCidr", "not-a-cidr"),
        ("vnetCidr", "10.0.0.256/16"),
    ],
)
def test_config_malformed_cidr(key: str, value: str) -> None:
    assert error_for(**{key: value}) == f"invalid config ai-data-platform:{key}: {value!r} is not a valid CIDR"


def test_config_cidr_with_host_bits() -> None:
    assert error_for(workloadSubnetCidr="10.0.1.5/24") == (
        "invalid config ai-data-platform:workloadSubnetCidr: '10.0.1.5/24' has host bits set "
        "(did you mean '10.0.1.0/24'?)"
    )


def test_config_ipv6_cidr_rejected() -> None:
    assert error_for(vnetCidr="fd00::/48") == (
        "invalid config ai-data-platform:vnetCidr: 'fd00::/48' is not an IPv4 CIDR"
    )


def test_config_overlapping_subnets() -> None:
    assert error_for(privateEndpointSubnetCidr="10.0.1.128/25") == (
        "invalid config ai-data-platform:privateEndpointSubnetCidr: '10.0.1.128/25' "
        "overlaps workloadSubnetCidr '10.0.1.0/24'"
    )


@pytest.mark.parametrize("key", ["workloadSubnetCidr", "privateEndpointSubnetCidr"])
def test_config_subnet_outside_vnet(key: str) -> None:
    assert error_for(**{key: "10.1.0.0/24"}) == (
        f"invalid config ai-data-platform:{key}: '10.1.0.0/24' is not inside vnetCidr '10.0.0.0/16'"
    )


def test_config_subnet_larger_than_vnet_is_outside() -> None:
    assert error_for(vnetCidr="10.0.1.0/24", workloadSubnetCidr="10.0.0.0/16") == (
        "invalid config ai-data-platform:workloadSubnetCidr: '10.0.0.0/16' is not inside vnetCidr '10.0.1.0/24'"
    )


def test_config_subnet_smaller_than_azure_minimum() -> None:
    assert error_for(workloadSubnetCidr="10.0.1.0/30") == (
        "invalid config ai-data-platform:workloadSubnetCidr: '10.0.1.0/30' is smaller than /29, "
        "the smallest subnet Azure allows"
    )


@pytest.mark.parametrize("value", ["West Europe", "west-europe", 42])
def test_config_bad_location(value: object) -> None:
    assert error_for(location=value) == (
        f"invalid config ai-data-platform:location: {value!r} is not a canonical Azure region name "
        "(e.g. 'westeurope')"
    )


@pytest.mark.parametrize("value", ["ai", "AIDP", "1aidp", "aidp--dev", "aidp-", "aidp-platform-dev"])
def test_config_bad_name_prefix(value: str) -> None:
    assert error_for(namePrefix=value).startswith(f"invalid config ai-data-platform:namePrefix: {value!r} must be")


@pytest.mark.parametrize("value", [7, 29, 731, "ninety", True, -1])
def test_config_bad_log_retention(value: object) -> None:
    assert error_for(logRetentionDays=value) == (
        f"invalid config ai-data-platform:logRetentionDays: {value!r} must be a whole number of days from 30 to 730"
    )


@pytest.mark.parametrize(("value", "days"), [(30, 30), ("365", 365), (730, 730)])
def test_config_log_retention_accepts_ints_and_digit_strings(value: object, days: int) -> None:
    assert platform_config.load({**VALID, "logRetentionDays": value}).log_retention_days == days


def test_config_data_readers_parsed() -> None:
    settings = platform_config.load(
        {**VALID, "dataReaderPrincipals": [{"principalId": READER.upper(), "principalType": "Group"}]}
    )
    assert settings.data_reader_principals == (platform_config.Principal(READER, "Group"),)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            READER,
            "invalid config ai-data-platform:dataReaderPrincipals: "
            "must be a list of {principalId, principalType} objects",
        ),
        (
            [READER],
            "invalid config ai-data-platform:dataReaderPrincipals[0]: "
            "must be an object with principalId and principalType",
        ),
        (
            [{"principalId": "not-a-guid", "principalType": "User"}],
            "invalid config ai-data-platform:dataReaderPrincipals[0].principalId: 'not-a-guid' is not a GUID",
        ),
        (
            [{"principalId": READER, "principalType": "Robot"}],
            "invalid config ai-data-platform:dataReaderPrincipals[0].principalType: "
            "'Robot' is not one of User, Group, ServicePrincipal",
        ),
        (
            [{"principalId": READER, "principalType": "User"}, {"principalId": READER, "principalType": "Group"}],
            f"invalid config ai-data-platform:dataReaderPrincipals[1].principalId: '{READER}' is listed more than once",
        ),
    ],
    ids=["not-a-list", "bare-id", "bad-guid", "bad-type", "duplicate"],
)
def test_config_bad_data_readers(value: object, expected: str) -> None:
    assert error_for(dataReaderPrincipals=value) == expected


def test_config_customer_managed_key_parsed() -> None:
    cmk = platform_config.load({**VALID, "customerManagedKey": CMK}).customer_managed_key
    assert cmk == platform_config.CustomerManagedKey(
        key_vault_id=VAULT_ID,
        key_vault_uri="https://corp-keys.vault.azure.net/",
        key_name="storage-cmk",
        key_version=None,
    )


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            {"keyVaultId": "/subscriptions/x/vaults/corp-keys"},
            "invalid config ai-data-platform:customerManagedKey.keyVaultId: "
            "'/subscriptions/x/vaults/corp-keys' is not a Key Vault resource id",
        ),
        (
            {"keyVaultUri": "http://corp-keys.vault.azure.net/"},
            "invalid config ai-data-platform:customerManagedKey.keyVaultUri: "
            "'http://corp-keys.vault.azure.net/' is not an https:// vault URI",
        ),
        (
            {"keyVaultUri": "https://other-keys.vault.azure.net/"},
            "invalid config ai-data-platform:customerManagedKey.keyVaultUri: "
            "'https://other-keys.vault.azure.net/' does not name vault 'corp-keys' from keyVaultId",
        ),
        (
            {"keyName": "storage cmk"},
            "invalid config ai-data-platform:customerManagedKey.keyName: 'storage cmk' is not a Key Vault key name",
        ),
        (
            {"keyVersion": "latest"},
            "invalid config ai-data-platform:customerManagedKey.keyVersion: "
            "'latest' is not a 32-hex-digit key version",
        ),
    ],
    ids=["vault-id", "uri-scheme", "uri-other-vault", "key-name", "key-version"],
)
def test_config_bad_customer_managed_key(override: dict[str, str], expected: str) -> None:
    assert error_for(customerManagedKey={**CMK, **override}) == expected


def test_config_error_is_a_one_line_run_error() -> None:
    """RunError makes the engine print the message without a Python traceback."""
    with pytest.raises(pulumi.RunError) as excinfo:
        platform_config.load({**VALID, "workloadSubnetCidr": "10.0.1.0/33"})
    assert "\n" not in str(excinfo.value)
    assert excinfo.value.key == "workloadSubnetCidr"


def test_config_wrapper_reads_stack_values() -> None:
    """``from_stack_config`` parses YAML lists/objects (JSON in the engine) and scalars."""
    stack = {f"ai-data-platform:{key}": value for key, value in VALID.items()}
    stack["ai-data-platform:logRetentionDays"] = "60"
    stack["ai-data-platform:dataReaderPrincipals"] = json.dumps([{"principalId": READER, "principalType": "User"}])
    stack["ai-data-platform:customerManagedKey"] = json.dumps(CMK)

    def read() -> platform_config.Settings:
        # Runs in a copied context so the global Pulumi config is left untouched.
        pulumi.runtime.set_all_config(stack)
        return platform_config.from_stack_config()

    settings = contextvars.copy_context().run(read)
    assert settings.log_retention_days == 60
    assert settings.data_reader_principals == (platform_config.Principal(READER, "User"),)
    assert settings.customer_managed_key is not None
    assert settings.customer_managed_key.key_name == "storage-cmk"
