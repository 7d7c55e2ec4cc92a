#!/usr/bin/env bash
# Creates (or reuses) the project-local Python virtualenv .venv with the test tools (moto's
# server, SAM CLI, cfn-lint: scripts/requirements-test.txt) and, with the argument `deploy`, the
# Lambda build tools too (cargo-lambda, zig: scripts/requirements-deploy.txt).
#
# Each requirements file is installed only when it differs from the copy stamped into .venv after
# its last successful install, so warm runs cost a file comparison.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv"

sets=(test)
case "${1:-}" in
  "") ;;
  deploy) sets+=(deploy) ;;
  *)
    echo "usage: $0 [deploy]" >&2
    exit 2
    ;;
esac

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
for set in "${sets[@]}"; do
  requirements="$root/scripts/requirements-$set.txt"
  stamp="$venv/.imgate-requirements-$set"
  if ! cmp -s "$requirements" "$stamp" 2>/dev/null; then
    "$venv/bin/pip" install --disable-pip-version-check -q -r "$requirements"
    cp "$requirements" "$stamp"
  fi
done

# Fail here, not halfway through a test run, if an install is broken.
"$venv/bin/moto_server" --help >/dev/null
"$venv/bin/sam" --version >/dev/null
"$venv/bin/cfn-lint" --version >/dev/null
if [[ " ${sets[*]} " == *" deploy "* ]]; then
  "$venv/bin/cargo-lambda" lambda --version >/dev/null
  "$venv/bin/python" -m ziglang version >/dev/null
fi
