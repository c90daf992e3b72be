/* timens.h: tcpprobe counts time in nanoseconds (uint64_t) everywhere;
 * these are the one place that reads a clock into that unit and converts
 * to and from the kernel's and libevent's timespec and timeval. */
#ifndef TCPPROBE_TIMENS_H
#define TCPPROBE_TIMENS_H

#include <stdint.h>
#include <sys/time.h>
#include <time.h>

#define NS_PER_US 1000ULL
#define NS_PER_MS 1000000ULL
#define NS_PER_S 1000000000ULL

static inline uint64_t timespec_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * NS_PER_S + (uint64_t)ts->tv_nsec;
}

/* clk read in ns (CLOCK_REALTIME: the probes' and the kernel's frame
 * timestamps' clock; CLOCK_MONOTONIC: durations of our own work). */
static inline uint64_t clock_ns(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return timespec_ns(&ts);
}

/* For evtimer_add() and friends (microsecond resolution). */
static inline struct timeval ns_timeval(uint64_t ns)
{
	return (struct timeval){ (time_t)(ns / NS_PER_S), (suseconds_t)(ns % NS_PER_S / NS_PER_US) };
}

#endif
