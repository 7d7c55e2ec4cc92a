#!/usr/bin/env bash
# The project's test command: installs what the tests need (a local virtualenv with moto's
# server for the DynamoDB/SQS/KMS tests, SAM CLI and cfn-lint for the templates in infra/), then
# runs the template checks, formatting, lints and every test.
# Nothing is skipped: a backend test that cannot start its emulator fails.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo is not installed; install Rust with rustup (https://rustup.rs)" >&2
  exit 1
fi
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    rustup component add "$component"
  fi
done

echo "==> test tools (virtualenv in .venv)"
bash scripts/venv.sh
export IMGATE_MOTO_SERVER="$root/.venv/bin/moto_server"

echo "==> sam validate --lint, cfn-lint (infra/)"
# No AWS credentials are needed; SAM wants a region, and telemetry stays off.
for template in infra/template.yaml infra/relay.yaml; do
  SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 .venv/bin/sam validate --lint --template-file "$template"
done
.venv/bin/cfn-lint infra/template.yaml infra/relay.yaml

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> cargo test"
cargo test --workspace --locked
