"""Evaluate policy packs against hand-built resources, through the real Analyzer protocol.

For pack authors' tests: build resources as plain dicts (camelCase inputs, in wire encoding, so
``crossgate.wire.UNKNOWN`` is an unknown value and ``crossgate.wire.make_secret(v)`` a secret), link
them by name through ``parent``, ``dependencies`` and ``property_dependencies``, and get the same
:class:`~crossgate.model.GateResult` that ``crossgate preview`` produces::

    result = evaluate("policies", [
        Resource("azure-native:storage:StorageAccount", "data", {"kind": "StorageV2", ...}),
    ])
    assert [(f.policy, f.name) for f in result.violations] == [...]
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from google.protobuf import struct_pb2

from . import wire
from .collector import Subject
from .engine import ROOT_STACK_TYPE, GateOptions, PackSpec, evaluate_plan
from .model import GateResult, PlannedResource
from .packs.process import StackIdentity

PROJECT = "test"
STACK = "test"


@dataclass(frozen=True)
class Resource:
    type: str
    name: str
    props: Mapping[str, Any] = field(default_factory=dict)
    parent: str | None = None  # a resource *name* from the same list
    dependencies: Sequence[str] = ()  # names
    property_dependencies: Mapping[str, Sequence[str]] = field(default_factory=dict)  # prop -> names
    custom: bool = True


def urn_of(type_: str, name: str, parent_type: str | None = None) -> str:
    qualified = f"{parent_type}${type_}" if parent_type and parent_type != ROOT_STACK_TYPE else type_
    return f"urn:pulumi:{STACK}::{PROJECT}::{qualified}::{name}"


def root_urn() -> str:
    return urn_of(ROOT_STACK_TYPE, f"{PROJECT}-{STACK}")


def plan(resources: Sequence[Resource]) -> list[PlannedResource]:
    """Turn named resources into planned resources with engine-shaped URNs, stack resource first."""
    by_name = {r.name: r for r in resources}
    if len(by_name) != len(resources):
        raise ValueError("resource names must be unique within one evaluation")
    urns: dict[str, str] = {}

    def urn(name: str) -> str:
        if name not in urns:
            r = by_name[name]
            parent_type = by_name[r.parent].type if r.parent else None
            urns[name] = urn_of(r.type, r.name, parent_type) if r.parent else urn_of(r.type, r.name)
        return urns[name]

    root = root_urn()
    planned = [PlannedResource(urn=root, type=ROOT_STACK_TYPE, name=f"{PROJECT}-{STACK}", custom=False,
                               properties=struct_pb2.Struct())]
    for order, r in enumerate(resources, start=1):
        props = struct_pb2.Struct()
        props.update(dict(r.props))
        planned.append(PlannedResource(
            urn=urn(r.name), type=r.type, name=r.name, custom=r.custom, properties=props,
            parent=urn(r.parent) if r.parent else root,
            dependencies=tuple(urn(d) for d in r.dependencies),
            property_dependencies={k: tuple(urn(d) for d in v) for k, v in r.property_dependencies.items()},
            order=order, has_secrets=wire.contains_secret(dict(r.props)),
        ))
    return planned


def evaluate(pack_dirs: str | Sequence[str], resources: Sequence[Resource], *,
             config: Mapping[str, Any] | Sequence[Mapping[str, Any] | None] | None = None,
             unknowns: str = "block", parallel: int = 1, timeout: float = 120.0,
             waivers: str | None = None, today: "dt.date | None" = None) -> GateResult:
    """Evaluate ``resources`` against one pack (or several) and return the result.

    ``config`` is a policy config document in the ``--policy-pack-config`` format (one per pack
    when several packs are given).
    """
    dirs = [pack_dirs] if isinstance(pack_dirs, (str, os.PathLike)) else list(pack_dirs)
    configs: list[Mapping[str, Any] | None]
    if config is None or isinstance(config, Mapping):
        configs = [config] + [None] * (len(dirs) - 1)
    else:
        configs = list(config)
    with tempfile.TemporaryDirectory(prefix="crossgate-test-") as tmp:
        specs = []
        for i, (d, cfg) in enumerate(zip(dirs, configs)):
            files = []
            if cfg is not None:
                path = os.path.join(tmp, f"config-{i}.json")
                with open(path, "w", encoding="utf-8") as fh:
                    json.dump(cfg, fh)
                files.append(path)
            specs.append(PackSpec(path=str(d), config_files=files))
        options = GateOptions(packs=specs, unknowns=unknowns, timeout=timeout, parallel=parallel,
                              waivers=waivers, today=today)
        return evaluate_plan(Subject(project=PROJECT, stack=STACK, project_dir=tmp), plan(resources), options,
                             StackIdentity(project=PROJECT, stack=STACK))
