/* test_remote_write.c: the exposition text as a remote-write 1.0 request:
 * snappy-compressed protobuf WriteRequest, read back with protobuf-c and
 * libsnappy; labels sorted, escapes undone, external labels added unless
 * the series has the label, one sample per series at the given time. */
#include <math.h>
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "labels.h"
#include "remote.pb-c.h"
#include "remote_write.h"

static const char *lv(const Prometheus__TimeSeries *ts, const char *name)
{
	for (size_t i = 0; i < ts->n_labels; i++)
		if (!strcmp(ts->labels[i]->name, name))
			return ts->labels[i]->value;
	return NULL;
}

static void encode_decode(void)
{
	const char *text =
		"# HELP tcpprobe_up 1 if up\n# TYPE tcpprobe_up gauge\n"
		"tcpprobe_up{target=\"10.0.0.1:80\",team=\"a \\\"b\\\" \\\\ c\\nd\",region=\"own\"} 1\n"
		"tcpprobe_targets 3\n"
		"tcpprobe_handshake_duration_seconds_bucket{target=\"x\",le=\"+Inf\"} 7\n"
		"tcpprobe_handshake_duration_seconds_sum{target=\"x\"} 0.000125\n";
	struct labels_build b;
	char *ext = NULL, err[200];
	labels_build_init(&b);
	CHECK(labels_build_parse(&b, "region=eu, prober=host1", err, sizeof(err)) == 0);
	CHECK(labels_build_finish(&b, &ext) == 0);
	labels_build_free(&b);
	unsigned char *body = NULL;
	size_t len = 0, samples = 0;
	CHECK(remote_write_encode(text, strlen(text), 1700000000123LL, ext, &body, &len, &samples,
				  err, sizeof(err)) == 0);
	free(ext);
	CHECK_EQ(samples, 4);
	size_t ulen = 0;
	CHECK(snappy_uncompressed_length((const char *)body, len, &ulen) == SNAPPY_OK);
	char *raw = malloc(ulen);
	CHECK(raw && snappy_uncompress((const char *)body, len, raw, &ulen) == SNAPPY_OK);
	free(body);
	Prometheus__WriteRequest *wr =
		prometheus__write_request__unpack(NULL, ulen, (const uint8_t *)raw);
	free(raw);
	CHECK(wr && wr->n_timeseries == 4);
	const Prometheus__TimeSeries *t0 = wr->timeseries[0];
	CHECK_STR(lv(t0, "__name__"), "tcpprobe_up");
	CHECK_STR(lv(t0, "team"), "a \"b\" \\ c\nd");
	CHECK_STR(lv(t0, "region"), "own"); /* the series' own label wins */
	CHECK_STR(lv(t0, "prober"), "host1");
	for (size_t i = 0; i < wr->n_timeseries; i++) {
		const Prometheus__TimeSeries *ts = wr->timeseries[i];
		CHECK(ts->n_samples == 1 && ts->samples[0]->timestamp == 1700000000123LL);
		for (size_t k = 1; k < ts->n_labels; k++)
			CHECK(strcmp(ts->labels[k - 1]->name, ts->labels[k]->name) < 0);
	}
	CHECK_STR(lv(wr->timeseries[1], "region"), "eu");
	CHECK(wr->timeseries[1]->n_labels == 3 && wr->timeseries[1]->samples[0]->value == 3);
	CHECK_STR(lv(wr->timeseries[2], "le"), "+Inf");
	CHECK(wr->timeseries[3]->samples[0]->value == 0.000125);
	prometheus__write_request__free_unpacked(wr, NULL);

	CHECK(remote_write_encode("bad{x=1} 2\n", 11, 0, NULL, &body, &len, &samples, err,
				  sizeof(err)) < 0);
	CHECK(strstr(err, "line 1"));
	CHECK(remote_write_encode("", 0, 0, NULL, &body, &len, &samples, err, sizeof(err)) == 0);
	CHECK_EQ(samples, 0);
	free(body);
}

int main(void)
{
	RUN(encode_decode);
	return CHECK_EXIT();
}
