#!/usr/bin/env bash
# Builds the kernel lab (README "The kernel lab"): Debian's distribution
# kernels, which have ESP, GCM and the XFRM modules this machine's kernel
# lacks, each as an uncompressed vmlinux that qemu boots directly (PVH) and a
# small busybox initramfs with the modules the encrypted-hop tests need.
#
# Two kernels, whatever Debian the host runs:
#   6.1   Debian 12 (bookworm): cls_bpf, no adjust_room decap flag, the older verifier
#   6.12  Debian 13 (trixie):   tcx, the decap flags
# Each is fetched with apt-get download through a private apt state under the
# cache (its own sources list and package lists; the host's apt is not
# touched), from the Debian mirrors the host's sources use.
#
# Cache ($ESFC_LAB_CACHE, default /var/cache/esfc-lab), read by lab/kernel-lab.ts:
#   <series>             symlink to the release it boots, e.g. 6.1 -> 6.1.0-57-amd64
#   <release>/vmlinux, initramfs.cpio.gz, kernel-version, ready-<inputs hash>
#   debs/                the kernel packages (an initramfs rebuild does not download again)
#   apt/<codename>/      the private apt state
# Files are replaced by renames, so a guest booting meanwhile sees the old or
# the new file, never half of one. A re-run with nothing changed only checks.
#
# Environment: ESFC_LAB_KERNELS="6.1 6.12" (which to build; the lab's tests skip the
# others), ESFC_LAB_MIRROR and
# ESFC_LAB_SECURITY_MIRROR (else the host's, else deb.debian.org),
# ESFC_LAB_REFRESH_DAYS=7 (age at which the private package lists are refreshed).
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE=${ESFC_LAB_CACHE:-/var/cache/esfc-lab}
KERNELS_ENV=${ESFC_LAB_KERNELS:-6.1 6.12}
read -r -a KERNELS <<< "${KERNELS_ENV//,/ }"
REFRESH_DAYS=${ESFC_LAB_REFRESH_DAYS:-7}
step() { printf '[lab-setup] %s\n' "$*"; }
die() { printf '[lab-setup] ERROR: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (apt, and the cache in $CACHE)"

codename_of() {
  case "$1" in
    6.1) echo bookworm ;;
    6.12) echo trixie ;;
    *) die "unknown lab kernel '$1' in ESFC_LAB_KERNELS (known: 6.1 = Debian 12, 6.12 = Debian 13)" ;;
  esac
}
for k in "${KERNELS[@]}"; do codename_of "$k" >/dev/null; done

export DEBIAN_FRONTEND=noninteractive
# zstd: Debian 13's bzImage is zstd-compressed. kmod: depmod for the module trees.
PKGS=(qemu-system-x86 busybox-static kmod cpio gzip python3 zstd debian-archive-keyring util-linux)
missing=()
for p in "${PKGS[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  step "apt: installing ${missing[*]}"
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

mkdir -p "$CACHE"
# Two setups at once (two engineers, or CI beside a demo) would build into the same files.
exec 9> "$CACHE/.lock"
if ! flock -n 9; then
  step "another lab-setup is running; waiting for it (lock $CACHE/.lock)"
  flock 9
fi
BUILD="$CACHE/build.$$"
trap 'rm -rf "$BUILD"' EXIT

# The single-kernel layout of earlier versions of this script: keep its package, drop the rest.
mkdir -p "$CACHE/debs"
for f in "$CACHE"/linux-image-*.deb; do [ -e "$f" ] && mv "$f" "$CACHE/debs/"; done
if [ -e "$CACHE/vmlinux" ] || [ -e "$CACHE/root" ] || [ -e "$CACHE/initramfs" ]; then
  step "removing the single-kernel layout of earlier versions (vmlinux, root/, initramfs/ in $CACHE)"
  rm -rf "$CACHE/vmlinux" "$CACHE/initramfs.cpio.gz" "$CACHE/kernel-version" "$CACHE/root" "$CACHE/initramfs" "$CACHE"/ready-*
fi

# --- a private apt state per Debian release --------------------------------------------------
host_repo() {  # $1: a suite suffix ("" or "-security"); prints the URI the host's sources use for it
  local codename
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  [ -n "$codename" ] || return 0
  # Sources name the release by codename or by suite (stable, oldstable). awk reads to the end:
  # an early exit would make apt-get die of SIGPIPE, and pipefail this script.
  { apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2>/dev/null || true; } \
    | awk -v re="^($codename|stable|oldstable|testing)$1\$" '$2 ~ re && !found {print $1; found = 1}'
}
MIRROR= SECURITY= KEYRING=
find_mirrors() {  # once, and only when package lists are fetched
  [ -z "$MIRROR" ] || return 0
  MIRROR=${ESFC_LAB_MIRROR:-$(host_repo "")}
  MIRROR=${MIRROR:-http://deb.debian.org/debian}
  SECURITY=${ESFC_LAB_SECURITY_MIRROR:-$(host_repo -security)}
  SECURITY=${SECURITY:-http://deb.debian.org/debian-security}
  local k
  for k in /usr/share/keyrings/debian-archive-keyring.pgp /usr/share/keyrings/debian-archive-keyring.gpg; do
    [ -f "$k" ] && { KEYRING=$k; break; }
  done
  [ -n "$KEYRING" ] || die "no Debian archive keyring in /usr/share/keyrings (fix: apt-get install debian-archive-keyring)"
}

APT=()
apt_state() {  # $1: codename; sets APT to the options of its private apt state
  local d="$CACHE/apt/$1"
  mkdir -p "$d/lists/partial" "$d/cache/archives/partial" "$d/sources.list.d" "$d/preferences.d"
  [ -f "$d/status" ] || : > "$d/status"
  # The host's apt.conf.d still applies (proxies); its sources, pins and dpkg state do not.
  # The package cache files are named because Debian's docker images configure none (slow apt-cache).
  APT=(-o "Dir::Etc::SourceList=$d/sources.list" -o "Dir::Etc::SourceParts=$d/sources.list.d"
       -o "Dir::Etc::Preferences=$d/preferences" -o "Dir::Etc::PreferencesParts=$d/preferences.d"
       -o "Dir::State::Lists=$d/lists" -o "Dir::State::status=$d/status" -o "Dir::Cache=$d/cache"
       -o Dir::Cache::pkgcache=pkgcache.bin -o Dir::Cache::srcpkgcache=srcpkgcache.bin
       -o APT::Architecture=amd64 -o APT::Architectures::=amd64 -o Acquire::Languages=none
       -o APT::Sandbox::User=root -q)
}
apt_refresh() {  # $1: codename
  local d="$CACHE/apt/$1"
  find_mirrors
  # Only the Packages indexes (no translations, no AppStream): what apt-get download needs.
  {
    echo "deb [signed-by=$KEYRING target=Packages] $MIRROR $1 main"
    echo "deb [signed-by=$KEYRING target=Packages] $MIRROR $1-updates main"
    echo "deb [signed-by=$KEYRING target=Packages] $SECURITY $1-security main"
  } > "$d/sources.list.new"
  mv "$d/sources.list.new" "$d/sources.list"
  step "apt: package lists of Debian $1 from $MIRROR and $SECURITY (private state in $d)"
  apt-get "${APT[@]}" update >/dev/null || die "apt-get update for Debian $1 failed: is $MIRROR reachable? (set ESFC_LAB_MIRROR / ESFC_LAB_SECURITY_MIRROR to a Debian mirror that has $1)"
  # Our own stamp: apt keeps an unchanged InRelease's old mtime (a stable release's rarely changes).
  touch "$d/updated"
}
lists_fresh() {  # $1: codename
  [ -f "$CACHE/apt/$1/sources.list" ] && [ -n "$(find "$CACHE/apt/$1/updated" -mtime "-$REFRESH_DAYS" 2>/dev/null)" ]
}
kernel_pkg() {  # the package linux-image-amd64 depends on; empty if the lists have none
  { apt-cache "${APT[@]}" depends linux-image-amd64 2>/dev/null || true; } \
    | awk '/Depends: linux-image-[0-9]/ && !found {print $2; found = 1}'
}

# Everything an initramfs is made of besides the kernel: a change in any of them rebuilds it.
INPUTS_HASH=$(cat scripts/lab-setup.sh lab/lab-init.sh lab/lab-modules.txt lab/extract-vmlinux.py \
  lab/initramfs-modules.py /bin/busybox | sha256sum | cut -c1-12)

build_kernel() {  # $1: series (6.1, 6.12); $2: 1 when its package lists were just refreshed
  local series=$1 refreshed=${2:-0} codename kpkg kver out deb modtree base ird
  codename=$(codename_of "$series")
  apt_state "$codename"
  if [ "$refreshed" = 0 ] && ! lists_fresh "$codename"; then apt_refresh "$codename"; refreshed=1; fi
  kpkg=$(kernel_pkg)
  [ -n "$kpkg" ] || die "Debian $codename's linux-image-amd64 names no kernel package (lists in $CACHE/apt/$codename)"
  kver=${kpkg#linux-image-}
  out="$CACHE/$kver"

  if [ -f "$out/ready-$INPUTS_HASH" ] && [ -f "$out/vmlinux" ] && [ -f "$out/initramfs.cpio.gz" ]; then
    link_series "$series" "$kver"
    step "lab kernel $series ready: $kver (cached in $out)"
    return
  fi

  # 1. The package.
  deb=$(ls "$CACHE/debs/${kpkg}"_*.deb 2>/dev/null | head -1 || true)
  if [ -z "$deb" ]; then
    step "downloading $kpkg from Debian $codename"
    rm -rf "$CACHE/debs/partial"
    mkdir -p "$CACHE/debs/partial"
    if ! (cd "$CACHE/debs/partial" && apt-get "${APT[@]}" download "$kpkg" >/dev/null); then
      # Old kernel packages leave the archive when a new ABI is published: fresh lists name the new one.
      [ "$refreshed" = 0 ] || die "apt-get download $kpkg failed (network? mirror $MIRROR / $SECURITY)"
      apt_refresh "$codename"
      build_kernel "$series" 1
      return
    fi
    mv "$CACHE/debs/partial/${kpkg}"_*.deb "$CACHE/debs/"
    rm -rf "$CACHE/debs/partial"
    deb=$(ls "$CACHE/debs/${kpkg}"_*.deb | head -1)
  fi

  # 2. Unpacked (a scratch copy, dropped at the end), with its module index.
  step "unpacking $(basename "$deb")"
  rm -rf "$BUILD"
  mkdir -p "$BUILD/root"
  dpkg-deb -x "$deb" "$BUILD/root"
  # Debian 13 ships modules under /usr/lib/modules (merged /usr), Debian 12 under /lib/modules.
  for base in "$BUILD/root/usr" "$BUILD/root"; do [ -d "$base/lib/modules/$kver" ] && break; done
  modtree="$base/lib/modules/$kver"
  [ -d "$modtree" ] || die "$(basename "$deb") has no lib/modules/$kver"
  depmod -b "$base" "$kver"

  mkdir -p "$out"
  rm -f "$out"/ready-*
  # 3. vmlinux out of the bzImage.
  if [ ! -f "$out/vmlinux" ]; then
    step "extracting an uncompressed vmlinux from vmlinuz-$kver (qemu boots it through PVH)"
    python3 lab/extract-vmlinux.py "$BUILD/root/boot/vmlinuz-$kver" "$out/vmlinux.tmp"
    mv "$out/vmlinux.tmp" "$out/vmlinux"
  fi

  # 4. The initramfs: busybox, /init, the modules of lab-modules.txt with their
  #    dependencies and every crypto module, decompressed, depmod'ed.
  step "initramfs for $kver: busybox, lab/lab-init.sh, the modules of lab/lab-modules.txt"
  ird="$BUILD/initramfs"
  mkdir -p "$ird"/{bin,sbin,etc,proc,sys,dev,mnt,lib/modules/"$kver"}
  cp /bin/busybox "$ird/bin/busybox"
  for a in $("$ird/bin/busybox" --list); do [ -e "$ird/bin/$a" ] || ln -s busybox "$ird/bin/$a"; done
  ln -sf ../bin/busybox "$ird/sbin/modprobe"
  cp lab/lab-init.sh "$ird/init"
  chmod 755 "$ird/init"
  python3 lab/initramfs-modules.py "$modtree" "$ird/lib/modules/$kver" lab/lab-modules.txt "$ird/etc/lab-modules"
  depmod -b "$ird" "$kver"
  (cd "$ird" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -1 > "$out/initramfs.cpio.gz.tmp")
  mv "$out/initramfs.cpio.gz.tmp" "$out/initramfs.cpio.gz"
  echo "$kver" > "$out/kernel-version.tmp"
  mv "$out/kernel-version.tmp" "$out/kernel-version"
  rm -rf "$BUILD"
  touch "$out/ready-$INPUTS_HASH"
  link_series "$series" "$kver"
  step "lab kernel $series ready: $kver, vmlinux $(du -h "$out/vmlinux" | cut -f1), initramfs $(du -h "$out/initramfs.cpio.gz" | cut -f1)"
}

link_series() {  # $1: series, $2: release. Points <series> at it, then drops the series' older releases.
  local series=$1 kver=$2 old
  if [ "$(readlink "$CACHE/$series" 2>/dev/null)" != "$kver" ]; then
    ln -sfn "$kver" "$CACHE/.$series.new"
    mv -T "$CACHE/.$series.new" "$CACHE/$series"
  fi
  # "6.1".* matches 6.1.0-57-amd64 but not 6.12.x: each series only drops its own.
  for old in "$CACHE/$series".*/ "$CACHE"/debs/linux-image-"$series".*.deb; do
    old=${old%/}
    [ -e "$old" ] || continue
    case "$(basename "$old")" in
      "$kver"|"linux-image-${kver}_"*) ;;
      *) step "removing $(basename "$old") (superseded by $kver)"; rm -rf "$old" ;;
    esac
  done
}

for series in "${KERNELS[@]}"; do build_kernel "$series"; done
