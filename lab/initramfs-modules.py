#!/usr/bin/env python3
"""initramfs-modules.py MODTREE DEST LIST LOADFILE: copies into DEST (the
initramfs's /lib/modules/RELEASE) the modules named in LIST
(lab/lab-modules.txt) with their dependencies, plus every crypto module:
the kernel asks for crypto algorithms by name at run time (seqiv wants a
stdrng, drbg wants sha512...), through the initramfs's modprobe. Compressed
modules (.ko.xz on Debian 13, .ko.gz, .ko.zst) are stored decompressed:
busybox's modprobe and insmod load plain .ko files only. Writes to LOADFILE
the names /init loads at boot. MODTREE must have been depmod'ed."""
import gzip, lzma, os, shutil, subprocess, sys

src, dst, listfile, loadfile = sys.argv[1:5]


def name(path: str) -> str:
    return os.path.basename(path).split('.ko')[0].replace('-', '_')


def plain(path: str) -> str:
    """The path of a module without its compression suffix."""
    return path[:path.index('.ko') + 3]


dep: dict[str, list[str]] = {}
for line in open(os.path.join(src, 'modules.dep')):
    path, _, deps = line.partition(':')
    dep[path.strip()] = deps.split()
by_name = {name(p): p for p in dep}
builtin = {name(l.strip()) for l in open(os.path.join(src, 'modules.builtin'))}
wanted = [w for w in (l.split('#')[0].strip() for l in open(listfile)) if w]

need: set[str] = set()


def add(p: str) -> None:
    if p not in need:
        need.add(p)
        for d in dep.get(p, []):
            add(d)


for p in dep:
    if p.startswith(('kernel/crypto/', 'kernel/arch/x86/crypto/', 'kernel/lib/crypto/')):
        add(p)
load, absent, built_in = [], [], []
for w in wanted:
    n = w.replace('-', '_')
    if n in by_name:
        add(by_name[n])
        load.append(n)
    elif n in builtin:
        built_in.append(w)
    else:
        absent.append(w)
if absent:
    sys.exit('[lab-setup] ERROR: in lab/lab-modules.txt but neither a module nor built into this kernel: ' + ' '.join(absent))


def decompress(path: str) -> bytes:
    data = open(path, 'rb').read()
    if path.endswith('.xz'):
        return lzma.decompress(data)
    if path.endswith('.gz'):
        return gzip.decompress(data)
    if path.endswith('.zst'):
        return subprocess.run(['zstd', '-dcq'], input=data, capture_output=True, check=True).stdout
    return data


for p in need:
    out = os.path.join(dst, plain(p))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, 'wb') as f:
        f.write(decompress(os.path.join(src, p)))
for f in ('modules.builtin', 'modules.builtin.modinfo', 'modules.order'):
    if os.path.exists(os.path.join(src, f)):
        shutil.copy2(os.path.join(src, f), os.path.join(dst, f))
with open(loadfile, 'w') as f:
    f.write('\n'.join(load) + '\n')
print(f'[lab-setup] {len(need)} modules in the initramfs, {len(load)} loaded at boot'
      + (f'; built in: {" ".join(built_in)}' if built_in else ''))
