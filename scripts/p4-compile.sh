#!/usr/bin/env bash
# Compiles p4/esfc.p4 for BMv2 with p4c (built by scripts/p4c-build.sh) into
# p4/build/: esfc.json (the BMv2 program), esfc.p4info.json (P4Info, JSON text
# format) and SOURCES (sha256 of each p4/*.p4 and the compiler's commit).
# test/p4/p4-program.test.ts fails when SOURCES does not match p4/, and where
# p4c is installed it recompiles and compares. Run it after changing p4/.
#   scripts/p4-compile.sh [OUTDIR]     (default p4/build; the test uses a temp dir)
set -euo pipefail
cd "$(dirname "$0")/../p4"
OUT=${1:-build}
P4C_COMMIT=34b86e9bacb932c799aaf1b83495ce1e386ea047
P4C=${ESFC_P4C:-${ESFC_P4_CACHE:-/var/cache/esfc-p4}/p4c-${P4C_COMMIT:0:7}}
[ -x "$P4C/bin/p4c-bm2-ss" ] || { echo "[p4-compile] ERROR: no p4c at $P4C/bin/p4c-bm2-ss; build it with scripts/p4c-build.sh (about 40 min)" >&2; exit 1; }
mkdir -p "$OUT"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Relative paths, so the JSON's source_info does not depend on where the repository is.
# Unused constants mirror esfc_shared.h on purpose; the transit rewrite copies a header
# the parser made valid, which p4c cannot prove: no warnings for either.
"$P4C/bin/p4c-bm2-ss" --std p4-16 --Wdisable=unused --Wdisable=invalid-header -I "$P4C/share/p4c/p4include" \
  -o "$tmp/esfc.json" --p4runtime-files "$tmp/esfc.p4info.json" esfc.p4
# One line each: the files are large and only ever read by programs.
node -e 'const fs=require("fs");for(const f of process.argv.slice(1))fs.writeFileSync(f,JSON.stringify(JSON.parse(fs.readFileSync(f,"utf8")))+"\n")' \
  "$tmp/esfc.json" "$tmp/esfc.p4info.json"
{ echo "p4c $P4C_COMMIT"; sha256sum -- *.p4 | sort -k2; } > "$tmp/SOURCES"
mv "$tmp/esfc.json" "$tmp/esfc.p4info.json" "$tmp/SOURCES" "$OUT/"
echo "[p4-compile] $(cd "$OUT" && pwd)/esfc.json, esfc.p4info.json, SOURCES"
