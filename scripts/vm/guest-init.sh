#!/bin/sh
# /init of the test guest built by build-guest.sh (busybox ash, PID 1).
#
# Brings the machine up, then serves a command loop on the serial console (ttyS0) for the host:
#   host → guest:  "<token> <command>\n"          (one line; <token> has no spaces)
#   guest → host:  the command's stdout+stderr, then "\n@@BF-END <token> <exit code>@@\n"
# "@@BF-READY@@" is printed once, when the loop starts reading. Commands run one after another
# with sh -c and stdin from /dev/null, so they cannot eat the next command line.
export PATH=/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/ttyS0 >/dev/ttyS0 2>&1
# Kernel messages would interleave with command output on the same console.
dmesg -n 1

for m in $(cat /lib/modules/order); do
    insmod "/lib/modules/$m.ko" || echo "init: insmod $m failed"
done

ip link set lo up
# virtio_net probes asynchronously; eth0 shows up shortly after insmod returns.
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do
    sleep 0.1
    i=$((i + 1))
done
ip link set eth0 up || echo "init: no eth0"

stty -echo
echo "@@BF-READY@@"
while IFS= read -r line; do
    token="${line%% *}"
    command="${line#* }"
    sh -c "$command" </dev/null 2>&1
    printf '\n@@BF-END %s %d@@\n' "$token" "$?"
done

# The console closed: PID 1 must not exit (the kernel would panic), power off instead.
exec poweroff -f
