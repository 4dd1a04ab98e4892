#!/usr/bin/env bash
# bench/api-roundtrip/run.sh [ROUNDS] [COUNT]
#
# Single-client API reads with a native libzmq client (the transport of the original C++
# client and of pyzmq orchestrators), against the floor of ZeroMQ itself on this host. A
# benchmark, not a test: it prints figures and asserts none. Issue 11 item 6 asks for
# >= 10 000 single-client reads/s; bench/Butterfly.Bench.Api measures the same reads with the
# .NET client (NetMQ), whose own I/O thread adds two thread hand-overs per request.
#
# Each of ROUNDS (default 5) rounds runs COUNT (default 10 000) synchronous round trips of
#   - nic_list against butterflyd (empty configuration, as Bench.Api's reads), and
#   - 20 bytes against `zmq_roundtrip echo`, a libzmq REP socket that sends every request
#     back: no work at all, so what any ZeroMQ server costs here (TCP on loopback, libzmq's
#     I/O thread on both sides);
# alternately, so both see the same machine; then the medians.
#
# Environment: BUTTERFLYD (default the Release build). Needs root (DPDK EAL), gcc and libzmq's
# header (Debian's libzmq3-dev, installed here when missing). Stops what it started, by PID.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
ROUNDS=${1:-5} COUNT=${2:-10000}
BFD=${BUTTERFLYD:-$ROOT/Api.Zmq/bin/Release/net10.0/butterflyd}
[ -x "$BFD" ] || { echo "api-roundtrip: $BFD missing (dotnet build Butterfly.sln -c Release first)" >&2; exit 1; }

# nic_list as the wire carries it: Messages { messages { revision: 0 message_0 { request { nic_list: true } } } }
# (Messages.messages = 1, Message.revision = 1, Message.message_0 = 3, MessageV0.request = 1, Request.nic_list = 4).
NIC_LIST=0a0808001a040a022001

if [ ! -f /usr/include/zmq.h ]; then
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q libzmq3-dev >/dev/null
fi
WD=$(mktemp -d /dev/shm/bf-roundtrip.XXXXXX)
DAEMON_PID="" ECHO_PID="" PREFIX="bfrt$$"
cleanup() {
    for pid in $DAEMON_PID $ECHO_PID; do
        kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WD" "/var/run/dpdk/$PREFIX"
}
trap cleanup EXIT
gcc -O2 -Wall -Wextra -Werror -o "$WD/zmq_roundtrip" "$HERE/zmq_roundtrip.c" -lzmq

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
API="tcp://127.0.0.1:$(free_port)" ECHO="tcp://127.0.0.1:$(free_port)"
"$BFD" -i 127.0.0.1 -s "$WD/sock" -e "$API" --event-store "file:$WD/events" --no-syslog -l error \
    --dpdk-args "--no-huge -m 256 --no-pci --file-prefix $PREFIX --vdev=net_null0,no-rx=1" 2>"$WD/daemon.log" &
DAEMON_PID=$!
"$WD/zmq_roundtrip" echo "$ECHO" &
ECHO_PID=$!
for _ in $(seq 1 60); do
    "$WD/zmq_roundtrip" client "$API" 1 "$NIC_LIST" >/dev/null 2>&1 && break
    kill -0 "$DAEMON_PID" 2>/dev/null || { echo "api-roundtrip: butterflyd exited:" >&2; tail -5 "$WD/daemon.log" >&2; exit 1; }
    sleep 0.5
done

echo "# $(date -u +%FT%TZ), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# butterflyd: $BFD"
daemon=() echo=()
for round in $(seq 1 "$ROUNDS"); do
    d=$("$WD/zmq_roundtrip" client "$API" "$COUNT" "$NIC_LIST")
    e=$("$WD/zmq_roundtrip" client "$ECHO" "$COUNT")
    echo "round $round: butterflyd nic_list $d | libzmq echo $e"
    daemon+=("${d%% *}") echo+=("${e%% *}")
done
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo "median: butterflyd nic_list $(median "${daemon[@]}") round trips/s, libzmq echo $(median "${echo[@]}") round trips/s"
