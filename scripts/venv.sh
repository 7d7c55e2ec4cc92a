#!/usr/bin/env bash
# Creates (or reuses) the project-local Python virtualenv with the test and deploy tools:
# moto's server (DynamoDB, SQS and KMS on 127.0.0.1 for the backend tests).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv"
stamp="$venv/.imgate-requirements"
requirements="$root/scripts/requirements-test.txt"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if ! cmp -s "$requirements" "$stamp" 2>/dev/null; then
  "$venv/bin/pip" install --disable-pip-version-check -q -r "$requirements"
  cp "$requirements" "$stamp"
fi
"$venv/bin/moto_server" --help >/dev/null
