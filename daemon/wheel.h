/* wheel.h: a hashed timing wheel (Varghese & Lauck): O(1) arm/cancel, one
 * libevent timer for all connections. Entries are intrusive. */
#ifndef TCPPROBE_WHEEL_H
#define TCPPROBE_WHEEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WHEEL_SLOTS 4096           /* power of two */
#define WHEEL_TICK_NS 1000000ULL   /* 1 ms resolution */

struct wheel_entry {
	struct wheel_entry *next, *prev;
	uint64_t deadline; /* 0 = not armed */
};

struct wheel {
	uint64_t now_tick;  /* ticks up to here have been expired */
	uint64_t count;
	struct wheel_entry slot[WHEEL_SLOTS]; /* list heads */
	uint64_t bitmap[WHEEL_SLOTS / 64];    /* non-empty slots */
};

void wheel_init(struct wheel *w, uint64_t now_ns);
/* (Re)arm e for deadline (ns); deadline 0 cancels. */
void wheel_arm(struct wheel *w, struct wheel_entry *e, uint64_t deadline);
void wheel_cancel(struct wheel *w, struct wheel_entry *e);
/* Expire every entry with deadline <= now: each is unlinked, then cb runs
 * (it may re-arm it). */
void wheel_expire(struct wheel *w, uint64_t now, void (*cb)(void *arg, struct wheel_entry *e),
		  void *arg);
/* Time of the next non-empty tick (ns), or 0 when empty. */
uint64_t wheel_next(const struct wheel *w);
/* wheel_expire in bounded steps: whole ticks, stopping after the tick in
 * which the budget-th entry expired. Returns true when due ticks remain
 * (call again soon: the next pass of the loop). */
bool wheel_expire_some(struct wheel *w, uint64_t now, size_t budget,
		       void (*cb)(void *arg, struct wheel_entry *e), void *arg);

/* A wheel driven by one libevent timer ev: arm_timer sets ev to fire at
 * the next deadline (or stops it when the wheel is empty); run expires the
 * due entries through cb at now() (about budget of them: bounded work per
 * loop pass; when more are due ev fires again at once, after the other
 * events of this pass), then arms ev. */
struct event;
void wheel_arm_timer(const struct wheel *w, struct event *ev, uint64_t now);
void wheel_run(struct wheel *w, struct event *ev, uint64_t (*now)(void), size_t budget,
	       void (*cb)(void *arg, struct wheel_entry *e), void *arg);

#endif
