#!/usr/bin/env bash
# Builds p4c (only its BMv2 backend, p4c-bm2-ss) from the pinned sources, for
# whoever changes p4/: `make -C p4` then recompiles the committed JSON + P4Info.
# About 30-50 min on 2 cores; cached by commit in $ESFC_P4_CACHE/p4c-<commit>/.
# Not part of setup or the tests: the tests use the committed output and check
# its digest, and recompile and compare only where this has been run.
set -euo pipefail
cd "$(dirname "$0")/.."

P4C_COMMIT=34b86e9bacb932c799aaf1b83495ce1e386ea047
ABSEIL_TAG=20240722.1
PROTOBUF_TAG=v25.3
P4RUNTIME_COMMIT=ec4eb5ef70dbcbcbf2f8357a4b2b8c2f218845a5
CACHE=${ESFC_P4_CACHE:-/var/cache/esfc-p4}
PREFIX="$CACHE/p4c-${P4C_COMMIT:0:7}"
JOBS=${ESFC_P4_JOBS:-$(nproc)}

step() { printf '[p4c-build] %s\n' "$*"; }
die() { printf '[p4c-build] ERROR: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (apt, and the cache in $CACHE)"
. ./scripts/p4-src.sh

export DEBIAN_FRONTEND=noninteractive
PKGS=(build-essential g++ cmake make bison flex libfl-dev libgc-dev libgmp-dev libboost-dev
      libboost-iostreams-dev libboost-graph-dev python3 pkg-config tar gzip util-linux)
missing=()
for p in "${PKGS[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  step "apt: installing ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$CACHE"
exec 9> "$CACHE/.lock-p4c"
flock 9
if [ -x "$PREFIX/bin/p4c-bm2-ss" ] && [ -f "$PREFIX/.ready" ]; then
  step "p4c present ($PREFIX/bin/p4c-bm2-ss)"; exit 0
fi
BUILD="$CACHE/p4c-build.$$"
trap 'rm -rf "$BUILD"' EXIT
rm -rf "$PREFIX" && mkdir -p "$BUILD/deps" "$PREFIX/bin"
t0=$SECONDS
fetch_source p4c "$P4C_COMMIT" "$BUILD/p4c"
fetch_source abseil-cpp "$ABSEIL_TAG" "$BUILD/deps/abseil"
fetch_source protobuf "$PROTOBUF_TAG" "$BUILD/deps/protobuf"
fetch_source p4runtime "$P4RUNTIME_COMMIT" "$BUILD/deps/p4runtime"
# GCC 12's libstdc++ hands std::erase_if on a std::map a const value_type&.
sed -i 's/\[this\](flow_join_points_t::value_type &el)/[this](const flow_join_points_t::value_type \&el)/' "$BUILD/p4c/ir/visitor.cpp"
grep -q '(const flow_join_points_t::value_type &el)' "$BUILD/p4c/ir/visitor.cpp" || die "the GCC 12 fix in ir/visitor.cpp did not apply"
off=()
for f in EBPF UBPF DPDK TOFINO P4TC P4FMT P4TEST GTESTS P4C_GRAPHS TEST_TOOLS DOCS LTO; do off+=("-DENABLE_$f=OFF"); done
step "cmake (bmv2 backend only)"
cmake -S "$BUILD/p4c" -B "$BUILD/p4c/build" -DCMAKE_BUILD_TYPE=Release -DENABLE_BMV2=ON "${off[@]}" \
  -DP4C_USE_PREINSTALLED_BDWGC=ON -DFETCHCONTENT_FULLY_DISCONNECTED=ON \
  -DFETCHCONTENT_SOURCE_DIR_ABSEIL="$BUILD/deps/abseil" -DFETCHCONTENT_SOURCE_DIR_PROTOBUF="$BUILD/deps/protobuf" \
  -DFETCHCONTENT_SOURCE_DIR_P4RUNTIME="$BUILD/deps/p4runtime" -DCMAKE_INSTALL_PREFIX="$PREFIX" > "$BUILD/cmake.log" 2>&1 \
  || { tail -40 "$BUILD/cmake.log" >&2; die "p4c cmake failed"; }
step "make -j$JOBS p4c-bm2-ss p4c_driver (about 30 min)"
make -s -C "$BUILD/p4c/build" -j"$JOBS" p4c-bm2-ss p4c_driver > "$BUILD/make.log" 2>&1 \
  || { grep -m5 -B2 -A8 'error' "$BUILD/make.log" >&2; die "p4c build failed"; }
# p4c-bm2-ss needs its p4include/ (core.p4, v1model.p4) beside it or under share/p4c.
cp "$BUILD/p4c/build/p4c-bm2-ss" "$PREFIX/bin/"
mkdir -p "$PREFIX/share/p4c" && cp -r "$BUILD/p4c/p4include" "$PREFIX/share/p4c/"
"$PREFIX/bin/p4c-bm2-ss" --version >/dev/null || die "$PREFIX/bin/p4c-bm2-ss does not run"
touch "$PREFIX/.ready"
step "p4c-bm2-ss built in $(( SECONDS - t0 )) s: $PREFIX/bin/p4c-bm2-ss"
