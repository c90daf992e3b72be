/* test_pktwrite.c: pkt_write (the send path, no libnet) against pkt_build
 * (libnet, the reference): byte for byte over many random segments of both
 * families, every option layout, payloads, TTL/TOS; and the same errors. */
#include "check.h"
#include "packet.h"

#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

static struct pkt_addr rnd_addr(int family)
{
	struct pkt_addr a;
	memset(&a, 0, sizeof(a));
	a.family = (uint8_t)family;
	for (int i = 0; i < (family == AF_INET6 ? 16 : 4); i++)
		a.a[i] = (uint8_t)rnd();
	return a;
}

static struct pkt_builder *builder(void)
{
	char err[256];
	struct pkt_builder *b = pkt_builder_new(err, sizeof(err));
	if (!b) {
		printf("FAIL pkt_builder_new: %s\n", err);
		exit(1);
	}
	return b;
}

static void test_random_segments_identical(void)
{
	struct pkt_builder *b = builder();
	uint8_t ref[PKT_MAX_LEN], out[PKT_MAX_LEN], payload[200];
	for (unsigned i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)rnd();
	for (int iter = 0; iter < 20000; iter++) {
		int fam = rnd() & 1 ? AF_INET6 : AF_INET;
		struct pkt_syn_opts so = {
			.mss = rnd() % 3 ? (uint16_t)rnd() : 0,
			.wscale = (int8_t)((int)(rnd() % 16) - 1),
			.sack_ok = rnd() & 1,
			.timestamps = rnd() & 1,
		};
		struct pkt_out o = {
			.src = rnd_addr(fam), .dst = rnd_addr(fam),
			.sport = (uint16_t)rnd(), .dport = (uint16_t)rnd(),
			.seq = rnd() ^ rnd() << 16, .ack = rnd() ^ rnd() << 16,
			.flags = (uint8_t)rnd(), .win = (uint16_t)rnd(),
			.ttl = rnd() % 4 ? (uint8_t)rnd() : 0, .tos = (uint8_t)rnd(),
			.syn_opts = rnd() % 4 ? &so : NULL,
			.ts = rnd() & 1, .tsval = rnd(), .tsecr = rnd(),
			.stamp = rnd() % 8 == 0,
		};
		if (iter % 2)
			o.flags |= PKT_SYN;
		if (rnd() % 5 == 0) {
			o.payload = payload;
			o.payload_len = (uint16_t)(rnd() % sizeof(payload));
		}
		ssize_t n1 = pkt_build(b, &o, ref, sizeof(ref));
		memset(out, 0xa5, sizeof(out));
		ssize_t n2 = pkt_write(&o, out, sizeof(out));
		CHECK(n1 > 0);
		CHECK_EQ(n2, n1);
		if (memcmp(ref, out, (size_t)n1)) {
			size_t k = 0;
			while (ref[k] == out[k])
				k++;
			printf("FAIL %s: iteration %d (v%d flags %02x): byte %zu is %02x, libnet %02x\n",
			       check_cur_name, iter, fam == AF_INET6 ? 6 : 4, o.flags, k, out[k], ref[k]);
			check_cur_failed = 1;
			break;
		}
	}
	pkt_builder_free(b);
}

static void test_errors_match(void)
{
	uint8_t buf[PKT_MAX_LEN];
	struct pkt_out o = { .src = rnd_addr(AF_INET), .dst = rnd_addr(AF_INET6), .flags = PKT_SYN };
	CHECK_EQ(pkt_write(&o, buf, sizeof(buf)), -1); /* mixed families */
	o.dst = rnd_addr(AF_INET);
	o.payload_len = 10;
	CHECK_EQ(pkt_write(&o, buf, sizeof(buf)), -1); /* length without payload */
	o.payload_len = 0;
	CHECK_EQ(pkt_write(&o, buf, 79), -1);           /* no room for the largest options */
	CHECK_EQ(pkt_write(&o, buf, 80), 40);
	uint8_t big[PKT_MAX_LEN];
	memset(big, 0, sizeof(big));
	o.payload = big;
	o.payload_len = PKT_MAX_LEN;
	CHECK_EQ(pkt_write(&o, buf, sizeof(buf)), -1); /* does not fit */
	o.src.family = 0;
	o.dst.family = 0;
	o.payload_len = 0;
	CHECK_EQ(pkt_write(&o, buf, sizeof(buf)), -1);
}

int main(void)
{
	RUN(test_random_segments_identical);
	RUN(test_errors_match);
	return CHECK_EXIT();
}
