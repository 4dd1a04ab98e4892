/*
 * butterfly_shim.h — the whole native surface Butterfly needs from DPDK 22.11.
 *
 * Why it exists: P/Invoke cannot call DPDK's static-inline functions (the burst
 * calls), cannot fill DPDK's large configuration structures without mirroring
 * their layout, and a single library keeps the managed side to one DllImport name.
 * Everything else (policy, names, retries, error texts) lives in C#.
 *
 * Conventions:
 *   - Functions returning int return 0 (or a non-negative value) on success and
 *     -errno (a DPDK or libc error number) on failure; bf_strerror() names it.
 *   - Strings are NUL-terminated UTF-8 owned by the caller; the shim copies what
 *     DPDK keeps.
 *   - "control thread": any thread except the packet thread, one at a time.
 *     "packet thread": the thread registered with bf_thread_register().
 *     The per-burst calls are short and never block, so the managed side calls
 *     them with [SuppressGCTransition]; every other call may block.
 */
#ifndef BUTTERFLY_SHIM_H
#define BUTTERFLY_SHIM_H

#include <stddef.h>
#include <stdint.h>

struct rte_mbuf;
struct rte_mempool;

/* ---- EAL (control thread) ---- */

/* rte_eal_init() on a copy of argv (DPDK keeps pointers into it). Once per process. */
int bf_eal_init(int argc, const char *const *argv);
/* rte_eal_cleanup(); every port must be closed first. */
int bf_eal_cleanup(void);
/* Copies EAL's runtime directory (/var/run/dpdk/<prefix>) into buf. */
int bf_eal_runtime_dir(char *buf, size_t len);
/* Copies rte_strerror(errnum) into buf (errnum positive). */
void bf_strerror(int errnum, char *buf, size_t len);
/* RTE_MAX_ETHPORTS of this DPDK build. */
int bf_max_ports(void);
/* The DPDK drivers linked into the shim (blank-separated) when DPDK is linked statically
 * (Makefile, DPDK_LINK=static), NULL when EAL loads the shared plugin directory. */
const char *bf_dpdk_static_drivers(void);
/* 1 if path is a unix socket (lstat, no symlink follow), 0 if it is something else, -errno. */
int bf_is_socket(const char *path);

/* ---- threads ---- */

/* Registers the calling thread as a non-EAL lcore; returns its lcore id. */
int bf_thread_register(void);
/* Undoes bf_thread_register() on the calling thread. */
void bf_thread_unregister(void);

/* ---- memory (control thread) ---- */

/* A packet mbuf pool of n mbufs with the default data room; *out is set on success. */
int bf_mempool_create(const char *name, unsigned int n, struct rte_mempool **out);
void bf_mempool_free(struct rte_mempool *pool);

/* ---- ports (control thread) ---- */

/* Hotplugs a virtual device (rte_eal_hotplug_add on the vdev bus); returns its port id. */
int bf_vdev_add(const char *name, const char *args);
/* Removes a virtual device added by bf_vdev_add() (after bf_port_close). */
int bf_vdev_remove(const char *name);
/* Port id of a device name, or -ENODEV. */
int bf_port_by_name(const char *name);
/* Next valid port id at or after port, or -ENODEV when there is none. */
int bf_port_next(uint16_t port);
/* Copies the device name of a port into buf. */
int bf_port_name(uint16_t port, char *buf, size_t len);
/*
 * One RX and one TX queue with nb_rxd / nb_txd descriptors (adjusted to the
 * device's limits), RX buffers from pool; promiscuous mode when promisc != 0.
 */
int bf_port_setup(uint16_t port, struct rte_mempool *pool, uint16_t nb_rxd, uint16_t nb_txd, int promisc);
int bf_port_start(uint16_t port);
int bf_port_stop(uint16_t port);
int bf_port_close(uint16_t port);
/* Current MTU and the largest rte_eth_dev_set_mtu() accepts (max_mtu and max_rx_pktlen). */
int bf_port_mtu(uint16_t port, uint16_t *mtu, uint16_t *max_mtu);
int bf_port_set_mtu(uint16_t port, uint16_t mtu);
int bf_port_mac(uint16_t port, uint8_t mac[6]);
/*
 * What a port runs on: the index of the Linux interface it is bound to (rte_eth_dev_info's
 * if_index: af_packet, af_xdp and tap set it; 0 for a port of its own, such as a physical
 * NIC), the name of the interface (empty when none), the driver's name (net_af_packet, ...)
 * and the device arguments it was created with (empty when none).
 */
int bf_port_backing(uint16_t port, uint32_t *if_index, char *iface, size_t iface_len,
                    char *driver, size_t driver_len, char *args, size_t args_len);

/* ---- Linux interfaces (netif.c; control thread, in the caller's network namespace) ---- */

/* The MTU of interface ifname (SIOCGIFMTU). */
int bf_if_mtu(const char *ifname, uint32_t *mtu);
/* Sets the MTU of interface ifname (SIOCSIFMTU): what the kernel lets it send and receive. */
int bf_if_set_mtu(const char *ifname, uint32_t mtu);

/* Order of the values bf_port_stats() writes. */
enum bf_stat {
    BF_STAT_IPACKETS, BF_STAT_OPACKETS, BF_STAT_IBYTES, BF_STAT_OBYTES,
    BF_STAT_IMISSED, BF_STAT_IERRORS, BF_STAT_OERRORS, BF_STAT_RX_NOMBUF,
    BF_STAT_COUNT
};
/* Writes BF_STAT_COUNT counters of rte_eth_stats_get() into out. */
int bf_port_stats(uint16_t port, uint64_t out[BF_STAT_COUNT]);

/* ---- vhost-user NICs (vhost.c: the vhost library directly, no ethdev port) ---- */

/* Slots in the vhost NIC table: the most vhost-user NICs at once. */
#define BF_VHOST_SLOTS 4096
int bf_vhost_slots(void);

/* Bits of bf_vhost_info.state. */
enum bf_vhost_state {
    BF_VHOST_CONNECTED = 1, /* a frontend is connected to the socket */
    BF_VHOST_RUNNING = 2,   /* its rings are set up: bursts reach it */
};

struct bf_vhost_info {
    uint32_t state;      /* enum bf_vhost_state bits */
    int32_t vid;         /* vhost device id of the connection, -1 when none */
    uint64_t vrings;     /* bit per enabled virtqueue (0: to the guest, 1: from it, ...) */
    uint64_t offered;    /* virtio features the socket offers */
    uint64_t negotiated; /* features agreed with the frontend (0 until RUNNING) */
};

/*
 * Control thread, once after EAL init. Registers the shim's own "wake" socket at wake_socket
 * (a path it owns, e.g. in EAL's runtime directory), used to make the vhost library compact
 * its event set after sockets were removed (see vhost.c). Without it (an error here) NICs
 * still work, but re-adding many after removing many may wait up to a second.
 */
int bf_vhost_init(const char *wake_socket);
/* Control thread: unregisters the wake socket. */
void bf_vhost_fini(void);
/*
 * Control thread, after creating sockets: has the library's events thread rebuild its poll
 * set now rather than within a second, so the new sockets accept frontends at once. Does not
 * wait.
 */
void bf_vhost_kick(void);
/*
 * Control thread. Makes a vhost-user server socket at path (a stale socket file there is
 * unlinked first) in the lowest free slot and returns the slot, or -ENOSPC (no slot),
 * -ENAMETOOLONG, -EIO (the library refused to register the path), -EADDRNOTAVAIL (it could
 * not bind/listen: a file in the way, or its event set is full). offer_tso = 0 stops
 * offering TCP segmentation offload (VIRTIO_NET_F_HOST_TSO4/6, _GSO, _HOST_ECN); UDP
 * fragmentation offload (VIRTIO_NET_F_HOST_UFO) is never offered.
 */
int bf_vhost_create(const char *path, int offer_tso);
/*
 * Control thread. Closes the connection and the socket of slot (unlinking the file) and
 * frees the slot; retries for up to a second while the library is tearing a connection
 * down (then -EBUSY). The packet thread must no longer poll the slot.
 */
int bf_vhost_destroy(int slot);
/* Control thread. The state of a slot; -ENOENT when it is free. */
int bf_vhost_info(int slot, struct bf_vhost_info *out);

/* ---- packet thread handshake ---- */

/* Packet thread: it polls (1) or has stopped (0); nothing waits on a stopped thread. */
void bf_packet_thread_online(int online);
/* Packet thread: the end of a polling round, where it holds no port, slot or vid. */
void bf_quiescent(void);
/* Any other thread: returns once the packet thread has passed bf_quiescent() after the call
 * began (at once when it is offline). Also used by the vhost destroy_device callback. */
void bf_wait_quiescent(void);

/* ---- per burst (packet thread; short, never block) ---- */

uint16_t bf_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
uint16_t bf_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
void bf_pktmbuf_free_bulk(struct rte_mbuf **pkts, unsigned int n);
/* A deep copy of every segment of m into one chain of fresh mbufs from pool (rte_pktmbuf_copy),
 * for flooding one frame to several ports; NULL when the pool is empty. */
struct rte_mbuf *bf_pktmbuf_copy(const struct rte_mbuf *m, struct rte_mempool *pool);
/* A fresh empty mbuf from pool (for ARP/ND requests the packet thread sends), or NULL. */
struct rte_mbuf *bf_pktmbuf_alloc(struct rte_mempool *pool);
/* Frames the guest of slot sent (its virtqueue 1), copied into mbufs from pool; 0 when no
 * frontend is running. */
uint16_t bf_vhost_dequeue(uint32_t slot, struct rte_mempool *pool, struct rte_mbuf **pkts, uint16_t n);
/* Copies frames to the guest of slot (its virtqueue 0); returns how many fit. The mbufs
 * are not freed: the caller frees all n. */
uint16_t bf_vhost_enqueue(uint32_t slot, struct rte_mbuf **pkts, uint16_t n);
/* 1 when a frontend's rings are running on slot (bursts reach it), else 0: floods skip the
 * NICs whose guest is not there rather than copy frames for nobody. */
int bf_vhost_running(uint32_t slot);
/* The virtio features the guest of slot negotiated (VIRTIO_NET_F_GUEST_CSUM, _GUEST_TSO4, ...),
 * 0 when no frontend is running: whether a frame may keep its checksum/TSO request on the way
 * to that guest, or must be finished in software first. */
uint64_t bf_vhost_guest_features(uint32_t slot);

/* ---- offload requests in an mbuf (offload.c; read once at start) ---- */

enum bf_offload_const {
    BF_OL_TX_OFFLOAD_OFFSET, /* offsetof(struct rte_mbuf, tx_offload) */
    BF_OL_L2_LEN_SHIFT, BF_OL_L3_LEN_SHIFT, BF_OL_L4_LEN_SHIFT, BF_OL_TSO_SEGSZ_SHIFT,
    BF_OL_RX_L4_CKSUM_MASK, BF_OL_RX_L4_CKSUM_NONE, BF_OL_RX_LRO,
    BF_OL_TX_TCP_SEG, BF_OL_TX_UDP_SEG, BF_OL_TX_L4_MASK, BF_OL_TX_TCP_CKSUM, BF_OL_TX_UDP_CKSUM,
    BF_OL_TX_IP_CKSUM, BF_OL_TX_IPV4, BF_OL_TX_IPV6
};
/* An RTE_MBUF_F_* flag, the tx_offload field's offset or one of its bit-field shifts
 * (RTE_MBUF_*_OFS) of this DPDK build; UINT64_MAX for an unknown constant. */
uint64_t bf_offload_const(int which);

/* ---- mbuf layout (read once at start, folded into constants by the JIT) ---- */

enum bf_mbuf_field {
    BF_MBUF_BUF_ADDR, BF_MBUF_DATA_OFF, BF_MBUF_NB_SEGS, BF_MBUF_PORT, BF_MBUF_OL_FLAGS,
    BF_MBUF_PKT_LEN, BF_MBUF_DATA_LEN, BF_MBUF_NEXT, BF_MBUF_SIZE, BF_MBUF_BUF_LEN
};
/* offsetof() of a field of struct rte_mbuf (BF_MBUF_SIZE: its sizeof), -1 if unknown. */
int bf_mbuf_offset(int field);

/* ---- clock ---- */

/* Cycles per second of the TSC as EAL measured it at init (rte_get_tsc_hz); 0 if unknown.
 * Turns the packet thread's clock ticks into cycles for its statistics. */
uint64_t bf_tsc_hz(void);

#endif /* BUTTERFLY_SHIM_H */
