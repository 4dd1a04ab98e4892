#!/usr/bin/env bash
# vxlan.sh [REPS] [SECS] [SIZES]
#
# The VXLAN variant of the vhost-user loop alone: every frame is VXLAN-encapsulated once and
# decapsulated once. butterflyd: two daemons (VTEPs 172.31.254.1/.2, each the other's
# --vxlan-peer, NIC a on A and NIC b on B), both packet threads on cpu 1 — the one-core budget
# of OVS's single PMD — with their underlays joined by memif (VXLAN_UNDERLAY=vhost: net_vhost /
# net_virtio_user), B a zero-copy memif client (VXLAN_ZC=1). Against two OVS-DPDK topologies,
# each cell in turn: the reference VXLAN loop (ovs_dpdk_up.sh vxlan, one PMD on cpu 1,
# tnl_push + tnl_pop inside one ovs-vswitchd; "ovs-vxlan") and butterflyd's own topology for
# OVS (two ovs-vswitchd, one VTEP each, the same memif link, both PMDs on cpu 1; "ovs2-vxlan").
# Alternated within the run; prints Mpps, the packet threads' cycles per packet and busy
# share, and both ratios. Frames are at most 1464 B (a 1500-byte underlay MTU). Why this
# setup and what it cannot show: lib.sh.
# Same environment as run.sh (IDLE_SECS, VXLAN_UNDERLAY, VXLAN_ZC, VXLAN_OVS, OVS2_MAXSLEEP,
# LOOPGEN_HUGE, BUTTERFLYD, BUTTERFLY, BENCH_OUT).
exec "$(cd "$(dirname "$0")" && pwd)/run.sh" "${1:-3}" "${2:-6}" "${3:-64 1464}" vxlan
