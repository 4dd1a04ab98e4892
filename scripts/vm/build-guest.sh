#!/usr/bin/env bash
# Builds the small test guest that QEMU boots on a NIC's vhost-user socket, from Debian packages
# only (nothing else is downloaded):
#   OUT_DIR/vmlinuz            the Debian kernel (the package linux-image-amd64 depends on)
#   OUT_DIR/initramfs.cpio.gz  busybox-static + that kernel's virtio-net modules + /init
#
#   scripts/vm/build-guest.sh OUT_DIR
#
# The kernel package is fetched with `apt-get download` into OUT_DIR/debs and only the files
# needed are unpacked from it (it is never installed). Idempotent: when OUT_DIR already holds a
# guest built by this exact script from the same kernel and busybox, nothing is done. Prints the
# paths of the two files on stdout.
#
# The guest's /init: mounts proc/sys/dev, loads the virtio-net modules, brings up lo and eth0
# (no address: tests configure it), then serves a command loop on ttyS0 (see guest-init.sh).
set -euo pipefail

if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 OUT_DIR" >&2
    exit 2
fi

here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$1"
out="$(cd "$1" && pwd)"

# Several test runs may build at once: one builder at a time, the others find the result.
exec 9>"$out/.lock"
flock 9

modules=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net)

# The kernel the meta-package points at, with the exact version it pins, e.g.
# "Depends: linux-image-6.1.0-56-amd64 (= 6.1.192-2)" (one apt-cache call: each costs ~1 s).
read -r kpkg kver < <(apt-cache show --no-all-versions linux-image-amd64 2>/dev/null |
    sed -n 's/^Depends:.*\(linux-image-[0-9][^ ,]*\) (= \([^)]*\)).*/\1 \2/p' | head -n1) || true
if [ -z "${kpkg:-}" ] || [ -z "${kver:-}" ]; then
    # Without package lists a guest built earlier is still good to boot.
    if [ -f "$out/vmlinuz" ] && [ -f "$out/initramfs.cpio.gz" ] && [ -f "$out/stamp" ]; then
        echo "build-guest: apt-cache does not know linux-image-amd64; using the cached guest" >&2
        echo "$out/vmlinuz"
        echo "$out/initramfs.cpio.gz"
        exit 0
    fi
    echo "build-guest: apt-cache does not know linux-image-amd64 (run apt-get update?)" >&2
    exit 1
fi

# busybox must be the static build: the initramfs has no libc.
if ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q "install ok installed"; then
    echo "build-guest: busybox-static is not installed (scripts/setup.sh --test installs it)" >&2
    exit 1
fi
busybox="$(dpkg-query -L busybox-static | grep -E '/bin/busybox$' | head -n1)"
bbver="$(dpkg-query -W -f='${Version}' busybox-static)"

stamp="$kpkg=$kver busybox-static=$bbver script=$(cat "$0" "$here/guest-init.sh" | sha256sum | cut -c1-16)"
if [ -f "$out/vmlinuz" ] && [ -f "$out/initramfs.cpio.gz" ] && [ "$(cat "$out/stamp" 2>/dev/null)" = "$stamp" ]; then
    echo "$out/vmlinuz"
    echo "$out/initramfs.cpio.gz"
    exit 0
fi

echo "build-guest: building guest ($stamp) in $out" >&2

# The .deb is kept (apt-get download is a no-op when the file is there); older kernels' are dropped.
mkdir -p "$out/debs"
deb="$(find "$out/debs" -maxdepth 1 -name "${kpkg}_*_amd64.deb" | head -n1)"
if [ -z "$deb" ]; then
    find "$out/debs" -maxdepth 1 -name 'linux-image-*.deb' -delete
    # _apt cannot write into a root-owned cache dir; the download is then done as root, which
    # apt warns about on stderr. Hide that warning only.
    (cd "$out/debs" && apt-get download -q "$kpkg=$kver" 2> >(grep -v 'unsandboxed' >&2) >&2)
    deb="$(find "$out/debs" -maxdepth 1 -name "${kpkg}_*_amd64.deb" | head -n1)"
fi

work="$(mktemp -d "$out/.build.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# Unpack only the kernel image and the modules we load (what `dpkg -x` would write, filtered:
# the full tree is ~400 MB).
kdir="$work/kernel"
mkdir -p "$kdir"
patterns=("./boot/vmlinuz-*")
for m in "${modules[@]}"; do
    patterns+=("./lib/modules/*/$m.ko" "./lib/modules/*/$m.ko.xz")
done
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$kdir" --wildcards "${patterns[@]}" 2>/dev/null || true

vmlinuz="$(find "$kdir/boot" -name 'vmlinuz-*' | head -n1)"
[ -n "$vmlinuz" ] || { echo "build-guest: no vmlinuz in $deb" >&2; exit 1; }

root="$work/root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,lib/modules,etc}
cp "$busybox" "$root/bin/busybox"
# Applets the init script and tests use; busybox dispatches on argv[0].
for applet in sh ash ip ping ping6 nc insmod mount umount cat echo printf ls sleep stty dmesg \
    grep sed awk head tail wc ps kill poweroff reboot sync timeout seq true false uname arp \
    ifconfig route hostname date env tr cut dd cp mv rm mkdir ln sysctl; do
    ln -sf busybox "$root/bin/$applet"
done
for m in "${modules[@]}"; do
    ko="$(find "$kdir/lib/modules" -name "$m.ko" -o -name "$m.ko.xz" | head -n1)"
    [ -n "$ko" ] || { echo "build-guest: module $m not in $deb" >&2; exit 1; }
    case "$ko" in
        *.xz) xz -dc "$ko" > "$root/lib/modules/$m.ko" ;;
        *) cp "$ko" "$root/lib/modules/$m.ko" ;;
    esac
done
printf '%s\n' "${modules[@]}" > "$root/lib/modules/order"
install -m 0755 "$here/guest-init.sh" "$root/init"
# The kernel opens /dev/console before /init runs; without the node early messages are lost.
mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || true

(cd "$root" && find . -print0 | sort -z | cpio --null -o -H newc --quiet --owner=0:0) | gzip -1 > "$work/initramfs.cpio.gz"
cp "$vmlinuz" "$work/vmlinuz"

mv -f "$work/vmlinuz" "$out/vmlinuz"
mv -f "$work/initramfs.cpio.gz" "$out/initramfs.cpio.gz"
echo "$stamp" > "$out/stamp"
echo "$out/vmlinuz"
echo "$out/initramfs.cpio.gz"
