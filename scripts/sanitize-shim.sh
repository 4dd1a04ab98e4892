#!/usr/bin/env bash
# Builds the native shim (Infrastructure.Dpdk/native, sources unchanged) with AddressSanitizer
# and UndefinedBehaviorSanitizer together with tests/native-sanitizers/shim_test.c, and runs it
# (EAL without hugepages or PCI, a null ethdev, vhost-user sockets in a temporary directory).
# Any sanitizer report fails the run. CI runs it from scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/sanitize
mkdir -p "$out"
gcc -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all \
    -Wall -Wextra -Werror -std=gnu11 $(pkg-config --cflags libdpdk) -I Infrastructure.Dpdk/native \
    -o "$out/shim_test" tests/native-sanitizers/shim_test.c Infrastructure.Dpdk/native/*.c $(pkg-config --libs libdpdk)
prefix=bfasan$$
trap 'rm -rf "/var/run/dpdk/$prefix"' EXIT
# DPDK keeps its memory until exit by design: leaks are not what this checks.
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 "$out/shim_test" "$prefix"
