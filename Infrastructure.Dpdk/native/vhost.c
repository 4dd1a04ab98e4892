/*
 * vhost.c — vhost-user NICs over DPDK's vhost library (rte_vhost.h), without ethdev ports,
 * and the quiescent-state handshake with the packet thread.
 *
 * Why not the net_vhost PMD: every PMD instance is an ethdev port and Debian's DPDK is
 * built with RTE_MAX_ETHPORTS = 32, whereas a host carries hundreds of vhost-user NICs.
 * The library itself keeps no per-NIC ethdev state; this file keeps a table of slots.
 *
 * Threads and the data they share:
 *   - control thread: bf_vhost_create / bf_vhost_destroy / bf_vhost_info, one at a time.
 *     It writes a slot's path and `used` under slots_lock, and never calls into the vhost
 *     library while holding it (the library calls back into this file with its own locks held).
 *   - vhost-events thread (DPDK's): the callbacks below. They find the slot of a vid by the
 *     socket path under slots_lock, and publish `vid` then `state` with atomics. A callback
 *     can also run on the control thread, inside rte_vhost_driver_unregister.
 *   - packet thread: bf_vhost_dequeue / bf_vhost_enqueue read `state` and `vid` without a lock,
 *     and bf_quiescent() marks the end of each polling round.
 * destroy_device clears RUNNING and then waits for the packet thread's next quiescent point,
 * so once it returns (and the library unmaps the guest memory) no burst uses that vid.
 *
 * The library's event set (lib/vhost/fd_man.c in 22.11) is a fixed array of MAX_FDS = 1024
 * entries: its wake-up pipe, every listening socket and every connection. Unregistering a
 * socket only marks its entries free; they are compacted when a connection of the set closes,
 * or by the next fdset_add that finds the array full — and that one waits for the events
 * thread's poll() to time out (up to a second), because poll() runs holding the lock the
 * compaction needs. A daemon that removed and re-adds hundreds of NICs hit that second. So
 * the shim keeps one socket of its own, the "wake" socket: connecting to it and hanging up
 * makes the events thread accept a connection and see it close, which compacts the set at
 * once (see wake_events_thread). The same hang-up also makes the events thread rebuild its
 * poll set, which it otherwise does only once a second: bf_vhost_kick() after creating
 * sockets lets a frontend that connects at once be served at once.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/virtio_net.h>
#include <rte_common.h>
#include <rte_vhost.h>

#include "butterfly_shim.h"

/* Virtqueue indexes of queue pair 0, seen from the guest: it receives on 0, sends on 1. */
#define VIRTIO_RXQ 0
#define VIRTIO_TXQ 1

#define SOCKET_PATH_MAX ((int)sizeof(((struct sockaddr_un *)0)->sun_path))

/*
 * What --no-offload stops offering: TCP segmentation offload from the guest. VIRTIO_NET_F_GSO
 * goes with it because a Linux guest turns on TSO, TSO6 and TSO-ECN on that legacy bit alone,
 * and HOST_ECN only qualifies TSO. Checksum offload (VIRTIO_NET_F_CSUM) stays: the forwarder
 * finishes checksums and cuts TSO frames, for both IP families, wherever the destination cannot
 * take them as they are (Forwarder.Offload.cs).
 */
#define TSO_FEATURES ((1ULL << VIRTIO_NET_F_HOST_TSO4) | (1ULL << VIRTIO_NET_F_HOST_TSO6) | \
                      (1ULL << VIRTIO_NET_F_GSO) | (1ULL << VIRTIO_NET_F_HOST_ECN))
/*
 * Never offered: UDP fragmentation offload. The forwarder does not cut UDP super-frames, and
 * Linux guests have not sent them since 4.14 (UFO was removed there).
 */
#define UFO_FEATURES (1ULL << VIRTIO_NET_F_HOST_UFO)

/* unregister fails while a connection of the socket is being torn down; it is retried
 * this many times, a millisecond apart. */
#define UNREGISTER_TRIES 1000

struct bf_vhost_slot {
    /* Read by the packet thread on every round, written by the vhost callbacks. */
    _Atomic uint32_t state;
    _Atomic int32_t vid;
    _Atomic uint64_t vrings;
    /* Control data, guarded by slots_lock. */
    int used;
    char path[SOCKET_PATH_MAX];
} __rte_cache_aligned;

static struct bf_vhost_slot slots[BF_VHOST_SLOTS];
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;

/* MAX_FDS of DPDK 22.11's lib/vhost/fd_man.h (not exported). */
#define LIBRARY_MAX_FDS 1024
/* Entries besides the NICs': the library's pipe, the wake socket, wake connections in flight. */
#define WAKE_MARGIN 8

/* The wake socket (see the top of the file); path set once by bf_vhost_init. */
#define WAKE_SLOT (-2)
static char wake_path[SOCKET_PATH_MAX];
static _Atomic int wake_ready;
/* Connections made to the wake socket, and those the library has torn down. */
static _Atomic uint64_t wake_sent;
static _Atomic uint64_t wake_closed;

/* Control thread: used slots, and entries the library may hold as free-but-not-compacted
 * (one per socket unregistered since the last compaction we forced, plus one per connection
 * it had). An overestimate only costs an early compaction. */
static int used_slots;
static int fdset_holes;

/* Quiescent-state counter of the packet thread, and whether it is polling at all. */
static _Atomic uint64_t packet_epoch;
static _Atomic int packet_online;

int bf_vhost_slots(void)
{
    return BF_VHOST_SLOTS;
}

void bf_packet_thread_online(int online)
{
    atomic_store(&packet_online, online);
}

void bf_quiescent(void)
{
    /* A sequentially consistent RMW: the next round's reads of slot states cannot move
     * before it, which is what the waiters below rely on. */
    atomic_fetch_add(&packet_epoch, 1);
}

void bf_wait_quiescent(void)
{
    uint64_t seen = atomic_load(&packet_epoch);
    for (unsigned int spin = 0; atomic_load(&packet_online) && atomic_load(&packet_epoch) == seen; spin++) {
        /* The idle packet thread sleeps up to a few milliseconds between rounds. */
        if (spin < 64)
            sched_yield();
        else
            usleep(100);
    }
}

/* The slot whose socket the device vid was accepted on, WAKE_SLOT, or -1. Takes slots_lock. */
static int slot_of(int vid)
{
    char path[PATH_MAX];
    if (rte_vhost_get_ifname(vid, path, sizeof(path)) != 0)
        return -1;
    if (wake_ready && strcmp(path, wake_path) == 0)
        return WAKE_SLOT;
    int found = -1;
    pthread_mutex_lock(&slots_lock);
    for (int i = 0; i < BF_VHOST_SLOTS; i++) {
        if (slots[i].used && strcmp(slots[i].path, path) == 0) {
            found = i;
            break;
        }
    }
    pthread_mutex_unlock(&slots_lock);
    return found;
}

static int on_new_connection(int vid)
{
    int slot = slot_of(vid);
    if (slot == WAKE_SLOT)
        return 0; /* accepted, so that its hang-up goes through the compacting path */
    if (slot < 0)
        return -1;
    struct bf_vhost_slot *s = &slots[slot];
    /* One frontend per NIC: a second connection on the same socket would be a second
     * device racing the first for the slot. */
    int32_t none = -1;
    if (!atomic_compare_exchange_strong(&s->vid, &none, vid))
        return -1;
    atomic_store(&s->vrings, 0);
    atomic_fetch_or(&s->state, BF_VHOST_CONNECTED);
    return 0;
}

static void on_destroy_connection(int vid)
{
    int slot = slot_of(vid);
    if (slot == WAKE_SLOT) {
        atomic_fetch_add(&wake_closed, 1);
        return;
    }
    if (slot < 0)
        return;
    struct bf_vhost_slot *s = &slots[slot];
    if (atomic_load(&s->vid) != vid)
        return;
    /* The library calls destroy_device first; should it not, the device stops here, and
     * the packet thread is past the vid before it is cleared. */
    uint32_t was = atomic_fetch_and(&s->state, ~(uint32_t)(BF_VHOST_CONNECTED | BF_VHOST_RUNNING));
    if (was & BF_VHOST_RUNNING)
        bf_wait_quiescent();
    atomic_store(&s->vrings, 0);
    atomic_store(&s->vid, -1);
}

static int on_new_device(int vid)
{
    int slot = slot_of(vid);
    if (slot < 0 || atomic_load(&slots[slot].vid) != vid)
        return -1;
    /* The packet thread polls: the guest need not kick us (it saves it a VM exit per burst). */
    for (uint16_t q = 0; q < rte_vhost_get_vring_num(vid); q++)
        rte_vhost_enable_guest_notification(vid, q, 0);
    atomic_fetch_or(&slots[slot].state, BF_VHOST_RUNNING);
    return 0;
}

static void on_destroy_device(int vid)
{
    int slot = slot_of(vid);
    if (slot < 0 || atomic_load(&slots[slot].vid) != vid)
        return;
    atomic_fetch_and(&slots[slot].state, ~(uint32_t)BF_VHOST_RUNNING);
    bf_wait_quiescent();
}

static int on_vring_state_changed(int vid, uint16_t queue, int enable)
{
    int slot = slot_of(vid);
    if (slot < 0 || queue >= 64 || atomic_load(&slots[slot].vid) != vid)
        return 0;
    if (enable)
        atomic_fetch_or(&slots[slot].vrings, 1ULL << queue);
    else
        atomic_fetch_and(&slots[slot].vrings, ~(1ULL << queue));
    return 0;
}

static const struct rte_vhost_device_ops vhost_ops = {
    .new_device = on_new_device,
    .destroy_device = on_destroy_device,
    .vring_state_changed = on_vring_state_changed,
    .new_connection = on_new_connection,
    .destroy_connection = on_destroy_connection,
};

static void release_slot(int slot)
{
    pthread_mutex_lock(&slots_lock);
    slots[slot].used = 0;
    slots[slot].path[0] = '\0';
    atomic_store(&slots[slot].state, 0);
    atomic_store(&slots[slot].vid, -1);
    atomic_store(&slots[slot].vrings, 0);
    pthread_mutex_unlock(&slots_lock);
}

static int unregister(const char *path)
{
    for (int i = 0; i < UNREGISTER_TRIES; i++) {
        if (rte_vhost_driver_unregister(path) == 0)
            return 0;
        usleep(1000);
    }
    return -EBUSY;
}

/*
 * Control thread. Connects to the wake socket and hangs up: the events thread accepts (its
 * poll set is rebuilt, so sockets created since its last round are watched from now on) and
 * sees the hang-up, which compacts its event set. With wait, returns once that is done
 * (every wake sent so far has been torn down), or after 1.2 s: past the library's 1 s poll
 * timeout it happened anyway.
 */
static void wake_events_thread(int wait)
{
    if (!atomic_load(&wake_ready))
        return;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", wake_path);
    int connected = connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;
    close(fd);
    if (!connected)
        return;
    uint64_t target = atomic_fetch_add(&wake_sent, 1) + 1;
    for (int i = 0; wait && i < 1200 && atomic_load(&wake_closed) < target; i++)
        usleep(1000);
    fdset_holes = 0;
}

void bf_vhost_kick(void)
{
    wake_events_thread(0);
}

int bf_vhost_init(const char *wake_socket)
{
    if (wake_ready)
        return -EALREADY;
    if (wake_socket == NULL || strlen(wake_socket) >= (size_t)SOCKET_PATH_MAX)
        return -ENAMETOOLONG;
    snprintf(wake_path, sizeof(wake_path), "%s", wake_socket);
    struct stat st;
    if (lstat(wake_path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(wake_path);
    if (rte_vhost_driver_register(wake_path, 0) != 0)
        return -EIO;
    /* Set before start: callbacks for this path must recognise it from the first one. */
    wake_ready = 1;
    if (rte_vhost_driver_callback_register(wake_path, &vhost_ops) != 0 || rte_vhost_driver_start(wake_path) != 0) {
        wake_ready = 0;
        unregister(wake_path);
        return -EADDRNOTAVAIL;
    }
    return 0;
}

void bf_vhost_fini(void)
{
    if (!wake_ready)
        return;
    unregister(wake_path);
    wake_ready = 0;
}

int bf_vhost_create(const char *path, int offer_tso)
{
    if (path == NULL || strlen(path) >= (size_t)SOCKET_PATH_MAX)
        return -ENAMETOOLONG;

    int slot = -1;
    pthread_mutex_lock(&slots_lock);
    for (int i = 0; i < BF_VHOST_SLOTS; i++) {
        if (!slots[i].used) {
            slot = i;
            break;
        }
    }
    if (slot >= 0) {
        slots[slot].used = 1;
        snprintf(slots[slot].path, sizeof(slots[slot].path), "%s", path);
        atomic_store(&slots[slot].state, 0);
        atomic_store(&slots[slot].vid, -1);
        atomic_store(&slots[slot].vrings, 0);
    }
    pthread_mutex_unlock(&slots_lock);
    if (slot < 0)
        return -ENOSPC;

    /* A socket left by a killed daemon would make bind() fail; the caller owns the directory.
     * Anything that is not a socket is left alone and reported by the bind. */
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);

    /* Server mode, offload flags in the mbuf as ethdev defines them (as the PMD did). */
    if (rte_vhost_driver_register(path, RTE_VHOST_USER_NET_COMPLIANT_OL_FLAGS) != 0) {
        release_slot(slot);
        return -EIO;
    }
    int ret = 0;
    uint64_t disabled = UFO_FEATURES | (offer_tso ? 0 : TSO_FEATURES);
    if (rte_vhost_driver_disable_features(path, disabled) != 0)
        ret = -EINVAL;
    if (ret == 0 && rte_vhost_driver_callback_register(path, &vhost_ops) != 0)
        ret = -EINVAL;
    /* Start binds, listens and adds the socket to the library's event set: make sure that
     * cannot find the set full of uncompacted entries (counting every NIC as connected). */
    if (ret == 0 && fdset_holes > 0 && 2 * used_slots + fdset_holes + WAKE_MARGIN >= LIBRARY_MAX_FDS)
        wake_events_thread(1);
    /* It fails when bind does or the library's event set is really full. */
    if (ret == 0 && rte_vhost_driver_start(path) != 0)
        ret = -EADDRNOTAVAIL;
    if (ret != 0) {
        unregister(path);
        fdset_holes++;
        release_slot(slot);
        return ret;
    }
    used_slots++;
    return slot;
}

/* Copies the socket path of slot (under the slots lock, as create/destroy change it) into
 * path; 0 when the slot is free. */
static int slot_path(int slot, char path[SOCKET_PATH_MAX])
{
    pthread_mutex_lock(&slots_lock);
    int used = slots[slot].used;
    snprintf(path, SOCKET_PATH_MAX, "%s", slots[slot].path);
    pthread_mutex_unlock(&slots_lock);
    return used;
}

int bf_vhost_destroy(int slot)
{
    if (slot < 0 || slot >= BF_VHOST_SLOTS)
        return -EINVAL;
    char path[SOCKET_PATH_MAX];
    if (!slot_path(slot, path))
        return -ENOENT;
    /* Closes the connection (destroy_device runs here, on this thread), the listening
     * socket, and unlinks the socket file. Until it returns, callbacks may still look the
     * slot up, so it is released only afterwards. */
    int connected = (atomic_load(&slots[slot].state) & BF_VHOST_CONNECTED) != 0;
    int ret = unregister(path);
    fdset_holes += 1 + connected;
    used_slots--;
    release_slot(slot);
    return ret;
}

int bf_vhost_info(int slot, struct bf_vhost_info *out)
{
    if (slot < 0 || slot >= BF_VHOST_SLOTS || out == NULL)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    char path[SOCKET_PATH_MAX];
    if (!slot_path(slot, path))
        return -ENOENT;
    out->state = atomic_load(&slots[slot].state);
    out->vid = atomic_load(&slots[slot].vid);
    out->vrings = atomic_load(&slots[slot].vrings);
    if (rte_vhost_driver_get_features(path, &out->offered) != 0)
        return -ENOENT;
    if ((out->state & BF_VHOST_RUNNING) && out->vid >= 0)
        rte_vhost_get_negotiated_features(out->vid, &out->negotiated);
    return 0;
}

uint16_t bf_vhost_dequeue(uint32_t slot, struct rte_mempool *pool, struct rte_mbuf **pkts, uint16_t n)
{
    if (slot >= BF_VHOST_SLOTS)
        return 0;
    struct bf_vhost_slot *s = &slots[slot];
    if (!(atomic_load(&s->state) & BF_VHOST_RUNNING))
        return 0;
    return rte_vhost_dequeue_burst(atomic_load_explicit(&s->vid, memory_order_relaxed), VIRTIO_TXQ, pool, pkts, n);
}

uint16_t bf_vhost_enqueue(uint32_t slot, struct rte_mbuf **pkts, uint16_t n)
{
    if (slot >= BF_VHOST_SLOTS)
        return 0;
    struct bf_vhost_slot *s = &slots[slot];
    if (!(atomic_load(&s->state) & BF_VHOST_RUNNING))
        return 0;
    return rte_vhost_enqueue_burst(atomic_load_explicit(&s->vid, memory_order_relaxed), VIRTIO_RXQ, pkts, n);
}

int bf_vhost_running(uint32_t slot)
{
    return slot < BF_VHOST_SLOTS && (atomic_load_explicit(&slots[slot].state, memory_order_relaxed) & BF_VHOST_RUNNING) != 0;
}

uint64_t bf_vhost_guest_features(uint32_t slot)
{
    if (slot >= BF_VHOST_SLOTS)
        return 0;
    struct bf_vhost_slot *s = &slots[slot];
    if (!(atomic_load(&s->state) & BF_VHOST_RUNNING))
        return 0;
    /* A plain read of the device's feature word (no lock); the vid stays valid while RUNNING
     * is seen, as for bf_vhost_enqueue. */
    uint64_t features = 0;
    if (rte_vhost_get_negotiated_features(atomic_load_explicit(&s->vid, memory_order_relaxed), &features) != 0)
        return 0;
    return features;
}
