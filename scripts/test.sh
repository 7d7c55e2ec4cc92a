#!/usr/bin/env bash
# The project's test command: installs what the tests need (a local virtualenv with moto's
# server for the DynamoDB/SQS/KMS tests, SAM CLI and cfn-lint for the templates in infra/,
# Debian's Chromium, ChromeDriver and a CJK font for the browser tests), then runs the template
# checks, formatting, lints and every test.
# Nothing is skipped: a backend test that cannot start its emulator or browser fails.
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

echo "==> browser (chromium, chromium-driver, CJK font)"
# Debian's packages, installed only when missing. The CJK font (WenQuanYi Micro Hei, 1.6 MB,
# against 56 MB for fonts-noto-cjk) is what draws Chinese text in the screenshots.
browser_packages=(chromium chromium-driver fonts-wqy-microhei)
cjk_font=/usr/share/fonts/truetype/wqy/wqy-microhei.ttc
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ] || [ ! -f "$cjk_font" ]; then
  as_root=()
  if [ "$(id -u)" -ne 0 ]; then
    as_root=(sudo)
  fi
  apt_install() {
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -q --no-install-recommends "${browser_packages[@]}"
  }
  # The package lists are refreshed only when the install fails on them (none yet, or stale).
  if ! apt_install; then
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    if ! apt_install; then
      echo "error: could not install ${browser_packages[*]} with apt-get" >&2
      exit 1
    fi
  fi
fi
/usr/bin/chromium --version >/dev/null
/usr/bin/chromedriver --version >/dev/null
export IMGATE_CHROMIUM=/usr/bin/chromium
export IMGATE_CHROMEDRIVER=/usr/bin/chromedriver

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
# The tests' temporary files (databases, key files, media directories, browser profiles, moto's
# logs) go to one directory of this run instead of piling up in the system's: removed when the
# run passes, kept (and named) when it fails.
test_tmp="$(mktemp -d "${TMPDIR:-/tmp}/imgate-tests.XXXXXX")"
keep_or_remove() {
  local status=$?
  if [ "$status" -eq 0 ]; then
    rm -rf "$test_tmp"
  else
    echo "the tests' temporary files are kept in $test_tmp" >&2
  fi
}
trap keep_or_remove EXIT
TMPDIR="$test_tmp" cargo test --workspace --locked
