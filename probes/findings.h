/*
 * findings.h: what stands between us and the target, decided from what one
 * probe saw. Pure: the engine feeds it the peer's segments and the wire
 * time of our handshake ACK as they happen (find_observe*), and asks for
 * the verdict when the probe is reported (find_eval). No I/O, no clocks.
 * The rules, and the lab evidence behind them, are README's "Findings".
 */
#ifndef TCPPROBE_FINDINGS_H
#define TCPPROBE_FINDINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "packet.h"

/* The bounded set of finding names (metric label values). */
enum find_name {
	FIND_SYN_PROXY,        /* a SYN proxy answered the handshake */
	FIND_OPTIONS_STRIPPED, /* options we offered removed on the way */
	FIND_MSS_CLAMPED,      /* the peer's MSS below what the path allows */
	/* Only with an ECN-setup SYN (find_input.ecn): */
	FIND_ECN_NEGOTIATED,   /* the SYN/ACK has ECE without CWR (RFC 3168 6.1.1) */
	FIND_ECN_REFUSED,      /* it has not */
	FIND_ECN_BLEACHED,     /* negotiated, yet the peer's data arrives not-ECT */
	/* Only with the SYN/ACK retransmission check (find_input.synack_check): */
	FIND_SYN_COOKIES,      /* no SYN/ACK retransmission while we withheld our ACK */
	/* Never from one probe: the daemon's daemon/pairs.c relates two targets. */
	FIND_STATEFUL_FIREWALL, /* FIN silent where SYNs are refused */
};
#define FIND_COUNT (FIND_STATEFUL_FIREWALL + 1)
/* Whether one probe can find f given its opt-in checks (an ECN-setup SYN,
 * the SYN/ACK retransmission check): the names a target exports, with
 * stateful-firewall for fin targets (daemon/pairs.c). */
bool find_applies(enum find_name f, bool ecn, bool synack_check);
const char *find_name_str(enum find_name f);

/* Option bits (options-stripped names them). */
#define FIND_OPT_MSS    0x01
#define FIND_OPT_WSCALE 0x02
#define FIND_OPT_SACK   0x04
#define FIND_OPT_TS     0x08

/* What the peer's first SYN/ACK looked like: the fingerprint's raw fields. */
struct find_fp {
	uint8_t kinds[PKT_OPT_KINDS]; /* option kinds in order, NOPs included */
	uint8_t nkinds;
	uint8_t ttl_class;            /* initial TTL guessed: 32, 64, 128, 255 */
	bool df;
	uint8_t ecn_flags;            /* the SYN/ACK's ECE|CWR bits */
	uint16_t win;
	uint16_t mss;                 /* 0: none */
	int8_t wscale;                /* -1: none */
};

/* Accumulated while the probe runs. Zero it at the start. */
struct find_obs {
	bool have_synack;
	uint8_t family;
	uint16_t synack_win;
	uint8_t synack_tos;
	struct pkt_tcp_opts synack_opts;
	struct find_fp fp;
	uint64_t t_synack;     /* first SYN/ACK received */
	uint32_t synack_seq;   /* its sequence number (the peer's ISN) */
	uint64_t t_ack;        /* our ACK of it left (see ack_stamped) */
	bool ack_stamped;      /* t_ack is the kernel's wire time, not the send decision */
	uint64_t t_wupd;       /* first later peer segment opening a zero window */
	uint64_t t_rst;        /* first RST after the SYN/ACK */
	bool later_ts;         /* a later peer segment carried timestamps */
	/* syn-proxy's second rule: later segments (not RSTs) at or after the
	 * peer's ISN+1 that another stack sent than the SYN/ACK's */
	uint32_t peer_sent;    /* payload bytes the peer sent since ISN+1 (highest end) */
	uint8_t synack_ttl;    /* the SYN/ACK's TTL / hop limit as received */
	uint8_t later_ttl;     /* the first later segment's whose TTL differs; 0: none */
	bool later_no_ts;      /* the SYN/ACK had timestamps, a later segment none */
	uint16_t data_segs;    /* later peer segments with payload */
	uint16_t data_not_ect; /* ... whose IP ECN field was not-ECT */
};

void find_observe_in(struct find_obs *o, const struct pkt_info *pi, uint64_t t);
/* Our ACK of the SYN/ACK: first call at its send decision, then again with
 * stamped = true when the kernel reports its wire time. */
void find_observe_ack(struct find_obs *o, uint64_t t, bool stamped);

/* What the probe offered and what to expect. */
struct find_input {
	struct pkt_syn_opts offered;
	bool ecn;            /* our SYN was ECN-setup (ECE|CWR) */
	bool synack_check;   /* a syn probe withheld its answer to see the SYN/ACK again */
	uint8_t synack_rtx;  /* SYN/ACKs the peer retransmitted (duplicates excluded) */
	uint64_t synack_wait_ns; /* how long it waited */
	uint16_t expect_mss; /* the MSS the path allows; 0: 1460 (IPv4) / 1440 (IPv6), an
			      * Ethernet MTU. Never above what we offered. */
};

/* The verdict: compact (the daemon keeps it in every history entry);
 * find_evidence() puts the evidence into words. */
struct find_result {
	uint8_t mask;              /* 1 << enum find_name */
	bool have_fp;
	struct find_fp fp;
	/* syn-proxy */
	bool backend_refused;      /* an RST, no window update: the backend refused */
	bool ack_stamped;
	uint64_t backend_ns;       /* our ACK -> window update (or the RST) */
	bool other_stack;          /* the second rule: the SYN/ACK, not retransmitted,
				    * came from another stack than the later segments */
	uint8_t synack_ttl, later_ttl; /* later_ttl 0: the TTL did not change */
	bool later_no_ts;          /* the SYN/ACK had timestamps, later segments not */
	/* options-stripped */
	uint8_t stripped;          /* FIND_OPT_* */
	uint8_t nop_excess;        /* NOP bytes beyond the alignment padding */
	bool stripped_later;       /* timestamps seen later although the SYN/ACK had none */
	/* mss-clamped */
	uint16_t mss, mss_expected;
	/* ecn-*: the SYN/ACK's TOS / traffic class (DSCP and ECN field) and
	 * the peer's data segments (ecn-bleached) */
	uint8_t synack_tos;
	uint16_t data_segs, data_not_ect;
	/* syn-cookies */
	uint32_t synack_wait_ms;
};

void find_eval(const struct find_obs *o, const struct find_input *in, struct find_result *out);
bool find_has(const struct find_result *r, enum find_name f);
/* The name of one FIND_OPT_* bit: "mss", "wscale", "sack", "timestamps". */
const char *find_opt_str(uint8_t bit);
/* One line of evidence for finding f of r ("" if r lacks f). */
const char *find_evidence(const struct find_result *r, enum find_name f, char *buf, size_t len);
/* "win=65160 ttl=64 df opts=mss,sok,ts,nop,ws mss=1460 ws=7 ecn=-": stable
 * while the answering stack stays the same. buf >= FIND_FP_STRLEN. */
#define FIND_FP_STRLEN 128
const char *find_fp_str(const struct find_fp *fp, char *buf, size_t len);

/* The fingerprint and findings as words, as JSON carries them: what text
 * output prints, whether the result is at hand or was read back from JSON. */
#define FIND_EVIDENCE_MAX 256
struct find_text {
	char fp[FIND_FP_STRLEN]; /* "": none */
	uint8_t n;
	struct { char name[24]; char evidence[FIND_EVIDENCE_MAX]; } f[FIND_COUNT];
};
void find_text(const struct find_result *r, struct find_text *out);
bool find_fp_eq(const struct find_fp *a, const struct find_fp *b);

#endif
