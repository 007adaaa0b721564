#!/usr/bin/env bash
# The crossgate policy gate: the one command that GitHub Actions, Azure Pipelines and a
# developer run. Run it from the Pulumi project root (the directory holding Pulumi.yaml).
#
#   ci/gate.sh [STACK [POLICY_PACK [POLICY_CONFIG [OUT_DIR]]]] [-- EXTRA_CROSSGATE_ARGS...]
#   ci/gate.sh --plan-out PLAN [STACK] [-- EXTRA_CROSSGATE_ARGS...]
#   ci/gate.sh --plan PLAN [STACK [POLICY_PACK [POLICY_CONFIG [OUT_DIR]]]] [-- EXTRA_CROSSGATE_ARGS...]
#
# Without a mode, it runs `crossgate preview` with the pack: program and verdict in one process.
# CI splits that in two, so that the verdict is computed where the change's code never ran:
#   --plan-out PLAN  runs the program only (`crossgate preview --plan-out PLAN`): no pack, no
#                    waivers, no reports. This is the untrusted half.
#   --plan PLAN      judges that plan (`crossgate check --plan PLAN`) with the pack, its config and
#                    the waivers, and writes the reports. Needs no Pulumi.yaml and runs no program.
#
# Each positional argument falls back to an environment variable, then to a default:
#   STACK          CROSSGATE_STACK          dev
#   POLICY_PACK    CROSSGATE_POLICY_PACK    policies
#   POLICY_CONFIG  CROSSGATE_POLICY_CONFIG  POLICY_PACK/config/STACK.json when that file exists,
#                                           else none. An explicit empty value means none.
#   OUT_DIR        CROSSGATE_OUT_DIR        out
# Other settings:
#   CROSSGATE_WAIVERS    waivers file; default policy-waivers.yaml when it exists. Empty means none.
#   CROSSGATE_BIN        the crossgate executable; default `crossgate` on PATH, else .venv/bin/crossgate.
#   CROSSGATE_PLAN_JOB   with --plan: how the job that wrote the plan ended (GitHub `success`, Azure
#                        `Succeeded`); anything else makes the verdict "could not evaluate".
#
# Exit status is crossgate's own: 0 pass, 1 mandatory violation, 2 could not evaluate.
# The script adds only its own "could not evaluate" cases (exit 2) and never turns a failure
# into a pass.
set -euo pipefail

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

positional=()
extra=()
mode="preview"
plan=""
while [ "$#" -gt 0 ]; do
  case "$1" in
    -h | --help)
      usage
      exit 0
      ;;
    --plan-out | --plan)
      if [ "$mode" != "preview" ] || [ "$#" -lt 2 ] || [ -z "$2" ]; then
        echo "gate.sh: $1 takes a file, and only one of --plan-out and --plan may be given (see --help)" >&2
        exit 2
      fi
      mode="${1#--}"
      plan="$2"
      shift 2
      ;;
    --)
      shift
      extra=("$@")
      break
      ;;
    *)
      positional+=("$1")
      shift
      ;;
  esac
done
if [ "${#positional[@]}" -gt 4 ] || { [ "$mode" = "plan-out" ] && [ "${#positional[@]}" -gt 1 ]; }; then
  echo "gate.sh: too many arguments (see --help)" >&2
  exit 2
fi

fail_closed() {
  echo "gate.sh: $*" >&2
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    printf '### crossgate: could not evaluate\n\n%s\n' "$*" >>"$GITHUB_STEP_SUMMARY"
  fi
  exit 2
}

stack="${positional[0]:-${CROSSGATE_STACK:-dev}}"
pack="${positional[1]:-${CROSSGATE_POLICY_PACK:-policies}}"
if [ "${#positional[@]}" -ge 3 ]; then
  config="${positional[2]}"
elif [ -n "${CROSSGATE_POLICY_CONFIG+set}" ]; then
  config="$CROSSGATE_POLICY_CONFIG"
elif [ -f "$pack/config/$stack.json" ]; then
  config="$pack/config/$stack.json"
else
  config=""
fi
out_dir="${positional[3]:-${CROSSGATE_OUT_DIR:-out}}"
if [ -n "${CROSSGATE_WAIVERS+set}" ]; then
  waivers="$CROSSGATE_WAIVERS"
elif [ -f policy-waivers.yaml ]; then
  waivers="policy-waivers.yaml"
else
  waivers=""
fi
if [ "$mode" = "plan" ] && [ -z "$waivers" ] && [ -e policy-waivers.yaml ]; then
  # crossgate would fall back to this file, which is not the change's.
  fail_closed "CROSSGATE_WAIVERS is empty, but crossgate would read ./policy-waivers.yaml; remove it or name the change's file"
fi

if [ -n "${CROSSGATE_BIN:-}" ]; then
  command -v "$CROSSGATE_BIN" >/dev/null 2>&1 || fail_closed "CROSSGATE_BIN is not executable: $CROSSGATE_BIN"
  crossgate_bin="$CROSSGATE_BIN"
elif command -v crossgate >/dev/null 2>&1; then
  crossgate_bin="crossgate"
elif [ -x .venv/bin/crossgate ]; then
  crossgate_bin=".venv/bin/crossgate"
else
  fail_closed "crossgate is not installed (run 'make venv', or set CROSSGATE_BIN)"
fi

# Runs "${cmd[@]}" plus the extra arguments, showing the command first; sets rc.
run_cmd() {
  if [ "${#extra[@]}" -gt 0 ]; then
    cmd+=("${extra[@]}")
  fi
  printf 'gate.sh: running:'
  printf ' %q' "${cmd[@]}"
  printf '\n'
  rc=0
  "${cmd[@]}" || rc=$?
}

# Checked here so that a wrong path reads as a setup error rather than as a policy result.
if [ "$mode" = "plan-out" ]; then
  [ -f Pulumi.yaml ] || fail_closed "no Pulumi.yaml in $(pwd): run the gate from the project root"
  cmd=("$crossgate_bin" preview --cwd . --stack "$stack" --plan-out "$plan")
  run_cmd
  echo "gate.sh: the program's plan is in $plan (crossgate exited $rc; no policy was evaluated)"
  exit "$rc"
fi
if [ "$mode" = "plan" ]; then
  [ -f "$plan" ] || fail_closed "no plan at $plan: the job that runs the program failed or wrote no plan"
else
  [ -f Pulumi.yaml ] || fail_closed "no Pulumi.yaml in $(pwd): run the gate from the project root"
fi
[ -d "$pack" ] || fail_closed "policy pack directory not found: $pack"
if [ -n "$config" ] && [ ! -f "$config" ]; then
  fail_closed "policy pack config not found: $config"
fi
if [ -n "$waivers" ] && [ ! -f "$waivers" ]; then
  fail_closed "waivers file not found: $waivers"
fi

mkdir -p "$out_dir"
sarif="$out_dir/crossgate.sarif"
junit="$out_dir/crossgate.junit.xml"
markdown="$out_dir/crossgate.md"
# A report left from an earlier run must never be published as this run's result.
rm -f "$sarif" "$junit" "$markdown"

if [ "$mode" = "plan" ]; then
  cmd=("$crossgate_bin" check --plan "$plan" --stack "$stack" --cwd . --policy-pack "$pack")
else
  cmd=("$crossgate_bin" preview --cwd . --stack "$stack" --policy-pack "$pack")
fi
if [ -n "$config" ]; then
  cmd+=(--policy-pack-config "$config")
fi
if [ -n "$waivers" ]; then
  cmd+=(--waivers "$waivers")
fi
cmd+=(--sarif "$sarif" --junit "$junit" --markdown "$markdown")
run_cmd

if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  if [ -f "$markdown" ]; then
    cat "$markdown" >>"$GITHUB_STEP_SUMMARY"
  else
    printf '### crossgate: no report\n\ncrossgate exited %s without writing %s.\n' \
      "$rc" "$markdown" >>"$GITHUB_STEP_SUMMARY"
  fi
fi
if [ -n "${TF_BUILD:-}" ] && [ -f "$markdown" ]; then
  # Azure Pipelines: attach the report to the run's Extensions tab.
  echo "##vso[task.uploadsummary]$(cd "$(dirname "$markdown")" && pwd)/$(basename "$markdown")"
fi

# A plan job that did not succeed may have left a plan that reads as a pass: never trust it.
if [ "$mode" = "plan" ] && [ -n "${CROSSGATE_PLAN_JOB+set}" ] && [ "$rc" -ne 2 ]; then
  case "$CROSSGATE_PLAN_JOB" in
    success | Succeeded) ;;
    *)
      echo "gate.sh: the job that wrote the plan ended '$CROSSGATE_PLAN_JOB', so its plan is not trusted" >&2
      if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
        printf '### crossgate: could not evaluate\n\nThe job that wrote the plan ended `%s`.\n' \
          "$CROSSGATE_PLAN_JOB" >>"$GITHUB_STEP_SUMMARY"
      fi
      rc=2
      ;;
  esac
fi

case "$rc" in
  0) verdict="pass" ;;
  1) verdict="mandatory policy violation" ;;
  2) verdict="could not evaluate (fail closed)" ;;
  *) verdict="unexpected exit status" ;;
esac
echo "gate.sh: crossgate exited $rc: $verdict (stack $stack, pack $pack${config:+, config $config}${plan:+, plan $plan})"
exit "$rc"
