#!/usr/bin/env bash
# Start-up figures (issue 11 item 6). A benchmark, not a test: it prints figures and asserts none.
#   bench/startup.sh [--deb FILE] [--runs N]
# Takes the package (scripts/package.sh builds it unless --deb names one), unpacks it with
# dpkg-deb -x into a scratch directory (nothing is installed) and measures:
#   1. one CLI call, `butterfly -e ENDPOINT status`, against a running daemon: the package's
#      Native AOT CLI and the managed build (Cli/bin/Release), with hyperfine (or a loop of
#      date +%s%N when hyperfine is missing);
#   2. the daemon's restart on a file log of 10 000 events, exec -> the API answering
#      (bench/Butterfly.Bench.Api --only restart, 5 restarts each): the package's self-contained
#      ReadyToRun butterflyd and the built (JIT) one;
#   3. single-client reads (nic_list) with both daemons (Bench.Api --only reads).
# Needs root (DPDK EAL) and `dotnet build Butterfly.sln -c Release` done. The daemon of part 1 is
# the built one, started here and stopped by its PID.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
deb=""
runs=200
while [ $# -gt 0 ]; do
    case "$1" in
        --deb) deb="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        *) echo "usage: bench/startup.sh [--deb FILE] [--runs N]" >&2; exit 2 ;;
    esac
done

work=$(mktemp -d /dev/shm/bf-startup.XXXXXX)
daemon_pid=""
cleanup() {
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid"
        wait "$daemon_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

[ -n "$deb" ] || deb=$(scripts/package.sh --output "$work/out" | tail -n 1)
dpkg-deb -x "$deb" "$work/pkg"
aot_cli="$work/pkg/usr/bin/butterfly"
jit_cli="$root/Cli/bin/Release/net10.0/butterfly"
r2r_daemon="$work/pkg/usr/lib/butterfly/butterflyd"
jit_daemon="$root/Api.Zmq/bin/Release/net10.0/butterflyd"
bench_api="$root/bench/Butterfly.Bench.Api/bin/Release/net10.0/Butterfly.Bench.Api"
for f in "$aot_cli" "$jit_cli" "$r2r_daemon" "$jit_daemon" "$bench_api"; do
    [ -x "$f" ] || { echo "startup: $f missing (dotnet build Butterfly.sln -c Release first)" >&2; exit 1; }
done

echo "# $(date -u +%FT%TZ), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"

# 1. CLI calls against the built daemon.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
endpoint="tcp://127.0.0.1:$port"
prefix="bfstartup$$"
"$jit_daemon" -i 127.0.0.1 -s "$work/sock" -e "$endpoint" --event-store "file:$work/events" --no-syslog -l error \
    --dpdk-args "--no-huge -m 256 --no-pci --file-prefix $prefix --vdev=net_null0,no-rx=1" 2>"$work/daemon.log" &
daemon_pid=$!
for _ in $(seq 1 300); do
    "$aot_cli" -e "$endpoint" status >/dev/null 2>&1 && break
    sleep 0.1
done
"$aot_cli" -e "$endpoint" status >/dev/null

if command -v hyperfine >/dev/null 2>&1; then
    hyperfine -N --style basic --warmup 10 --runs "$runs" \
        -n "butterfly status (Native AOT)" "$aot_cli -e $endpoint status" \
        -n "butterfly status (managed, JIT)" "$jit_cli -e $endpoint status"
else
    for cli in "$aot_cli" "$jit_cli"; do
        start=$(date +%s%N)
        for _ in $(seq 1 "$runs"); do "$cli" -e "$endpoint" status >/dev/null; done
        echo "$cli: $(( ($(date +%s%N) - start) / runs / 1000 )) µs per call (mean of $runs)"
    done
fi
kill -TERM "$daemon_pid"
wait "$daemon_pid" 2>/dev/null || true
daemon_pid=""
rm -rf "/var/run/dpdk/$prefix"

# 2 and 3. Restart and reads, each daemon in turn.
for daemon in "$r2r_daemon" "$jit_daemon"; do
    echo "# butterflyd: $daemon, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    TMPDIR=/dev/shm "$bench_api" --daemon "$daemon" --only restart
    TMPDIR=/dev/shm "$bench_api" --daemon "$daemon" --only reads --seconds 5
done
