"""Waivers as code: reviewed, owned, expiring exceptions for one policy on matching resources.

The file (``--waivers FILE``, or ``policy-waivers.yaml`` in the project)::

    waivers:
      - policy: storage-disable-shared-key
        resource: "*::aidatastorage"        # glob matched against the URN
        reason: Legacy ingestion still signs with the account key; migration tracked in DATA-412.
        owner: data-platform@example.com
        expires: 2027-01-31                 # UTC date, inclusive

How far ahead a waiver may expire, and whether critical-severity policies may be waived at all, is
set in the pack's config (see :mod:`crossgate.packs.settings`), never in the waivers file, which the
change under review controls.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
from pathlib import Path
from typing import Any

import yaml

from .errors import InputError
from .model import FindingKind, GateResult, Severity, Waiver

DEFAULT_FILE = "policy-waivers.yaml"
REQUIRED = ("policy", "resource", "reason", "owner", "expires")


def today_utc() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def load_waivers(path: str | Path) -> list[Waiver]:
    """Parse and shape-check a waivers file; policy names and dates are checked by :func:`apply`."""
    where = f"waivers file {path}"
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read {where}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise InputError(f"{where} is not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if doc is None:
        return []
    if not isinstance(doc, dict) or set(doc) != {"waivers"} or not isinstance(doc["waivers"], list):
        raise InputError(f"{where} must be a mapping with one key, 'waivers', holding a list")
    waivers = []
    for i, entry in enumerate(doc["waivers"], start=1):
        if not isinstance(entry, dict):
            raise InputError(f"{where}: waiver #{i} must be a mapping")
        missing = [k for k in REQUIRED if entry.get(k) in (None, "")]
        if missing:
            raise InputError(f"{where}: waiver #{i} is missing {', '.join(missing)}")
        unknown = sorted(set(entry) - set(REQUIRED))
        if unknown:
            raise InputError(f"{where}: waiver #{i} has unknown field(s) {', '.join(unknown)}")
        expires = entry["expires"]
        if isinstance(expires, str):
            try:
                expires = dt.date.fromisoformat(expires)
            except ValueError:
                raise InputError(f"{where}: waiver #{i} expires {entry['expires']!r} is not a date "
                                 "(YYYY-MM-DD)") from None
        if not isinstance(expires, dt.date) or isinstance(expires, dt.datetime):
            raise InputError(f"{where}: waiver #{i} expires must be a date (YYYY-MM-DD)")
        waivers.append(Waiver(policy=str(entry["policy"]), resource=str(entry["resource"]),
                              reason=str(entry["reason"]).strip(), owner=str(entry["owner"]),
                              expires=expires.isoformat()))
    return waivers


def default_waivers_path(project_dir: str | Path) -> Path | None:
    path = Path(project_dir) / DEFAULT_FILE
    return path if path.exists() else None


def apply(result: GateResult, waivers: list[Waiver], *, today: dt.date, settings: dict[str, Any],
          where: str) -> None:
    """Mark the findings each active waiver covers; record expired and unused waivers.

    ``settings`` maps a pack name to its :class:`~crossgate.packs.settings.GateSettings`.
    Raises :class:`InputError` for a waiver that names an unknown policy, expires too far ahead,
    or waives a critical-severity policy its pack does not allow to be waived.
    """
    active: list[Waiver] = []
    for waiver in waivers:
        # A policy name may exist in several packs; the waiver covers all of them, so it must be
        # allowed by every one of them.
        owners = [(pack, pack.policy(waiver.policy)) for pack in result.packs if pack.policy(waiver.policy)]
        if not owners:
            raise InputError(f"{where}: waiver for '{waiver.policy}' names a policy that no pack has")
        expires = dt.date.fromisoformat(waiver.expires)
        for pack, policy in owners:
            pack_settings = settings[pack.name]
            limit = today + dt.timedelta(days=pack_settings.waiver_max_days)
            if expires > limit:
                raise InputError(f"{where}: waiver for '{waiver.policy}' on '{waiver.resource}' expires "
                                 f"{waiver.expires}, more than {pack_settings.waiver_max_days} days ahead "
                                 f"(latest allowed: {limit.isoformat()})")
            if policy.severity is Severity.CRITICAL and not pack_settings.allow_critical_waivers:
                raise InputError(f"{where}: '{waiver.policy}' is critical and {pack.name} does not allow "
                                 "critical policies to be waived")
        if expires < today:
            result.expired_waivers.append(waiver)
        else:
            active.append(waiver)

    used: set[int] = set()
    findings = []
    for finding in result.findings:
        if finding.kind is not FindingKind.NOT_APPLICABLE and finding.waiver is None:
            for i, waiver in enumerate(active):
                if waiver.policy == finding.policy and fnmatch.fnmatchcase(finding.urn, waiver.resource):
                    finding = dataclasses.replace(finding, waiver=waiver)
                    used.add(i)
                    break
        findings.append(finding)
    result.findings = findings
    result.unused_waivers.extend(w for i, w in enumerate(active) if i not in used)
