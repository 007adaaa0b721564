"""Every policy, through the real gate: the compliant baseline passes, each one-field mutation fails once.

Two evaluations hold every case. Cases for resource policies run as lone copies of their target
resource, with the stack policies off; all other cases (stack policies, and mutations whose effect
on other resources is part of the expectation) run in their own full copy of the baseline with every
policy on, so a stack policy sees exactly the relations of its case. Every policy is mandatory, and
the compliant baseline is in both.
"""

from __future__ import annotations

from collections import Counter

import pytest

from crossgate.model import Level
from crossgate.testing import evaluate
from crossgate_azure_policies import rules
from policy_cases import CASES, Case
from policy_stack import REPO_PACK, baseline, materialize, materialize_alone, mutated

KIND = {r.name: r.kind for r in rules()}
ALL_MANDATORY = {"all": "mandatory"}


def isolated(case: Case) -> bool:
    return not case.full and not case.also and (case.passes or KIND[case.policy] == "resource")


@pytest.fixture(scope="module")
def resource_gate():
    """Resource-policy cases, each its target alone; stack policies off."""
    resources = materialize(baseline())
    for case in filter(isolated, CASES):
        resources += materialize_alone(mutated(case.mutation), case.id, case.target)
    config = {**ALL_MANDATORY, **{name: "disabled" for name, kind in KIND.items() if kind == "stack"}}
    return evaluate(REPO_PACK, resources, config=config, parallel=2)


@pytest.fixture(scope="module")
def stack_gate():
    """Every other case, each in a full copy of the baseline; every policy on."""
    resources = materialize(baseline())
    for case in CASES:
        if not isolated(case):
            resources += materialize(mutated(case.mutation), case.id, case.target)
    return evaluate(REPO_PACK, resources, config=ALL_MANDATORY, parallel=2)


@pytest.fixture
def gates(resource_gate, stack_gate):
    return {True: resource_gate, False: stack_gate}


def _belongs(name: str, case: Case) -> bool:
    return name == case.id or name.startswith(case.id + "/")


def _role(name: str, case: Case) -> str:
    return case.target if name == case.id else name.split("/", 1)[1]


def test_case_ids_are_unique():
    assert [c.id for c in CASES if Counter(c.id for c in CASES)[c.id] > 1] == []


def test_every_policy_has_a_failing_case():
    assert {c.policy for c in CASES if not c.passes} == set(KIND)


@pytest.mark.parametrize("alone", [True, False], ids=["resource-cases", "stack-cases"])
def test_evaluation_is_complete(gates, alone):
    gate = gates[alone]
    assert gate.errors == ()
    assert gate.indeterminate == []
    (pack,) = gate.packs
    assert len(pack.policies) == len(KIND)
    on = {p.name for p in pack.policies if p.enforcement_level is Level.MANDATORY}
    assert on == {name for name, kind in KIND.items() if kind == "resource" or not alone}


@pytest.mark.parametrize("alone", [True, False], ids=["resource-cases", "stack-cases"])
def test_baseline_has_no_findings(gates, alone):
    roles = set(baseline())
    assert [(f.policy, f.name, f.message) for f in gates[alone].findings if f.name in roles] == []


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(gates, case: Case):
    gate = gates[isolated(case)]
    findings = [f for f in gate.violations if _belongs(f.name, case)]
    reported = Counter((f.policy, _role(f.name, case)) for f in findings)
    if case.passes:
        assert reported == Counter()
        return
    assert reported == Counter({(case.policy, case.target): 1, **{pair: 1 for pair in case.also}})
    (finding,) = [f for f in findings if f.policy == case.policy and f.name == case.id]
    assert case.message in finding.message
    assert f"'{case.id}'" in finding.message, "the message names the resource"
    assert finding.level is Level.MANDATORY


def test_no_finding_outside_the_cases(resource_gate, stack_gate):
    """Nothing is attributed to the stack itself or to a resource no case owns."""
    owned = set(baseline())
    for gate in (resource_gate, stack_gate):
        strays = [(f.policy, f.name) for f in gate.findings
                  if f.name not in owned and not any(_belongs(f.name, c) for c in CASES)]
        assert strays == []
