#include "wheel.h"

#include <event2/event.h>

#include <stddef.h>
#include <stdint.h>

#include "timens.h"

static inline uint64_t tick_of(uint64_t ns) { return ns / WHEEL_TICK_NS; }
/* An entry lives in the slot of the first tick at or after its deadline, so
 * expiring a tick never fires an entry early. */
static inline uint64_t tick_ceil(uint64_t ns) { return (ns + WHEEL_TICK_NS - 1) / WHEEL_TICK_NS; }

static inline void slot_mark(struct wheel *w, unsigned s, int on)
{
	if (on)
		w->bitmap[s / 64] |= 1ULL << (s % 64);
	else
		w->bitmap[s / 64] &= ~(1ULL << (s % 64));
}

void wheel_init(struct wheel *w, uint64_t now_ns)
{
	w->now_tick = tick_of(now_ns);
	w->count = 0;
	for (unsigned i = 0; i < WHEEL_SLOTS; i++)
		w->slot[i].next = w->slot[i].prev = &w->slot[i];
	for (unsigned i = 0; i < WHEEL_SLOTS / 64; i++)
		w->bitmap[i] = 0;
}

void wheel_cancel(struct wheel *w, struct wheel_entry *e)
{
	if (!e->deadline)
		return;
	e->prev->next = e->next;
	e->next->prev = e->prev;
	e->next = e->prev = NULL;
	e->deadline = 0;
	w->count--;
}

void wheel_arm(struct wheel *w, struct wheel_entry *e, uint64_t deadline)
{
	wheel_cancel(w, e);
	if (!deadline)
		return;
	uint64_t t = tick_ceil(deadline);
	/* A deadline in an expired tick fires at the next expiry pass. */
	if (t <= w->now_tick)
		t = w->now_tick + 1;
	unsigned s = t & (WHEEL_SLOTS - 1);
	struct wheel_entry *h = &w->slot[s];
	e->deadline = deadline;
	e->next = h->next;
	e->prev = h;
	h->next->prev = e;
	h->next = e;
	slot_mark(w, s, 1);
	w->count++;
}

void wheel_expire(struct wheel *w, uint64_t now, void (*cb)(void *arg, struct wheel_entry *e),
		  void *arg)
{
	wheel_expire_some(w, now, SIZE_MAX, cb, arg);
}

bool wheel_expire_some(struct wheel *w, uint64_t now, size_t budget,
		       void (*cb)(void *arg, struct wheel_entry *e), void *arg)
{
	uint64_t end = tick_of(now);
	if (end <= w->now_tick)
		return false;
	size_t done = 0;
	/* After a long stall, one lap covers every slot. */
	uint64_t start = w->now_tick + 1;
	if (end - start >= WHEEL_SLOTS)
		start = end - WHEEL_SLOTS + 1;
	for (uint64_t t = start; t <= end; t++) {
		unsigned s = t & (WHEEL_SLOTS - 1);
		struct wheel_entry *h = &w->slot[s];
		if (h->next == h)
			continue;
		/* Detach the due entries first: callbacks may re-arm into this slot. */
		struct wheel_entry due = { .next = &due, .prev = &due };
		struct wheel_entry *e = h->next;
		while (e != h) {
			struct wheel_entry *n = e->next;
			if (tick_ceil(e->deadline) <= end) {
				e->prev->next = e->next;
				e->next->prev = e->prev;
				e->next = &due;
				e->prev = due.prev;
				due.prev->next = e;
				due.prev = e;
			}
			e = n;
		}
		if (h->next == h)
			slot_mark(w, s, 0);
		w->now_tick = t;
		while (due.next != &due) {
			e = due.next;
			due.next = e->next;
			e->next->prev = &due;
			e->next = e->prev = NULL;
			e->deadline = 0;
			w->count--;
			done++;
			cb(arg, e);
		}
		/* Whole ticks only: the rest waits for the next call. */
		if (done >= budget && t < end)
			return true;
	}
	w->now_tick = end;
	return false;
}

uint64_t wheel_next(const struct wheel *w)
{
	if (!w->count)
		return 0;
	/* Scan the bitmap from the slot after now_tick, one lap at most. */
	uint64_t best = 0;
	unsigned first = (w->now_tick + 1) & (WHEEL_SLOTS - 1);
	for (unsigned i = 0; i < WHEEL_SLOTS; ) {
		unsigned s = (first + i) & (WHEEL_SLOTS - 1);
		uint64_t word = w->bitmap[s / 64] >> (s % 64);
		if (!word) {
			i += 64 - (s % 64);
			continue;
		}
		unsigned skip = __builtin_ctzll(word);
		i += skip;
		if (i >= WHEEL_SLOTS)
			break;
		best = (w->now_tick + 1 + i) * WHEEL_TICK_NS;
		break;
	}
	/* Entries more than a lap ahead sit in nearer slots; waking at that
	 * slot's time is early, never late, which is all we need. */
	return best;
}

void wheel_arm_timer(const struct wheel *w, struct event *ev, uint64_t now)
{
	uint64_t next = wheel_next(w);
	if (!next) {
		evtimer_del(ev);
		return;
	}
	uint64_t dl = next > now ? next - now : 0;
	struct timeval tv = ns_timeval(dl);
	evtimer_add(ev, &tv);
}

void wheel_run(struct wheel *w, struct event *ev, uint64_t (*now)(void), size_t budget,
	       void (*cb)(void *arg, struct wheel_entry *e), void *arg)
{
	if (wheel_expire_some(w, now(), budget, cb, arg)) {
		struct timeval at_once = { 0, 0 };
		evtimer_add(ev, &at_once);
		return;
	}
	wheel_arm_timer(w, ev, now());
}
