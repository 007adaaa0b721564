"""Central logging: a Log Analytics workspace and the diagnostic settings feeding it.

Data-plane reads of training data and secrets are only visible in resource
logs, which Azure does not keep unless a diagnostic setting ships them
somewhere; without these, nobody could answer "who read this blob?".
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
from pulumi_azure_native import monitor, operationalinsights, resources

from platform_config import Settings


def create_workspace(settings: Settings, rg: resources.ResourceGroup) -> operationalinsights.Workspace:
    """Declare the workspace, keeping logs for the configured retention."""
    return operationalinsights.Workspace(
        f"{settings.name_prefix}-law",
        resource_group_name=rg.name,
        location=settings.location,
        sku=operationalinsights.WorkspaceSkuArgs(name="PerGB2018"),
        retention_in_days=settings.log_retention_days,
    )


def send_logs(
    name: str,
    *,
    resource_uri: pulumi.Input[str],
    workspace: operationalinsights.Workspace,
    category_groups: Sequence[str],
) -> monitor.DiagnosticSetting:
    """Ship the given log category groups of ``resource_uri`` to ``workspace``."""
    return monitor.DiagnosticSetting(
        name,
        resource_uri=resource_uri,
        workspace_id=workspace.id,
        # Resource-specific tables, queryable and retained per table.
        log_analytics_destination_type="Dedicated",
        logs=[monitor.DiagnosticsLogSettingsArgs(category_group=group, enabled=True) for group in category_groups],
    )
