#!/usr/bin/env bash
# Builds the Debian package of Butterfly: build/package/butterfly_<version>_amd64.deb
#   scripts/package.sh [--output DIR]
#
# What it holds, and why:
#   /usr/lib/butterfly/        butterflyd, published self-contained (the .NET 10 runtime inside)
#                              and ReadyToRun (ahead-of-time code, so start-up does not wait for
#                              the JIT), with the native DPDK shim libbutterfly_shim.so
#   /usr/sbin/butterflyd       -> ../lib/butterfly/butterflyd
#   /usr/bin/butterfly         the CLI, one Native AOT executable (a call costs milliseconds)
#   /etc/butterfly/butterflyd.ini            the configuration (a conffile)
#   /lib/systemd/system/butterflyd.service   Type=notify, ready once the API answers
#   /var/lib/butterfly         the event log's home (the service's StateDirectory)
# Self-contained rather than a dependency on a .NET runtime package: Debian 12 ships no .NET 10
# runtime, so a dependency would send every operator to a third-party apt repository, and the
# daemon would change runtime under their feet with it; the package carries the runtime it was
# tested with. butterflyd is ReadyToRun, not Native AOT: Marten (the PostgreSQL event store)
# generates and compiles code at run time, which Native AOT cannot do; the CLI has no such
# dependency, so it is fully native. The shim carries DPDK 22.11 (Debian's static libraries with
# the drivers of Infrastructure.Dpdk/native/Makefile, so EAL loads no plugin directory at start):
# the package depends on what those drivers call (libnuma, libbsd, libpcap, libxdp/libbpf,
# rdma-core for mlx5), recommends Debian's dpdk for its tools (dpdk-devbind.py,
# dpdk-hugepages.py), and depends on OpenSSL (the encrypted API's AES and SHA-512).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out="$root/build/package"
while [ $# -gt 0 ]; do
    case "$1" in
        --output) out="$2"; shift 2 ;;
        *) echo "usage: scripts/package.sh [--output DIR]" >&2; exit 2 ;;
    esac
done

version=$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' Directory.Build.props)
if commits=$(git rev-list --count HEAD 2>/dev/null) && hash=$(git rev-parse --short=12 HEAD 2>/dev/null); then
    # Ordered by the commit count, so a later build of one branch upgrades an earlier one.
    version="$version+$commits.g$hash"
fi
arch=amd64
rid=linux-x64

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage="$work/stage"
mkdir -p "$stage/DEBIAN" "$stage/usr/lib/butterfly" "$stage/usr/sbin" "$stage/usr/bin" "$stage/etc/butterfly" \
    "$stage/lib/systemd/system" "$stage/var/lib/butterfly" "$stage/usr/share/doc/butterfly"

echo "package: publishing butterflyd (self-contained, ReadyToRun)" >&2
dotnet publish Api.Zmq/Butterfly.Api.Zmq.csproj -c Release -r "$rid" --self-contained \
    -p:PublishReadyToRun=true -nologo -v quiet -o "$stage/usr/lib/butterfly" >&2
rm -f "$stage"/usr/lib/butterfly/*.pdb "$stage"/usr/lib/butterfly/*.dbg
test -x "$stage/usr/lib/butterfly/butterflyd"
test -f "$stage/usr/lib/butterfly/libbutterfly_shim.so"
ln -s ../lib/butterfly/butterflyd "$stage/usr/sbin/butterflyd"

echo "package: publishing butterfly (Native AOT)" >&2
dotnet publish Cli/Butterfly.Cli.csproj -c Release -r "$rid" -nologo -v quiet -o "$work/cli" >&2
install -m 0755 "$work/cli/butterfly" "$stage/usr/bin/butterfly"

install -m 0644 packaging/butterflyd.ini "$stage/etc/butterfly/butterflyd.ini"
install -m 0644 packaging/butterflyd.service "$stage/lib/systemd/system/butterflyd.service"
install -m 0644 README.md "$stage/usr/share/doc/butterfly/README.md"
install -m 0644 docs/cli.md docs/protocol.md docs/grafana-dashboard.json "$stage/usr/share/doc/butterfly/"
cat > "$stage/usr/share/doc/butterfly/copyright" <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: butterfly
Comment: butterflyd and butterfly, with the .NET runtime and the NuGet packages they are
 published with (each under its own licence: MIT or Apache-2.0, see their package metadata).
EOF
chmod 0750 "$stage/var/lib/butterfly"

for script in postinst prerm postrm; do
    install -m 0755 "packaging/debian/$script" "$stage/DEBIAN/$script"
done
echo /etc/butterfly/butterflyd.ini > "$stage/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<EOF
Package: butterfly
Version: $version
Architecture: $arch
Maintainer: Butterfly developers <butterfly@localhost>
Installed-Size: $size
Depends: libnuma1, libbsd0, libpcap0.8, libxdp1, libbpf1, libibverbs1, ibverbs-providers, libzmq5, libssl3, libc6 (>= 2.36), libgcc-s1, libstdc++6, zlib1g
Recommends: dpdk (>= 22.11)
Section: net
Priority: optional
Description: userspace virtual switch over DPDK (butterflyd and the butterfly CLI)
 butterflyd connects virtual machines' NICs (vhost-user sockets, taps) in VXLAN networks,
 filters them with anti-spoofing and stateful security groups, and takes orders over a
 protobuf-over-ZeroMQ API; every order is an event in an append-only log it replays at start.
 The .NET runtime is included (self-contained, ReadyToRun); butterfly is a native executable.
EOF

mkdir -p "$out"
deb="$out/butterfly_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz -z6 --build "$stage" "$deb" >&2
echo "$deb"
