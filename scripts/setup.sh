#!/usr/bin/env bash
# Sets up a fresh Debian 12 (with Node >= 20) or Debian 13 machine for esfc, as root.
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
PKGS=(clang llvm libbpf-dev bpftool make iproute2 ethtool iperf3 tshark tcpdump iputils-ping
      python3 util-linux procps ca-certificates)

node_major() { node -e 'process.stdout.write(process.versions.node.split(".")[0])' 2>/dev/null || echo 0; }
if [ "$(node_major)" -lt 20 ]; then
  if [ "${VERSION_ID:-}" = 13 ]; then
    PKGS+=(nodejs npm)
  else
    die "Node >= 20 is required and Debian ${VERSION_ID:-?}'s nodejs is $(apt-cache policy nodejs 2>/dev/null | awk '/Candidate/ {print $2}') (18 on Debian 12).
Install Node 20 or newer (for example the official linux-x64 tarball from nodejs.org unpacked into /usr/local,
or Debian 13's nodejs), make sure 'node --version' prints v20 or later, and run this script again."
  fi
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
[ "$(node_major)" -ge 20 ] || die "node $(node --version 2>/dev/null) is older than 20"

if ! grep -qs ' /sys/fs/bpf bpf ' /proc/mounts; then
  step "mounting bpffs at /sys/fs/bpf"
  mount -t bpf bpf /sys/fs/bpf
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
else
  step "npm: node_modules up to date"
fi

step "building bpf/build/*.o and dist/"
make -s -C bpf
npx tsc -p tsconfig.json
# The kernel lab: Debian's 6.1 kernel under qemu, for what needs kernel IPsec.
bash scripts/lab-setup.sh
step "done"
