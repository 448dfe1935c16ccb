/* Osprey's shim over DPDK's static-inline hot path.
 *
 * DPDK implements rx/tx burst, mbuf alloc/free, ring enqueue/dequeue, errno and lcore id as
 * static inline functions or macros, which bindgen cannot bind. Each one here is a plain
 * exported wrapper with an `osp_` prefix; the mbuf accessors keep `struct rte_mbuf`'s layout
 * out of the Rust side entirely. */
#ifndef OSPREY_DPDK_SHIM_H
#define OSPREY_DPDK_SHIM_H

#include <stdint.h>
#include <rte_config.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_launch.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_cycles.h>
#include <rte_bus_vdev.h>
#include <rte_log.h>
#include <rte_version.h>
#include <rte_bpf.h>

uint16_t osp_eth_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
uint16_t osp_eth_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);

struct rte_mbuf *osp_pktmbuf_alloc(struct rte_mempool *mp);
int osp_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned count);
void osp_pktmbuf_free(struct rte_mbuf *m);
void osp_pktmbuf_free_bulk(struct rte_mbuf **mbufs, unsigned count);

/* mbuf field accessors (rte_pktmbuf_mtod and friends). */
uint8_t *osp_mbuf_data(const struct rte_mbuf *m);
uint16_t osp_mbuf_data_len(const struct rte_mbuf *m);
uint32_t osp_mbuf_pkt_len(const struct rte_mbuf *m);
uint16_t osp_mbuf_nb_segs(const struct rte_mbuf *m);
struct rte_mbuf *osp_mbuf_next(const struct rte_mbuf *m);
uint32_t osp_mbuf_rss_hash(const struct rte_mbuf *m);
uint16_t osp_mbuf_port(const struct rte_mbuf *m);
uint64_t osp_mbuf_ol_flags(const struct rte_mbuf *m);
uint32_t osp_mbuf_packet_type(const struct rte_mbuf *m);
/* Reads the Rx timestamp dynamic field at `offset` (from rte_mbuf_dynfield_lookup). */
uint64_t osp_mbuf_dynfield_u64(const struct rte_mbuf *m, int offset);
/* Appends `len` bytes to a freshly allocated mbuf, copying `data`; 0 on success, -1 when the
 * mbuf has no room. Used by tests and the in-memory source to build packets. */
int osp_pktmbuf_append_copy(struct rte_mbuf *m, const uint8_t *data, uint16_t len);

unsigned osp_ring_enqueue_burst(struct rte_ring *r, void *const *objs, unsigned n);
unsigned osp_ring_dequeue_burst(struct rte_ring *r, void **objs, unsigned n);
unsigned osp_ring_count(const struct rte_ring *r);

int osp_errno(void);
unsigned osp_lcore_id(void);
uint64_t osp_rdtsc(void);
void osp_pause(void);
const char *osp_version(void);



/* Offload and RSS flag values, which DPDK defines as RTE_BIT64() macros bindgen cannot evaluate. */
extern const uint64_t osp_rx_offload_timestamp;
extern const uint64_t osp_rx_offload_scatter;
extern const uint64_t osp_rx_offload_rss_hash;
extern const uint64_t osp_rx_offload_checksum;
/* Rx checksum verdict flags and the tunnel bits of the packet type (the Rust side keeps
 * copies as constants for the hot path and tests that they match these). */
extern const uint64_t osp_rx_ip_cksum_bad;
extern const uint64_t osp_rx_ip_cksum_good;
extern const uint64_t osp_rx_l4_cksum_bad;
extern const uint64_t osp_rx_l4_cksum_good;
extern const uint32_t osp_ptype_tunnel_mask;
extern const uint64_t osp_rss_ip;
extern const uint64_t osp_rss_tcp;
extern const uint64_t osp_rss_udp;
/* Capture filters through librte_bpf. A classic BPF instruction as libpcap lays it out
 * (`struct bpf_insn`). */
struct osp_cbpf_insn {
	uint16_t code;
	uint8_t jt;
	uint8_t jf;
	uint32_t k;
};

/* Converts a classic BPF program (libpcap's) to eBPF (rte_bpf_convert, experimental in 22.11:
 * needs the EAL's heap) and loads it; NULL with rte_errno set on failure. `*jit_ok` says
 * whether DPDK 22.11's JIT compiles the program correctly (see shim.c). */
struct rte_bpf *osp_bpf_load_cbpf(const struct osp_cbpf_insn *insns, uint32_t len, int *jit_ok);
/* The JIT's entry point for `bpf`, or NULL when this CPU has no JIT. */
void *osp_bpf_jit(const struct rte_bpf *bpf);
/* Runs `bpf` (the JIT's `jit` when not NULL, else the interpreter) over one contiguous frame,
 * presented as a single-segment mbuf header built on the stack. */
uint64_t osp_bpf_run_frame(const struct rte_bpf *bpf, void *jit, const uint8_t *data, uint32_t len);

#endif
