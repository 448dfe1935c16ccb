#include "shim.h"

uint16_t osp_eth_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_rx_burst(port, queue, pkts, n);
}

uint16_t osp_eth_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_tx_burst(port, queue, pkts, n);
}

struct rte_mbuf *osp_pktmbuf_alloc(struct rte_mempool *mp) { return rte_pktmbuf_alloc(mp); }

int osp_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned count)
{
	return rte_pktmbuf_alloc_bulk(mp, mbufs, count);
}

void osp_pktmbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }

void osp_pktmbuf_free_bulk(struct rte_mbuf **mbufs, unsigned count)
{
	rte_pktmbuf_free_bulk(mbufs, count);
}

uint8_t *osp_mbuf_data(const struct rte_mbuf *m) { return rte_pktmbuf_mtod(m, uint8_t *); }
uint16_t osp_mbuf_data_len(const struct rte_mbuf *m) { return m->data_len; }
uint32_t osp_mbuf_pkt_len(const struct rte_mbuf *m) { return m->pkt_len; }
uint16_t osp_mbuf_nb_segs(const struct rte_mbuf *m) { return m->nb_segs; }
struct rte_mbuf *osp_mbuf_next(const struct rte_mbuf *m) { return m->next; }
uint32_t osp_mbuf_rss_hash(const struct rte_mbuf *m) { return m->hash.rss; }
uint16_t osp_mbuf_port(const struct rte_mbuf *m) { return m->port; }
uint64_t osp_mbuf_ol_flags(const struct rte_mbuf *m) { return m->ol_flags; }
uint32_t osp_mbuf_packet_type(const struct rte_mbuf *m) { return m->packet_type; }

uint64_t osp_mbuf_dynfield_u64(const struct rte_mbuf *m, int offset)
{
	return *RTE_MBUF_DYNFIELD(m, offset, const uint64_t *);
}

int osp_pktmbuf_append_copy(struct rte_mbuf *m, const uint8_t *data, uint16_t len)
{
	char *dst = rte_pktmbuf_append(m, len);
	if (dst == NULL)
		return -1;
	rte_memcpy(dst, data, len);
	return 0;
}

unsigned osp_ring_enqueue_burst(struct rte_ring *r, void *const *objs, unsigned n)
{
	return rte_ring_enqueue_burst(r, objs, n, NULL);
}

unsigned osp_ring_dequeue_burst(struct rte_ring *r, void **objs, unsigned n)
{
	return rte_ring_dequeue_burst(r, objs, n, NULL);
}

unsigned osp_ring_count(const struct rte_ring *r) { return rte_ring_count(r); }

int osp_errno(void) { return rte_errno; }
unsigned osp_lcore_id(void) { return rte_lcore_id(); }
uint64_t osp_rdtsc(void) { return rte_rdtsc(); }
void osp_pause(void) { rte_pause(); }
const char *osp_version(void) { return rte_version(); }

const uint64_t osp_rx_offload_timestamp = RTE_ETH_RX_OFFLOAD_TIMESTAMP;
const uint64_t osp_rx_offload_scatter = RTE_ETH_RX_OFFLOAD_SCATTER;
const uint64_t osp_rx_offload_rss_hash = RTE_ETH_RX_OFFLOAD_RSS_HASH;
const uint64_t osp_rx_offload_checksum = RTE_ETH_RX_OFFLOAD_CHECKSUM;
const uint64_t osp_rx_ip_cksum_bad = RTE_MBUF_F_RX_IP_CKSUM_BAD;
const uint64_t osp_rx_ip_cksum_good = RTE_MBUF_F_RX_IP_CKSUM_GOOD;
const uint64_t osp_rx_l4_cksum_bad = RTE_MBUF_F_RX_L4_CKSUM_BAD;
const uint64_t osp_rx_l4_cksum_good = RTE_MBUF_F_RX_L4_CKSUM_GOOD;
const uint32_t osp_ptype_tunnel_mask = RTE_PTYPE_TUNNEL_MASK;
const uint64_t osp_rss_ip = RTE_ETH_RSS_IP;
const uint64_t osp_rss_tcp = RTE_ETH_RSS_TCP;
const uint64_t osp_rss_udp = RTE_ETH_RSS_UDP;
