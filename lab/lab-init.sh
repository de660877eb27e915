#!/bin/sh
# PID 1 of the kernel lab (busybox sh in the initramfs built by
# scripts/lab-setup.sh). It never leaves the initramfs: the kernel runs
# /proc/sys/kernel/modprobe from this root whenever it wants a module (crypto
# templates such as ecb for ESP, link types, qdiscs), so this root keeps a
# working modprobe. The job runs chrooted into the host's root (9p,
# read-only) under a tmpfs overlay and talks to the host through the scratch
# share: job.sh and watchdog in; started, output and exit-status out.
# Everything this prints goes to the serial console.
export PATH=/bin:/sbin
say() { echo "lab: $*"; }
die() { say "FATAL: $*"; poweroff -f; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev

# Requests the kernel makes on demand are logged (dmesg): a missing module
# shows up there instead of as a vague error from the caller.
cat > /sbin/lab-modprobe <<'SH'
#!/bin/sh
/bin/busybox modprobe "$@"; rc=$?
echo "lab-modprobe $* -> $rc" > /dev/kmsg
exit $rc
SH
chmod +x /sbin/lab-modprobe
echo /sbin/lab-modprobe > /proc/sys/kernel/modprobe
# One modprobe for the whole list: every exec costs tens of ms under TCG.
modprobe -a $(cat /etc/lab-modules) || say "some of these modules failed to load: $(cat /etc/lab-modules)"

mkdir -p /mnt/host /mnt/scratch /mnt/upper /mnt/root
# cache=loose is what makes node start in seconds; the job sees the host's
# tree as of its first look at each file.
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,ro,cache=loose host /mnt/host || die "cannot mount the host root (9p tag host)"
# No cache on the scratch share: the host follows the output as it is written.
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 scratch /mnt/scratch || die "cannot mount the scratch share (9p tag scratch)"
mount -t tmpfs -o size=1g tmpfs /mnt/upper
mkdir -p /mnt/upper/u /mnt/upper/w
mount -t overlay overlay -o lowerdir=/mnt/host,upperdir=/mnt/upper/u,workdir=/mnt/upper/w /mnt/root || die "cannot mount the overlay"
R=/mnt/root
mount -t proc proc $R/proc
mount -t sysfs sys $R/sys
mount -t devtmpfs dev $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts $R/dev/pts
mount -t tmpfs tmpfs $R/dev/shm
# A fresh /run: the host's namespaces and pins must not show through. /tmp
# stays the overlay's (the host's files, writable above them): a checkout
# under /tmp, as CI may use, must be visible to the job.
mount -t tmpfs tmpfs $R/run
mount -t bpf bpf $R/sys/fs/bpf
mount -t cgroup2 cgroup2 $R/sys/fs/cgroup 2>/dev/null
mkdir -p $R/lab
mount --bind /mnt/scratch $R/lab
hostname esfc-lab
ip link set lo up

# The host kills qemu at its timeout; this is for a host that died first.
if [ -s /mnt/scratch/watchdog ]; then
  ( sleep "$(cat /mnt/scratch/watchdog)"; say "watchdog: the job ran too long, powering off"; poweroff -f ) &
fi

say "kernel $(cat /proc/sys/kernel/osrelease) ready after $(uptime_s) s, running the job"
chroot $R /bin/sh /lab/job.sh < /dev/null > /mnt/scratch/output 2>&1
echo $? > /mnt/scratch/exit-status
sync
say "job exited $(cat /mnt/scratch/exit-status) after $(uptime_s) s"
poweroff -f
