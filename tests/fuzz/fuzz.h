/* fuzz.h: what every fuzz target shares: the invariant check (aborts, so
 * that libFuzzer keeps the input) and a reader of the fuzzed bytes that
 * yields zeros past the end, so that any input decodes. */
#ifndef TCPPROBE_FUZZ_H
#define TCPPROBE_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(c)                                                                 \
	do {                                                                     \
		if (!(c)) {                                                      \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, \
				__LINE__, #c);                                   \
			abort();                                                 \
		}                                                                \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct in {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t u8(struct in *in)
{
	if (in->n == 0)
		return 0;
	in->n--;
	return *in->p++;
}

static inline uint16_t u16(struct in *in) { return (uint16_t)(u8(in) << 8 | u8(in)); }
static inline uint32_t u32(struct in *in) { return (uint32_t)u16(in) << 16 | u16(in); }
static inline uint64_t u64(struct in *in) { return (uint64_t)u32(in) << 32 | u32(in); }

#endif
