/*
 * shim.c — implementation of butterfly_shim.h over DPDK 22.11.
 * Each function is a thin translation: no policy, no logging, errors as -errno.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <net/if.h>

#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_devargs.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mbuf_pool_ops.h>
#include <rte_mempool.h>

#include "butterfly_shim.h"

/* DPDK reports most failures through rte_errno; make sure a failure is never 0. */
static int neg_rte_errno(void)
{
    return rte_errno > 0 ? -rte_errno : -EIO;
}

static int copy_string(char *buf, size_t len, const char *s)
{
    if (buf == NULL || len == 0)
        return -EINVAL;
    if (snprintf(buf, len, "%s", s) >= (int)len)
        return -ENAMETOOLONG;
    return 0;
}

int bf_eal_init(int argc, const char *const *argv)
{
    /* EAL reorders argv and keeps pointers into it (e.g. the program name), so it
     * gets its own copy that lives as long as the process. */
    char **copy = calloc((size_t)argc + 1, sizeof(char *));
    if (copy == NULL)
        return -ENOMEM;
    for (int i = 0; i < argc; i++) {
        copy[i] = strdup(argv[i]);
        if (copy[i] == NULL)
            return -ENOMEM;
    }
    int ret = rte_eal_init(argc, copy);
    return ret < 0 ? neg_rte_errno() : 0;
}

int bf_eal_cleanup(void)
{
    return rte_eal_cleanup();
}

int bf_eal_runtime_dir(char *buf, size_t len)
{
    return copy_string(buf, len, rte_eal_get_runtime_dir());
}

void bf_strerror(int errnum, char *buf, size_t len)
{
    copy_string(buf, len, rte_strerror(errnum));
}

int bf_max_ports(void)
{
    return RTE_MAX_ETHPORTS;
}

const char *bf_dpdk_static_drivers(void)
{
#ifdef BF_DPDK_STATIC_DRIVERS
    return BF_DPDK_STATIC_DRIVERS;
#else
    return NULL;
#endif
}

int bf_is_socket(const char *path)
{
    /* struct stat differs between architectures, so the test is made here. */
    struct stat st;
    if (lstat(path, &st) != 0)
        return -errno;
    return S_ISSOCK(st.st_mode) ? 1 : 0;
}

int bf_thread_register(void)
{
    if (rte_thread_register() != 0)
        return neg_rte_errno();
    return (int)rte_lcore_id();
}

void bf_thread_unregister(void)
{
    rte_thread_unregister();
}

int bf_mempool_create(const char *name, unsigned int n, struct rte_mempool **out)
{
    /* rte_pktmbuf_pool_create() with one difference: without hugepages EAL's memory is 4 KiB
     * pages that no device DMAs into by physical address, yet the default populate keeps every
     * object inside one page, so each 2.3 KiB mbuf took a whole page (43 % of the pool wasted).
     * RTE_MEMPOOL_F_NO_IOVA_CONTIG packs them. With hugepages the default layout is kept. */
    struct rte_pktmbuf_pool_private priv = {
        .mbuf_data_room_size = RTE_MBUF_DEFAULT_BUF_SIZE,
        .mbuf_priv_size = 0,
    };
    unsigned int flags = rte_eal_has_hugepages() ? 0 : RTE_MEMPOOL_F_NO_IOVA_CONTIG;
    struct rte_mempool *mp = rte_mempool_create_empty(name, n, sizeof(struct rte_mbuf) + RTE_MBUF_DEFAULT_BUF_SIZE,
                                                      RTE_MEMPOOL_CACHE_MAX_SIZE, sizeof(priv),
                                                      (int)rte_socket_id(), flags);
    if (mp == NULL)
        return neg_rte_errno();
    int ret = rte_mempool_set_ops_byname(mp, rte_mbuf_best_mempool_ops(), NULL);
    if (ret != 0)
    {
        rte_mempool_free(mp);
        return ret;
    }
    rte_pktmbuf_pool_init(mp, &priv);
    ret = rte_mempool_populate_default(mp);
    if (ret < 0)
    {
        rte_mempool_free(mp);
        return ret;
    }
    rte_mempool_obj_iter(mp, rte_pktmbuf_init, NULL);
    *out = mp;
    return 0;
}

void bf_mempool_free(struct rte_mempool *pool)
{
    rte_mempool_free(pool);
}

int bf_vdev_add(const char *name, const char *args)
{
    int ret = rte_eal_hotplug_add("vdev", name, args);
    if (ret < 0)
        return ret;
    return bf_port_by_name(name);
}

int bf_vdev_remove(const char *name)
{
    return rte_eal_hotplug_remove("vdev", name);
}

int bf_port_by_name(const char *name)
{
    uint16_t port;
    if (rte_eth_dev_get_port_by_name(name, &port) != 0)
        return -ENODEV;
    return port;
}

int bf_port_next(uint16_t port)
{
    uint64_t next = rte_eth_find_next(port);
    return next >= RTE_MAX_ETHPORTS ? -ENODEV : (int)next;
}

int bf_port_name(uint16_t port, char *buf, size_t len)
{
    char name[RTE_ETH_NAME_MAX_LEN];
    int ret = rte_eth_dev_get_name_by_port(port, name);
    return ret < 0 ? ret : copy_string(buf, len, name);
}

int bf_port_setup(uint16_t port, struct rte_mempool *pool, uint16_t nb_rxd, uint16_t nb_txd, int promisc)
{
    struct rte_eth_conf conf;
    memset(&conf, 0, sizeof(conf));
    int ret = rte_eth_dev_configure(port, 1, 1, &conf);
    if (ret < 0)
        return ret;
    ret = rte_eth_dev_adjust_nb_rx_tx_desc(port, &nb_rxd, &nb_txd);
    if (ret < 0)
        return ret;
    int socket = rte_eth_dev_socket_id(port);
    if (socket < 0)
        socket = (int)rte_socket_id();
    ret = rte_eth_rx_queue_setup(port, 0, nb_rxd, (unsigned int)socket, NULL, pool);
    if (ret < 0)
        return ret;
    ret = rte_eth_tx_queue_setup(port, 0, nb_txd, (unsigned int)socket, NULL);
    if (ret < 0)
        return ret;
    /* Some PMDs (vhost) have no promiscuous switch; that is not a failure. */
    if (promisc)
        rte_eth_promiscuous_enable(port);
    return 0;
}

int bf_port_start(uint16_t port)
{
    return rte_eth_dev_start(port);
}

int bf_port_stop(uint16_t port)
{
    return rte_eth_dev_stop(port);
}

int bf_port_close(uint16_t port)
{
    return rte_eth_dev_close(port);
}

int bf_port_mtu(uint16_t port, uint16_t *mtu, uint16_t *max_mtu)
{
    struct rte_eth_dev_info info;
    int ret = rte_eth_dev_info_get(port, &info);
    if (ret < 0)
        return ret;
    /* rte_eth_dev_set_mtu() also checks MTU + L2 overhead against max_rx_pktlen, which
     * can be the tighter limit (the tap PMD: max_mtu 65535 but 1522-byte frames). The
     * overhead is derived as ethdev does. */
    uint32_t overhead = RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN;
    if (info.max_mtu != UINT16_MAX && info.max_rx_pktlen > info.max_mtu)
        overhead = info.max_rx_pktlen - info.max_mtu;
    uint32_t by_frame = info.max_rx_pktlen > overhead ? info.max_rx_pktlen - overhead : 0;
    *max_mtu = by_frame < info.max_mtu ? (uint16_t)by_frame : info.max_mtu;
    return rte_eth_dev_get_mtu(port, mtu);
}

int bf_port_set_mtu(uint16_t port, uint16_t mtu)
{
    return rte_eth_dev_set_mtu(port, mtu);
}

int bf_port_mac(uint16_t port, uint8_t mac[6])
{
    struct rte_ether_addr addr;
    int ret = rte_eth_macaddr_get(port, &addr);
    if (ret < 0)
        return ret;
    memcpy(mac, addr.addr_bytes, RTE_ETHER_ADDR_LEN);
    return 0;
}

int bf_port_backing(uint16_t port, uint32_t *if_index, char *iface, size_t iface_len,
                    char *driver, size_t driver_len, char *args, size_t args_len)
{
    struct rte_eth_dev_info info;
    int ret = rte_eth_dev_info_get(port, &info);
    if (ret < 0)
        return ret;
    *if_index = info.if_index;
    char name[IF_NAMESIZE] = "";
    if (info.if_index != 0 && if_indextoname(info.if_index, name) == NULL)
        name[0] = '\0';
    ret = copy_string(iface, iface_len, name);
    if (ret < 0)
        return ret;
    ret = copy_string(driver, driver_len, info.driver_name != NULL ? info.driver_name : "");
    if (ret < 0)
        return ret;
    const struct rte_devargs *devargs = info.device != NULL ? rte_dev_devargs(info.device) : NULL;
    return copy_string(args, args_len, devargs != NULL && devargs->args != NULL ? devargs->args : "");
}

int bf_port_stats(uint16_t port, uint64_t out[BF_STAT_COUNT])
{
    struct rte_eth_stats s;
    int ret = rte_eth_stats_get(port, &s);
    if (ret < 0)
        return ret;
    out[BF_STAT_IPACKETS] = s.ipackets;
    out[BF_STAT_OPACKETS] = s.opackets;
    out[BF_STAT_IBYTES] = s.ibytes;
    out[BF_STAT_OBYTES] = s.obytes;
    out[BF_STAT_IMISSED] = s.imissed;
    out[BF_STAT_IERRORS] = s.ierrors;
    out[BF_STAT_OERRORS] = s.oerrors;
    out[BF_STAT_RX_NOMBUF] = s.rx_nombuf;
    return 0;
}

uint16_t bf_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
    return rte_eth_rx_burst(port, queue, pkts, n);
}

uint16_t bf_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
    return rte_eth_tx_burst(port, queue, pkts, n);
}

void bf_pktmbuf_free_bulk(struct rte_mbuf **pkts, unsigned int n)
{
    rte_pktmbuf_free_bulk(pkts, n);
}

struct rte_mbuf *bf_pktmbuf_copy(const struct rte_mbuf *m, struct rte_mempool *pool)
{
    return rte_pktmbuf_copy(m, pool, 0, UINT32_MAX);
}

struct rte_mbuf *bf_pktmbuf_alloc(struct rte_mempool *pool)
{
    return rte_pktmbuf_alloc(pool);
}

int bf_mbuf_offset(int field)
{
    switch (field) {
    case BF_MBUF_BUF_ADDR: return (int)offsetof(struct rte_mbuf, buf_addr);
    case BF_MBUF_DATA_OFF: return (int)offsetof(struct rte_mbuf, data_off);
    case BF_MBUF_NB_SEGS: return (int)offsetof(struct rte_mbuf, nb_segs);
    case BF_MBUF_PORT: return (int)offsetof(struct rte_mbuf, port);
    case BF_MBUF_OL_FLAGS: return (int)offsetof(struct rte_mbuf, ol_flags);
    case BF_MBUF_PKT_LEN: return (int)offsetof(struct rte_mbuf, pkt_len);
    case BF_MBUF_DATA_LEN: return (int)offsetof(struct rte_mbuf, data_len);
    case BF_MBUF_NEXT: return (int)offsetof(struct rte_mbuf, next);
    case BF_MBUF_SIZE: return (int)sizeof(struct rte_mbuf);
    case BF_MBUF_BUF_LEN: return (int)offsetof(struct rte_mbuf, buf_len);
    default: return -1;
    }
}

uint64_t bf_tsc_hz(void)
{
    return rte_get_tsc_hz();
}
