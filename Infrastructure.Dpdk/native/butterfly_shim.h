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

/* Order of the values bf_port_stats() writes. */
enum bf_stat {
    BF_STAT_IPACKETS, BF_STAT_OPACKETS, BF_STAT_IBYTES, BF_STAT_OBYTES,
    BF_STAT_IMISSED, BF_STAT_IERRORS, BF_STAT_OERRORS, BF_STAT_RX_NOMBUF,
    BF_STAT_COUNT
};
/* Writes BF_STAT_COUNT counters of rte_eth_stats_get() into out. */
int bf_port_stats(uint16_t port, uint64_t out[BF_STAT_COUNT]);

/* ---- per burst (packet thread; short, never block) ---- */

uint16_t bf_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
uint16_t bf_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
void bf_pktmbuf_free_bulk(struct rte_mbuf **pkts, unsigned int n);

/* ---- mbuf layout (read once at start, folded into constants by the JIT) ---- */

enum bf_mbuf_field {
    BF_MBUF_BUF_ADDR, BF_MBUF_DATA_OFF, BF_MBUF_NB_SEGS, BF_MBUF_PORT, BF_MBUF_OL_FLAGS,
    BF_MBUF_PKT_LEN, BF_MBUF_DATA_LEN, BF_MBUF_NEXT, BF_MBUF_SIZE
};
/* offsetof() of a field of struct rte_mbuf (BF_MBUF_SIZE: its sizeof), -1 if unknown. */
int bf_mbuf_offset(int field);

#endif /* BUTTERFLY_SHIM_H */
