#!/bin/sh
# PID 1 of the kernel lab. Stays in the initramfs (the kernel runs its
# modprobe from here for on-demand crypto modules), mounts the host's root
# read-only over 9p with a tmpfs overlay, runs the job chrooted, writes its
# exit status to the scratch share and powers off.
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
# Requests for modules the kernel makes on demand are logged (dmesg): a
# missing one shows up there instead of as a vague error from the caller.
cat > /sbin/lab-modprobe <<'SH'
#!/bin/sh
/bin/busybox modprobe "$@"; rc=$?
echo "lab-modprobe $* -> $rc" > /dev/kmsg
exit $rc
SH
chmod +x /sbin/lab-modprobe
echo /sbin/lab-modprobe > /proc/sys/kernel/modprobe
for m in $(cat /etc/lab-modules); do modprobe "$m" || echo "lab: modprobe $m failed"; done
mkdir -p /mnt/host /mnt/scratch /mnt/upper /mnt/root
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,ro,cache=loose host /mnt/host || { echo "lab: cannot mount the host root"; poweroff -f; }
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 scratch /mnt/scratch || { echo "lab: cannot mount the scratch share"; poweroff -f; }
mount -t tmpfs -o size=1g tmpfs /mnt/upper
mkdir -p /mnt/upper/u /mnt/upper/w
mount -t overlay overlay -o lowerdir=/mnt/host,upperdir=/mnt/upper/u,workdir=/mnt/upper/w /mnt/root
R=/mnt/root
mount -t proc proc $R/proc
mount -t sysfs sys $R/sys
mount -t devtmpfs dev $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts devpts $R/dev/pts
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
echo "lab: kernel $(cat /proc/sys/kernel/osrelease) ready, running the job"
chroot $R /bin/sh /lab/job.sh > /mnt/scratch/output 2>&1
echo $? > /mnt/scratch/exit-status
sync
echo "lab: job exited $(cat /mnt/scratch/exit-status)"
poweroff -f
