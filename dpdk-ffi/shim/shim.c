#include "shim.h"
#include <rte_malloc.h>

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

/* libpcap's program type, as rte_bpf_convert takes it (`struct bpf_program` of pcap/bpf.h,
 * whose instructions have osp_cbpf_insn's layout). */
struct bpf_program {
	unsigned int bf_len;
	struct osp_cbpf_insn *bf_insns;
};

struct rte_bpf *osp_bpf_load_cbpf(const struct osp_cbpf_insn *insns, uint32_t len, int *jit_ok)
{
	struct bpf_program prog = { .bf_len = len, .bf_insns = (struct osp_cbpf_insn *)insns };
	struct rte_bpf_prm *prm = rte_bpf_convert(&prog);
	if (prm == NULL)
		return NULL;
	/* DPDK 22.11's converter gives an indirect load ([x + k]) register 0 (classic BPF's
	 * accumulator A) as its base instead of register 7 (the index X): `tcp[13]` and every
	 * other load past a variable-length IP header would read the wrong bytes. Classic BPF
	 * indexes indirect loads by X only, so the base is set to X. */
	for (uint32_t i = 0; i < prm->nb_ins; i++) {
		struct ebpf_insn *in = (struct ebpf_insn *)&prm->ins[i];
		if (BPF_CLASS(in->code) == BPF_LD && BPF_MODE(in->code) == BPF_IND &&
		    in->src_reg == EBPF_REG_0)
			in->src_reg = EBPF_REG_7;
	}
	/* DPDK 22.11's x86-64 JIT encodes `jset reg, #k` with an immediate that fits a byte as
	 * an instruction x86 does not have (TEST takes no sign-extended imm8), and the code it
	 * emits crashes: such programs run in the interpreter. */
	*jit_ok = 1;
	for (uint32_t i = 0; i < prm->nb_ins; i++) {
		const struct ebpf_insn *in = &prm->ins[i];
		if (in->code == (BPF_JMP | BPF_JSET | BPF_K) && in->imm >= INT8_MIN &&
		    in->imm <= INT8_MAX)
			*jit_ok = 0;
	}
	struct rte_bpf *bpf = rte_bpf_load(prm);
	int err = rte_errno;
	rte_free(prm);
	rte_errno = err;
	return bpf;
}

void *osp_bpf_jit(const struct rte_bpf *bpf)
{
	struct rte_bpf_jit jit = { 0 };
	if (rte_bpf_get_jit(bpf, &jit) != 0)
		return NULL;
	return (void *)jit.func;
}

uint64_t osp_bpf_run_frame(const struct rte_bpf *bpf, void *jit, const uint8_t *data, uint32_t len)
{
	/* The converted program reads packet bytes through the mbuf (rte_pktmbuf_read): one
	 * segment whose data is the frame. Longer frames than a segment holds are cut. */
	/* Only the fields rte_pktmbuf_read and a converted program read are set: zeroing the
	 * whole header (two cache lines) cost more than some programs. */
	struct rte_mbuf m;
	uint16_t n = len > UINT16_MAX ? UINT16_MAX : (uint16_t)len;
	m.buf_addr = (void *)data;
	m.data_off = 0;
	m.data_len = n;
	m.pkt_len = n;
	m.nb_segs = 1;
	m.next = NULL;
	if (jit != NULL)
		return ((uint64_t (*)(void *))jit)(&m);
	return rte_bpf_exec(bpf, &m);
}
