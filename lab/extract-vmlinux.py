#!/usr/bin/env python3
"""extract-vmlinux.py BZIMAGE OUT: writes the uncompressed ELF kernel inside a
bzImage, for qemu to boot directly through its PVH entry note (the in-guest
decompressor costs seconds under TCG). Like Linux's scripts/extract-vmlinux,
except that the x86 boot header says where the payload is, so that is tried
before scanning for compressor magic. Debian 12's 6.1 is xz-compressed,
Debian 13's 6.12 zstd (decompressed by the zstd command; python has no zstd
module before 3.14)."""
import bz2, gzip, lzma, shutil, struct, subprocess, sys, zlib


def zstd(data: bytes) -> bytes:
    if not shutil.which('zstd'):
        raise RuntimeError('the zstd command is not installed (apt-get install zstd)')
    # The kernel appends the decompressed size after the zstd frame: zstd
    # complains about those bytes but has written the frame by then.
    return subprocess.run(['zstd', '-dcq'], input=data, capture_output=True).stdout


FORMATS = [  # magic, decompressor
    (b'\x28\xb5\x2f\xfd', zstd),
    (b'\xfd7zXZ\x00', lambda d: lzma.LZMADecompressor(lzma.FORMAT_XZ).decompress(d)),
    (b'\x1f\x8b\x08', lambda d: zlib.decompressobj(31).decompress(d)),
    (b'BZh', lambda d: bz2.BZ2Decompressor().decompress(d)),
    (b'\x5d\x00\x00\x00', lambda d: lzma.LZMADecompressor(lzma.FORMAT_ALONE).decompress(d)),
]


def has_pvh_note(elf: bytes) -> bool:
    """XEN_ELFNOTE_PHYS32_ENTRY (type 18, owner "Xen"): what qemu's -kernel boots an ELF through."""
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
            if elf[off + 12:off + 12 + namesz].rstrip(b'\0') == b'Xen' and ntype == 18:
                return True
            off += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
    return False


def candidates(image: bytes):
    # Boot protocol >= 2.08 records payload_offset/length, relative to the
    # protected-mode code that follows the setup sectors.
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


def main() -> None:
    src, out = sys.argv[1:3]
    image = open(src, 'rb').read()
    for offset, data in candidates(image):
        for magic, decompress in FORMATS:
            if not data.startswith(magic):
                continue
            try:
                elf = decompress(data)
            except (OSError, EOFError, ValueError, lzma.LZMAError):
                continue
            if elf[:4] != b'\x7fELF':
                continue
            if not has_pvh_note(elf):
                sys.exit(f'{src}: the kernel has no PVH entry note (CONFIG_PVH): qemu cannot boot it directly')
            with open(out, 'wb') as f:
                f.write(elf)
            print(f'[lab-setup] vmlinux: {len(elf) >> 20} MiB ELF with a PVH entry ({magic.hex()} payload at offset {offset})')
            return
    sys.exit(f'{src}: no compressed ELF kernel found (tried zstd, xz, gzip, bzip2, lzma)')


if __name__ == '__main__':
    main()
