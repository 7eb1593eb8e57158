/* queue: NFQUEUE packet I/O — batched receive, per-packet verdicts, batched send. */
#ifndef DIME_QUEUE_H
#define DIME_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

struct queue_pkt {
	uint32_t id;
	uint16_t hw_proto;	/* ETH_P_IP / ETH_P_IPV6, host order */
	uint8_t hook;		/* NF_INET_* */
	bool truncated;		/* copy shorter than the packet: never hand it back modified */
	uint32_t skbinfo;	/* NFQA_SKB_* flags */
	uint32_t mark;
	uint8_t *data;		/* the IP packet, writable in place */
	uint32_t len;
};

/* Counters: field (also its output key). One list for the struct and
 * `dimectl stats`. */
#define QUEUE_STATS(X) X(received) X(verdicts) X(modified) X(send_errors) X(recv_errors) X(kernel_errors)
struct queue_stats {
#define QUEUE_STAT_FIELD(f) uint64_t f;
	QUEUE_STATS(QUEUE_STAT_FIELD)
#undef QUEUE_STAT_FIELD
};

/* Packets read per recvmmsg(); a full batch means more may be waiting. */
#define QUEUE_BATCH 64

struct queue;

/* Binds NFQUEUE `num` with GSO, fail-open, full copy. */
int queue_open(struct queue **out, uint16_t num, uint32_t maxlen);
void queue_close(struct queue *q);
int queue_fd(const struct queue *q);

/* Reads every packet waiting (up to a batch) and calls `fn` for each; `fn` must
 * call queue_verdict for the packet it is given. Verdicts are sent in one
 * batch at the end. Returns packets handled or -errno. */
typedef void (*queue_fn)(void *arg, struct queue *q, struct queue_pkt *p);
int queue_poll(struct queue *q, queue_fn fn, void *arg);

/* Accepts the packet; with `modified`, hands back p->data[0..p->len) in its place.
 * `clear_mark` bits are cleared from the packet's mark (the xtables fallback
 * classifies with a mark bit). */
void queue_verdict(struct queue *q, const struct queue_pkt *p, bool modified, uint32_t clear_mark);
void queue_drop(struct queue *q, const struct queue_pkt *p);

const struct queue_stats *queue_get_stats(const struct queue *q);

#endif
