/*
 * shim.c: the C half of streamcut's DPDK binding (crate streamcut-dpdk,
 * feature `ffi`; compiled by build.rs).
 *
 * Why C: DPDK's fast-path functions (rte_eth_rx_burst, rte_pktmbuf_mtod,
 * rte_pktmbuf_free, rte_pktmbuf_read, RTE_MBUF_DYNFIELD, rte_errno) are
 * `static inline` or macros, so Rust cannot link to them; and the
 * configuration structs (rte_eth_conf, rte_eth_dev_info, rte_mbuf) change
 * layout between DPDK releases. This file wraps the inline functions and keeps
 * every struct-layout-dependent step (port configuration, mempool creation,
 * the timestamp dynamic-field lookup) on the C side, compiled against the
 * installed headers. Rust sees opaque pointers and the `sc_*` functions below,
 * declared again in src/lib.rs (module `ffi`); the two lists must match.
 *
 * Conventions: functions that can fail return 0 or a positive count on
 * success and a negative errno value on failure.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_mempool.h>

/* What Rust learns about a port before choosing a setup (sc_port_query). */
struct sc_port_info {
	char name[RTE_ETH_NAME_MAX_LEN];   /* device name, e.g. "net_pcap0" */
	char driver[64];                   /* driver name, e.g. "net_pcap" */
	uint16_t max_rx_queues;
	uint16_t hash_key_size;            /* RSS key bytes (0: driver default 40) */
	uint64_t flow_type_rss_offloads;   /* RSS hash types the driver supports */
	int rss_ip;                        /* can hash on IP addresses (RTE_ETH_RSS_IP) */
	int timestamp_offload;             /* RTE_ETH_RX_OFFLOAD_TIMESTAMP offered */
};

/* How Rust wants the port set up (sc_port_start). */
struct sc_port_setup {
	uint16_t rx_queues;
	uint16_t rx_desc;        /* descriptors per rx queue (driver may adjust) */
	uint32_t mbufs;          /* mbufs in the pool (2^n - 1 is best) */
	uint32_t mbuf_cache;     /* per-lcore mempool cache */
	int rss;                 /* 0: none; 1: IP pair; 2: IP pair + ports */
	int timestamp;           /* ask for RTE_ETH_RX_OFFLOAD_TIMESTAMP if offered */
};

/* What the started port gives back. */
struct sc_port_started {
	void *pool;              /* the rte_mempool, freed by sc_port_close */
	uint64_t rss_hf;         /* hash types actually enabled (0: no RSS) */
	int ts_offset;           /* byte offset of the timestamp dynfield, or -1 */
	uint64_t ts_flag;        /* ol_flags bit saying the field is valid */
	uint16_t rx_desc;        /* descriptors per rx queue after adjustment */
};

struct sc_port_stats {
	uint64_t ipackets, imissed, ierrors, rx_nombuf;
};

/* ---- EAL ------------------------------------------------------------- */

int sc_eal_init(int argc, char **argv)
{
	int ret = rte_eal_init(argc, argv);
	return ret < 0 ? -rte_errno : ret;
}

int sc_eal_cleanup(void)
{
	return rte_eal_cleanup();
}

const char *sc_strerror(int err)
{
	return rte_strerror(err < 0 ? -err : err);
}

/* Gives a non-EAL thread an lcore id (so mempool caches work for it). */
int sc_thread_register(void)
{
	return rte_thread_register() < 0 ? -rte_errno : 0;
}

void sc_thread_unregister(void)
{
	rte_thread_unregister();
}

/* ---- ports ----------------------------------------------------------- */

uint16_t sc_port_count(void)
{
	return rte_eth_dev_count_avail();
}

int sc_port_query(uint16_t port, struct sc_port_info *out)
{
	struct rte_eth_dev_info info;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!rte_eth_dev_is_valid_port(port))
		return -ENODEV;
	ret = rte_eth_dev_info_get(port, &info);
	if (ret != 0)
		return ret;
	if (rte_eth_dev_get_name_by_port(port, out->name) != 0)
		out->name[0] = '\0';
	if (info.driver_name != NULL)
		snprintf(out->driver, sizeof(out->driver), "%s", info.driver_name);
	out->max_rx_queues = info.max_rx_queues;
	out->hash_key_size = info.hash_key_size;
	out->flow_type_rss_offloads = info.flow_type_rss_offloads;
	out->rss_ip = (info.flow_type_rss_offloads & RTE_ETH_RSS_IP) != 0;
	out->timestamp_offload =
		(info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_TIMESTAMP) != 0;
	return 0;
}

/*
 * Configures, sets up and starts `port`: one mempool, `rx_queues` rx queues,
 * one tx queue (some drivers refuse zero), RSS when asked and supported, the
 * rx timestamp offload when asked and offered, promiscuous mode when the
 * driver has it. On failure everything created here is released again.
 */
int sc_port_start(uint16_t port, const struct sc_port_setup *setup,
		  struct sc_port_started *out)
{
	struct rte_eth_dev_info info;
	struct rte_eth_conf conf;
	/* Symmetric Toeplitz key: the 16-bit pattern 0x6d5a repeated makes the
	 * hash of (a, b) equal the hash of (b, a) for addresses and ports, so
	 * both directions of a flow land on one queue (Woo & Park, "Scalable
	 * TCP Session Monitoring with Symmetric Receive-side Scaling", 2012). */
	uint8_t key[255];
	char pool_name[RTE_MEMPOOL_NAMESIZE];
	struct rte_mempool *pool = NULL;
	uint16_t nb_rxd = setup->rx_desc, nb_txd = 512;
	int socket, ret, bit;
	uint16_t q;

	memset(out, 0, sizeof(*out));
	out->ts_offset = -1;
	if (!rte_eth_dev_is_valid_port(port))
		return -ENODEV;
	ret = rte_eth_dev_info_get(port, &info);
	if (ret != 0)
		return ret;
	if (setup->rx_queues == 0 || setup->rx_queues > info.max_rx_queues)
		return -EINVAL;

	memset(&conf, 0, sizeof(conf));
	if (setup->rss != 0) {
		uint64_t want = RTE_ETH_RSS_IP;
		size_t key_len = info.hash_key_size ? info.hash_key_size : 40;
		size_t i;

		if (setup->rss == 2)
			want |= RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP;
		want &= info.flow_type_rss_offloads;
		if (want == 0)
			return -ENOTSUP;
		if (key_len > sizeof(key))
			key_len = sizeof(key);
		for (i = 0; i < key_len; i++)
			key[i] = (i % 2 == 0) ? 0x6d : 0x5a;
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_key = key;
		conf.rx_adv_conf.rss_conf.rss_key_len = (uint8_t)key_len;
		conf.rx_adv_conf.rss_conf.rss_hf = want;
		out->rss_hf = want;
	}
	if (setup->timestamp &&
	    (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_TIMESTAMP) != 0)
		conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_TIMESTAMP;

	ret = rte_eth_dev_configure(port, setup->rx_queues, 1, &conf);
	if (ret != 0)
		return ret;
	ret = rte_eth_dev_adjust_nb_rx_tx_desc(port, &nb_rxd, &nb_txd);
	if (ret != 0)
		return ret;
	out->rx_desc = nb_rxd;

	socket = rte_eth_dev_socket_id(port);
	if (socket < 0)
		socket = (int)rte_socket_id();
	snprintf(pool_name, sizeof(pool_name), "sc_rx_%u", (unsigned)port);
	pool = rte_pktmbuf_pool_create(pool_name, setup->mbufs, setup->mbuf_cache,
				       0, RTE_MBUF_DEFAULT_BUF_SIZE, socket);
	if (pool == NULL)
		return -rte_errno;

	for (q = 0; q < setup->rx_queues; q++) {
		ret = rte_eth_rx_queue_setup(port, q, nb_rxd, (unsigned)socket,
					     NULL, pool);
		if (ret != 0)
			goto fail;
	}
	ret = rte_eth_tx_queue_setup(port, 0, nb_txd, (unsigned)socket, NULL);
	if (ret != 0)
		goto fail;
	ret = rte_eth_dev_start(port);
	if (ret != 0)
		goto fail;
	/* Capture wants every frame on the wire; drivers without the notion
	 * (net_pcap, net_null) answer -ENOTSUP, which is fine. */
	(void)rte_eth_promiscuous_enable(port);
	(void)rte_eth_stats_reset(port);

	/* The timestamp field and flag are registered by the driver (at probe
	 * for net_pcap, when the offload is enabled for NICs). */
	ret = rte_mbuf_dynfield_lookup(RTE_MBUF_DYNFIELD_TIMESTAMP_NAME, NULL);
	bit = rte_mbuf_dynflag_lookup(RTE_MBUF_DYNFLAG_RX_TIMESTAMP_NAME, NULL);
	if (ret >= 0 && bit >= 0 && bit < 64) {
		out->ts_offset = ret;
		out->ts_flag = UINT64_C(1) << bit;
	}
	out->pool = pool;
	return 0;

fail:
	(void)rte_eth_dev_close(port);
	rte_mempool_free(pool);
	return ret;
}

int sc_port_stats(uint16_t port, struct sc_port_stats *out)
{
	struct rte_eth_stats st;
	int ret = rte_eth_stats_get(port, &st);

	memset(out, 0, sizeof(*out));
	if (ret != 0)
		return ret;
	out->ipackets = st.ipackets;
	out->imissed = st.imissed;
	out->ierrors = st.ierrors;
	out->rx_nombuf = st.rx_nombuf;
	return 0;
}

/* Stops and closes the port, then frees its pool (every mbuf must be back). */
int sc_port_close(uint16_t port, void *pool)
{
	int ret = rte_eth_dev_stop(port);
	int ret2 = rte_eth_dev_close(port);

	rte_mempool_free((struct rte_mempool *)pool);
	return ret != 0 ? ret : ret2;
}

/* ---- fast path (wrappers of static inline functions) ----------------- */

uint16_t sc_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts,
		     uint16_t n)
{
	return rte_eth_rx_burst(port, queue, pkts, n);
}

/* First segment's bytes; *seg_len its length, *pkt_len the whole packet's. */
const uint8_t *sc_mbuf_data(const struct rte_mbuf *m, uint32_t *seg_len,
			    uint32_t *pkt_len)
{
	*seg_len = rte_pktmbuf_data_len(m);
	*pkt_len = rte_pktmbuf_pkt_len(m);
	return rte_pktmbuf_mtod(m, const uint8_t *);
}

/* Bytes a segment chain really holds (the sum of its data_len). */
uint32_t sc_mbuf_chain_len(const struct rte_mbuf *m)
{
	uint64_t total = 0;
	unsigned segs = 0;

	for (; m != NULL && segs < UINT16_MAX; m = m->next, segs++)
		total += rte_pktmbuf_data_len(m);
	return total > UINT32_MAX ? UINT32_MAX : (uint32_t)total;
}

/*
 * Copies a chained packet into `dst` (room for `cap` bytes) by walking the
 * segment list, and returns the bytes copied. The walk trusts only the
 * `next` pointers and each segment's data_len, never pkt_len: DPDK 22.11's
 * net_pcap sets pkt_len to the full record length but chains only
 * (length mod 65536) bytes for records over 64 KiB, and rte_pktmbuf_read
 * would follow the chain past its end.
 */
uint32_t sc_mbuf_copy(const struct rte_mbuf *m, uint8_t *dst, uint32_t cap)
{
	uint32_t done = 0;
	unsigned segs = 0;

	for (; m != NULL && done < cap && segs < UINT16_MAX; m = m->next, segs++) {
		uint32_t n = rte_pktmbuf_data_len(m);

		if (n > cap - done)
			n = cap - done;
		memcpy(dst + done, rte_pktmbuf_mtod(m, const uint8_t *), n);
		done += n;
	}
	return done;
}

/* 1 and *ts set when the driver stamped this mbuf, else 0. */
int sc_mbuf_timestamp(const struct rte_mbuf *m, int offset, uint64_t flag,
		      uint64_t *ts)
{
	if (offset < 0 || (m->ol_flags & flag) == 0)
		return 0;
	*ts = *RTE_MBUF_DYNFIELD(m, offset, const rte_mbuf_timestamp_t *);
	return 1;
}

void sc_mbuf_free(struct rte_mbuf *m)
{
	rte_pktmbuf_free(m);
}
