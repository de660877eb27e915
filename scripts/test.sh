#!/usr/bin/env bash
# Sets up the machine (scripts/setup.sh), lints, and runs every test this machine can run.
# Skipped tests are listed at the end with their reasons.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

echo "[test] lint: eslint and the BPF C (clang -Wall -Werror)"
npx eslint .
make -s -C bpf lint

mapfile -t files < <(find dist/test -name '*.test.js' | sort)
[ ${#files[@]} -gt 0 ] || { echo "[test] no test files under dist/test" >&2; exit 1; }
tap=$(mktemp)
trap 'rm -f "$tap"' EXIT
status=0
node --test --test-concurrency=1 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$tap" \
  "${files[@]}" || status=$?

skips=$(grep -E '^\s*(not )?ok .*# SKIP' "$tap" || true)
if [ -n "$skips" ]; then
  echo
  echo "================ SKIPPED TESTS (not run on this machine) ================"
  echo "$skips" | sed -E 's/^\s*(not )?ok [0-9]+ - /  - /'
  echo "========================================================================="
fi
exit $status
