/* views_text.h: the daemon's views (views.h) as text, from their JSON:
 * what `tcpprobe ctl` prints for people. */
#ifndef TCPPROBE_VIEWS_TEXT_H
#define TCPPROBE_VIEWS_TEXT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "views.h"

/* A reply's string member key, or dflt when it is missing or no string. */
const char *view_text_str(const json_t *o, const char *key, const char *dflt);
void view_text_status(FILE *out, const json_t *reply);
/* labels: add the LABELS column. */
void view_text_targets(FILE *out, const json_t *reply, bool labels);
void view_text_show(FILE *out, const json_t *reply);
void view_text_history(FILE *out, const json_t *reply);
/* One result (report_json's object) as report_line prints it, after its
 * local time when with_time, followed by its timeline when trace. */
void view_text_result(FILE *out, const json_t *result, bool with_time, bool trace);

#endif
