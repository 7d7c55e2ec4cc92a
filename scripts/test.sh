#!/usr/bin/env bash
# The project's test command: installs what the tests need (a local virtualenv with moto's
# server for the DynamoDB/SQS/KMS tests), then runs formatting, lints and every test.
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

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> cargo test"
cargo test --workspace --locked
