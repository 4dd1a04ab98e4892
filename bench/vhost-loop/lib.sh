# lib.sh — sourced by run.sh (not run on its own).
#
# The switches under test of the vhost-user loop, their packet-thread counters and one loop
# measurement with hooks at the measured interval. The caller sets HERE, WD, SECS, MAC_A, MAC_B
# and BFD/BF (the butterflyd and butterfly executables); each *_up sets SOCKS (the two
# vhost-user sockets the generator attaches to). Everything started is stopped by PID
# (bf_down, ovs_down; the caller's cleanup calls both). BF_DAEMON_OPTS adds options to every
# butterflyd started (e.g. the soak's --metrics-endpoint).
#
# Switch variants (each run alternates butterflyd and OVS-DPDK of the same variant):
#   l2     butterflyd: one daemon, two vhost-user NICs in one VNI (bypass_filtering), underlay
#          a net_null port nothing arrives on.   OVS: ovs_dpdk_up.sh l2 (NORMAL bridge).
#   conntrack  Stateful security groups on both NICs, against OVS's Neutron-like conntrack flows
#          (ovs_dpdk_up.sh conntrack: per frame an egress ct(zone) of the sender and an ingress
#          ct(zone) of the receiver). butterflyd: the l2 daemon, NICs not bypassing filtering:
#          anti-spoofing (the NIC's MAC and its IPs: the generator sends from 198.18.0.2 and
#          198.18.<0..255>.3, so each NIC has those 257 IPs, as OVS's flows allow 198.18.0.0/15),
#          and a group like OVS's rules (TCP 22, 80, 443, 8080; UDP 53; ICMP; UDP 9 from
#          198.18.0.0/15, which the traffic uses): per frame the sender's egress lookup and the
#          receiver's ingress lookup in their conntrack zones.
#   vxlan  Every frame is VXLAN-encapsulated once and decapsulated once.
#          OVS: ovs_dpdk_up.sh vxlan, exactly the reference baseline: vhA on br-a, vhB on br-b,
#          joined only by two VXLAN ports whose VTEPs sit on br-phy, all in ONE ovs-vswitchd:
#          its single PMD (cpu 1) does tnl_push, then tnl_pop straight away (the underlay is
#          never a real wire: no I/O, no copy).
#          butterflyd: one daemon has one VTEP address, so it cannot be both tunnel ends; two
#          daemons are needed: A (VTEP 172.31.254.1, NIC a) and B (172.31.254.2, NIC b), each the
#          other's --vxlan-peer, with BOTH packet threads on cpu 1, i.e. the same one-core budget
#          as OVS's PMD. Their underlays are joined by a userspace DPDK link, memif (default) or
#          VXLAN_UNDERLAY=vhost (net_vhost on A, net_virtio_user on B): a kernel link (veth +
#          af_packet) would put a syscall and the kernel's veth path on every packet, a cost OVS's
#          loop does not pay. Still, butterflyd pays what OVS does not: a real underlay TX and RX
#          (one copy each way), and two polling threads sharing one core — each offers the core
#          to the other every 16 empty rounds (sched_yield), and a hand-over still costs a
#          context switch, so Mpps is depressed by the hand-overs; the packet threads' cycles per
#          packet (busy cycles / packets, summed over A and B = encap + decap of one frame) is
#          the comparable figure.
#          Frames the underlay cannot carry: memif and af_packet in DPDK 22.11 cap the MTU at
#          1500 and butterflyd cannot raise it on net_vhost (no mtu_set), so a VXLAN frame is at
#          most 1500 - 36 = 1464 B (VXLAN_MAX_FRAME); run.sh clamps larger sizes for this variant
#          (OVS included, so both carry the same frames).
#          The VTEPs resolve each other by ARP on the first frame, dropping the frames in flight
#          meanwhile (a closed loop never gets them back), so a 1 s priming loop runs first.
#          OVS, second topology (ovs_up vxlan2, cells labelled ovs2-vxlan): butterflyd's own, for
#          OVS — two ovs-vswitchd instances (ovs_dpdk_up.sh vtep: separate state dirs, db
#          sockets, EAL file prefixes and network namespaces), one VTEP each (172.31.255.1/.2),
#          vhA on A and vhB on B, their underlays joined by the same memif link (a dpdk port with
#          a net_memif vdev, options:dpdk-devargs), both PMDs on cpu 1. So both switches pay the
#          same underlay TX/RX and share one core between two polling threads. An OVS PMD never
#          offers its core: two of them on one core take turns only when the scheduler preempts
#          them (slices of milliseconds, during which the loop stands still). OVS's one way to
#          give the core up is other_config:pmd-maxsleep (3.1, experimental: a PMD whose queues
#          bring little sleeps up to that many µs per iteration); OVS2_MAXSLEEP sets it for both
#          instances (0 = OVS's default, never sleep).
#          Underlay copies: memif copies every frame on TX into its shared buffers and again on
#          RX out of them. With VXLAN_ZC=1 (default) daemon B / instance B are memif clients in
#          zero-copy mode (zero-copy=yes, EAL --single-file-segments, hugepages): B's own mbufs
#          are the shared buffers, so B neither copies on RX nor on TX, and A (the server)
#          copies once each way. DPDK 22.11 has zero-copy for the memif client only (the
#          server always copies) and none for net_vhost/virtio_user, so one copy per frame and
#          direction remains. VXLAN_ZC=0: both sides copy (two copies per frame and direction).

# The daemons' API ports: a free pair from 19555 up (another run on the same machine, e.g. a
# soak, may hold 19555), or BF_EP_A / BF_EP_B as given. bf_start also refuses a taken port,
# so a run never talks to a daemon it did not start.
bf_port_free() { ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
if [ -z "${BF_EP_A:-}" ] || [ -z "${BF_EP_B:-}" ]; then
    for _p in $(seq 19555 2 19655); do
        bf_port_free "$_p" && bf_port_free $((_p + 1)) && break
    done
    BF_EP_A=tcp://127.0.0.1:$_p BF_EP_B=tcp://127.0.0.1:$((_p + 1))
    unset _p
fi
VXLAN_UNDERLAY=${VXLAN_UNDERLAY:-memif}
VXLAN_B_CPU=${VXLAN_B_CPU:-1}   # 0: daemon B's packet thread shares the generator's cpu instead
VXLAN_MAX_FRAME=1464
VXLAN_ZC=${VXLAN_ZC:-1}          # 1: memif clients (daemon B, OVS instance B) in zero-copy mode
OVS2_MAXSLEEP=${OVS2_MAXSLEEP:-0} # pmd-maxsleep (µs) of the two-instance OVS topology's PMDs
BF_HUGE=${BF_HUGE:-1}    # 1: butterflyd's mbufs on 2 MB hugepages, as OVS-DPDK's (0: --no-huge)
# enough for the two daemons of vxlan (-m 256 each), and the generator's 288 when it has hugepages
BF_HUGE_PAGES=$(( 320 + (${LOOPGEN_HUGE:-0} == 1 ? 320 : 0) ))
BF_HUGE_DIR=""           # the hugetlbfs mount butterflyd uses (bf_hugepages mounts its own under WD)
BF_HUGE_BEFORE=""        # vm.nr_hugepages before bf_hugepages raised it (restored by bf_hugepages_restore)
BF_HUGE_MOUNTED=0        # 1: bf_hugepages mounted BF_HUGE_DIR itself
BF_PIDS=""   # butterflyd daemons running
BF_EPS=""    # their API endpoints, in the order A, B
OVS_UP=0
OVS_CTLS=""  # control sockets of the OVS instance(s) up, in the order A, B
DATAPLANE_CHECKED=0

die() { echo "vhost-loop: ERROR: $*" >&2; exit 1; }

# ---- butterflyd --------------------------------------------------------------------------

# butterflyd's EAL memory: 2 MB hugepages when BF_HUGE=1 and the kernel grants them — the
# condition OVS-DPDK always runs in (it refuses --no-huge) and the one a production host gives
# a DPDK switch; with 4 KB pages every mbuf copy risks a TLB miss (measured: ~300 cycles per
# packet on the 64 B L2 loop with --no-huge, ~210-290 with hugepages). Otherwise --no-huge.
# bf_eal_mem sets BF_MEM to those EAL arguments (in this shell: bf_hugepages keeps state).
bf_eal_mem() {
    if [ "$BF_HUGE" = 1 ] && bf_hugepages; then
        BF_MEM="-m 256 --huge-dir $BF_HUGE_DIR --huge-unlink"
    else
        BF_MEM="--no-huge -m 1024"
    fi
}

bf_hugepages() {  # reserves BF_HUGE_PAGES free 2 MB pages and a hugetlbfs mount; false if it cannot
    local free total
    free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
    if [ "${free:-0}" -lt "$BF_HUGE_PAGES" ]; then
        total=$(cat /proc/sys/vm/nr_hugepages)
        [ -n "$BF_HUGE_BEFORE" ] || BF_HUGE_BEFORE=$total
        echo $(( total + BF_HUGE_PAGES - free )) > /proc/sys/vm/nr_hugepages 2>/dev/null
        free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
        [ "${free:-0}" -ge "$BF_HUGE_PAGES" ] || { echo "vhost-loop: only $free free hugepages, butterflyd runs with --no-huge" >&2; return 1; }
    fi
    # always a mount of our own, under WD: another run's (or a crashed run's) mount could be
    # unmounted under us, and the hugepage files of a zero-copy client stay ours to remove
    if [ -z "$BF_HUGE_DIR" ]; then
        BF_HUGE_DIR="$WD/huge"
        mkdir -p "$BF_HUGE_DIR" && mount -t hugetlbfs -o pagesize=2M nodev "$BF_HUGE_DIR" || return 1
        BF_HUGE_MOUNTED=1
    fi
}

bf_hugepages_restore() {  # undoes bf_hugepages (call after every switch is down)
    [ "$BF_HUGE_MOUNTED" = 1 ] && umount "$BF_HUGE_DIR" 2>/dev/null
    BF_HUGE_MOUNTED=0 BF_HUGE_DIR=""
    [ -n "$BF_HUGE_BEFORE" ] && echo "$BF_HUGE_BEFORE" > /proc/sys/vm/nr_hugepages
    BF_HUGE_BEFORE=""
}

bf_start() {  # $1 name, $2 endpoint, $3 packet-thread cpu, then butterflyd options: start, wait for its API
    local name=$1 ep=$2 cpu=$3 pid
    shift 3
    bf_port_free "${ep##*:}" || die "port ${ep##*:} of $ep is in use by another process (set BF_EP_A / BF_EP_B)"
    mkdir -p "$WD/$name/sock"
    # shellcheck disable=SC2086 # BF_DAEMON_OPTS: extra butterflyd options, split on blanks
    "$BFD" -s "$WD/$name/sock" -e "$ep" --event-store "file:$WD/$name/events" --no-syslog -l error \
        --graph-cpu-core "$cpu" "$@" ${BF_DAEMON_OPTS:-} >"$WD/$name/log" 2>&1 &
    pid=$!
    BF_PIDS="$BF_PIDS $pid"
    BF_EPS="$BF_EPS $ep"
    for _ in $(seq 1 150); do
        "$BF" -e "$ep" -t 200 status >/dev/null 2>&1 && break
        [ -d "/proc/$pid" ] || { cat "$WD/$name/log" >&2; die "butterflyd $name exited"; }
        sleep 0.1
    done
    if [ "$DATAPLANE_CHECKED" = 0 ]; then
        "$BF" -e "$ep" -t 5000 status dataplane --json >/dev/null 2>&1 ||
            die "$BFD / $BF do not answer 'butterfly status dataplane' (stale build? dotnet build Butterfly.sln -c Release)"
        DATAPLANE_CHECKED=1
    fi
}

bf_nic() {  # $1 endpoint, $2 id, $3 mac [nic add options...]; prints the NIC's vhost-user socket (nic add's answer)
    local ep=$1 id=$2 mac=$3
    shift 3
    [ $# -eq 0 ] && set -- --bypass-filtering
    "$BF" -e "$ep" -t 5000 nic add --id "$id" --mac "$mac" --vni 1 "$@" ||
        { cat "$WD"/bf-*/log >&2; die "nic add $id failed"; }
}

bf_firewall() {  # $1 endpoint: the conntrack variant's group, like ovs_dpdk_up.sh conntrack's rules
    local ep=$1 p
    "$BF" -e "$ep" -t 5000 sg add web || die "sg add failed"
    for p in 22 80 443 8080; do
        "$BF" -e "$ep" -t 5000 sg rule add web --ip-proto tcp --port "$p" --cidr 0.0.0.0/0 || die "sg rule add failed"
    done
    "$BF" -e "$ep" -t 5000 sg rule add web --ip-proto udp --port 53 --cidr 0.0.0.0/0 || die "sg rule add failed"
    "$BF" -e "$ep" -t 5000 sg rule add web --ip-proto icmp --cidr 0.0.0.0/0 || die "sg rule add failed"
    "$BF" -e "$ep" -t 5000 sg rule add web --ip-proto udp --port 9 --cidr 198.18.0.0/15 || die "sg rule add failed"
}

# The generator's source addresses (loopgen.sh): 198.18.0.2 and, with multi-flow, 198.18.<0..255>.3.
bf_generator_ips() {
    local x
    printf -- '--ip 198.18.0.2'
    for x in $(seq 0 255); do printf -- ' --ip 198.18.%d.3' "$x"; done
}

bf_up() {  # $1 variant
    bf_eal_mem
    case "$1" in
    l2)
        bf_start bf-l2 "$BF_EP_A" 1 -i 127.0.0.1 \
            --dpdk-args "$BF_MEM --no-pci --file-prefix bfloop$$ --vdev=net_null0,no-rx=1"
        local sa sb
        sa=$(bf_nic "$BF_EP_A" a "$MAC_A") || die "nic add a failed"
        sb=$(bf_nic "$BF_EP_A" b "$MAC_B") || die "nic add b failed"
        SOCKS="$sa $sb"
        ;;
    conntrack)
        bf_start bf-ct "$BF_EP_A" 1 -i 127.0.0.1 \
            --dpdk-args "$BF_MEM --no-pci --file-prefix bfloop$$ --vdev=net_null0,no-rx=1"
        bf_firewall "$BF_EP_A"
        local sa sb
        # shellcheck disable=SC2046 # one --ip per address
        sa=$(bf_nic "$BF_EP_A" a "$MAC_A" --sg web $(bf_generator_ips)) || die "nic add a failed"
        # shellcheck disable=SC2046
        sb=$(bf_nic "$BF_EP_A" b "$MAC_B" --sg web $(bf_generator_ips)) || die "nic add b failed"
        SOCKS="$sa $sb"
        ;;
    vxlan)
        local ul="$WD/underlay.sock" va vb sa sb memb="$BF_MEM"
        case "$VXLAN_UNDERLAY" in
        memif)
            va="net_memif0,role=server,socket=$ul,socket-abstract=no,mac=02:00:00:00:fe:01"
            vb="net_memif0,role=client,socket=$ul,socket-abstract=no,mac=02:00:00:00:fe:02"
            if [ "$VXLAN_ZC" = 1 ]; then
                # zero-copy exposes B's EAL memory to A: it needs one file per memseg list, and
                # EAL refuses --huge-unlink with that (bf_down removes the files instead)
                [[ "$BF_MEM" == *--huge-dir* ]] || die "VXLAN_ZC=1 needs butterflyd on hugepages (BF_HUGE=1)"
                vb="$vb,zero-copy=yes" memb="${BF_MEM/ --huge-unlink/} --single-file-segments"
            fi ;;
        vhost)
            va="net_vhost0,iface=$ul,queues=1"
            vb="net_virtio_user0,path=$ul,queues=1,queue_size=1024,mac=02:00:00:00:fe:02" ;;
        *) die "VXLAN_UNDERLAY must be memif or vhost" ;;
        esac
        # A owns the underlay socket: B (the client side) must find it when its EAL starts.
        bf_start bf-vxa "$BF_EP_A" 1 -i 172.31.254.1 --vxlan-peer 172.31.254.2 \
            --dpdk-args "$BF_MEM --no-pci --file-prefix bfvxa$$ --vdev=$va"
        [ -S "$ul" ] || die "daemon A did not create the underlay socket $ul"
        bf_start bf-vxb "$BF_EP_B" "$VXLAN_B_CPU" -i 172.31.254.2 --vxlan-peer 172.31.254.1 \
            --dpdk-args "$memb --no-pci --file-prefix bfvxb$$ --vdev=$vb"
        sa=$(bf_nic "$BF_EP_A" a "$MAC_A") || die "nic add a failed"
        sb=$(bf_nic "$BF_EP_B" b "$MAC_B") || die "nic add b failed"
        SOCKS="$sa $sb"
        # priming: the first frames make A and B resolve each other (ARP) and learn the MACs
        LOOPGEN_FWD=5tswap LOOPGEN_CPU=0 LOOPGEN_WARMUP=1 "$HERE/loopgen.sh" $SOCKS 64 1 \
            >/dev/null 2>>"$WD/loopgen.err"
        ;;
    esac
}

bf_down() {
    local p
    for p in $BF_PIDS; do kill -TERM "$p" 2>/dev/null; done
    for p in $BF_PIDS; do
        for _ in $(seq 1 150); do [ -d "/proc/$p" ] || break; sleep 0.1; done
        [ -d "/proc/$p" ] && kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    BF_PIDS="" BF_EPS=""
    rm -rf "$WD"/bf-* "$WD/underlay.sock"
    # the hugepage files of a daemon that ran without --huge-unlink (zero-copy memif client)
    [ -n "$BF_HUGE_DIR" ] && rm -f "$BF_HUGE_DIR"/bfvxb$$map_* 2>/dev/null
}

bf_packet_tid() {  # $1 daemon pid: the kernel id of its packet thread (comm bf-packet)
    local t
    for t in /proc/"$1"/task/*; do
        [ "$(cat "$t/comm" 2>/dev/null)" = bf-packet ] && { echo "${t##*/}"; return 0; }
    done
    return 1
}

idle_cpu() {  # $1 daemon pid, $2 seconds: one line on the packet thread's CPU use, no traffic
    local tid hz u0 u1 s0 s1 w0 w1 t0 t1
    tid=$(bf_packet_tid "$1") || { echo "idle: no bf-packet thread in pid $1"; return 1; }
    hz=$(getconf CLK_TCK)
    # utime + stime are fields 14 and 15 of stat, i.e. 12 and 13 after "pid (comm) "
    u0=$(sed 's/.*) //' "/proc/$1/task/$tid/stat" | awk '{print $12 + $13}')
    s0=$(cut -d' ' -f1 "/proc/$1/task/$tid/schedstat")
    w0=$(awk '/^voluntary_ctxt_switches/ {print $2}' "/proc/$1/task/$tid/status")
    t0=$(date +%s%N)
    sleep "$2"
    u1=$(sed 's/.*) //' "/proc/$1/task/$tid/stat" | awk '{print $12 + $13}')
    s1=$(cut -d' ' -f1 "/proc/$1/task/$tid/schedstat")
    w1=$(awk '/^voluntary_ctxt_switches/ {print $2}' "/proc/$1/task/$tid/status")
    t1=$(date +%s%N)
    awk -v u=$((u1 - u0)) -v hz="$hz" -v s=$((s1 - s0)) -v w=$((w1 - w0)) -v ns=$((t1 - t0)) 'BEGIN {
        printf "idle: bf-packet thread used %.2f %% of a CPU over %.1f s without traffic (utime+stime %d ticks; on-CPU by schedstat %.2f %%; %.0f wake-ups/s)\n",
            100 * u / hz / (ns / 1e9), ns / 1e9, u, 100 * s / ns, w / (ns / 1e9) }'
}

# ---- Open vSwitch-DPDK (the reference scripts, PMD on cpu 1, main thread on cpu 0) ----

ovs_up() {  # $1 variant (vxlan2: the two-instance VXLAN topology)
    if [ "$1" = vxlan2 ]; then
        ovs_vxlan2_up
        return
    fi
    SOCKS=$(OVS_PMD_CPU=1 OVS_LCORE_CPU=0 "$HERE/ovs_dpdk_up.sh" "$1" "$WD/ovs" 2>>"$WD/ovs.log") ||
        { tail "$WD/ovs.log" >&2; die "ovs_dpdk_up.sh $1 failed"; }
    OVS_UP=1
    OVS_CTLS=$(ls "$WD"/ovs/run/ovs-vswitchd-dpdk.*.ctl | head -1)
}

ovs_vxlan2_up() {  # two ovs-vswitchd, one VTEP each, underlays joined by memif (see the top)
    local ul="$WD/ovs-underlay.sock" x sock opts
    SOCKS="" OVS_CTLS=""
    OVS_UP=1
    for x in a b; do
        if [ $x = a ]; then
            opts=(OVS_VTEP_IP=172.31.255.1 OVS_VTEP_MAC=02:00:00:00:fd:01 OVS_PEER_IP=172.31.255.2 OVS_PEER_MAC=02:00:00:00:fd:02
                  "OVS_UNDERLAY=net_memif0,role=server,socket=$ul,socket-abstract=no,mac=02:00:00:00:fe:01")
        elif [ "$VXLAN_ZC" = 1 ]; then
            opts=(OVS_VTEP_IP=172.31.255.2 OVS_VTEP_MAC=02:00:00:00:fd:02 OVS_PEER_IP=172.31.255.1 OVS_PEER_MAC=02:00:00:00:fd:01
                  "OVS_UNDERLAY=net_memif0,role=client,socket=$ul,socket-abstract=no,mac=02:00:00:00:fe:02,zero-copy=yes"
                  OVS_EAL_EXTRA=--single-file-segments)
        else
            opts=(OVS_VTEP_IP=172.31.255.2 OVS_VTEP_MAC=02:00:00:00:fd:02 OVS_PEER_IP=172.31.255.1 OVS_PEER_MAC=02:00:00:00:fd:01
                  "OVS_UNDERLAY=net_memif0,role=client,socket=$ul,socket-abstract=no,mac=02:00:00:00:fe:02")
        fi
        # 512 MB of hugepages each (two instances), the generator's pages are not OVS's business here
        sock=$(env "${opts[@]}" OVS_NETNS="bfovs$x$$" OVS_SOCKET_MEM=512 OVS_EXTRA_PAGES=0 \
            OVS_PMD_MAXSLEEP="$OVS2_MAXSLEEP" OVS_PMD_CPU=1 OVS_LCORE_CPU=0 \
            "$HERE/ovs_dpdk_up.sh" vtep "$WD/ovs-$x" 2>>"$WD/ovs.log") ||
            { tail "$WD/ovs.log" >&2; die "ovs_dpdk_up.sh vtep ($x) failed"; }
        SOCKS="$SOCKS $sock"
        OVS_CTLS="$OVS_CTLS $(ls "$WD"/ovs-$x/run/ovs-vswitchd-dpdk.*.ctl | head -1)"
    done
    SOCKS=${SOCKS# } OVS_CTLS=${OVS_CTLS# }
    # the memif link comes up once the client has connected and both ends configured their rings
    for _ in $(seq 1 100); do
        [ "$(ovs_get_link a)/$(ovs_get_link b)" = up/up ] && break
        sleep 0.1
    done
    [ "$(ovs_get_link a)/$(ovs_get_link b)" = up/up ] || die "OVS memif underlay did not come up"
}

ovs_get_link() {  # $1 a|b: link state of the instance's underlay port
    ovs-vsctl --db="unix:$WD/ovs-$1/run/db.sock" --timeout=5 get Interface ul link_state 2>/dev/null
}

ovs_down() {
    [ "$OVS_UP" = 1 ] || [ -d "$WD/ovs" ] || [ -d "$WD/ovs-a" ] || return 0
    local d
    # the last one up goes first: each gives back the hugepages it raised, in reverse order
    for d in "$WD/ovs" "$WD/ovs-b" "$WD/ovs-a"; do
        [ -d "$d" ] && "$HERE/ovs_dpdk_down.sh" "$d" >/dev/null 2>&1
    done
    rm -f "$WD/ovs-underlay.sock"
    OVS_UP=0 OVS_CTLS=""
}

# ---- packet-thread counters: cleared when the measured interval starts, read when it ends ----

stats_clear() {  # $1 bf|ovs
    local ep pids=""
    if [ "$1" = ovs ]; then
        for ep in $OVS_CTLS; do ovs-appctl -t "$ep" dpif-netdev/pmd-stats-clear >/dev/null; done
        return
    fi
    for ep in $BF_EPS; do
        "$BF" -e "$ep" -t 5000 status dataplane --clear >/dev/null &
        pids="$pids $!"
    done
    for ep in $pids; do wait "$ep"; done
}

stats_read() {  # $1 bf|ovs: prints "cycles_per_packet,busy_percent,drops", per thread '/'-separated
    local ep i=0 pids=""
    if [ "$1" = ovs ]; then
        # one PMD per instance; two instances (vxlan2) print "A/B" like two butterflyd daemons
        local cyc="" busy="" line
        for ep in $OVS_CTLS; do
            ovs-appctl -t "$ep" dpif-netdev/pmd-perf-show >"$WD/perf.txt" 2>&1
            cat "$WD/perf.txt" >>"$WD/ovs-perf.log"
            # "Rx packets: N (x Kpps, C cycles/pkt)"; busy = busy iterations' share of the used
            # cycles times the used cycles' share of all cycles
            line=$(awk '/Used TSC cycles:/ {u = $0; sub(/.*\( */, "", u); sub(/ *%.*/, "", u)}
                 /busy iterations:/ {b = $0; sub(/.*\( */, "", b); sub(/ *%.*/, "", b)}
                 /Rx packets:/ {c = $0; sub(/.*, */, "", c); sub(/ *cycles.*/, "", c)}
                 END {printf "%s,%s", c, (u != "" && b != "") ? sprintf("%.1f", u * b / 100) : ""}' "$WD/perf.txt")
            cyc="$cyc/${line%%,*}" busy="$busy/${line#*,}"
        done
        echo "${cyc#/},${busy#/},"
        return
    fi
    for ep in $BF_EPS; do
        "$BF" -e "$ep" -t 5000 status dataplane --json >"$WD/dp.$i.json" &
        pids="$pids $!"
        i=$((i + 1))
    done
    for ep in $pids; do wait "$ep"; done
    cat "$WD"/dp.*.json >>"$WD/dataplane.log"
    # vxlan: a frame passes once through each daemon (A encapsulates what B decapsulates and
    # back), so its cost is the sum of the threads' cycles per packet (summed by run.sh)
    jq -rs '[(map((.cycles_per_packet // 0) * 10 | round / 10 | tostring) | join("/")),
             (map((.busy_percent // 0) * 10 | round / 10 | tostring) | join("/")),
             (map(.drops | to_entries | map(.value) | add // 0) | add)] | map(tostring) | join(",")' \
        "$WD"/dp.*.json
    rm -f "$WD"/dp.*.json
}

# ---- one loop measurement ----

loopgen_log() {  # $1 loopgen pid: path of its testpmd's log (its stdout), once testpmd runs
    local c f
    for _ in $(seq 1 600); do
        [ -d "/proc/$1" ] || return 1
        for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
            if [ "$(cat "/proc/$c/comm" 2>/dev/null)" = dpdk-testpmd ]; then
                f=$(readlink "/proc/$c/fd/1") && { echo "$f"; return 0; }
            fi
        done
        sleep 0.1
    done
    return 1
}

wait_rx_lines() {  # $1 log, $2 count, $3 loopgen pid: until the log holds $2 "Rx-pps" lines
    local n
    while :; do
        n=$(grep -c 'Rx-pps' "$1" 2>/dev/null)
        [ "${n:-0}" -ge "$2" ] && return 0
        [ -d "/proc/$3" ] || return 1
        sleep 0.1
    done
}

measure() {  # $1 label, $2 bf|ovs, $3 frame size, $4 sockA, $5 sockB
    local lg log stats="" pps det cyc busy drops
    # loopgen prints "show port stats" once as the reference point, then once per second for
    # SECS seconds (two Rx-pps lines each): the counters are cleared at the reference point and
    # read after the last sample, so they cover the interval the Mpps figure comes from.
    LOOPGEN_FWD=5tswap LOOPGEN_CPU=0 "$HERE/loopgen.sh" "$4" "$5" "$3" "$SECS" \
        >"$WD/lg.out" 2>"$WD/lg.err" &
    lg=$!
    if log=$(loopgen_log "$lg") && wait_rx_lines "$log" 2 "$lg"; then
        stats_clear "$2"
        wait_rx_lines "$log" $((2 * (SECS + 1))) "$lg" && stats=$(stats_read "$2")
    fi
    wait "$lg"
    cat "$WD/lg.err" >>"$WD/loopgen.err"
    pps=$(sed -n 's/^pps=//p' "$WD/lg.out")
    det=$(grep '^loopgen:' "$WD/lg.err" | tail -1)
    echo "$1,$3,${pps:-0},${stats:-,,}" >>"$WD/results.csv"
    IFS=, read -r cyc busy drops <<<"${stats:-,,}"
    printf '  %-16s %5s B  %7.3f Mpps  %13s cyc/pkt  busy %-11s %s\n' "$1" "$3" \
        "$(echo "${pps:-0} / 1000000" | bc -l)" "${cyc:-?}" "${busy:-?}%" \
        "$([ -n "$drops" ] && [ "$drops" != 0 ] && echo "drops=$drops ")$(sed -n 's/.*\(lost_in_sut=[-0-9]*\).*\(mem=[a-z]*\).*/\1 \2/p' <<<"$det")"
}
