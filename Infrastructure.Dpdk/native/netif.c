/*
 * netif.c — the MTU of a Linux interface, for underlay ports that run on one (af_packet,
 * af_xdp, tap). DPDK 22.11 keeps an MTU of its own for them (1500 unless set through ethdev,
 * which caps af_packet at 1500 and tap at 1504 although both carry larger frames); what the
 * underlay really carries is the kernel's. Thin ioctl wrappers, errors as -errno.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "butterfly_shim.h"

static int if_request(const char *ifname, unsigned long request, struct ifreq *ifr)
{
    if (ifname == NULL || strlen(ifname) >= IF_NAMESIZE)
        return -EINVAL;
    snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", ifname);
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -errno;
    int ret = ioctl(s, request, ifr) < 0 ? -errno : 0;
    close(s);
    return ret;
}

int bf_if_mtu(const char *ifname, uint32_t *mtu)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    int ret = if_request(ifname, SIOCGIFMTU, &ifr);
    if (ret == 0)
        *mtu = (uint32_t)ifr.ifr_mtu;
    return ret;
}

int bf_if_set_mtu(const char *ifname, uint32_t mtu)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_mtu = (int)mtu;
    return if_request(ifname, SIOCSIFMTU, &ifr);
}
