/*
 * shim_test.c — exercises the native shim (Infrastructure.Dpdk/native) built with
 * AddressSanitizer and UndefinedBehaviorSanitizer (scripts/sanitize-shim.sh). No hardware:
 * EAL without hugepages or PCI, a null ethdev (its RX makes frames), vhost-user server
 * sockets in a temporary directory. Every call's result is checked; the sanitizers check
 * every memory access of the shim on the way.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "butterfly_shim.h"

static int failures;

#define CHECK(cond, ...)                                        \
    do {                                                        \
        if (!(cond)) {                                          \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                       \
            fprintf(stderr, "\n");                              \
            failures++;                                         \
        }                                                       \
    } while (0)

int main(int argc, char **argv_in)
{
    /* The EAL file prefix comes from the script, which removes its runtime directory after. */
    char prefix[96], dir[] = "/tmp/bfasan-XXXXXX";
    snprintf(prefix, sizeof prefix, "--file-prefix=%s", argc > 1 ? argv_in[1] : "bfasan");
    const char *argv[] = {"shim_test", "--no-huge", "-m", "128", "--no-pci", "--no-telemetry", prefix,
                          "--vdev=net_null0", "-l", "0"};
    int rc = bf_eal_init((int)(sizeof argv / sizeof argv[0]), argv);
    if (rc < 0) {
        char text[128];
        bf_strerror(-rc, text, sizeof text);
        fprintf(stderr, "FAIL: EAL init: %s\n", text);
        return 1;
    }
    char runtime[256];
    CHECK(bf_eal_runtime_dir(runtime, sizeof runtime) >= 0, "runtime dir");
    CHECK(bf_max_ports() > 0, "max ports");

    struct rte_mempool *pool = NULL;
    CHECK(bf_mempool_create("bfasan_pool", 1023, &pool) == 0 && pool != NULL, "mempool");

    int port = bf_port_by_name("net_null0");
    CHECK(port >= 0, "net_null0 port: %d", port);
    char name[64];
    CHECK(bf_port_name((uint16_t)port, name, sizeof name) >= 0 && strcmp(name, "net_null0") == 0, "port name %s", name);
    CHECK(bf_port_setup((uint16_t)port, pool, 128, 128, 1) == 0, "port setup");
    CHECK(bf_port_start((uint16_t)port) == 0, "port start");
    uint16_t mtu = 0, max_mtu = 0;
    CHECK(bf_port_mtu((uint16_t)port, &mtu, &max_mtu) == 0, "mtu");
    uint8_t mac[6];
    CHECK(bf_port_mac((uint16_t)port, mac) == 0, "mac");

    CHECK(bf_thread_register() >= 0, "thread register");
    struct rte_mbuf *pkts[32];
    for (int round = 0; round < 100; round++) {
        uint16_t n = bf_rx_burst((uint16_t)port, 0, pkts, 32);
        CHECK(n <= 32, "rx burst %u", n);
        if (n > 0) {
            struct rte_mbuf *copy = bf_pktmbuf_copy(pkts[0], pool);
            if (copy != NULL) {
                bf_pktmbuf_free_bulk(&copy, 1);
            }
        }
        uint16_t sent = bf_tx_burst((uint16_t)port, 0, pkts, n);
        bf_pktmbuf_free_bulk(pkts + sent, (unsigned int)(n - sent));
        struct rte_mbuf *m = bf_pktmbuf_alloc(pool);
        CHECK(m != NULL, "alloc");
        if (m != NULL) {
            bf_pktmbuf_free_bulk(&m, 1);
        }
    }
    uint64_t stats[BF_STAT_COUNT];
    CHECK(bf_port_stats((uint16_t)port, stats) == 0 && stats[BF_STAT_IPACKETS] > 0, "stats");
    bf_thread_unregister();

    CHECK(bf_vdev_add("net_null1", "") >= 0, "vdev add (returns the port)");
    CHECK(bf_port_by_name("net_null1") >= 0, "net_null1");
    CHECK(bf_vdev_remove("net_null1") == 0, "vdev remove");

    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char wake[300], path[300];
    snprintf(wake, sizeof wake, "%s/wake", dir);
    CHECK(bf_vhost_init(wake) == 0, "vhost init");
    int slots[8];
    for (int i = 0; i < 8; i++) {
        snprintf(path, sizeof path, "%s/vm%d", dir, i);
        slots[i] = bf_vhost_create(path, i % 2);
        CHECK(slots[i] >= 0 && bf_is_socket(path) == 1, "vhost create %d: %d", i, slots[i]);
    }
    bf_vhost_kick();
    for (int i = 0; i < 8; i++) {
        struct bf_vhost_info info;
        CHECK(bf_vhost_info(slots[i], &info) == 0 && info.vid == -1 && info.state == 0, "vhost info %d", i);
        CHECK(bf_vhost_dequeue((uint32_t)slots[i], pool, pkts, 32) == 0, "dequeue without a frontend");
        CHECK(bf_vhost_destroy(slots[i]) == 0, "vhost destroy %d", i);
    }
    CHECK(bf_vhost_destroy(slots[0]) < 0, "destroying a free slot is refused");
    bf_vhost_fini();
    rmdir(dir);

    CHECK(bf_port_stop((uint16_t)port) == 0, "port stop");
    CHECK(bf_port_close((uint16_t)port) == 0, "port close");
    bf_mempool_free(pool);
    CHECK(bf_eal_cleanup() == 0, "EAL cleanup");
    printf("shim under ASan+UBSan: %d failed\n", failures);
    return failures == 0 ? 0 : 1;
}
