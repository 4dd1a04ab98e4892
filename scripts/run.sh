#!/usr/bin/env bash
# Installs what is needed, builds, and runs butterflyd on its embedded default:
# file event log in /var/lib/butterfly/events, tap underlay, no DPDK NIC, no hugepages,
# API on tcp://127.0.0.1:9999, vhost-user sockets in /var/run/butterfly. Extra arguments
# are passed to butterflyd (e.g. scripts/run.sh -l info).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
dotnet build Butterfly.sln -c Release -nologo -v quiet
mkdir -p /var/run/butterfly
exec Api.Zmq/bin/Release/net10.0/butterflyd \
    --ip 127.0.0.1 --socket-dir /var/run/butterfly --endpoint tcp://127.0.0.1:9999 \
    --no-syslog --log-level info "$@"
