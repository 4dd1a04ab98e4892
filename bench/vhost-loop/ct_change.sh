#!/usr/bin/env bash
# ct_change.sh [SECONDS]
#
# Security-group changes under traffic (not a test): the conntrack variant of the vhost-user
# loop (lib.sh: two vhost-user NICs filtered by a group, the generator looping 64 B frames
# through them, every flow established), and while it runs, from a second process, 1 000 rule
# changes one at a time, then one sg_add of 100 000 members and one of 10 000 rules
# referencing them (Butterfly.Bench.Api --firewall), to NIC b's groups. Prints the time each
# change took to be acknowledged (durable, compiled and published), and whether the loop lost
# frames meanwhile: the loop is closed, so a single dropped frame of an established flow shows
# as lost_in_sut, and as a drop reason in the NICs' counters.
# Needs root; stops everything it started, by PID.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SECS=${1:-40}
MAC_A=02:00:00:00:0a:01 MAC_B=02:00:00:00:0b:01
BFD=${BUTTERFLYD:-$ROOT/Api.Zmq/bin/Release/net10.0/butterflyd}
BF=${BUTTERFLY:-$ROOT/Cli/bin/Release/net10.0/butterfly}
BENCH=$ROOT/bench/Butterfly.Bench.Api/bin/Release/net10.0/Butterfly.Bench.Api
export LOOPGEN_HUGE=${LOOPGEN_HUGE:-0}
WD=$(mktemp -d /dev/shm/bfct.XXXXXX)
. "$HERE/lib.sh"
cleanup() { [ -n "${LG:-}" ] && kill "$LG" 2>/dev/null; bf_down; bf_hugepages_restore; rm -rf "$WD"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -x "$BENCH" ] || dotnet build "$ROOT/bench/Butterfly.Bench.Api" -c Release -nologo -v quiet || exit 1
bf_up conntrack
"$BF" -e "$BF_EP_A" -t 5000 nic sg add b bench-rules bench-big || die "nic sg add failed"
LOOPGEN_FWD=5tswap LOOPGEN_CPU=0 "$HERE/loopgen.sh" $SOCKS 64 "$SECS" >"$WD/lg.out" 2>"$WD/lg.err" &
LG=$!
sleep 8   # links up, warm-up, every flow established
"$BENCH" --firewall "$BF_EP_A" || die "the firewall changes failed"
wait "$LG"; LG=""
echo "loop while changing: $(sed -n 's/^pps=//p' "$WD/lg.out") pps; $(grep '^loopgen:' "$WD/lg.err" | tail -1)"
for nic in a b; do
    echo "nic $nic: $("$BF" -e "$BF_EP_A" nic stats "$nic" --all | tr '\n' ' ')"
done
"$BF" -e "$BF_EP_A" status dataplane | grep -E 'conntrack|firewall|drop'
