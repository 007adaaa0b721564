"""Gating plans and state that crossgate did not produce: programs in any language, deployed stacks.

* ``pulumi stack export`` (deployment version 3): every resource's inputs go to Analyze and its
  outputs to AnalyzeStack, as ``pulumi policy analyze`` does. Encrypted secrets become unknown
  secrets; ``--show-secrets`` plaintext stays secret.
* ``pulumi preview --json``: the ``newState`` of every step that leaves a resource in the stack.
  Its ``"[secret]"`` strings are unknown secrets.

The shapes are pulumi/pulumi's ``apitype.UntypedDeployment``/``DeploymentV3``/``ResourceV3`` and
``display.PreviewDigest``. Anything else is refused with a clear error (exit 2), and so is anything
the gate can't place: a pending operation in a stack export (an interrupted update: what exists is
unknown), a step op Pulumi doesn't have, a kept step without its new state, and a URN that appears
twice with different states (a replacement's steps, which share one new state, are one resource).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
from typing import Any, Iterable

from google.protobuf import struct_pb2

from . import urn as urns
from . import wire
from .collector import Collector, Subject
from .engine import ROOT_STACK_TYPE, GateOptions, evaluate_plan, pack_specs
from .errors import GateError, InputError, read_json
from .model import GateResult, PlannedResource, SourceLocation
from .packs.process import StackIdentity

#: Steps whose new state remains in the stack after the update (``display.StepOp``, spelled as
#: ``pulumi preview --json`` writes them).
_KEPT_OPS = {"same", "create", "update", "replace", "create-replacement", "import", "import-replacement",
             "read", "read-replacement", "refresh"}
#: Steps that leave nothing behind in the stack.
_GONE_OPS = {"delete", "delete-replaced", "discard", "discard-replaced", "remove-pending-replace"}
#: A replacement shows one resource in several steps, each with the same new state.
_REPLACEMENT_OPS = {"replace", "create-replacement", "import-replacement", "read-replacement"}
_SOURCE = re.compile(r"^project://(?P<path>/?[^#]*)#(?P<line>\d+)")


def _state_value(value: Any, *, blinded: str | None) -> Any:
    """Convert a state/preview property value to the wire encoding a pack expects."""
    if isinstance(value, str):
        return wire.make_secret(wire.UNKNOWN) if blinded is not None and value == blinded else value
    if isinstance(value, list):
        return [_state_value(v, blinded=blinded) for v in value]
    if isinstance(value, dict):
        if value.get(wire.SIG_KEY) == wire.SECRET_SIG:
            if "plaintext" in value:
                try:
                    return wire.make_secret(_state_value(json.loads(value["plaintext"]), blinded=blinded))
                except (TypeError, json.JSONDecodeError):
                    return wire.make_secret(wire.UNKNOWN)
            return wire.make_secret(wire.UNKNOWN)  # ciphertext: can't be decrypted offline
        return {k: _state_value(v, blinded=blinded) for k, v in value.items()}
    return value


def _resource(state: Any, index: int, where: str, *, props_key: str, blinded: str | None) -> PlannedResource:
    if not isinstance(state, dict):
        raise InputError(f"{where}: resource #{index} is not an object")
    urn, rtype = state.get("urn"), state.get("type")
    if not urns.is_valid(urn) or not isinstance(rtype, str):
        raise InputError(f"{where}: resource #{index} has no valid 'urn' and 'type'")
    if urns.split(urn)[0] != rtype:
        # Packs pick policies by type: a type the URN doesn't carry would hide the resource from them.
        raise InputError(f"{where}: resource {urn}: type {rtype!r} is not the type its URN names")
    props = state.get(props_key)
    if props is None:
        props = {}
    if not isinstance(props, dict):
        raise InputError(f"{where}: resource {urn}: '{props_key}' is not an object")
    struct = struct_pb2.Struct()
    value = _state_value(props, blinded=blinded)
    try:
        struct.update(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: resource {urn}: unsupported property value ({exc})") from exc
    source = None
    match = _SOURCE.match(state.get("sourcePosition") or "")
    if match:
        source = SourceLocation(match["path"].lstrip("/"), int(match["line"]))
    deps = state.get("propertyDependencies") or {}
    if not _urn_list(state.get("dependencies") or []) or not (
            isinstance(deps, dict) and all(_urn_list(v or []) for v in deps.values())):
        raise InputError(f"{where}: resource {urn}: 'dependencies' and 'propertyDependencies' must hold URN lists")
    for key in ("parent", "provider"):
        if not isinstance(state.get(key) or "", str):
            raise InputError(f"{where}: resource {urn}: '{key}' is not a string")
    # The options the state records, which the engine and `pulumi policy analyze` send packs
    # (``stateToAnalyzerResource``); aliases hold only the alias this resource matched in the state before it.
    aliases = state.get("aliases") or []
    if not (_urn_list(aliases) and all(urns.is_valid(a) for a in aliases)):
        raise InputError(f"{where}: resource {urn}: 'aliases' must hold URNs")
    for key in ("ignoreChanges", "additionalSecretOutputs"):
        if not _urn_list(state.get(key) or []):
            raise InputError(f"{where}: resource {urn}: '{key}' must hold strings")
    timeouts = state.get("customTimeouts") or {}
    if not (isinstance(timeouts, dict) and set(timeouts) <= {"create", "update", "delete", "read"}
            and all(type(v) in (int, float) and v >= 0 for v in timeouts.values())):
        raise InputError(f"{where}: resource {urn}: 'customTimeouts' must map create/update/delete/read to seconds")
    return PlannedResource(
        urn=urn, type=rtype, name=urns.split(urn)[1], custom=bool(state.get("custom")), properties=struct,
        parent=state.get("parent") or None, dependencies=tuple(state.get("dependencies") or ()),
        property_dependencies={k: tuple(v or ()) for k, v in deps.items()},
        provider=state.get("provider") or None, protect=bool(state.get("protect")), source=source,
        order=index, has_secrets=wire.contains_secret(value), aliases=tuple(aliases),
        ignore_changes=tuple(state.get("ignoreChanges") or ()),
        additional_secret_outputs=tuple(state.get("additionalSecretOutputs") or ()),
        custom_timeouts={k: float(v) for k, v in timeouts.items() if v})


def _urn_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(u, str) for u in value)


def resources_from_stack_export(doc: Any, where: str, *, outputs: bool = False) -> list[PlannedResource]:
    if not isinstance(doc, dict) or "deployment" not in doc or "version" not in doc:
        raise InputError(f"{where} is not a `pulumi stack export` document (no 'version' and 'deployment')")
    if doc["version"] != 3:
        raise InputError(f"{where}: deployment version {doc['version']!r} is not supported (expected 3)")
    deployment = doc["deployment"]
    if not isinstance(deployment, dict) or not isinstance(deployment.get("resources", []), list):
        raise InputError(f"{where}: 'deployment.resources' must be a list")
    _refuse_pending_operations(deployment.get("pending_operations"), where)
    key = "outputs" if outputs else "inputs"
    resources: dict[str, PlannedResource] = {}
    for i, state in enumerate(deployment.get("resources") or []):
        if isinstance(state, dict) and state.get("delete") is True:
            continue  # the replaced copy awaiting deletion; its replacement has the same URN
        resource = _resource(state, i, where, props_key=key, blinded=None)
        if state.get("delete") not in (None, False):
            raise InputError(f"{where}: resource {resource.urn}: 'delete' is not a boolean")
        if resource.urn in resources:
            raise InputError(f"{where}: resource {resource.urn} appears twice (#{resources[resource.urn].order} "
                             f"and #{i}); the gate can't tell which state is deployed")
        resources[resource.urn] = resource
    return list(resources.values())


def _refuse_pending_operations(pending: Any, where: str) -> None:
    """An interrupted update leaves operations whose outcome is unknown: refuse to guess."""
    if pending in (None, []):
        return
    if not isinstance(pending, list):
        raise InputError(f"{where}: 'deployment.pending_operations' must be a list")
    op = pending[0]
    urn = op.get("resource", {}).get("urn") if isinstance(op, dict) and isinstance(op.get("resource"), dict) else None
    kind = op.get("type") if isinstance(op, dict) else None
    raise InputError(f"{where}: resource {urn or '(no URN)'} has a pending {kind or 'unknown'!r} operation "
                     f"({len(pending)} pending in all) from an interrupted update, so what exists is unknown; "
                     "resolve it with `pulumi refresh` and export again")


def resources_from_preview_json(doc: Any, where: str) -> list[PlannedResource]:
    if not isinstance(doc, dict) or not isinstance(doc.get("steps"), list):
        raise InputError(f"{where} is not `pulumi preview --json` output (no 'steps' list)")
    by_urn: dict[str, tuple[PlannedResource, str]] = {}
    for i, step in enumerate(doc["steps"]):
        if not isinstance(step, dict) or not isinstance(step.get("op"), str):
            raise InputError(f"{where}: step #{i} has no 'op'")
        op, label = step["op"], f"step #{i} ({step.get('urn') or 'no URN'})"
        if op in _GONE_OPS:
            continue
        if op not in _KEPT_OPS:
            raise InputError(f"{where}: {label} has op {op!r}, which is not a Pulumi step op "
                             f"(one of {', '.join(sorted(_KEPT_OPS | _GONE_OPS))})")
        if not isinstance(step.get("newState"), dict) or not step["newState"]:
            raise InputError(f"{where}: {label}: a {op!r} step has no 'newState', so its resource can't be judged")
        resource = _resource(step["newState"], i, where, props_key="inputs", blinded="[secret]")
        if step.get("urn") not in (None, resource.urn):
            raise InputError(f"{where}: {label}: its newState has another URN, {resource.urn}")
        if resource.urn in by_urn:
            first, first_op = by_urn[resource.urn]
            same_state = dataclasses.replace(first, order=i) == resource
            if not (same_state and {op, first_op} <= _REPLACEMENT_OPS and op != first_op):
                raise InputError(f"{where}: resource {resource.urn} appears in steps #{first.order} ({first_op!r}) "
                                 f"and #{i} ({op!r}) with {'the same' if same_state else 'different'} new "
                                 "state; only a replacement's steps may share a URN")
            continue  # one resource, judged once, as the engine does
        by_urn[resource.urn] = (resource, op)
    return [resource for resource, _ in by_urn.values()]


def _stack_identity(resources: Iterable[PlannedResource]) -> tuple[str, str]:
    for r in resources:
        parsed = urns.parse(r.urn)
        if parsed is not None:
            return parsed.project, parsed.stack
    return "unknown", "unknown"


def check(args: argparse.Namespace) -> GateResult:
    """``crossgate check``: gate a stack export, a preview JSON or a crossgate plan with the same packs
    and reports."""
    if getattr(args, "plan", None):
        return _check_plan(args)
    collector = Collector(args.unknowns)
    origin = "stack-export" if args.stack_export else "preview-json"
    subject = Subject(project="", stack="", project_dir=os.path.abspath(args.cwd), origin=origin)
    try:
        if getattr(args, "stack", None):
            raise InputError("--stack is only used with --plan")
        if args.stack_export:
            where = f"--stack-export {args.stack_export}"
            doc = read_json(args.stack_export, where)
            resources = resources_from_stack_export(doc, where)
            outputs = {r.urn: r.properties for r in resources_from_stack_export(doc, where, outputs=True)}
        else:
            where = f"--preview-json {args.preview_json}"
            resources = resources_from_preview_json(read_json(args.preview_json, where), where)
            outputs = {}
        if not resources:
            raise InputError(f"{where} holds no resources")
        project, stack = _stack_identity(resources)
        subject = dataclasses.replace(subject, project=project, stack=stack)
        options = GateOptions(packs=pack_specs(args.policy_pack, args.policy_pack_config), unknowns=args.unknowns, timeout=args.timeout,
                              parallel=args.parallel, waivers=args.waivers, stack_outputs=outputs)
    except GateError as exc:
        collector.error(exc)
        return collector.build(subject)
    if not any(r.type == ROOT_STACK_TYPE for r in resources):
        collector.root_urn = urns.root(stack, project)
    from .cli import stack_tag_args

    tags = {"pulumi:project": project, **stack_tag_args(args)}
    return evaluate_plan(subject, resources, options, StackIdentity(project=project, stack=stack, tags=tags),
                         collector=collector)


def _check_plan(args: argparse.Namespace) -> GateResult:
    """``crossgate check --plan``: what ``preview`` would have decided, on a plan it wrote elsewhere."""
    from .plan import load_plan

    collector = Collector(args.unknowns)
    subject = Subject(project="", stack="", project_dir=os.path.abspath(args.cwd), origin="plan")
    try:
        plan = load_plan(args.plan)
        subject = dataclasses.replace(subject, project=plan.project, stack=plan.stack)
        expected = getattr(args, "stack", None)
        if expected and expected.rsplit("/", 1)[-1] != plan.stack:
            raise InputError(f"--plan {args.plan} is the plan of stack {plan.stack}, not {expected}")
        options = GateOptions(packs=pack_specs(args.policy_pack, args.policy_pack_config), unknowns=args.unknowns,
                              timeout=args.timeout, parallel=args.parallel, waivers=args.waivers)
    except GateError as exc:
        collector.error(exc)
        return collector.build(subject)
    # As in preview: the program's own findings block, and a program that did not finish is an error
    # (its resources are still evaluated, the stack is not).
    collector.program(root_urn=plan.root_urn, invokes=plan.invokes, warnings=plan.warnings,
                      plain_reads=plan.plain_reads, errors=plan.errors)
    from .cli import stack_tag_args

    identity = StackIdentity(project=plan.project, stack=plan.stack, config=dict(plan.config),
                             secret_keys=plan.secret_keys, tags={**plan.stack_tags, **stack_tag_args(args)})
    return evaluate_plan(subject, plan.resources, options, identity, collector=collector)
