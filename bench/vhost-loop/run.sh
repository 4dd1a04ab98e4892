#!/usr/bin/env bash
# run.sh [REPS] [SECS] [SIZES] [VARIANTS]
#
# The vhost-user loop benchmark (not a test): one dpdk-testpmd generator on cpu 0 with two
# virtio-user ports looping frames through the switch under test, whose packet thread runs
# on cpu 1 (loopgen.sh, the reference harness, 5tswap). For each repetition, frame size and
# variant it alternates butterflyd and Open vSwitch-DPDK 3.1 of the same variant, so machine
# drift hits both alike; prints one line per cell and a summary of medians and ratios.
#   VARIANTS (default "l2"): l2 — two vhost-user NICs in one VNI vs an OVS NORMAL bridge;
#   vxlan — every frame VXLAN-encapsulated and decapsulated once: two butterflyd daemons (one
#   VTEP each, both packet threads on cpu 1, underlays joined by memif) against two OVS
#   topologies, each cell in turn: OVS's one-PMD VXLAN loop in one process (ovs_dpdk_up.sh
#   vxlan; cells "ovs-vxlan") and the same topology as butterflyd's, two ovs-vswitchd with
#   one VTEP each joined by the same memif link, both PMDs on cpu 1 ("ovs2-vxlan").
#   VXLAN_OVS="one two" (default) picks them. Frames above 1464 B are clamped to 1464 B for
#   vxlan (the underlay MTU is 1500). The design and its limits are described in lib.sh.
# Per cell it also records the switch's own cycles per packet and busy share of its packet
# thread over the measured interval (butterflyd: `butterfly status dataplane --clear` at the
# start, `--json` at the end, summed over both daemons for vxlan; OVS: pmd-stats-clear and
# pmd-perf-show). Before the loops it measures the CPU used by an idle butterflyd packet thread.
#
# Environment: IDLE_SECS=10 (0 skips the idle measurement); VXLAN_UNDERLAY=memif|vhost;
# VXLAN_ZC=1 (memif clients in zero-copy mode, both switches; 0 = copying memif);
# OVS2_MAXSLEEP=0 (pmd-maxsleep of the two OVS instances, µs; 0 = OVS's default);
# LOOPGEN_HUGE=0 (generator memory, the same for both switches; 1 = hugepages); BF_HUGE=1
# (butterflyd's mbufs on 2 MB hugepages like OVS-DPDK's, reserved for the run and restored
# after; 0 = --no-huge); BUTTERFLYD,
# BUTTERFLY (executables, default the Release build); BENCH_OUT=DIR keeps the raw results and logs.
# Needs root; installs openvswitch-switch-dpdk if missing; stops everything it started, by PID.
#   vxlan.sh [REPS] [SECS] [SIZES] runs the vxlan variant alone.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
REPS=${1:-3} SECS=${2:-6} SIZES=${3:-"64 1500"} VARIANTS=${4:-l2}
IDLE_SECS=${IDLE_SECS:-10}
VXLAN_OVS=${VXLAN_OVS:-one two}
MAC_A=02:00:00:00:0a:01 MAC_B=02:00:00:00:0b:01
BFD=${BUTTERFLYD:-$ROOT/Api.Zmq/bin/Release/net10.0/butterflyd}
BF=${BUTTERFLY:-$ROOT/Cli/bin/Release/net10.0/butterfly}
# the generator's memory mode must not differ between the switches (with OVS up, hugepages
# would be free and loopgen's "auto" would take them for OVS's cells only)
export LOOPGEN_HUGE=${LOOPGEN_HUGE:-0}
WD=$(mktemp -d /dev/shm/bfloop.XXXXXX)
. "$HERE/lib.sh"

cleanup() {
    bf_down
    ovs_down
    bf_hugepages_restore
    if [ -n "${BENCH_OUT:-}" ]; then
        mkdir -p "$BENCH_OUT" && cp -f "$WD"/*.csv "$WD"/*.log "$WD"/*.err "$BENCH_OUT"/ 2>/dev/null
    fi
    rm -rf "$WD"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for v in $VARIANTS; do
    case "$v" in l2|conntrack|vxlan) ;; *) die "unknown variant $v (l2, conntrack, vxlan)" ;; esac
done
for o in $VXLAN_OVS; do
    case "$o" in one|two) ;; *) die "VXLAN_OVS: unknown OVS topology $o (one, two)" ;; esac
done
command -v jq >/dev/null || die "jq is needed (apt-get install jq)"
command -v ovs-vswitchd >/dev/null 2>&1 || [ -x /usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk ] || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openvswitch-switch-dpdk >/dev/null || exit 1; }
if [ ! -x "$BFD" ] || [ ! -x "$BF" ]; then
    dotnet build "$ROOT/Butterfly.sln" -c Release -nologo -v quiet || exit 1
fi

START=$(date +%s)
echo "vhost-user loop: ${REPS}x${SECS}s per cell, 5tswap, generator cpu0 (LOOPGEN_HUGE=$LOOPGEN_HUGE), butterflyd BF_HUGE=$BF_HUGE, switch packet thread(s) cpu1; variants: $VARIANTS$(
    [[ " $VARIANTS " == *" vxlan "* ]] && echo "; vxlan: underlay $VXLAN_UNDERLAY (zero-copy clients: $VXLAN_ZC), daemon B packet thread on cpu $VXLAN_B_CPU, OVS topologies: $VXLAN_OVS (two-instance pmd-maxsleep $OVS2_MAXSLEEP)")"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

if [ "$IDLE_SECS" != 0 ]; then
    # NICs created, no guest connected, no traffic; the thread has backed off after 2 s
    bf_up l2
    sleep 2
    idle_cpu "${BF_PIDS# }" "$IDLE_SECS" | tee "$WD/idle.log"
    bf_down
fi

for rep in $(seq 1 "$REPS"); do
    for size in $SIZES; do
        for v in $VARIANTS; do
            fs=$size
            [ "$v" = vxlan ] && [ "$fs" -gt "$VXLAN_MAX_FRAME" ] && fs=$VXLAN_MAX_FRAME
            bf_up "$v"
            measure "butterfly-$v" bf "$fs" $SOCKS
            bf_down
            if [ "$v" != vxlan ]; then
                ovs_up "$v"
                measure "ovs-$v" ovs "$fs" $SOCKS
                ovs_down
                continue
            fi
            for o in $VXLAN_OVS; do
                case "$o" in
                one) ovs_up vxlan; measure "ovs-vxlan" ovs "$fs" $SOCKS ;;
                two) ovs_up vxlan2; measure "ovs2-vxlan" ovs "$fs" $SOCKS ;;
                esac
                ovs_down
            done
        done
    done
done

echo "summary: median over ${REPS} reps of ${SECS}s (took $(( $(date +%s) - START ))s, load average now $(cut -d' ' -f1-3 /proc/loadavg));"
echo "cyc/pkt = the packet thread's busy cycles per frame (vxlan butterfly and ovs2: A + B), busy = its busy share of the interval"
echo "ovs-vxlan = OVS's tunnel loop in one process; ovs2-vxlan = two OVS instances joined by memif, like the two butterflyd"
/usr/bin/python3 - "$WD/results.csv" <<'PY'
import csv, statistics, sys
cells = {}
for label, size, pps, cyc, busy, drops in csv.reader(open(sys.argv[1])):
    c = cells.setdefault((label, int(size)), {"pps": [], "cyc": [], "busy": [], "drops": 0})
    c["pps"].append(int(pps or 0))
    if cyc:  # vxlan butterfly and ovs2: "A/B", a frame's cost is the sum
        c["cyc"].append(sum(float(x) for x in cyc.split("/")))
    if busy:
        c["busy"].append([float(b) for b in busy.split("/")])
    c["drops"] += int(drops or 0)
med = lambda v: statistics.median(v) if v else None
def busy(rows):
    return "/".join(f"{statistics.median(col):.0f}" for col in zip(*rows)) + " %" if rows else "-"
print(f"  {'switch':<16} {'frame':>6}  {'Mpps':>7}  {'cyc/pkt':>8}  {'busy':>8}  reps (Mpps)")
for (label, size), c in sorted(cells.items(), key=lambda kv: (kv[0][0].split('-')[1], kv[0][1], kv[0][0])):
    cyc = med(c["cyc"])
    print(f"  {label:<16} {size:>4} B  {med(c['pps']) / 1e6:7.3f}  {cyc if cyc is None else round(cyc):>8}  {busy(c['busy']):>8}  "
          + " ".join(f"{x / 1e6:.2f}" for x in c["pps"]) + (f"  drops={c['drops']}" if c["drops"] else ""))
for variant in sorted({l.split("-", 1)[1] for l, _ in cells}):
    for size in sorted({s for l, s in cells if l.endswith("-" + variant)}):
        for other in ("ovs", "ovs2"):
            b, o = cells.get((f"butterfly-{variant}", size)), cells.get((f"{other}-{variant}", size))
            if not (b and o):
                continue
            line = f"  ratio butterfly / {other}, {variant} {size} B: Mpps {med(b['pps']) / max(med(o['pps']), 1):.2f}"
            if b["cyc"] and o["cyc"]:
                line += f", cycles/packet {med(b['cyc']) / med(o['cyc']):.2f}"
            print(line)
PY
[ -f "$WD/idle.log" ] && cat "$WD/idle.log"
exit 0
