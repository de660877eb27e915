#!/usr/bin/env bash
# Builds the kernel lab (DESIGN.md "Kernel lab"): Debian's distribution kernel
# (it has ESP, GCM and the XFRM modules this machine's kernel lacks) as an
# uncompressed vmlinux that qemu boots directly through its PVH note, and a
# busybox initramfs with the modules the encrypted-hop tests need. Run as
# root; idempotent; everything is cached in /var/cache/esfc-lab (ESFC_LAB_CACHE)
# and a re-run with nothing changed only checks.
#
# Outputs read by test/lab/kernel-lab.ts: vmlinux, initramfs.cpio.gz,
# kernel-version. Each is replaced by a rename, so a guest booting meanwhile
# gets either the old or the new file, never half of one.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE=${ESFC_LAB_CACHE:-/var/cache/esfc-lab}
step() { printf '[lab-setup] %s\n' "$*"; }
die() { printf '[lab-setup] ERROR: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (apt, and the cache in $CACHE)"

export DEBIAN_FRONTEND=noninteractive
# kmod for depmod: its binary indexes let the guest's own modprobe (kmod,
# inside the chroot) work too; busybox's modprobe reads the text files.
PKGS=(qemu-system-x86 busybox-static kmod cpio gzip python3)
missing=()
for p in "${PKGS[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  step "apt: installing ${missing[*]}"
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  step "apt: qemu, busybox and the build tools present"
fi
mkdir -p "$CACHE"

# The kernel is whatever linux-image-amd64 depends on (linux-image-6.1.0-N-amd64
# on Debian 12); ESFC_LAB_KERNEL_PKG pins another one.
kernel_pkg() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'; }
KPKG=${ESFC_LAB_KERNEL_PKG:-$(kernel_pkg)}
if [ -z "$KPKG" ]; then
  step "apt: no linux-image-amd64 in the package lists; updating them"
  apt-get update -q
  KPKG=$(kernel_pkg)
fi
[ -n "$KPKG" ] || die "cannot find the kernel package behind linux-image-amd64 in Debian's archive"
KVER=${KPKG#linux-image-}
KROOT="$CACHE/root-$KVER"
MODTREE="$KROOT/lib/modules/$KVER"

# Everything the initramfs is made of: a change in any of them rebuilds it.
INPUTS_HASH=$( { echo "$KVER $CACHE"; cat scripts/lab-setup.sh test/lab/lab-init.sh test/lab/lab-modules.txt; sha256sum /bin/busybox; } | sha256sum | cut -c1-16)
if [ "$(cat "$CACHE/kernel-version" 2>/dev/null)" = "$KVER" ] && [ -f "$CACHE/vmlinux" ] && [ -f "$MODTREE/modules.dep" ] \
   && [ "$(cat "$CACHE/initramfs.stamp" 2>/dev/null)" = "$INPUTS_HASH" ] && [ -f "$CACHE/initramfs.cpio.gz" ]; then
  step "lab ready: $KVER (cached in $CACHE)"
  exit 0
fi

# 1. The package.
DEB=$(ls "$CACHE"/"${KPKG}"_*.deb 2>/dev/null | head -1 || true)
if [ -z "$DEB" ]; then
  step "downloading $KPKG from Debian's archive"
  # apt-get download as root warns that _apt cannot write here; harmless.
  (cd "$CACHE" && apt-get download -q "$KPKG" 2>&1 | grep -v 'unsandboxed' || true)
  DEB=$(ls "$CACHE"/"${KPKG}"_*.deb 2>/dev/null | head -1 || true)
  [ -n "$DEB" ] || die "apt-get download $KPKG failed (network? apt-get update?)"
else
  step "package cached: $(basename "$DEB")"
fi

# 2. Unpacked, with its module indexes. A guest may be loading modules from
#    this tree (over 9p): it is only ever created whole, never rewritten.
if [ ! -f "$MODTREE/modules.dep" ]; then
  step "unpacking $(basename "$DEB")"
  rm -rf "$KROOT.tmp"
  mkdir -p "$KROOT.tmp"
  dpkg-deb -x "$DEB" "$KROOT.tmp"
  [ -d "$KROOT.tmp/lib/modules/$KVER" ] || die "$(basename "$DEB") has no lib/modules/$KVER"
  depmod -b "$KROOT.tmp" "$KVER"
  rm -rf "$KROOT"
  mv "$KROOT.tmp" "$KROOT"
fi

# 3. vmlinux out of the bzImage, the way Linux's scripts/extract-vmlinux does
#    it (find a compressor's magic, decompress from there, keep what is an
#    ELF), except that the boot header says where the payload starts, so that
#    is tried first. qemu boots an ELF with a PVH note directly, skipping the
#    decompressor, which under TCG takes seconds.
if [ "$(cat "$CACHE/kernel-version" 2>/dev/null)" != "$KVER" ] || [ ! -f "$CACHE/vmlinux" ]; then
  step "extracting an uncompressed vmlinux from vmlinuz-$KVER"
  python3 - "$KROOT/boot/vmlinuz-$KVER" "$CACHE/vmlinux.tmp" <<'PY'
import bz2, lzma, shutil, struct, subprocess, sys, zlib

image = open(sys.argv[1], 'rb').read()

def tool(argv):
    def run(data):
        if not shutil.which(argv[0]):
            raise RuntimeError(f'{argv[0]} is not installed')
        # The payload is followed by other bytes: the tools complain but write what they decoded.
        return subprocess.run(argv, input=data, capture_output=True).stdout
    return run

def gzip_(data):
    return zlib.decompressobj(31).decompress(data)

def xz(data):
    return lzma.LZMADecompressor(lzma.FORMAT_XZ).decompress(data)

def lzma_(data):
    return lzma.LZMADecompressor(lzma.FORMAT_ALONE).decompress(data)

def bzip2(data):
    return bz2.BZ2Decompressor().decompress(data)

FORMATS = [  # magic, decompressor (as in extract-vmlinux)
    (b'\x1f\x8b\x08', gzip_),
    (b'\xfd7zXZ\x00', xz),
    (b'BZh', bzip2),
    (b'\x5d\x00\x00\x00', lzma_),
    (b'\x28\xb5\x2f\xfd', tool(['zstd', '-dcq'])),
    (b'\x02\x21\x4c\x18', tool(['lz4', '-dcq'])),
]

def pvh_entry(elf):
    """The XEN_ELFNOTE_PHYS32_ENTRY (type 18, owner "Xen") note qemu boots through."""
    if elf[:4] != b'\x7fELF' or elf[4] != 2:
        return False
    phoff, = struct.unpack_from('<Q', elf, 0x20)
    phentsize, phnum = struct.unpack_from('<HH', elf, 0x36)
    for i in range(phnum):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from('<IIQQQQ', elf, phoff + i * phentsize)
        if p_type != 4:  # PT_NOTE
            continue
        off, end = p_offset, p_offset + p_filesz
        while off + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from('<III', elf, off)
            name = elf[off + 12:off + 12 + namesz].rstrip(b'\0')
            if name == b'Xen' and ntype == 18:
                return True
            off += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
    return False

def candidates():
    # Boot protocol >= 2.08: payload_offset/length, relative to the protected-mode code after the setup sectors.
    if image[0x202:0x206] == b'HdrS' and struct.unpack_from('<H', image, 0x206)[0] >= 0x208:
        setup_sects = image[0x1f1] or 4
        payload_offset, payload_length = struct.unpack_from('<II', image, 0x248)
        start = (setup_sects + 1) * 512 + payload_offset
        yield start, image[start:start + payload_length]
    for magic, _ in FORMATS:
        i = image.find(magic)
        while i >= 0:
            yield i, image[i:]
            i = image.find(magic, i + 1)

for offset, data in candidates():
    for magic, decompress in FORMATS:
        if not data.startswith(magic):
            continue
        try:
            out = decompress(data)
        except Exception:
            continue
        if out[:4] == b'\x7fELF':
            if not pvh_entry(out):
                sys.exit(f'the vmlinux at offset {offset} has no PVH entry note: qemu cannot boot it directly')
            open(sys.argv[2], 'wb').write(out)
            print(f'[lab-setup] vmlinux: {len(out) >> 20} MiB ELF with a PVH entry (payload at offset {offset})')
            sys.exit(0)
sys.exit('no compressed ELF kernel found in the bzImage')
PY
  mv "$CACHE/vmlinux.tmp" "$CACHE/vmlinux"
fi

# 4. The initramfs: busybox, /init, the closure of lab-modules.txt plus
#    every crypto module (the kernel asks for algorithms by name while the
#    preload runs, before the full tree is reachable over 9p), depmod'ed.
step "initramfs: busybox, test/lab/lab-init.sh, the modules of test/lab/lab-modules.txt and their dependencies"
IRD="$CACHE/initramfs.tmp"
rm -rf "$IRD"
mkdir -p "$IRD"/{bin,sbin,etc,proc,sys,dev,mnt,lib/modules/"$KVER"}
cp /bin/busybox "$IRD/bin/busybox"
for a in $("$IRD/bin/busybox" --list); do
  [ -e "$IRD/bin/$a" ] || ln -s busybox "$IRD/bin/$a"
done
cp test/lab/lab-init.sh "$IRD/init"
chmod 755 "$IRD/init"
cat > "$IRD/sbin/lab-modprobe" <<'SH'
#!/bin/sh
# The kernel's modprobe once the job runs: every request and its outcome go
# to the serial console (not the kernel log, which quiet keeps off it).
/bin/busybox modprobe "$@"; rc=$?
for m; do :; done
echo "lab: the kernel asked for module $m: $([ $rc = 0 ] && echo loaded || echo "failed ($rc)")" > /dev/console
exit $rc
SH
chmod 755 "$IRD/sbin/lab-modprobe"
printf 'MODTREE=%q\n' "$MODTREE" > "$IRD/etc/lab.conf"
python3 - "$MODTREE" "$IRD/lib/modules/$KVER" test/lab/lab-modules.txt "$IRD/etc/lab-modules" <<'PY'
import os, shutil, sys
src, dst, listfile, loadfile = sys.argv[1:5]
dep = {}
for line in open(os.path.join(src, 'modules.dep')):
    path, _, deps = line.partition(':')
    dep[path.strip()] = deps.split()
name = lambda p: os.path.basename(p).split('.ko')[0].replace('-', '_')
by_name = {name(p): p for p in dep}
builtin = {name(l.strip()) for l in open(os.path.join(src, 'modules.builtin'))}
wanted = [l.split('#')[0].strip() for l in open(listfile)]
wanted = [w for w in wanted if w]
need, load, absent = set(), [], []
def add(p):
    if p not in need:
        need.add(p)
        for d in dep.get(p, []):
            add(d)
for p in dep:
    if p.startswith(('kernel/crypto/', 'kernel/arch/x86/crypto/', 'kernel/lib/crypto/')):
        add(p)
for w in wanted:
    n = w.replace('-', '_')
    if n in by_name:
        add(by_name[n])
        load.append(n)
    elif n not in builtin:
        absent.append(w)
if absent:
    sys.exit('[lab-setup] ERROR: in lab-modules.txt but neither a module nor built in: ' + ' '.join(absent))
for p in need:
    os.makedirs(os.path.join(dst, os.path.dirname(p)), exist_ok=True)
    shutil.copy2(os.path.join(src, p), os.path.join(dst, p))
for f in ('modules.builtin', 'modules.builtin.modinfo', 'modules.order'):
    if os.path.exists(os.path.join(src, f)):
        shutil.copy2(os.path.join(src, f), os.path.join(dst, f))
open(loadfile, 'w').write('\n'.join(load) + '\n')
built_in = [w for w in wanted if w.replace('-', '_') not in by_name]
print(f'[lab-setup] {len(need)} modules in the initramfs, {len(load)} loaded at boot'
      + (f', built in: {" ".join(built_in)}' if built_in else ''))
PY
depmod -b "$IRD" "$KVER"
(cd "$IRD" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -6 > "$CACHE/initramfs.cpio.gz.tmp")
mv "$CACHE/initramfs.cpio.gz.tmp" "$CACHE/initramfs.cpio.gz"
rm -rf "$IRD"
echo "$INPUTS_HASH" > "$CACHE/initramfs.stamp"
echo "$KVER" > "$CACHE/kernel-version.tmp"
mv "$CACHE/kernel-version.tmp" "$CACHE/kernel-version"

# Older kernels' packages and trees, and the layout of earlier versions of this script.
for old in "$CACHE"/linux-image-*.deb "$CACHE"/root-*; do
  case "$old" in "$DEB"|"$KROOT") ;; *) [ -e "$old" ] && { step "removing the stale $(basename "$old")"; rm -rf "$old"; } ;; esac
done
rm -rf "$CACHE/root" "$CACHE/initramfs" "$CACHE"/ready-*
step "lab ready: $KVER, vmlinux $(du -h "$CACHE/vmlinux" | cut -f1), initramfs $(du -h "$CACHE/initramfs.cpio.gz" | cut -f1)"
