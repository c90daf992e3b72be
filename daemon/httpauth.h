/* httpauth.h: the Authorization header of tcpprobe's HTTP clients (http_sd
 * in discovery.c, remote_write.c), from secret files read at every request
 * so that a rotated token needs no reload. */
#ifndef TCPPROBE_HTTPAUTH_H
#define TCPPROBE_HTTPAUTH_H

#include <stddef.h>

struct evkeyvalq;

/* Add "Authorization: Bearer <first line of bearer_file>" or "Basic
 * base64(user:<first line of pass_file>)"; nothing when both are "".
 * 0, or -1 with err naming the file. */
int httpauth_add(struct evkeyvalq *h, const char *bearer_file, const char *user,
		 const char *pass_file, char *err, size_t errlen);
/* "Host: host[:port]" as the URL has it. */
void httpauth_host(struct evkeyvalq *h, const char *host, int port);

#endif
