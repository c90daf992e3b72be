/* httpauth.c: see httpauth.h. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "httpauth.h"

static void base64(const unsigned char *in, size_t n, char *out)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
			     (i + 2 < n ? in[i + 2] : 0);
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? tab[v & 63] : '=';
	}
	out[o] = 0;
}

static int read_secret(const char *path, char *out, size_t len, char *err, size_t errlen)
{
	FILE *fp = fopen(path, "re");
	if (!fp || !fgets(out, (int)len, fp)) {
		snprintf(err, errlen, "%s: %s", path, fp ? "empty" : strerror(errno));
		if (fp)
			fclose(fp);
		return -1;
	}
	fclose(fp);
	out[strcspn(out, "\r\n")] = 0;
	return 0;
}

int httpauth_add(struct evkeyvalq *h, const char *bearer_file, const char *user,
		 const char *pass_file, char *err, size_t errlen)
{
	char secret[400], hdr[900];
	if (bearer_file[0]) {
		if (read_secret(bearer_file, secret, sizeof(secret), err, errlen) < 0)
			return -1;
		snprintf(hdr, sizeof(hdr), "Bearer %s", secret);
		evhttp_add_header(h, "Authorization", hdr);
	}
	if (user[0]) {
		char up[600], b64[810];
		if (read_secret(pass_file, secret, sizeof(secret), err, errlen) < 0)
			return -1;
		int n = snprintf(up, sizeof(up), "%s:%s", user, secret);
		base64((const unsigned char *)up, (size_t)n < sizeof(up) ? (size_t)n : sizeof(up) - 1,
		       b64);
		snprintf(hdr, sizeof(hdr), "Basic %s", b64);
		evhttp_add_header(h, "Authorization", hdr);
	}
	return 0;
}

void httpauth_host(struct evkeyvalq *h, const char *host, int port)
{
	char hdr[300];
	if (port > 0 && port != 80)
		snprintf(hdr, sizeof(hdr), "%s:%d", host, port);
	else
		snprintf(hdr, sizeof(hdr), "%s", host);
	evhttp_add_header(h, "Host", hdr);
}
