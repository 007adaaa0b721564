"""Generate the policy table of the pack's README from the metadata records.

    python -m crossgate_azure_policies.docs policies/README.md          # rewrite the table
    python -m crossgate_azure_policies.docs --check policies/README.md  # exit 1 if it is stale

Only the text between the ``<!-- policy-table:start -->`` and ``<!-- policy-table:end -->`` markers
is replaced.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from . import rules
from ._types import arm_types_of, is_type_pattern, spellings

START = "<!-- policy-table:start -->"
END = "<!-- policy-table:end -->"

_HEADER = ("| Policy | Requires | Severity | Default level | Kind | Resource types | CIS | Checkov | "
           "Azure Policy | MCSB |")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _lines(values: Sequence[str]) -> str:
    return "<br>".join(_cell(v) for v in values) or "–"


_SEES_LEGEND = [
    "What each policy sees besides its canonical types, and when it is indeterminate (a mandatory policy that is "
    "indeterminate blocks, like a violation):",
    "",
    "- **Spellings**: every type also matches with an API-versioned module, from a local SDK package "
    "(`pulumi package add azure-native <module> <version>`), through the v2 aliases azure-native keeps, and in "
    "any letter case. No other package matches.",
    "- **Opaque forms**: the ARM types that reach the policy through a generic `resources:Resource` "
    "(`resourceProviderNamespace` + `parentResourcePath` + `resourceType`) and through template deployments "
    "(`resources:Deployment`, `DeploymentAtScope`, `DeploymentAtSubscriptionScope`, "
    "`DeploymentAtManagementGroupScope`, `DeploymentAtTenantScope`, and the deployment stacks at resource group, "
    "subscription and management group): the template's `resources`, their nested child `resources`, and inline "
    "nested `Microsoft.Resources/deployments` and `deploymentStacks` (also when a generic resource is one), "
    "and through azapi's `Resource` (`type` '<ARM type>@<API version>', `name`, `parentId`, `body`). "
    "A resource marked `existing` or with a literal false `condition` creates nothing, but its nested children "
    "are judged (neither cascades). An extension resource written `<type>/providers/<extension>` is the "
    "extension type it names. Each becomes a virtual resource with the properties azure-native "
    "would have given it, reported on the opaque resource's URN as "
    "`template resource '<ARM type>' '<name>': ...` (or `generic resource ...`, `azapi resource ...`).",
    "- **Indeterminate when**: **U** a value it reads is unknown until deployment; **T** in a generic resource or "
    "template, a value it reads is set by a template expression or a property copy loop, a parameter without a "
    "literal value, a secure "
    "parameter, a parameters file or a Key Vault reference (literal parameters and variables are substituted); "
    "**L** a deployment's template can't be read (`templateLink`, a nested deployment with `templateLink`, a "
    "template unknown until deployment), a generic resource's type isn't literal, or an azapi resource's body "
    "is unknown; **R** a relation it needs "
    "can't be resolved (a value unknown and computed from nothing in the stack).",
    "",
]


def _sees_row(rule) -> str:
    c = rule.control
    if all(is_type_pattern(t) or not t.startswith("azure-native:") for t in c.resource_types):
        seen = [f"`{t}`" for t in c.resource_types]
        return "| " + " | ".join([f"[`{c.slug}`](#{c.slug})", _lines(seen), "–", "never: it reads the type only"]) + " |"
    names = [f"`{s}`" for t in c.resource_types for s in spellings(t)]
    arm = [f"`{a}`" for t in c.resource_types for a in arm_types_of(t)]
    when = "U, T, L" if rule.kind == "resource" else "U, T, R"
    return "| " + " | ".join([f"[`{c.slug}`](#{c.slug})", _lines(names), _lines(arm), when]) + " |"


def render_table() -> str:
    """The Markdown table of every policy, as it belongs between the README's markers."""
    rows = [_HEADER, "|" + "---|" * (_HEADER.count("|") - 1)]
    for rule in rules():
        c = rule.control
        types = [f"`{t}`" if is_type_pattern(t) or not t.startswith("azure-native:") else f"`{t.split(':', 1)[1]}`"
                 for t in c.resource_types]
        rows.append("| " + " | ".join([
            f'<a id="{c.slug}"></a>`{c.slug}`',
            _cell(c.description),
            c.severity.value,
            c.enforcement_level.value,
            rule.kind,
            _lines(types),
            _lines([f"{v}: {s}" for v, s in c.cis]),
            _lines(c.checkov),
            _lines(c.azure_policy),
            _lines(c.mcsb),
        ]) + " |")
    rows += ["", *_SEES_LEGEND, "| Policy | Spellings | Opaque forms (ARM types) | Indeterminate when |",
             "|---|---|---|---|"]
    rows += [_sees_row(rule) for rule in rules()]
    rows += ["", "Configuration properties (set them in a `--policy-pack-config` file):", "",
             "| Policy | Property | Type | Default | Meaning |", "|---|---|---|---|---|"]
    for rule in rules():
        for key, schema in rule.settings.items():
            rows.append("| " + " | ".join([
                f"[`{rule.name}`](#{rule.name})", f"`{key}`", str(schema.get("type", "")),
                f"`{_cell(json.dumps(schema['default']))}`", _cell(str(schema.get("description", ""))),
            ]) + " |")
    return "\n".join(rows) + "\n"


def splice(document: str, table: str) -> str:
    """``document`` with the text between the markers replaced by ``table``."""
    start, end = document.find(START), document.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the document needs the markers {START} and {END}, in that order")
    return document[:start + len(START)] + "\n" + table + document[end:]


def current_table(document: str) -> str:
    """The text currently between the markers."""
    start, end = document.find(START), document.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the document needs the markers {START} and {END}, in that order")
    return document[start + len(START):end].lstrip("\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crossgate_azure_policies.docs",
                                     description="Rewrite the policy table in the pack's README.")
    parser.add_argument("readme", type=Path, help="the README with the policy-table markers")
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if the table is stale")
    args = parser.parse_args(argv)
    document = args.readme.read_text(encoding="utf-8")
    updated = splice(document, render_table())
    if args.check:
        if updated != document:
            print(f"{args.readme}: the policy table is stale; run "
                  f"python -m crossgate_azure_policies.docs {args.readme}", file=sys.stderr)
            return 1
        return 0
    if updated != document:
        args.readme.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
