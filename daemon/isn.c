/* isn.c: RFC 6528 initial sequence numbers.
 *
 *   ISN = F(key, 4-tuple) + M
 *
 * with F = SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input
 * PRF", 2012) and M a clock ticking every 4 microseconds (RFC 6528 section 3,
 * taken over from RFC 793's generator). The hash is written from the paper's
 * description; tests/unit/test_isn.c checks it against the paper's test
 * vector (appendix A) and the reference implementation's vectors.
 */
#include "isn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

static uint8_t isn_key[16];

/* Domain separation: the ISN and the TSval offset hash the same tuple under
 * the same key, so a leading tag byte keeps the two outputs independent. */
#define ISN_TAG_ISN 'I'
#define ISN_TAG_TS  'T'

static inline uint64_t rotl64(uint64_t x, unsigned b)
{
	return (x << b) | (x >> (64 - b));
}

/* Little-endian load regardless of host byte order or alignment. */
static inline uint64_t load_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* One SipRound (paper, section 2, "SipRound"): an ARX network over the four
 * 64-bit words of internal state. */
#define SIPROUND(v0, v1, v2, v3) do {                                   \
	v0 += v1; v1 = rotl64(v1, 13); v1 ^= v0; v0 = rotl64(v0, 32);   \
	v2 += v3; v3 = rotl64(v3, 16); v3 ^= v2;                        \
	v0 += v3; v3 = rotl64(v3, 21); v3 ^= v0;                        \
	v2 += v1; v1 = rotl64(v1, 17); v1 ^= v2; v2 = rotl64(v2, 32);   \
} while (0)

uint64_t isn_siphash(const uint8_t key[16], const void *data, size_t len)
{
	const uint8_t *in = data;
	uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);

	/* Initialisation: the key xored with "somepseudorandomlygeneratedbytes". */
	uint64_t v0 = k0 ^ 0x736f6d6570736575ULL;
	uint64_t v1 = k1 ^ 0x646f72616e646f6dULL;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ULL;
	uint64_t v3 = k1 ^ 0x7465646279746573ULL;

	/* Compression: c = 2 rounds per 8-byte little-endian word. */
	size_t full = len & ~(size_t)7;
	for (size_t i = 0; i < full; i += 8) {
		uint64_t m = load_le64(in + i);
		v3 ^= m;
		SIPROUND(v0, v1, v2, v3);
		SIPROUND(v0, v1, v2, v3);
		v0 ^= m;
	}

	/* The last word holds the 0..7 remaining bytes and, in its top byte,
	 * the message length mod 256. */
	uint64_t b = (uint64_t)(len & 0xff) << 56;
	for (size_t i = 0; i < (len & 7); i++)
		b |= (uint64_t)in[full + i] << (8 * i);
	v3 ^= b;
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	v0 ^= b;

	/* Finalisation: d = 4 rounds. */
	v2 ^= 0xff;
	for (int i = 0; i < 4; i++)
		SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

void isn_init_key(const uint8_t key[16])
{
	memcpy(isn_key, key, sizeof(isn_key));
}

/* /dev/urandom, for kernels or seccomp policies without getrandom(2). */
static int isn_urandom(uint8_t *buf, size_t len)
{
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t got = 0;
	for (int tries = 0; got < len && tries < 16; tries++) {
		ssize_t n = read(fd, buf + got, len - got);
		if (n > 0)
			got += (size_t)n;
		else if (n < 0 && errno != EINTR)
			break;
	}
	close(fd);
	return got == len ? 0 : -1;
}

void isn_init(void)
{
	uint8_t key[16];
	size_t got = 0;

	/* getrandom() blocks only until the pool is first initialised; a
	 * request this small is never short once it is, except for EINTR. */
	for (int tries = 0; got < sizeof(key) && tries < 16; tries++) {
		ssize_t n = getrandom(key + got, sizeof(key) - got, 0);
		if (n > 0)
			got += (size_t)n;
		else if (n < 0 && errno != EINTR)
			break;
	}
	if (got < sizeof(key)) {
		log_warn("%s: getrandom, falling back to /dev/urandom", __func__);
		if (isn_urandom(key, sizeof(key)) < 0) {
			/* Predictable ISNs would let anyone on path forge
			 * replies; refuse to run rather than degrade. */
			log_msg(LOG_LVL_ERR, "%s: no source of randomness for the ISN key", __func__);
			abort();
		}
	}
	isn_init_key(key);
	explicit_bzero(key, sizeof(key));
}

static size_t addr_len(const struct pkt_addr *a)
{
	return a->family == AF_INET6 ? 16 : 4;
}

/* tag | family | src | sport | dst | dport, ports in network byte order. */
static size_t tuple_encode(uint8_t *buf, uint8_t tag, const struct pkt_addr *src, uint16_t sport,
			   const struct pkt_addr *dst, uint16_t dport)
{
	size_t n = 0;
	buf[n++] = tag;
	buf[n++] = src->family;
	memcpy(buf + n, src->a, addr_len(src));
	n += addr_len(src);
	buf[n++] = sport >> 8;
	buf[n++] = sport & 0xff;
	memcpy(buf + n, dst->a, addr_len(dst));
	n += addr_len(dst);
	buf[n++] = dport >> 8;
	buf[n++] = dport & 0xff;
	return n;
}

uint32_t isn_make(const struct pkt_addr *src, uint16_t sport, const struct pkt_addr *dst,
		  uint16_t dport, uint64_t now_ns)
{
	uint8_t buf[2 + 16 + 2 + 16 + 2];
	size_t n = tuple_encode(buf, ISN_TAG_ISN, src, sport, dst, dport);
	/* M: RFC 6528's 4 microsecond timer, wrapping every ~4.77 hours. */
	uint32_t m = (uint32_t)(now_ns / 4000);
	return (uint32_t)isn_siphash(isn_key, buf, n) + m;
}

uint32_t isn_ts_offset(const struct pkt_addr *src, uint16_t sport, const struct pkt_addr *dst,
		       uint16_t dport)
{
	uint8_t buf[2 + 16 + 2 + 16 + 2];
	size_t n = tuple_encode(buf, ISN_TAG_TS, src, sport, dst, dport);
	return (uint32_t)isn_siphash(isn_key, buf, n);
}
