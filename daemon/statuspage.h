/* statuspage.h: the status page on the metrics listener: `/` (every
 * target), `/target/NAME` (ladder diagrams, the SmokePing-style graph,
 * per-phase histograms), `/api/targets` and `/api/target/NAME` (the JSON of
 * `ctl targets` / `ctl show`), `/style.css`. Server-rendered HTML with
 * inline SVG; no script, nothing loaded from elsewhere. */
#ifndef TCPPROBE_STATUSPAGE_H
#define TCPPROBE_STATUSPAGE_H

#include <stdbool.h>

struct evhttp_request;
struct registry;

/* Serve req if path is one of the page's (and status_page is on): true
 * when answered, false to let the caller answer 404. */
bool statuspage_serve(struct registry *reg, struct evhttp_request *req, const char *path);

/* Render into out (for tests and the benchmark): the overview with the
 * query string q ("" or NULL for none); a target's page. */
struct jbuf;
struct target;
void statuspage_overview(struct registry *reg, const char *q, struct jbuf *out);
void statuspage_target(struct registry *reg, const struct target *t, const char *q, struct jbuf *out);

#endif
