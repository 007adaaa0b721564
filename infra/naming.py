"""Deterministic Azure names and endpoint URLs.

Storage account and key vault names are global DNS labels, so they need a
suffix that differs between subscriptions and stacks; it is a hash of a seed
(not a random value) so every preview of the same stack names the same
resources. Role assignment names must be GUIDs and are likewise derived, which
keeps re-runs idempotent instead of creating duplicate assignments.
"""

from __future__ import annotations

import hashlib
import re
import uuid

# Fixed namespace so role assignment GUIDs depend only on their seed.
_ROLE_ASSIGNMENT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:ai-data-platform:role-assignment")
_STORAGE_ACCOUNT_RE = re.compile(r"^[a-z0-9]{3,24}$")


def _suffix(seed: str, length: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:length]


def storage_account_name(name_prefix: str, seed: str) -> str:
    """``<prefix without hyphens>st<8 hex>``: at most 22 of the 24 allowed characters."""
    return f"{name_prefix.replace('-', '')}st{_suffix(seed, 8)}"


def key_vault_name(name_prefix: str, seed: str) -> str:
    """``<prefix>-kv-<6 hex>``: at most 22 of the 24 allowed characters."""
    return f"{name_prefix}-kv-{_suffix(seed, 6)}"


def role_assignment_name(seed: str) -> str:
    """A stable GUID for a role assignment identified by ``seed``."""
    return str(uuid.uuid5(_ROLE_ASSIGNMENT_NAMESPACE, seed))


def blob_endpoint_url(account_name: str) -> str:
    """The public-cloud primary blob endpoint of a storage account.

    Validates the name so a stray space or upper-case letter cannot produce a
    URL that clients fail to resolve.
    """
    if not _STORAGE_ACCOUNT_RE.match(account_name):
        raise ValueError(f"{account_name!r} is not a valid storage account name")
    return f"https://{account_name}.blob.core.windows.net/"
