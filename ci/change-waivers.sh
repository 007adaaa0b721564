#!/usr/bin/env bash
# Read the change's waivers file as data, straight from its commit, for the job that judges the
# plan. Nothing of the change is checked out, installed or run: the file is one git blob.
#
#   ci/change-waivers.sh COMMIT OUT_FILE
#
# Run it inside the trusted checkout. If COMMIT is not in the local repository it is fetched
# (objects only) from the remote CROSSGATE_GIT_REMOTE (default origin), sending the header
# CROSSGATE_GIT_AUTH_HEADER when set (e.g. "AUTHORIZATION: bearer <token>").
# Prints OUT_FILE when COMMIT has a policy-waivers.yaml at its root (a regular file), and
# nothing when it has none. Anything else (a symlink, a directory, a commit that can't be
# fetched) exits 2: the waivers are part of what is judged, so not reading them fails closed.
set -euo pipefail

fail_closed() {
  echo "change-waivers.sh: $*" >&2
  exit 2
}

[ "$#" -eq 2 ] || fail_closed "usage: ci/change-waivers.sh COMMIT OUT_FILE"
commit="$1"
out="$2"
[[ "$commit" =~ ^[0-9a-f]{40}([0-9a-f]{24})?$ ]] || fail_closed "not a full commit SHA: $commit"

if ! git cat-file -e "$commit^{commit}" 2>/dev/null; then
  remote="${CROSSGATE_GIT_REMOTE:-origin}"
  if [ -n "${CROSSGATE_GIT_AUTH_HEADER:-}" ]; then
    # Through the environment, so the token is neither on a command line nor in .git/config.
    export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=http.extraheader GIT_CONFIG_VALUE_0="$CROSSGATE_GIT_AUTH_HEADER"
  fi
  git fetch --quiet --no-tags --depth=1 "$remote" "$commit" >&2 ||
    fail_closed "cannot fetch commit $commit from $remote"
  unset GIT_CONFIG_COUNT GIT_CONFIG_KEY_0 GIT_CONFIG_VALUE_0
  git cat-file -e "$commit^{commit}" 2>/dev/null || fail_closed "commit $commit is not in $remote"
fi

entry="$(git ls-tree "$commit" -- policy-waivers.yaml)"
if [ -z "$entry" ]; then
  exit 0
fi
mode="${entry%% *}"
case "$mode" in
  100644 | 100755) ;;
  120000) fail_closed "policy-waivers.yaml in $commit is a symbolic link; commit the file itself" ;;
  *) fail_closed "policy-waivers.yaml in $commit is not a regular file (mode $mode)" ;;
esac
mkdir -p "$(dirname "$out")"
git show "$commit:policy-waivers.yaml" >"$out"
printf '%s\n' "$out"
