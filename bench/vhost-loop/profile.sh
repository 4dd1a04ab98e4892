#!/usr/bin/env bash
# profile.sh [VARIANT] [FRAME] [SECS]
#
# Where butterflyd's packet-thread cycles go on the vhost-user loop (not a test): brings up the
# variant (l2, conntrack or vxlan, as run.sh does), loops FRAME-byte frames through it with loopgen.sh,
# and after a 4 s warm-up samples cpu 1 (the packet thread's) with `perf record` for SECS
# seconds (the packet threads only, by thread id). Prints the share of the samples per shared object — libbutterfly_shim.so
# (the shim with DPDK linked in: the vhost library's guest ring handling and copies; the symbols
# say which), the JIT-compiled C# pipeline (perf-PID.map), the kernel, … — then the top symbols, and the
# packet thread's own cycles per packet over the same interval.
# Defaults: l2, 64, 5. Needs root and `perf` (installs linux-perf if missing). Same
# environment as run.sh (BUTTERFLYD, BUTTERFLY, LOOPGEN_HUGE, BF_HUGE, VXLAN_UNDERLAY); PERF_OUT=FILE
# keeps the perf.data (perf report -i FILE).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VARIANT=${1:-l2} FRAME=${2:-64} SECS=${3:-5}
MAC_A=02:00:00:00:0a:01 MAC_B=02:00:00:00:0b:01
BFD=${BUTTERFLYD:-$ROOT/Api.Zmq/bin/Release/net10.0/butterflyd}
BF=${BUTTERFLY:-$ROOT/Cli/bin/Release/net10.0/butterfly}
export LOOPGEN_HUGE=${LOOPGEN_HUGE:-0}
# JIT-compiled methods get names in perf's report (perf-PID.map; W^X double mapping off, or
# perf sees the code as the anonymous "memfd:doublemapper")
export DOTNET_PerfMapEnabled=3 DOTNET_EnableWriteXorExecute=0
WD=$(mktemp -d /dev/shm/bfprof.XXXXXX)
. "$HERE/lib.sh"

cleanup() {
    [ -n "${LG:-}" ] && kill "$LG" 2>/dev/null && wait "$LG" 2>/dev/null
    bf_down
    bf_hugepages_restore
    rm -rf "$WD"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

case "$VARIANT" in l2|conntrack|vxlan) ;; *) die "unknown variant $VARIANT (l2, conntrack, vxlan)" ;; esac
command -v jq >/dev/null || die "jq is needed (apt-get install jq)"
command -v perf >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf >/dev/null || exit 1; }
if [ ! -x "$BFD" ] || [ ! -x "$BF" ]; then
    dotnet build "$ROOT/Butterfly.sln" -c Release -nologo -v quiet || exit 1
fi

bf_up "$VARIANT"
LOOPGEN_FWD=5tswap LOOPGEN_CPU=0 LOOPGEN_WARMUP=1 "$HERE/loopgen.sh" $SOCKS "$FRAME" $((SECS + 6)) \
    >"$WD/lg.out" 2>"$WD/lg.err" &
LG=$!
sleep 4
# only the packet thread(s): cpu 1 may also run other work (a busy machine), which would
# otherwise fill the profile
tids=""
for p in $BF_PIDS; do tids="$tids,$(bf_packet_tid "$p")" || die "no packet thread in $p"; done
stats_clear bf
perf record -q -t "${tids#,}" -o "$WD/perf.data" -- sleep "$SECS" 2>/dev/null
stats=$(stats_read bf)
[ -n "${PERF_OUT:-}" ] && cp "$WD/perf.data" "$PERF_OUT"
wait "$LG"
LG=
echo "butterflyd $VARIANT, $FRAME B frames, packet thread(s) sampled for ${SECS}s; packet thread(s): $(cut -d, -f1 <<<"$stats") cycles/packet, busy $(cut -d, -f2 <<<"$stats") %; generator: $(sed -n 's/^pps=//p' "$WD/lg.out") pps"
echo "-- share of samples per shared object"
perf report -i "$WD/perf.data" --no-children --sort dso --stdio 2>/dev/null | grep -E '^ +[0-9.]+%' | head -8
echo "-- top symbols"
perf report -i "$WD/perf.data" --no-children --sort dso,sym --stdio 2>/dev/null | grep -E '^ +[0-9.]+%' | head -14 | cut -c1-160
