#!/bin/sh
# PID 1 of the kernel lab (busybox sh in the initramfs). It never leaves the
# initramfs: the kernel runs /proc/sys/kernel/modprobe from the initial root
# whenever it wants a module (crypto templates such as ecb for ESP, link
# types, qdiscs), so that root has to keep a working modprobe. The job runs
# chrooted into the host's root (9p, read-only) under a tmpfs overlay; it
# talks to the host through the scratch share: job.sh in, output and
# exit-status out. Everything this prints goes to the serial console.
export PATH=/bin:/sbin
KVER=$(uname -r)
say() { echo "lab: $*"; }
die() { say "FATAL: $*"; poweroff -f; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev

# Built by lab-setup.sh: MODTREE (the depmod'ed module tree of the whole
# kernel package in the host's cache, reached through the 9p root).
. /etc/lab.conf

# One modprobe for the whole list: each exec costs tens of ms under TCG.
# Meanwhile the kernel's own requests (seqiv wants a stdrng, drbg wants
# sha512...) go straight to busybox; most of them ask for names nothing
# provides (crypto-cryptd(...)) and are expected to fail.
echo /bin/modprobe > /proc/sys/kernel/modprobe
modprobe -a $(cat /etc/lab-modules) || say "some of the preloaded modules failed: $(cat /etc/lab-modules)"

mkdir -p /mnt/host /mnt/scratch /mnt/upper /mnt/root
# The host may change files while a guest runs, but cache=loose is what makes
# node start in seconds; a job sees the tree as of its first look.
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,ro,cache=loose host /mnt/host || die "cannot mount the host root (9p tag host)"
# No cache on the scratch share: the host follows output as it is written.
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 scratch /mnt/scratch || die "cannot mount the scratch share (9p tag scratch)"

# From here on every module of the kernel package can be loaded on demand,
# not just the initramfs pool. The tree lives in the host's cache.
if [ -f "/mnt/host$MODTREE/modules.dep" ]; then
  mount --bind "/mnt/host$MODTREE" "/lib/modules/$KVER"
else
  say "module tree $MODTREE not found on the host: only the initramfs pool is loadable"
fi
# Requests the kernel makes from now on are logged: a missing module shows up
# in the console instead of as a vague EINVAL or ENOENT from the caller.
echo /sbin/lab-modprobe > /proc/sys/kernel/modprobe

mount -t tmpfs -o size=50% tmpfs /mnt/upper
mkdir -p /mnt/upper/u /mnt/upper/w
mount -t overlay overlay -o lowerdir=/mnt/host,upperdir=/mnt/upper/u,workdir=/mnt/upper/w /mnt/root || die "cannot mount the overlay"
R=/mnt/root
mount -t proc proc $R/proc
mount -t sysfs sys $R/sys
mount -t devtmpfs dev $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts $R/dev/pts
mount -t tmpfs tmpfs $R/dev/shm
# Fresh /run and /tmp: the host's namespaces (/run/netns), pins and sockets
# must not show through the overlay.
mount -t tmpfs tmpfs $R/run
mount -t tmpfs tmpfs $R/tmp
mount -t bpf bpf $R/sys/fs/bpf
mount -t cgroup2 cgroup2 $R/sys/fs/cgroup 2>/dev/null
mount -t tracefs tracefs $R/sys/kernel/tracing 2>/dev/null
# The host has no /lib/modules for this kernel: give the chroot the same tree
# so its own modprobe (kmod, used by ip, tc, iptables) works as well.
mkdir -p "$R/lib/modules/$KVER"
mount --bind "/lib/modules/$KVER" "$R/lib/modules/$KVER"
mkdir -p $R/lab
mount --bind /mnt/scratch $R/lab
hostname esfc-lab
ip link set lo up

# The host kills qemu at its timeout; this is for a host that died first.
if [ -s /mnt/scratch/watchdog ]; then
  ( sleep "$(cat /mnt/scratch/watchdog)"; say "watchdog: the job ran too long, powering off"; poweroff -f ) &
fi

say "kernel $KVER ready after $(uptime_s) s, running the job"
chroot $R /bin/sh /lab/job.sh < /dev/null > /mnt/scratch/output 2>&1
rc=$?
echo $rc > /mnt/scratch/exit-status
sync
say "job exited $rc after $(uptime_s) s"
poweroff -f
