/* views.h: the daemon's read-only views (status, targets, show, history,
 * result events), in one place whoever carries them: the control socket
 * sends them, the status page serves them, and `tcpprobe ctl` renders their
 * text (views_text.c). As bgpctl's output.c / output_json.c: the transport
 * only moves bytes, the views know the fields.
 *
 * Each view_*() writes its members into the JSON object the caller has
 * opened (the control socket's reply starts with "ok": true).
 *
 * The field tables below feed both sides: the JSON writer takes each row's
 * key, the text renderer the same row's label and format, so a field is
 * named once. */
#ifndef TCPPROBE_VIEWS_H
#define TCPPROBE_VIEWS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "registry.h"
#include "json.h"
#include "targets.h"

/* How a field's JSON value reads as text. */
enum view_fmt {
	VF_COUNT,  /* an integer; "-" when missing */
	VF_STR,    /* a string; "?" when missing */
	VF_RATE,   /* a rate: one decimal */
	VF_US,     /* microseconds: "850us", "1.25ms", "2.00s"; "-" when null */
	VF_BYTES,  /* "1.5 MiB" */
	VF_UPTIME, /* seconds: "1d 2h 3m 4s" */
	VF_PCT,    /* a percentage: "12.5%"; "-" when null */
	VF_DEST,   /* the row's "address" (or "host") and "port": "[addr]:port" */
	VF_LABELS, /* a labels object: "k=v,k=v"; "-" when empty */
	VF_TIME,   /* seconds since the epoch, local time; "never" when null */
	VF_MEMBERS, /* an object: "k=v k=v" (numbers as integers, yes/no) */
	VF_PEER,   /* the peer object: "mss M, wscale W, sack yes, timestamps no, ttl T" */
	VF_FINDINGS, /* a findings array: "NAME: evidence; NAME: evidence"; "none" when empty */
	VF_LINES,  /* an array of strings: a line each, under the row's label; none: no line */
	VF_PATH,   /* a path: an array of hop addresses, null for a silent one: "a b * c" */
};

/* view_field.flags */
#define VF_OPT 1u /* printed only when set (not null, not missing, not ""); a line
		   * whose rows are all optional and unset is not printed */
#define VF_NAMED 2u /* the label is a format: %s is the row's "name" ("discovery %s:") */

struct view_ctx; /* what a row's value comes from (views.c) */

/* One field of a view. */
struct view_field {
	const char *key;   /* JSON member */
	const char *group; /* the enclosing object's key (status "memory"); NULL: top level */
	const char *label; /* text: starts a line (status, show) or heads a column (targets);
			    * NULL: continues the line before / not a column */
	const char *text;  /* text: printf format with one %s for the value; NULL: JSON only */
	enum view_fmt fmt;
	void (*put)(struct jbuf *j, const struct view_field *f, const struct view_ctx *x);
	size_t off;        /* for put: where the value is in the view's source */
	const char *none;  /* text for null (or 0 in VF_COUNT); NULL: the format's own */
	unsigned flags;    /* VF_OPT */
};

extern const struct view_field view_status_fields[];
extern const size_t view_status_nfields;
extern const struct view_field view_target_fields[];
extern const size_t view_target_nfields;
extern const struct view_field view_show_fields[];
extern const size_t view_show_nfields;
/* status: its "discovery" and "remote_write" arrays, one object per source
 * or writer. */
extern const struct view_field view_discovery_fields[];
extern const size_t view_discovery_nfields;
extern const struct view_field view_remote_write_fields[];
extern const size_t view_remote_write_nfields;

/* What the views read, handed by the lifecycle (daemon.c) to the control
 * socket and the metrics: the registry, and the status of the discovery
 * sources and remote writers. The lifecycle fills it as it starts each
 * (NULL: not (yet) started; no sources / no writers). */
struct discovery;
struct remote_writers;
struct view_src {
	struct registry *reg;
	struct discovery *disc;
	struct remote_writers *rw;
};

/* status: the daemon's counters; clients: control connections open. */
void view_status(struct jbuf *j, const struct view_src *src, unsigned clients);
/* targets: "targets": [ one row per target ]. */
void view_targets(struct jbuf *j, struct registry *reg);
/* show: "target": { everything about t, its last results included }. */
void view_show(struct jbuf *j, struct registry *reg, const struct target *t);
/* history: "target", "labels" and t's last n "results". */
void view_history(struct jbuf *j, const struct target *t, unsigned n);
/* A result event (one-shot probe, watch): "event": "result", "result": the
 * report; with labels when t is not NULL (watch). Opens its own object. */
void view_result_event(struct jbuf *j, const char *target, const struct probe_report *r,
		       const struct target *t, bool labels);

#endif
