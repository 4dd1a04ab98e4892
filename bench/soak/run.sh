#!/usr/bin/env bash
# bench/soak/run.sh [MINUTES] [SAMPLE_SECONDS]
#
# The soak (not a test): one butterflyd under traffic for MINUTES (default 60) while a client
# churns its configuration, sampled every SAMPLE_SECONDS (default 60). Reports, per sample and
# as a summary, what must stay flat over hours: the daemon's RSS, open file descriptors and
# threads, the event log's size on disk (it grows with the events; a snapshot every
# --snapshot-every events bounds replay, not the file), and the packet thread's longest stall
# (`butterfly status dataplane`: the longest round that did not end by sleeping, from its
# poll-gap histogram, over the sample; goal < 10 ms), with the frames it moved, and the .NET
# runtime's collections in the sample (gen 0 / 1 / 2) with their total pause, from the daemon's
# metrics endpoint: the packet thread runs managed code, so every blocking collection stalls it.
#
# Traffic: the vhost-user loop's generator (bench/vhost-loop/loopgen.sh: dpdk-testpmd on
# cpu 0, two virtio-user ports, 256 UDP flows looping through NICs a and b in VNI 1 behind the
# security group `web`, connection tracking on; the packet thread on cpu 1). The loop is
# closed: a frame the switch drops is gone for good, so a rate (Mpps column) that decays
# sample after sample shows loss.
# Churn, one round after another as fast as the API answers (each a CLI call, so also an
# acknowledged, durable write): a vhost-user NIC added with a group and removed, a group
# created with rules and members and deleted, members of `web` added and removed (the traffic
# NICs' own group: its member set changes under traffic), a TCP rule added to `web` and
# removed, NIC b's groups replaced back and forth (`web` ↔ `web web2`, web2 empty), and every
# 20th round `status dataplane`, `nic list`, `events --limit 5` (reads).
#
# Environment: BUTTERFLYD, BUTTERFLY (default the Release build), BF_HUGE=1 (see
# bench/vhost-loop/lib.sh), SOAK_OUT=DIR keeps the samples (CSV) and the daemon's log,
# SOAK_CHURN=0 runs the traffic without the churn.
# Needs root; stops what it started, by PID.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
MINUTES=${1:-60} SAMPLE=${2:-60}
MAC_A=02:00:00:00:0a:01 MAC_B=02:00:00:00:0b:01
BFD=${BUTTERFLYD:-$ROOT/Api.Zmq/bin/Release/net10.0/butterflyd}
BF=${BUTTERFLY:-$ROOT/Cli/bin/Release/net10.0/butterfly}
export LOOPGEN_HUGE=${LOOPGEN_HUGE:-0}
WD=$(mktemp -d /dev/shm/bfsoak.XXXXXX)
. "$HERE/../vhost-loop/lib.sh"
LOOPGEN_PID="" CHURN_PID=""

cleanup() {
    [ -n "$CHURN_PID" ] && kill "$CHURN_PID" 2>/dev/null && wait "$CHURN_PID" 2>/dev/null
    [ -n "$LOOPGEN_PID" ] && kill -TERM "$LOOPGEN_PID" 2>/dev/null && wait "$LOOPGEN_PID" 2>/dev/null
    if [ -n "${SOAK_OUT:-}" ]; then
        mkdir -p "$SOAK_OUT" && cp -f "$WD"/*.csv "$WD"/*.log "$WD"/bf-ct/log "$SOAK_OUT"/ 2>/dev/null
    fi
    bf_down
    bf_hugepages_restore
    rm -rf "$WD"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v jq >/dev/null || die "jq is needed (apt-get install jq)"
command -v curl >/dev/null || die "curl is needed (apt-get install curl)"
command -v dpdk-testpmd >/dev/null || die "dpdk-testpmd is needed (apt-get install dpdk)"
if [ ! -x "$BFD" ] || [ ! -x "$BF" ]; then
    dotnet build "$ROOT/Butterfly.sln" -c Release -nologo -v quiet || exit 1
fi
bf() { "$BF" -e "$BF_EP_A" -t 10000 "$@"; }

echo "soak: ${MINUTES} min, a sample every ${SAMPLE} s; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
METRICS=127.0.0.1:$(( 20000 + $$ % 10000 ))
bf_port_free "${METRICS##*:}" || die "port ${METRICS##*:} is in use"
export BF_DAEMON_OPTS="--metrics-endpoint $METRICS ${BF_DAEMON_OPTS:-}"
bf_up conntrack
PID=${BF_PIDS# }
read -r SOCK_A SOCK_B <<<"$SOCKS"
bf sg add web2 >/dev/null || die "sg add web2 failed"

# Traffic for the whole soak and a minute more (loopgen samples once a second and prints the
# median at its end; its log keeps the per-second rates).
LOOPGEN_CPU=0 bash "$HERE/../vhost-loop/loopgen.sh" "$SOCK_A" "$SOCK_B" 64 $(( MINUTES * 60 + 60 )) \
    >"$WD/loopgen.out" 2>"$WD/loopgen.log" &
LOOPGEN_PID=$!

churn() {
    local i=0 errors=0 ok
    while :; do
        i=$((i + 1))
        ok=1
        bf nic add --id "c$((i % 8))" --mac "52:54:00:cc:00:0$((i % 8))" --vni 7 --sg web >/dev/null || ok=0
        bf sg add "g$i" >/dev/null || ok=0
        bf sg rule add "g$i" --ip-proto tcp --port $(( 1000 + i % 1000 )) --cidr 10.$((i % 256)).0.0/16 >/dev/null || ok=0
        bf sg member add "g$i" "10.1.$((i % 256)).$((i % 200 + 1))" >/dev/null || ok=0
        bf sg member add web "10.9.$((i % 256)).1" >/dev/null || ok=0
        bf sg rule add web --ip-proto tcp --port 9999 --cidr 10.77.0.0/16 >/dev/null || ok=0
        if (( i % 2 )); then bf nic sg add b web2 >/dev/null || ok=0
        else bf nic sg del b web2 >/dev/null || ok=0; fi
        bf sg rule del web --ip-proto tcp --port 9999 --cidr 10.77.0.0/16 >/dev/null || ok=0
        bf sg member del web "10.9.$((i % 256)).1" >/dev/null || ok=0
        bf sg del "g$i" >/dev/null || ok=0
        bf nic del "c$((i % 8))" >/dev/null || ok=0
        if (( i % 20 == 0 )); then
            { bf status dataplane && bf nic list && bf events --limit 5; } >/dev/null || ok=0
        fi
        (( ok )) || errors=$((errors + 1))
        echo "$i $errors" >"$WD/churn.count"
    done
}
if [ "${SOAK_CHURN:-1}" = 1 ]; then
    churn &
    CHURN_PID=$!
else
    echo "0 0" >"$WD/churn.count" # traffic alone: what stalls without configuration changes
fi

# The runtime's collections so far: "gen0 gen1 gen2 pause_seconds".
gc_counters() {
    curl -s "http://$METRICS/metrics" | awk '
        /^butterfly_gc_collections_total\{generation="0"\}/ { g0 = $2 }
        /^butterfly_gc_collections_total\{generation="1"\}/ { g1 = $2 }
        /^butterfly_gc_collections_total\{generation="2"\}/ { g2 = $2 }
        /^butterfly_gc_pause_seconds_total / { p = $2 }
        END { printf "%d %d %d %.6f\n", g0, g1, g2, p }'
}

echo "minute,rss_mib,fds,threads,log_mib,longest_stall_us,rounds_over_1ms,mpps,churn_rounds,churn_errors,gc0,gc1,gc2,gc_pause_ms" >"$WD/soak.csv"
printf '%7s %9s %5s %8s %8s %14s %10s %7s %12s %12s %9s\n' minute "rss MiB" fds threads "log MiB" "longest stall" "rounds>1ms" Mpps "churn rounds" "GCs 0/1/2" "GC pause"
bf status dataplane --clear >/dev/null
read -r gc0 gc1 gc2 gcp <<<"$(gc_counters)"
end=$(( $(date +%s) + MINUTES * 60 ))
start=$(date +%s)
worst=0
while [ "$(date +%s)" -lt "$end" ]; do
    sleep "$SAMPLE"
    [ -d "/proc/$PID" ] || die "butterflyd exited during the soak (log: $WD/bf-ct/log)"
    json=$(bf status dataplane --json --clear) || die "status dataplane failed"
    rss=$(awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$PID/status")
    threads=$(awk '/^Threads/ {print $2}' "/proc/$PID/status")
    fds=$(find "/proc/$PID/fd" -mindepth 1 -maxdepth 1 | wc -l)
    logmib=$(du -sk "$WD/bf-ct/events" | awk '{printf "%.1f", $1 / 1024}')
    stall=$(jq -r '.longest_poll_gap_us // 0' <<<"$json")
    over=$(jq -r '[.poll_gaps[11:][]] | add // 0' <<<"$json")
    mpps=$(jq -r 'if .seconds > 0 then .packets / .seconds / 1e6 else 0 end' <<<"$json")
    read -r rounds errors <"$WD/churn.count" 2>/dev/null || { rounds=0 errors=0; }
    read -r n0 n1 n2 np <<<"$(gc_counters)"
    d0=$((n0 - gc0)) d1=$((n1 - gc1)) d2=$((n2 - gc2))
    dp=$(awk -v a="$gcp" -v b="$np" 'BEGIN { printf "%.1f", (b - a) * 1000 }')
    gc0=$n0 gc1=$n1 gc2=$n2 gcp=$np
    minute=$(awk -v s=$(( $(date +%s) - start )) 'BEGIN { printf "%.1f", s / 60 }')
    printf '%7s %9s %5s %8s %8s %11.0f µs %10s %7.3f %12s %12s %6s ms\n' "$minute" "$rss" "$fds" "$threads" "$logmib" "$stall" "$over" "$mpps" "$rounds" "$d0/$d1/$d2" "$dp"
    echo "$minute,$rss,$fds,$threads,$logmib,$stall,$over,$mpps,$rounds,$errors,$d0,$d1,$d2,$dp" >>"$WD/soak.csv"
    worst=$(awk -v a="$worst" -v b="$stall" 'BEGIN { print (b > a ? b : a) }')
done

kill "$CHURN_PID" 2>/dev/null; wait "$CHURN_PID" 2>/dev/null; CHURN_PID=""
read -r rounds errors <"$WD/churn.count"
awk -F, -v worst="$worst" -v rounds="$rounds" -v errors="$errors" '
    NR == 2 { r0 = $2; f0 = $3; t0 = $4 }
    NR > 1  { r1 = $2; f1 = $3; t1 = $4; l1 = $5; if ($2 > rmax) rmax = $2 }
    END {
        printf "summary: RSS %.1f -> %.1f MiB (max %.1f), fds %d -> %d, threads %d -> %d, log %.1f MiB; ", r0, r1, rmax, f0, f1, t0, t1, l1
        printf "longest stall < %.0f us (goal < 10 ms: %s); churn: %d rounds, %d with a failed call\n", worst, (worst < 10000 ? "met" : "MISSED"), rounds, errors
    }' "$WD/soak.csv"
kill -TERM "$LOOPGEN_PID" 2>/dev/null; wait "$LOOPGEN_PID" 2>/dev/null; LOOPGEN_PID=""
