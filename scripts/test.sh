#!/usr/bin/env bash
# Sets up the machine (scripts/setup.sh), lints, and runs every test this machine can run.
# Skipped tests are listed at the end with their reasons.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
elapsed() { printf '%dm%02ds' $(( (SECONDS - started) / 60 )) $(( (SECONDS - started) % 60 )); }
bash scripts/setup.sh

echo "[test] lint: eslint and the BPF C (clang -Wall -Werror) ($(elapsed) so far)"
npx eslint .
make -s -C bpf lint

mapfile -t files < <(find dist/test -name '*.test.js' | sort)
[ ${#files[@]} -gt 0 ] || { echo "[test] no test files under dist/test" >&2; exit 1; }
tap=$(mktemp)
trap 'rm -f "$tap"' EXIT
status=0
# The kernel lab suites (test/lab/) boot each lab kernel and run the IPsec suites inside: about
# 9 minutes per kernel on 2 cores, with their output streamed as "[lab 6.x]" lines.
echo "[test] ${#files[@]} test files, one at a time ($(elapsed) so far)"
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
echo "[test] $([ $status = 0 ] && echo passed || echo FAILED) after $(elapsed)"
exit $status
