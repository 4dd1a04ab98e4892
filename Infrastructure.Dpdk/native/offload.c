/*
 * offload.c — what the managed forwarder needs to read and write a guest's offload requests
 * in an mbuf (Forwarder.Offload.cs): the ol_flags bits and the tx_offload bit-field layout of
 * this DPDK build, so that neither is hard-coded on the managed side.
 */
#include <stddef.h>
#include <stdint.h>

#include <rte_mbuf.h>

#include "butterfly_shim.h"

uint64_t bf_offload_const(int which)
{
    switch (which) {
    case BF_OL_TX_OFFLOAD_OFFSET: return offsetof(struct rte_mbuf, tx_offload);
    case BF_OL_L2_LEN_SHIFT: return RTE_MBUF_L2_LEN_OFS;
    case BF_OL_L3_LEN_SHIFT: return RTE_MBUF_L3_LEN_OFS;
    case BF_OL_L4_LEN_SHIFT: return RTE_MBUF_L4_LEN_OFS;
    case BF_OL_TSO_SEGSZ_SHIFT: return RTE_MBUF_TSO_SEGSZ_OFS;
    case BF_OL_RX_L4_CKSUM_MASK: return RTE_MBUF_F_RX_L4_CKSUM_MASK;
    case BF_OL_RX_L4_CKSUM_NONE: return RTE_MBUF_F_RX_L4_CKSUM_NONE;
    case BF_OL_RX_LRO: return RTE_MBUF_F_RX_LRO;
    case BF_OL_TX_TCP_SEG: return RTE_MBUF_F_TX_TCP_SEG;
    case BF_OL_TX_UDP_SEG: return RTE_MBUF_F_TX_UDP_SEG;
    case BF_OL_TX_L4_MASK: return RTE_MBUF_F_TX_L4_MASK;
    case BF_OL_TX_TCP_CKSUM: return RTE_MBUF_F_TX_TCP_CKSUM;
    case BF_OL_TX_UDP_CKSUM: return RTE_MBUF_F_TX_UDP_CKSUM;
    case BF_OL_TX_IP_CKSUM: return RTE_MBUF_F_TX_IP_CKSUM;
    case BF_OL_TX_IPV4: return RTE_MBUF_F_TX_IPV4;
    case BF_OL_TX_IPV6: return RTE_MBUF_F_TX_IPV6;
    default: return UINT64_MAX;
    }
}
