"""Hand-built results for the reporter tests: one of each finding kind, an error run, an empty run.

The results are built directly from the model, not by running a pack, so every field a reporter
reads is pinned; ``test_report_end_to_end.py`` covers the real pipeline.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from google.protobuf import struct_pb2

from crossgate import wire
from crossgate.model import (Finding, FindingKind, GateResult, Level, PackInfo, PlannedResource, PolicyInfo,
                             Remediation, Severity, SourceLocation, Waiver)

PACK = "demo-pack"
PACK_VERSION = "1.2.0"
PROJECT = "demo"
STACK = "dev"
SECRET = "hunter2"
TYPE = "test:index:Bucket"
STACK_TYPE = "pulumi:pulumi:Stack"
FIXED_DURATION = 1.5

#: The SARIF schema, beside the repository (see the project brief).
SARIF_SCHEMA = Path(__file__).resolve().parents[2].parent / "shared" / "sarif-schema-2.1.0.json"


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:{STACK}::{PROJECT}::{type_}::{name}"


ROOT_URN = urn(STACK_TYPE, f"{PROJECT}-{STACK}")
LOGS = urn(TYPE, "logs")
DATA = urn(TYPE, "data")
ARCHIVE = urn(TYPE, "archive")

CIS = {"name": "CIS Microsoft Azure Foundations", "version": "3.0.0", "reference": "4.17",
       "specification": "Storage accounts accept HTTPS requests only."}


def policies() -> tuple[PolicyInfo, ...]:
    """Seven policies, sorted by name as the engine lists them; one of each level, one that is quiet."""
    return (
        PolicyInfo(name="auto-labels", description="Buckets get an owner label.", kind="resource",
                   enforcement_level=Level.REMEDIATE, default_level=Level.REMEDIATE, severity=Severity.LOW,
                   remediation="Labels are added automatically."),
        PolicyInfo(name="bucket-https-only", description="Buckets accept HTTPS only.", kind="resource",
                   enforcement_level=Level.MANDATORY, default_level=Level.MANDATORY, severity=Severity.CRITICAL,
                   display_name="Bucket HTTPS only", framework=CIS, tags=("storage", "encryption"),
                   remediation="Set httpsOnly to true.", url="https://example.com/policies/bucket-https-only"),
        PolicyInfo(name="bucket-owner-tag", description="Buckets carry an owner tag.", kind="resource",
                   enforcement_level=Level.ADVISORY, default_level=Level.ADVISORY, severity=Severity.LOW,
                   remediation="Add an owner tag."),
        PolicyInfo(name="legacy-check", description="An old check, switched off.", kind="resource",
                   enforcement_level=Level.DISABLED, default_level=Level.MANDATORY, severity=Severity.MEDIUM),
        PolicyInfo(name="quiet-policy", description="Never fires here.", kind="resource",
                   enforcement_level=Level.MANDATORY, default_level=Level.MANDATORY, severity=Severity.MEDIUM),
        PolicyInfo(name="reads-unknown", description="Targets are known.", kind="resource",
                   enforcement_level=Level.MANDATORY, default_level=Level.MANDATORY, severity=Severity.MEDIUM,
                   remediation="Give the target a value known at preview time."),
        PolicyInfo(name="stack-limit", description="At most three buckets per stack.", kind="stack",
                   enforcement_level=Level.MANDATORY, default_level=Level.MANDATORY, severity=Severity.HIGH,
                   remediation="Merge buckets | or split the stack."),
    )


def pack() -> PackInfo:
    return PackInfo(name=PACK, version=PACK_VERSION, path="/packs/demo", policies=policies(),
                    description="Demonstration policies.")


def resource(urn_: str, type_: str, name: str, props: dict, source: SourceLocation | None,
             order: int) -> PlannedResource:
    struct = struct_pb2.Struct()
    struct.update(props)
    return PlannedResource(urn=urn_, type=type_, name=name, custom=type_ != STACK_TYPE, properties=struct,
                           parent=None if urn_ == ROOT_URN else ROOT_URN, source=source, order=order)


def resources() -> list[PlannedResource]:
    # The secret sits in an input; no reporter may print it.
    return [
        resource(ROOT_URN, STACK_TYPE, f"{PROJECT}-{STACK}", {}, None, 0),
        resource(LOGS, TYPE, "logs", {"httpsOnly": False, "password": wire.make_secret(SECRET)},
                 SourceLocation("__main__.py", 12), 1),
        resource(DATA, TYPE, "data", {"target": wire.UNKNOWN, "apiKey": wire.make_secret(SECRET)},
                 SourceLocation("storage/buckets.py", 30), 2),
        resource(ARCHIVE, TYPE, "archive", {"httpsOnly": False}, SourceLocation("storage/buckets.py", 41), 3),
    ]


WAIVER = Waiver(policy="bucket-https-only", resource=urn(TYPE, "archive*"), reason="Legacy reader needs HTTP",
                owner="team-data", expires="2099-12-31")
EXPIRED = Waiver(policy="bucket-owner-tag", resource=urn(TYPE, "old-*"), reason="Migration",
                 owner="team-ops", expires="2020-01-31")
UNUSED = Waiver(policy="quiet-policy", resource=urn(TYPE, "gone"), reason="Removed bucket",
                owner="team-ops", expires="2099-01-01")


#: A notice from the program run, as engineers add them (remote components, dynamic providers...).
WARNING = "warning: dynamic provider test:index:Hook runs no code offline; its outputs are unknown"


def finding(policy: str, level: Level, severity: Severity, urn_: str, message: str,
            source: SourceLocation | None, kind: FindingKind = FindingKind.VIOLATION,
            waiver: Waiver | None = None) -> Finding:
    type_, name = urn_.split("::")[-2:]
    return Finding(kind=kind, pack=PACK, policy=policy, level=level, severity=severity, urn=urn_, type=type_,
                   name=name, message=message, source=source, waiver=waiver)


def sample_result(project_dir: str | os.PathLike, *, https_message: str = "bucket accepts HTTP | not only HTTPS",
                  https_line: int = 12) -> GateResult:
    """One of everything: the fixture behind the ``sample`` golden files."""
    findings = [
        # Deliberately out of order: reporters sort.
        finding("bucket-owner-tag", Level.ADVISORY, Severity.LOW, LOGS, "bucket has no owner tag",
                SourceLocation("__main__.py", 12)),
        finding("bucket-https-only", Level.MANDATORY, Severity.CRITICAL, LOGS, https_message,
                SourceLocation("__main__.py", https_line)),
        finding("stack-limit", Level.MANDATORY, Severity.HIGH, ROOT_URN, "5 buckets\nthe limit is 3", None),
        finding("reads-unknown", Level.MANDATORY, Severity.MEDIUM, DATA,
                "can't run policy 'reads-unknown' from policy pack 'demo-pack' during preview: "
                "the value of 'target' is unknown", SourceLocation("storage/buckets.py", 30),
                kind=FindingKind.INDETERMINATE),
        finding("bucket-https-only", Level.MANDATORY, Severity.CRITICAL, ARCHIVE, "bucket accepts HTTP",
                SourceLocation("storage/buckets.py", 41), waiver=WAIVER),
        finding("quiet-policy", Level.MANDATORY, Severity.MEDIUM, ROOT_URN, "not for stacks", None,
                kind=FindingKind.NOT_APPLICABLE),
    ]
    return GateResult(
        project=PROJECT, stack=STACK, project_dir=str(project_dir), resources=resources(), packs=[pack()],
        findings=findings,
        remediations=[Remediation(pack=PACK, policy="auto-labels", urn=LOGS, type=TYPE, name="logs",
                                  before={"httpsOnly": False, "password": wire.SECRET_MARK},
                                  after={"httpsOnly": False, "password": wire.SECRET_MARK,
                                         "labels": {"owner": "crossgate"}},
                                  message="adds an owner label")],
        downgrades=["legacy-check: disabled by policy config dev.json (default mandatory)"],
        expired_waivers=[EXPIRED], unused_waivers=[UNUSED], warnings=[WARNING],
        root_urn=ROOT_URN, duration_seconds=FIXED_DURATION,
    )


def error_result(project_dir: str | os.PathLike) -> GateResult:
    """A run that could not finish: the pack timed out after one finding came in."""
    return GateResult(
        project=PROJECT, stack=STACK, project_dir=str(project_dir), resources=resources(), packs=[pack()],
        findings=[finding("bucket-https-only", Level.MANDATORY, Severity.CRITICAL, LOGS, "bucket accepts HTTP",
                          SourceLocation("__main__.py", 12))],
        errors=["policy pack demo-pack: timed out evaluating policies (raise --timeout)",
                "evaluating urn:pulumi:dev::demo::test:index:Bucket::data: RuntimeError: <boom> & \x1b[31mred"],
        root_urn=ROOT_URN, duration_seconds=FIXED_DURATION,
    )


def empty_result(project_dir: str | os.PathLike) -> GateResult:
    """No pack given: the program ran, nothing was checked."""
    return GateResult(project=PROJECT, stack=STACK, project_dir=str(project_dir), resources=resources()[:2],
                      root_urn=ROOT_URN, duration_seconds=FIXED_DURATION)


def make_repo(base: Path) -> Path:
    """``base/repo`` (a git work tree) with the Pulumi project in ``app/``; returns the project dir."""
    repo = base / "repo"
    (repo / ".git").mkdir(parents=True)
    project = repo / "app"
    project.mkdir()
    (project / "Pulumi.yaml").write_text(f"name: {PROJECT}\nruntime: python\n", encoding="utf-8")
    return project


def load_schema() -> dict:
    return json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
