# The two commands of the contract: `make run` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
STACK  ?= dev

.PHONY: venv run test gate bench lint docs clean

venv: $(STAMP)

# Development installs crossgate and the pack editable, plus the reference program's own SDKs
# (requirements.txt: crossgate doesn't depend on them, the program in infra/ does). `make test`
# also builds both wheels and runs the gate from them in a throwaway virtualenv (tests/packaging).
$(STAMP): pyproject.toml policies/pyproject.toml requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "crossgate needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]' -e ./policies -r requirements.txt
	@touch $@

## Run the gate on the reference stack with the project's policy pack.
run: $(STAMP)
	$(VENV)/bin/crossgate preview --cwd . --stack $(STACK) --policy-pack policies

## Exactly what CI runs: reports in out/.
gate: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" ci/gate.sh $(STACK)

test: $(STAMP)
	$(PY) -m pytest -q

## The performance benchmark. Installs the optional extra `bench` (Checkov, for the side-by-side rows)
## into its own virtualenv, .venv/checkov: Checkov pins packaging<24, which the pulumi SDK (>=26)
## can't share. If that fails the benchmark still runs and its Checkov rows read FAIL (not measured).
CHECKOV := $(VENV)/checkov/bin/checkov
bench: $(STAMP)
	@test -x $(CHECKOV) || { $(PY) -m venv $(VENV)/checkov && $(VENV)/checkov/bin/python -m pip install --quiet \
		"$$($(PY) -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["bench"])')"; } \
		|| echo "make bench: could not install Checkov (the extra 'bench'); its rows will read FAIL"
	$(PY) -m bench $(BENCH_ARGS)

lint: $(STAMP)
	$(PY) -m compileall -q crossgate policies infra tests bench

## Regenerate the policy table in policies/README.md.
docs: $(STAMP)
	$(PY) -m crossgate_azure_policies.docs policies/README.md

clean:
	rm -rf $(VENV) out .pytest_cache
