"""The run's result is built once, by the collector, and can't be changed after (issue 10, design)."""

from __future__ import annotations

import dataclasses

import pytest

from crossgate.collector import Collector, Subject
from crossgate.errors import PackError
from crossgate.model import InvokeAnswer


def built():
    collector = Collector("block")
    collector.program(root_urn="urn:pulumi:dev::demo::pulumi:pulumi:Stack::demo-dev",
                      invokes=[InvokeAnswer("test:index:getRole", False)], warnings=["a warning"])
    collector.error(PackError("policy pack p: timed out"))
    return collector.build(Subject(project="demo", stack="dev", project_dir="."))


def test_a_built_result_cannot_be_changed():
    result = built()
    assert (result.errors, result.warnings, result.invokes) == (
        ("policy pack p: timed out",), ("a warning",), (InvokeAnswer("test:index:getRole", False),))
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.errors = ()  # type: ignore[misc]
    with pytest.raises(AttributeError):
        result.errors.append("more")  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        result.findings.clear()  # type: ignore[attr-defined]
    assert result.exit_code == 2


def test_a_result_failed_after_the_run_is_a_new_result():
    result = built()
    failed = result.with_errors("cannot write --plan-out plan.json: Permission denied")
    assert result.errors == ("policy pack p: timed out",)
    assert failed.errors == ("policy pack p: timed out", "cannot write --plan-out plan.json: Permission denied")
