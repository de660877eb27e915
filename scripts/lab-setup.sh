#!/usr/bin/env bash
# Builds the kernel lab: Debian 12's distribution kernel (it has ESP, GCM and
# the XFRM modules this machine's kernel lacks), an uncompressed vmlinux that
# qemu boots directly (PVH), and a small busybox initramfs with the modules
# the encrypted-hop tests need. Cached in /var/cache/esfc-lab; idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE=${ESFC_LAB_CACHE:-/var/cache/esfc-lab}
step() { printf '[lab-setup] %s\n' "$*"; }
die() { printf '[lab-setup] ERROR: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"

export DEBIAN_FRONTEND=noninteractive
PKGS=(qemu-system-x86 busybox-static kmod cpio python3)
missing=()
for p in "${PKGS[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  step "apt: installing ${missing[*]}"
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

mkdir -p "$CACHE"
# Debian 12 builds the lab from its own 6.1 kernel; on Debian 13 the same package name is not there.
kernel_pkg() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'; }
KPKG=${ESFC_LAB_KERNEL_PKG:-$(kernel_pkg)}
if [ -z "$KPKG" ]; then
  # A fresh machine may have no package lists yet.
  apt-get update -q
  KPKG=$(kernel_pkg)
fi
[ -n "$KPKG" ] || die "cannot find the kernel package behind linux-image-amd64 in the apt sources"
KVER=${KPKG#linux-image-}
STAMP="$CACHE/ready-$KVER-$(sha256sum test/lab/lab-init.sh test/lab/lab-modules.txt scripts/lab-setup.sh | sha256sum | cut -c1-12)"
if [ -f "$STAMP" ] && [ -f "$CACHE/vmlinux" ] && [ -f "$CACHE/initramfs.cpio.gz" ]; then
  step "lab ready: $KVER (cached in $CACHE)"
  exit 0
fi

if ! ls "$CACHE"/"$KPKG"_*.deb >/dev/null 2>&1; then
  step "downloading $KPKG"
  (cd "$CACHE" && apt-get download "$KPKG" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
fi
DEB=$(ls "$CACHE"/"$KPKG"_*.deb | head -1)
[ -f "$DEB" ] || die "download of $KPKG failed"

step "unpacking $(basename "$DEB")"
rm -rf "$CACHE/root"
mkdir -p "$CACHE/root"
dpkg-deb -x "$DEB" "$CACHE/root"

step "extracting an uncompressed vmlinux (qemu boots it through PVH)"
python3 - "$CACHE/root/boot/vmlinuz-$KVER" "$CACHE/vmlinux" <<'PY'
import sys, lzma, gzip, zlib
data = open(sys.argv[1], 'rb').read()
for magic, name in ((b'\xfd7zXZ\x00', 'xz'), (b'\x1f\x8b\x08', 'gzip')):
    i = data.find(magic)
    while i >= 0:
        try:
            out = lzma.LZMADecompressor().decompress(data[i:]) if name == 'xz' else zlib.decompressobj(31).decompress(data[i:])
            if out[:4] == b'\x7fELF':
                open(sys.argv[2], 'wb').write(out)
                sys.exit(0)
        except Exception:
            pass
        i = data.find(magic, i + 1)
sys.exit('no xz or gzip compressed ELF found in the bzImage')
PY

step "initramfs: busybox + the module closure of test/lab/lab-modules.txt"
MODROOT="$CACHE/root/lib/modules/$KVER"
depmod -b "$CACHE/root" "$KVER"
IRD="$CACHE/initramfs"
rm -rf "$IRD"
mkdir -p "$IRD"/{bin,sbin,etc,proc,sys,dev,mnt,lib/modules/$KVER}
cp /bin/busybox "$IRD/bin/busybox"
for a in sh mount umount mkdir modprobe insmod depmod chroot poweroff sync cat echo ip hostname sleep ls mknod ln rm; do ln -s busybox "$IRD/bin/$a"; done
ln -s ../bin/busybox "$IRD/sbin/modprobe"
cp test/lab/lab-init.sh "$IRD/init"
chmod +x "$IRD/init"
python3 - "$MODROOT" "$IRD/lib/modules/$KVER" test/lab/lab-modules.txt "$IRD/etc/lab-modules" <<'PY'
import sys, os, shutil
src, dst, listfile, loadfile = sys.argv[1:5]
dep = {}
for line in open(os.path.join(src, 'modules.dep')):
    path, _, deps = line.partition(':')
    dep[path.strip()] = deps.split()
by_name = {os.path.basename(p).split('.ko')[0].replace('-', '_'): p for p in dep}
builtin = {os.path.basename(l.strip()).split('.ko')[0].replace('-', '_') for l in open(os.path.join(src, 'modules.builtin'))}
wanted = [l.split('#')[0].strip() for l in open(listfile)]
wanted = [w for w in wanted if w]
need, load, missing = set(), [], []
def add(p):
    if p in need: return
    need.add(p)
    for d in dep.get(p, []): add(d)
# The kernel asks for crypto algorithms by name at run time (seqiv wants a
# stdrng, which wants sha3...): every crypto module is in the pool, on demand.
for p in dep:
    if p.startswith(('kernel/crypto/', 'kernel/arch/x86/crypto/', 'kernel/lib/crypto/')):
        add(p)
for w in wanted:
    n = w.replace('-', '_')
    if n in by_name:
        add(by_name[n]); load.append(w)
    elif n not in builtin:
        missing.append(w)
if missing:
    sys.exit('modules neither loadable nor built in: ' + ' '.join(missing))
for p in need:
    os.makedirs(os.path.join(dst, os.path.dirname(p)), exist_ok=True)
    shutil.copy2(os.path.join(src, p), os.path.join(dst, p))
for f in ('modules.builtin', 'modules.builtin.modinfo', 'modules.order'):
    if os.path.exists(os.path.join(src, f)): shutil.copy2(os.path.join(src, f), os.path.join(dst, f))
open(loadfile, 'w').write('\n'.join(load) + '\n')
print(f'[lab-setup] {len(need)} modules, {len(load)} loaded at boot')
PY
depmod -b "$IRD" "$KVER"
(cd "$IRD" && find . | cpio -o -H newc --quiet | gzip -1 > "$CACHE/initramfs.cpio.gz")
rm -f "$CACHE"/ready-*
touch "$STAMP"
echo "$KVER" > "$CACHE/kernel-version"
step "lab ready: $KVER, $(du -h "$CACHE/initramfs.cpio.gz" | cut -f1) initramfs"
