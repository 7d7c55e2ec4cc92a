#!/usr/bin/env bash
# Builds the three Lambda functions (admin, webhook, dispatcher) for Lambda's arm64 runtime
# (provided.al2023) as bootstrap zips, and prints their sizes:
#
#     target/lambda/<name>/bootstrap.zip        (or $LAMBDA_DIR/<name>/bootstrap.zip)
#
# cargo-lambda and zig (the cross linker) come from PyPI into .venv (scripts/venv.sh deploy), so
# a Rust toolchain from rustup and Python 3 are all the machine needs. `sam build` runs the same
# cargo-lambda build per function (BuildMethod rust-cargolambda); this script is the quick way to
# check that everything compiles for arm64 and to see what will be uploaded.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

functions=(admin webhook dispatcher)
target=aarch64-unknown-linux-gnu
lambda_dir="${LAMBDA_DIR:-$root/target/lambda}"

if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo is not installed; install Rust with rustup (https://rustup.rs)" >&2
  exit 1
fi

echo "==> build tools (cargo-lambda, zig) in .venv"
bash scripts/venv.sh deploy
# cargo-lambda finds zig as `python3 -m ziglang` through the virtualenv's python.
export PATH="$root/.venv/bin:$PATH"

if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx "$target"; then
  echo "==> rustup target add $target"
  rustup target add "$target"
fi

echo "==> cargo lambda build --release --arm64 (${functions[*]})"
bins=()
for name in "${functions[@]}"; do
  bins+=(--bin "$name")
done
cargo lambda build --release --arm64 --output-format zip --locked --lambda-dir "$lambda_dir" "${bins[@]}"

echo "==> artifacts"
for name in "${functions[@]}"; do
  zip="$lambda_dir/$name/bootstrap.zip"
  if [ ! -s "$zip" ]; then
    echo "error: $zip was not produced" >&2
    exit 1
  fi
done
"$root/.venv/bin/python" - "$lambda_dir" "${functions[@]}" <<'PY'
import sys
import zipfile
from pathlib import Path

lambda_dir = Path(sys.argv[1])
print(f"{'function':<12} {'bootstrap.zip':>14} {'bootstrap':>14}  path")
for name in sys.argv[2:]:
    path = lambda_dir / name / "bootstrap.zip"
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("bootstrap")
    mib = lambda n: f"{n / 1048576:.2f} MiB"
    print(f"{name:<12} {mib(path.stat().st_size):>14} {mib(info.file_size):>14}  {path}")
PY
