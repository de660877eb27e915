#!/usr/bin/env bash
# Builds what the P4 fallback runs on (README "The P4 fallback"): PI and BMv2's
# simple_switch_grpc, from the source archives of ../shared/p4/src at pinned
# commits (or from upstream git at the same commits), into a prefix outside the
# repository, cached by commit, so only the first run on a machine pays (about
# 15-20 min on 2 cores). Also unpacks the P4Runtime .proto files the agent's
# client loads. p4c (only for whoever changes p4/) is scripts/p4c-build.sh.
#
# Cache ($ESFC_P4_CACHE, default /var/cache/esfc-p4), read by agent/p4/install.ts:
#   bmv2-<PI>-<bmv2>/          the prefix: bin/simple_switch_grpc (RPATH to its lib/), ready stamp
#   proto-<p4runtime>/         p4/v1, p4/config/v1 and google/rpc .proto files
#   current                    names the two directories above, one per line
#
# Environment: ESFC_P4_SRC = a directory with the archives (default: ../shared/p4/src
# beside the repository, else /work/shared/p4/src), or "git" to clone upstream.
set -euo pipefail
cd "$(dirname "$0")/.."

PI_COMMIT=f96af95e090619491e3abf2df69df340c2c9cb46
BMV2_COMMIT=9674187f610c81878e3586f9a1746dcc7f903114
P4RUNTIME_COMMIT=ec4eb5ef70dbcbcbf2f8357a4b2b8c2f218845a5
CACHE=${ESFC_P4_CACHE:-/var/cache/esfc-p4}
PREFIX="$CACHE/bmv2-${PI_COMMIT:0:7}-${BMV2_COMMIT:0:7}"
PROTO="$CACHE/proto-${P4RUNTIME_COMMIT:0:7}"
JOBS=${ESFC_P4_JOBS:-$(nproc)}

step() { printf '[p4-setup] %s\n' "$*"; }
die() { printf '[p4-setup] ERROR: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (apt, and the cache in $CACHE)"

. ./scripts/p4-src.sh

export DEBIAN_FRONTEND=noninteractive
# What PI (--with-proto) and simple_switch_grpc (--with-pi, no thrift, no nanomsg) need.
# libxxhash-dev and libjsoncpp-dev: current bmv2 needs them though its README does not say.
PKGS=(build-essential g++ autoconf automake libtool pkg-config bison flex libgmp-dev libpcap-dev
      libboost-dev libboost-system-dev libboost-thread-dev libboost-filesystem-dev
      libboost-program-options-dev libboost-iostreams-dev libgrpc++-dev libgrpc-dev
      protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libprotoc-dev libssl-dev
      libreadline-dev libjudy-dev libxxhash-dev libjsoncpp-dev python3 tar gzip util-linux)
missing=()
for p in "${PKGS[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  step "apt: installing ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$CACHE"
exec 9> "$CACHE/.lock"
if ! flock -n 9; then
  step "another p4-setup is running; waiting for it (lock $CACHE/.lock)"
  flock 9
fi

# The inputs of the build: the commits, the packages' versions (a new grpc needs a rebuild).
stamp=$( { echo "$PI_COMMIT $BMV2_COMMIT"; dpkg-query -W libgrpc++-dev libprotobuf-dev libboost-dev 2>/dev/null; } | sha256sum | cut -c1-16)
if [ -x "$PREFIX/bin/simple_switch_grpc" ] && [ -f "$PREFIX/ready-$stamp" ]; then
  step "simple_switch_grpc present ($PREFIX)"
else
  BUILD="$CACHE/build.$$"
  trap 'rm -rf "$BUILD"' EXIT
  rm -rf "$PREFIX" && mkdir -p "$BUILD" "$PREFIX"
  t0=$SECONDS
  fetch_source PI "$PI_COMMIT" "$BUILD/PI"
  fetch_source behavioral-model "$BMV2_COMMIT" "$BUILD/bmv2"
  step "PI: configure, make -j$JOBS, install (about 5 min)"
  ( cd "$BUILD/PI" && ./autogen.sh >/dev/null 2>&1 \
    && ./configure -q --with-proto --without-internal-rpc --without-cli --without-bmv2 --prefix="$PREFIX" >/dev/null \
    && make -s -j"$JOBS" >/dev/null && make -s install >/dev/null ) > "$BUILD/pi.log" 2>&1 \
    || { tail -40 "$BUILD/pi.log" >&2; die "PI build failed (log above)"; }
  step "PI done after $(( SECONDS - t0 )) s; BMv2 simple_switch_grpc: configure, make -j$JOBS (about 12 min)"
  # Only what simple_switch_grpc needs; proto before src (src needs the generated packet_trace.pb.h).
  ( cd "$BUILD/bmv2" && ./autogen.sh >/dev/null 2>&1 \
    && ./configure -q --with-pi --without-thrift --without-nanomsg --prefix="$PREFIX" \
         CPPFLAGS="-I$PREFIX/include" LDFLAGS="-L$PREFIX/lib -Wl,-rpath,$PREFIX/lib" >/dev/null \
    && for d in third_party proto src include PI services targets/simple_switch targets/simple_switch_grpc; do
         make -s -j"$JOBS" -C "$d" >/dev/null || exit 1
       done \
    && for d in third_party proto src include PI services targets/simple_switch targets/simple_switch_grpc; do
         make -s -C "$d" install >/dev/null || exit 1
       done ) > "$BUILD/bmv2.log" 2>&1 \
    || { tail -40 "$BUILD/bmv2.log" >&2; die "BMv2 build failed (log above)"; }
  "$PREFIX/bin/simple_switch_grpc" --help >/dev/null 2>&1 || die "$PREFIX/bin/simple_switch_grpc does not run"
  touch "$PREFIX/ready-$stamp"
  step "simple_switch_grpc built in $(( SECONDS - t0 )) s into $PREFIX"
fi

if [ ! -f "$PROTO/.ready" ]; then
  step "P4Runtime protos into $PROTO"
  tmp="$CACHE/proto.$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  fetch_source PI "$PI_COMMIT" "$tmp/PI"
  mkdir -p "$tmp/out/p4/v1" "$tmp/out/p4/config/v1" "$tmp/out/google/rpc"
  cp "$tmp/PI/proto/p4runtime/proto/p4/v1/"{p4runtime,p4data}.proto "$tmp/out/p4/v1/"
  cp "$tmp/PI/proto/p4runtime/proto/p4/config/v1/"{p4info,p4types}.proto "$tmp/out/p4/config/v1/"
  cp "$tmp/PI/proto/google/rpc/"{status,code}.proto "$tmp/out/google/rpc/"
  touch "$tmp/out/.ready"
  rm -rf "$PROTO" && mv "$tmp/out" "$PROTO" && rm -rf "$tmp"
fi
printf '%s\n%s\n' "$PREFIX" "$PROTO" > "$CACHE/current.$$" && mv "$CACHE/current.$$" "$CACHE/current"
step "done: $PREFIX/bin/simple_switch_grpc, protos in $PROTO"
