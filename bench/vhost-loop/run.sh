#!/usr/bin/env bash
# run.sh [REPS] [SECS] [SIZES]
#
# The vhost-user loop benchmark (not a test): one dpdk-testpmd generator on cpu 0 with two
# virtio-user ports looping frames through the switch under test, whose packet thread runs
# on cpu 1 (loopgen.sh, the reference harness). Alternates, within one run, butterflyd
# (two vhost-user NICs in one VNI, bypass_filtering) and Open vSwitch-DPDK 3.1 with a NORMAL
# bridge (ovs_dpdk_up.sh l2), so machine drift hits both alike; prints one line per cell
# and the median ratio. Needs root; installs openvswitch-switch-dpdk if missing; stops
# everything it started, by PID.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
REPS=${1:-3} SECS=${2:-6} SIZES=${3:-"64 1500"}
MAC_A=02:00:00:00:0a:01 MAC_B=02:00:00:00:0b:01
WD=$(mktemp -d /dev/shm/bfloop.XXXXXX)
BFD="$ROOT/Api.Zmq/bin/Release/net10.0/butterflyd"
BF="$ROOT/Cli/bin/Release/net10.0/butterfly"
EP=tcp://127.0.0.1:19555
BF_PID=""
cleanup() {
    [ -n "$BF_PID" ] && kill -TERM "$BF_PID" 2>/dev/null && wait "$BF_PID" 2>/dev/null
    "$HERE/ovs_dpdk_down.sh" "$WD/ovs" >/dev/null 2>&1
    rm -rf "$WD"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v ovs-vswitchd >/dev/null 2>&1 || [ -x /usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk ] || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openvswitch-switch-dpdk >/dev/null || exit 1; }
[ -x "$BFD" ] || dotnet build "$ROOT/Butterfly.sln" -c Release -nologo -v quiet || exit 1

butterfly_up() {
    mkdir -p "$WD/sock"
    "$BFD" -i 127.0.0.1 -s "$WD/sock" -e "$EP" --event-store "file:$WD/events" --no-syslog -l error \
        --graph-cpu-core 1 --dpdk-args "--no-huge -m 1024 --no-pci --file-prefix bfloop$$ --vdev=net_null0,no-rx=1" \
        >"$WD/butterflyd.log" 2>&1 &
    BF_PID=$!
    for _ in $(seq 1 100); do "$BF" -e "$EP" -t 200 status >/dev/null 2>&1 && break; sleep 0.1; done
    "$BF" -e "$EP" -t 5000 nic add --id a --mac "$MAC_A" --vni 1 --bypass-filtering >/dev/null &&
    "$BF" -e "$EP" -t 5000 nic add --id b --mac "$MAC_B" --vni 1 --bypass-filtering >/dev/null ||
        { cat "$WD/butterflyd.log" >&2; exit 1; }
    SOCKS="$WD/sock/a $WD/sock/b"
}
butterfly_down() { kill -TERM "$BF_PID"; wait "$BF_PID" 2>/dev/null; BF_PID=""; rm -rf "$WD/sock" "$WD/events"; }

measure() {  # $1 label, $2 size, $3 sockA, $4 sockB
    local line
    line=$(LOOPGEN_FWD=5tswap LOOPGEN_CPU=0 "$HERE/loopgen.sh" "$3" "$4" "$2" "$SECS" 2>>"$WD/loopgen.err")
    echo "$1,$2,${line#pps=}" | tee -a "$WD/results.csv"
}

for rep in $(seq 1 "$REPS"); do
    for size in $SIZES; do
        butterfly_up
        measure butterfly "$size" $SOCKS
        butterfly_down
        S=$(OVS_PMD_CPU=1 OVS_LCORE_CPU=0 "$HERE/ovs_dpdk_up.sh" l2 "$WD/ovs" 2>>"$WD/ovs.log") || { tail "$WD/ovs.log" >&2; exit 1; }
        measure ovs-l2 "$size" $S
        "$HERE/ovs_dpdk_down.sh" "$WD/ovs" >/dev/null 2>&1
    done
done

echo "median Mpps per switch and frame size (5tswap loop, ${REPS}x${SECS}s, generator cpu0, switch cpu1):"
/usr/bin/python3 - "$WD/results.csv" <<'PY'
import csv, statistics, sys
cells = {}
for label, size, pps in csv.reader(open(sys.argv[1])):
    cells.setdefault((label, int(size)), []).append(int(pps or 0))
for (label, size), v in sorted(cells.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    print(f"  {label:<10} {size:>5} B  {statistics.median(v) / 1e6:7.3f} Mpps  reps: {' '.join(f'{x / 1e6:.2f}' for x in v)}")
for size in sorted({s for _, s in cells}):
    b, o = cells.get(("butterfly", size)), cells.get(("ovs-l2", size))
    if b and o:
        print(f"  ratio butterfly / ovs-l2 at {size} B: {statistics.median(b) / statistics.median(o):.2f}")
PY
