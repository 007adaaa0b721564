"""Monitoring: diagnostic settings that ship resource logs to the central Log Analytics workspace.

A setting's target is the resource its ``resourceUri`` was computed from (for blob logs, the account
or its ``BlobServiceProperties``); its workspace is the resource ``workspaceId`` came from. The
per-type policies require a setting with the right logs on every resource of their type and report
on that resource; diag-coverage does the same for further types listed in its config.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from pulumi_policy import EnforcementLevel, PolicyResource, Severity

from ._props import UNKNOWN, eq, fmt, get, items, label, peek, present
from ._stack import StackView
from .metadata import Control, resource_rule, stack_rule

DIAGNOSTIC_SETTING = "azure-native:monitor:DiagnosticSetting"
LOG_ANALYTICS = "azure-native:operationalinsights:Workspace"
VAULT = "azure-native:keyvault:Vault"
ACCOUNT = "azure-native:storage:StorageAccount"
BLOB_SERVICE = "azure-native:storage:BlobServiceProperties"
WORKSPACE = "azure-native:machinelearningservices:Workspace"
NSG = "azure-native:network:NetworkSecurityGroup"


def settings_for(stack: StackView, target: PolicyResource) -> list[PolicyResource]:
    """Diagnostic settings whose resourceUri was computed from ``target`` (or its blob service)."""
    settings = stack.dependents(target, "resourceUri", DIAGNOSTIC_SETTING)
    if stack.is_type(target, ACCOUNT):
        for service in stack.dependents(target, "accountName", BLOB_SERVICE):
            settings += [s for s in stack.dependents(service, "resourceUri", DIAGNOSTIC_SETTING) if s not in settings]
    return settings


def enabled_logs(stack: StackView, setting: PolicyResource) -> tuple[set[str], set[str]] | None:
    """(categories, category groups) the setting enables, lower-cased; None if an entry is unknown."""
    categories: set[str] = set()
    groups: set[str] = set()
    for i, entry in enumerate(items(stack.peek(setting, "logs"))):
        if entry is UNKNOWN:
            stack.unresolved(setting, f"logs.{i}")
            return None
        keys = ("enabled", "category", "categoryGroup")
        values = dict(zip(keys, (peek(entry, k) for k in keys)))
        unknown = [k for k, v in values.items() if v is UNKNOWN]
        if unknown:
            stack.unresolved(setting, f"logs.{i}.{unknown[0]}")
            return None
        enabled, category, group = values.values()
        if enabled is not True:
            continue
        if isinstance(category, str):
            categories.add(category.casefold())
        if isinstance(group, str):
            groups.add(group.casefold())
    return categories, groups


LogsTest = Callable[[set[str], set[str]], bool]


def _logs_required(stack: StackView, target_type: str, what: str, satisfied: LogsTest,
                   hint: str) -> Iterator[tuple[PolicyResource, str]]:
    for target in stack.of_type(target_type):
        settings = settings_for(stack, target)
        noun = f"{label(target.resource_type)} '{target.name}'"
        if not settings:
            yield target, (f"{noun} has no diagnostic setting, so its {what} are not kept; add a "
                           f"monitor:DiagnosticSetting with {hint} and workspaceId set to the Log Analytics workspace.")
            continue
        enabled = [(s, enabled_logs(stack, s)) for s in settings]
        if any(logs is None for _, logs in enabled):
            continue
        logging = [s for s, logs in enabled if satisfied(*logs)]
        if not logging:
            yield target, (f"{noun} diagnostic setting(s) {stack.names(settings)} do not send its {what}; enable "
                           f"{hint}.")
        elif not any(present(s.props, "workspaceId") for s in logging):
            yield target, (f"{noun} diagnostic setting(s) {stack.names(logging)} send its {what} but not to Log "
                           "Analytics (workspaceId is not set); set workspaceId.")


@stack_rule(Control(
    slug="diag-kv-audit-logs",
    description="Every key vault must send its audit logs to Log Analytics through a diagnostic setting.",
    severity=Severity.HIGH,
    resource_types=(VAULT,),
    remediation="Declare a `monitor:DiagnosticSetting` with `resourceUri` the vault's id, `logs` "
                "`[{categoryGroup: 'audit', enabled: true}]` (or 'allLogs', or category 'AuditEvent') and "
                "`workspaceId` the central Log Analytics workspace.",
    cis=(("3.0.0", "6.1.4"), ("6.0.0", "6.1.1.4")),
    azure_policy=("cf820ca0-f99e-4f3e-84fb-66e913812d21", "bef3f64c-5290-43b7-85b0-9b254eef4c47",
                  "951af2fa-529b-416e-ab6e-066fd85ac459"),
    mcsb=("DP-8", "LT-3"),
))
def diag_kv_audit_logs(stack, config):
    yield from _logs_required(
        stack, VAULT, "audit logs",
        lambda categories, groups: bool(groups & {"audit", "alllogs"}) or "auditevent" in categories,
        "categoryGroup 'audit' (or 'allLogs', or category 'AuditEvent')")


_BLOB_CATEGORIES = {"storageread", "storagewrite", "storagedelete"}


@stack_rule(Control(
    slug="diag-storage-blob-logs",
    description="Every storage account must send blob read, write and delete logs to Log Analytics (a diagnostic "
                "setting on its blobServices/default).",
    severity=Severity.MEDIUM,
    resource_types=(ACCOUNT,),
    remediation="Declare a `monitor:DiagnosticSetting` with `resourceUri` `<account id>/blobServices/default`, "
                "`logs` enabling categoryGroup 'audit' or 'allLogs' (or categories StorageRead, StorageWrite and "
                "StorageDelete) and `workspaceId` the central workspace. The account itself only has metrics.",
    cis=(("3.0.0", "4.13"),),
    checkov=("CKV2_AZURE_21",),
    azure_policy=("b4fe1a3b-0715-4c6c-a5ea-ffc33cf823cb",),
    mcsb=("~LT-3",),
))
def diag_storage_blob_logs(stack, config):
    yield from _logs_required(
        stack, ACCOUNT, "blob read/write/delete logs",
        lambda categories, groups: bool(groups & {"audit", "alllogs"}) or _BLOB_CATEGORIES <= categories,
        "categoryGroup 'audit' or 'allLogs' (or categories StorageRead, StorageWrite and StorageDelete) on "
        "blobServices/default")


@stack_rule(Control(
    slug="diag-ml-workspace-logs",
    description="Every ML workspace must send its resource logs to Log Analytics.",
    severity=Severity.MEDIUM,
    resource_types=(WORKSPACE,),
    remediation="Declare a `monitor:DiagnosticSetting` with `resourceUri` the workspace's id, `logs` "
                "`[{categoryGroup: 'allLogs', enabled: true}]` (or 'audit') and `workspaceId` the central workspace.",
    azure_policy=("afe0c3be-ba3b-4544-ba52-0c99672a8ad6", "f59276f0-5740-4aaf-821d-45d185aa210e"),
    mcsb=("LT-3",),
))
def diag_ml_workspace_logs(stack, config):
    yield from _logs_required(
        stack, WORKSPACE, "resource logs",
        lambda categories, groups: bool(groups & {"audit", "alllogs"}),
        "categoryGroup 'allLogs' or 'audit'")


_NSG_CATEGORIES = {"networksecuritygroupevent", "networksecuritygrouprulecounter"}


@stack_rule(Control(
    slug="diag-nsg-logs",
    description="Every network security group must send its event and rule-counter logs to Log Analytics "
                "(optional: turn it on where NSG logs are wanted).",
    severity=Severity.LOW,
    resource_types=(NSG,),
    remediation="Declare a `monitor:DiagnosticSetting` with `resourceUri` the NSG's id, `logs` "
                "`[{categoryGroup: 'allLogs', enabled: true}]` and `workspaceId` the central workspace.",
    azure_policy=("98a2e215-5382-489e-bd29-32e7190a39ba",),
    mcsb=("~LT-4",),
    default_level=EnforcementLevel.DISABLED,
))
def diag_nsg_logs(stack, config):
    yield from _logs_required(
        stack, NSG, "event and rule-counter logs",
        lambda categories, groups: "alllogs" in groups or _NSG_CATEGORIES <= categories,
        "categoryGroup 'allLogs'")


#: Resource types whose logs only go to the AzureDiagnostics table (no resource-specific tables).
SHARED_TABLE_ONLY = (NSG,)


@stack_rule(Control(
    slug="diag-destination-central-law",
    description="Diagnostic settings must send to the approved central Log Analytics workspace, into "
                "resource-specific tables, and nowhere else (no storage account or event hub).",
    severity=Severity.MEDIUM,
    resource_types=(DIAGNOSTIC_SETTING,),
    remediation="Set `workspaceId` to the central workspace's id (config `workspaceIds` pins it), "
                "`logAnalyticsDestinationType` to 'Dedicated' (NSG logs, which only have the shared table, are "
                "exempt), and remove `storageAccountId` and `eventHubAuthorizationRuleId`.",
    cis=(("6.0.0", "6.1.4"),),
    mcsb=("~LT-3", "~LT-5"),
), workspaceIds={"type": "array", "items": {"type": "string"}, "default": [],
                 "description": "Approved workspace ids; empty allows any Log Analytics workspace in the stack."})
def diag_destination_central_law(stack, config):
    approved = {w.casefold() for w in config["workspaceIds"]}
    for setting in stack.of_type(DIAGNOSTIC_SETTING):
        problems = []
        workspace = stack.peek(setting, "workspaceId")
        if workspace is None:
            problems.append("workspaceId is not set")
        elif isinstance(workspace, str):
            if approved and workspace.casefold() not in approved:
                problems.append(f"workspaceId {fmt(workspace)} is not an approved workspace")
        elif not stack.deps(setting, "workspaceId", LOG_ANALYTICS):
            if stack.deps(setting, "workspaceId"):
                problems.append("workspaceId does not come from a Log Analytics workspace")
            else:
                stack.unresolved(setting, "workspaceId")
        destination = stack.peek(setting, "logAnalyticsDestinationType")
        targets = stack.deps(setting, "resourceUri")
        shared_only = bool(targets) and all(stack.is_type(t, *SHARED_TABLE_ONLY) for t in targets)
        if destination is not UNKNOWN and not shared_only and not eq(destination, "Dedicated"):
            problems.append(f"logAnalyticsDestinationType is {fmt(destination)}, so logs land in the shared "
                            "AzureDiagnostics table")
        for other in ("storageAccountId", "eventHubAuthorizationRuleId"):
            if present(setting.props, other):
                problems.append(f"{other} sends a copy outside the workspace")
        if problems:
            yield setting, (f"Diagnostic setting '{setting.name}' does not send only to the central workspace: "
                            f"{'; '.join(problems)}. Use workspaceId of the central workspace with "
                            "logAnalyticsDestinationType 'Dedicated'.")


#: Types that emit resource logs and have no dedicated diag-* policy.
DEFAULT_COVERED_TYPES = [
    "azure-native:containerregistry:Registry",
    "azure-native:cognitiveservices:Account",
    "azure-native:search:Service",
    "azure-native:keyvault:ManagedHsm",
]


@stack_rule(Control(
    slug="diag-coverage",
    description="Every other resource type that emits resource logs (config `resourceTypes`) must have a "
                "diagnostic setting; key vaults, storage accounts, ML workspaces and NSGs have their own diag-* "
                "policies.",
    severity=Severity.MEDIUM,
    resource_types=(DIAGNOSTIC_SETTING,),
    remediation="Declare a `monitor:DiagnosticSetting` with `resourceUri` the resource's id, `logs` "
                "`[{categoryGroup: 'allLogs', enabled: true}]` and `workspaceId` the central workspace; extend "
                "config `resourceTypes` as the platform grows.",
    cis=(("3.0.0", "6.4"), ("6.0.0", "6.1.4")),
    mcsb=("~LT-3",),
), resourceTypes={"type": "array", "items": {"type": "string"}, "default": DEFAULT_COVERED_TYPES,
                  "description": "azure-native type tokens whose resources must have a diagnostic setting."})
def diag_coverage(stack, config):
    for target in stack.of_type(*config["resourceTypes"]):
        if not settings_for(stack, target):
            yield target, (f"{label(target.resource_type)} '{target.name}' has no diagnostic setting; add a "
                           "monitor:DiagnosticSetting that sends its logs to the central Log Analytics workspace.")


@resource_rule(Control(
    slug="diag-no-legacy-retention",
    description="Diagnostic settings must not rely on per-setting retention policies (retired 30 Sep 2025); "
                "retention belongs to the Log Analytics workspace.",
    severity=Severity.LOW,
    resource_types=(DIAGNOSTIC_SETTING,),
    remediation="Remove `retentionPolicy` from `logs[]` and `metrics[]` (or set it to `{enabled: false, days: 0}`) "
                "and set retention on the Log Analytics workspace (at least 90 days).",
    mcsb=("~LT-6",),
))
def diag_no_legacy_retention(args, config):
    for kind in ("logs", "metrics"):
        for i, entry in enumerate(items(get(args.props, kind))):
            enabled = get(entry, "retentionPolicy.enabled")
            days = get(entry, "retentionPolicy.days")
            if enabled is True or (days not in (None, 0)):
                yield (f"Diagnostic setting '{args.name}' sets a retired retention policy on {kind}[{i}] "
                       f"(retentionPolicy is enabled {fmt(enabled)}, days {fmt(days)}); remove it and keep "
                       "retention in the Log Analytics workspace.")
                return


RULES = (
    diag_kv_audit_logs,
    diag_storage_blob_logs,
    diag_ml_workspace_logs,
    diag_nsg_logs,
    diag_destination_central_law,
    diag_coverage,
    diag_no_legacy_retention,
)
