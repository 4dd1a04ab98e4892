#!/usr/bin/env bash
# Installs what Butterfly needs to build and test on Debian 12 (as root), idempotently.
#   scripts/setup.sh            build + run dependencies (DPDK, libzmq5 for the API socket, gcc, pkg-config)
#   scripts/setup.sh --test     plus what the test suite needs (PostgreSQL, QEMU, zmq/protobuf
#                               tools for interop tests, iproute2, tcpdump, promtool from
#                               prometheus for the metrics test, systemd-analyze from systemd
#                               for the package test, clang + zlib1g-dev for the package's
#                               Native AOT CLI)
# The .NET 10 SDK must already be on PATH (it is on the project's build machines).
set -euo pipefail

runtime_pkgs=(dpdk dpdk-dev libdpdk-dev libzmq5 pkg-config gcc make libc6-dev iproute2 git ca-certificates)
test_pkgs=(postgresql python3-zmq python3-protobuf python3-scapy protobuf-compiler qemu-system-x86 busybox-static
           cpio socat tcpdump iputils-ping netcat-openbsd procps afl++ prometheus systemd clang zlib1g-dev)

want=("${runtime_pkgs[@]}")
[ "${1:-}" = "--test" ] && want+=("${test_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v dotnet >/dev/null 2>&1; then
    echo "setup: the .NET 10 SDK (dotnet) is not on PATH; install it first" >&2
    exit 1
fi
