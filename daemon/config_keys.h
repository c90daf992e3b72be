/* config_keys.h: the table of the probe keys, one row per key. A probe key
 * is set in [defaults], [target NAME] and [discovery NAME], by `ctl add` and
 * `ctl probe` key=value words and by its `tcpprobe probe` options. Its row
 * declares its field of struct probe_opts (config.h) and is its entry in
 * config_keys.c's table, from which the parser, config_defaults(),
 * config_print(), `ctl show`'s options, `tcpprobe probe`'s options and
 * usage, and the key and option lists of tcpprobe.conf(5) and tcpprobe(8)
 * with their defaults (man/mangen.c) all come. Adding a probe key is one
 * row here plus its use (and its tests).
 *
 * X(name, field, type, min, max, def, ...), in print order:
 *   field  of struct probe_opts; a key of type MSS, WSCALE or SYN_BOOL sets a
 *          field of its syn (struct pkt_syn_opts, the SYN's options).
 *   type   one of the PKT_ below: the field's C type and the key's syntax.
 *   min, max  the range (ns for durations; NS_MS, NS_H... of config_priv.h).
 *   def    the built-in default, as a file writes it.
 *   ...    the rest of struct probe_key (config_keys.c) as designated
 *          initializers: .opts, its `tcpprobe probe` options (config.h,
 *          struct config_key_opt), with the command line's own default
 *          .opt_def and, with .opt_min0, no lower bound there; .doc, a
 *          sentence for tcpprobe.conf(5) when man/tcpprobe.conf.5.in has no
 *          text of its own for the key (else the first option's help);
 *          .target_only, a key of a target's rounds or schedule, which a
 *          one-shot `ctl probe` (one probe) refuses at another value than
 *          its built-in default, and takes no [defaults] value of.
 *
 * time_wait, 2s: TIME_WAIT exists to re-ACK the peer's FIN if our last ACK
 * was lost (RFC 9293 3.6.1). The peer retransmits after its RTO: about
 * 200 ms + RTT on Linux, 1 s on an RFC 6298 stack; 2 s covers either plus a
 * round trip, where RFC 9293's 2*MSL (4 min) would hold 1,000x the state.
 */
#ifndef TCPPROBE_CONFIG_KEYS_H
#define TCPPROBE_CONFIG_KEYS_H

#define PROBE_KEYS(X) \
	X("kind", kind, KIND, 0, 0, "handshake", \
	  .opts = { { 'k', "kind", "KIND", NULL, "syn | handshake | fin | trace" } }) \
	X("port", port, PORT, 1, 65535, "80", \
	  .opts = { { 'p', "port", "P", NULL, "port for targets given without one" } }) \
	X("family", family, FAMILY, 0, 0, "any", \
	  .opts = { { '4', NULL, NULL, "ipv4", "IPv4 only" }, \
		    { '6', NULL, NULL, "ipv6", "IPv6 only" } }) \
	/* A one-shot run may go faster than a daemon's target, no slower. */ \
	X("interval", interval_ns, DUR, 100 * NS_MS, 24 * NS_H, "10s", \
	  .opts = { { 'i', "interval", "S", NULL, "time between probes of a target" } }, \
	  .opt_def = "1s", .opt_min0 = true) \
	/* Path change detection (probes/path.h): a trace of the target this \
	 * often, next to its probes. 1s at least: a trace sends up to max_hops \
	 * SYNs and waits for its silent hops. Not a `tcpprobe probe` option. */ \
	X("trace_interval", trace_interval_ns, DUR_OFF, 1 * NS_S, 24 * NS_H, "off", \
	  .doc = "Trace the path to the target this often, next to its probes.", \
	  .target_only = true) \
	/* RFC 6298 2.1: the initial RTO, doubled per retry. */ \
	X("timeout", timeout_ns, DUR, 1 * NS_MS, 60 * NS_S, "1s", \
	  .opts = { { 't', "timeout", "S", NULL, \
		      "wait for a reply before retransmitting, doubled per retry" } }) \
	X("retries", retries, U8, 0, 10, "2", \
	  .opts = { { 'r', "retries", "N", NULL, "SYN/FIN retransmissions" } }) \
	X("time_wait", time_wait_ns, DUR, 0, 240 * NS_S, "2s", \
	  .opts = { { 0, "time-wait", "S", NULL, "TIME_WAIT duration" } }) \
	X("fin_wait_2", fin_wait_2_ns, DUR, 1 * NS_MS, 10 * NS_M, "5s", \
	  .opts = { { 0, "fin-wait-2", "S", NULL, "how long FIN_WAIT_2 waits for the peer's FIN" } }) \
	X("hold", hold_ns, DUR, 0, 1 * NS_H, "0s", \
	  .opts = { { 0, "hold", "S", NULL, "stay ESTABLISHED this long before closing" } }) \
	X("ttl", ttl, U8, 1, 255, "64", .opts = { { 0, "ttl", "N", NULL, "TTL / hop limit" } }) \
	X("tos", tos, TOS, 0, 255, "0", .opts = { { 0, "tos", "N", NULL, "TOS / traffic class" } }) \
	/* Linux's: 44 * 1460. */ \
	X("window", window, U16, 0, 65535, "64240", \
	  .opts = { { 0, "window", "N", NULL, "the SYN's window" } }) \
	X("mss", syn.mss, MSS, 0, 65535, "1460", \
	  .opts = { { 0, "mss", "N|off", NULL, "the SYN's MSS option" } }) \
	X("wscale", syn.wscale, WSCALE, 0, 14, "7", \
	  .opts = { { 0, "wscale", "N|off", NULL, "the SYN's window scale option" } }) \
	X("sack", syn.sack_ok, SYN_BOOL, 0, 0, "yes", \
	  .opts = { { 0, "no-sack", NULL, "no", "leave the SACK-permitted option out of the SYN" } }) \
	X("timestamps", syn.timestamps, SYN_BOOL, 0, 0, "yes", \
	  .opts = { { 0, "no-timestamps", NULL, "no", \
		      "leave the timestamps option out of the SYN" } }) \
	/* probes/findings: ecn-*. */ \
	X("ecn", ecn, BOOL, 0, 0, "no", \
	  .opts = { { 0, "ecn", NULL, "yes", \
		      "an ECN-setup SYN (ECE|CWR): findings ecn-negotiated/-refused/-bleached" } }) \
	/* Syn probes: see whether the SYN/ACK comes again (probes/findings: syn-cookies). */ \
	X("check_synack_retransmit", check_synack_retransmit, BOOL, 0, 0, "no", \
	  .opts = { { 0, "check-synack-retransmit", NULL, "yes", \
		      "syn probes: withhold the RST 1.5 s; no SYN/ACK retransmission: syn-cookies" } }) \
	X("expect_mss", expect_mss, U16, 0, 65535, "0", \
	  .opts = { { 0, "expect-mss", "N", NULL, \
		      "finding mss-clamped below N; 0: 1460 IPv4, 1440 IPv6" } }) \
	/* probes/flows: N probes a round, each flow on its own source port. */ \
	X("flows", flows, U8, 1, FLOWS_MAX, "1", \
	  .opts = { { 0, "flows", "N", NULL, "probes per round, one per flow (its own source port)" } }, \
	  .target_only = true) \
	X("flow_metrics", flow_metrics, BOOL, 0, 0, "no", \
	  .doc = "Per-flow series in /metrics, with flows above 1.", .target_only = true) \
	/* Trace probes: TTLs 1..max_hops (probes/trace.h). */ \
	X("max_hops", max_hops, U8, 1, TRACE_HOPS_MAX, "30", \
	  .opts = { { 0, "max-hops", "N", NULL, "trace: SYNs with TTL 1..N" } })

/* The types: PKT_<type>_CTYPE is the field's C type, PKT_<type>_PLACE where
 * struct probe_opts has it: WIDE fields first, then NARROW ones in row order
 * (no padding between them), SYN ones in its syn. */
#define PKT_KIND_CTYPE enum probe_kind
#define PKT_KIND_PLACE NARROW
#define PKT_FAMILY_CTYPE uint8_t /* enum addr_family_pref */
#define PKT_FAMILY_PLACE NARROW
#define PKT_U8_CTYPE uint8_t
#define PKT_U8_PLACE NARROW
#define PKT_U16_CTYPE uint16_t
#define PKT_U16_PLACE NARROW
#define PKT_PORT_CTYPE uint16_t /* decimal 1..65535 (config_parse_port) */
#define PKT_PORT_PLACE NARROW
#define PKT_TOS_CTYPE uint8_t /* decimal or 0x hex */
#define PKT_TOS_PLACE NARROW
#define PKT_BOOL_CTYPE bool
#define PKT_BOOL_PLACE NARROW
#define PKT_DUR_CTYPE uint64_t /* ns */
#define PKT_DUR_PLACE WIDE
#define PKT_DUR_OFF_CTYPE uint64_t /* ns; "off" is 0 */
#define PKT_DUR_OFF_PLACE WIDE
#define PKT_MSS_PLACE SYN /* N, or off (0) */
#define PKT_WSCALE_PLACE SYN /* N, or off (-1) */
#define PKT_SYN_BOOL_PLACE SYN

/* PROBE_KEYS(PROBE_KEY_FIELD_WIDE) declares the WIDE fields, ..._NARROW the
 * NARROW ones. */
#define PROBE_KEY_FIELD_WIDE(n, field, type, ...) \
	PK_FIELD_(WIDE, PKT_##type##_PLACE, type, field)
#define PROBE_KEY_FIELD_NARROW(n, field, type, ...) \
	PK_FIELD_(NARROW, PKT_##type##_PLACE, type, field)
#define PK_FIELD_(want, place, type, field) PK_FIELD__(want, place, type, field)
#define PK_FIELD__(want, place, type, field) PK_IF_##want##_##place(PKT_##type##_CTYPE field;)
#define PK_IF_WIDE_WIDE(decl) decl
#define PK_IF_WIDE_NARROW(decl)
#define PK_IF_WIDE_SYN(decl)
#define PK_IF_NARROW_WIDE(decl)
#define PK_IF_NARROW_NARROW(decl) decl
#define PK_IF_NARROW_SYN(decl)

#endif
