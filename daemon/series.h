/* series.h: per-target history for the status page: a ring of time buckets
 * (status_bucket wide, 5 minutes by default: SERIES_LEN of them hold a day),
 * each with the probes counted in it, those lost, and handshake-RTT
 * quantiles computed from the bucket's own histogram (the delta of the
 * target's histogram over the bucket). Only the open bucket keeps its
 * histogram; a closed one keeps its quantiles, log-encoded in 16 bits
 * (0.1% steps), so a target costs SERIES_BYTES once it has a result. */
#ifndef TCPPROBE_SERIES_H
#define TCPPROBE_SERIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "engine.h"

#define SERIES_LEN 288
/* Quantiles kept per bucket: p10, p25, p50, p75, p90 (SmokePing's bands). */
#define SERIES_Q 5
extern const double series_q[SERIES_Q];

struct series_bucket {
	uint16_t count, lost;   /* probes recorded / of those, unanswered (loss) */
	uint16_t rtt_n;         /* handshake RTT samples */
	uint16_t q[SERIES_Q];   /* RTT quantiles, series_code(); 0: no sample */
};

struct series {
	struct series_bucket *b; /* SERIES_LEN, allocated at the first result */
	uint64_t width_ns;       /* bucket width the ring was filled with */
	uint64_t head;           /* number (t / width_ns) of the newest bucket */
	uint16_t cur[CFG_BUCKETS_MAX + 1]; /* the newest bucket's RTT histogram */
};

/* Heap bytes per target with a result (the ring); the struct itself lives
 * in struct target. */
#define SERIES_BYTES (SERIES_LEN * sizeof(struct series_bucket))

/* Count r in the bucket of its start time; a change of width starts over.
 * -1 when the ring could not be allocated (the result is not counted). */
int series_record(struct series *s, const struct probe_report *r, uint64_t width_ns,
		  const double *bounds, unsigned nbuckets);
void series_free(struct series *s);
/* Bucket number (t / width) i buckets before `newest` (0 = newest); NULL
 * when it is outside the ring or empty. */
const struct series_bucket *series_at(const struct series *s, uint64_t newest, unsigned i);

/* Nanoseconds <-> the 16-bit log code (0.1% steps; 0 = none). */
uint16_t series_code(double ns);
double series_ns(uint16_t code);

#endif
