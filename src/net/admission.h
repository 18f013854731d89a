/* Which inbound TCP connections of the agent's peer port are kept: the
 * bookkeeping behind the transport's connection limits and idle timeouts.
 * Pure: no I/O, no clock, no locks; transport.c feeds it what it sees
 * (connections found on the port, nng's pipe events, frames that
 * authenticated) and cuts the connections it names.
 *
 * A connection costs a descriptor, and once it announces a frame up to
 * TRANSPORT_FRAME_MAX bytes, before anything on it is believed. So the
 * connections that have not yet delivered an authenticated frame are
 * bounded per source address and in all, and live at most unauth_idle_ms.
 * They are "half-open" until nng has done its SP handshake with them (nng
 * reports a connection only then: transport.c finds the others by looking
 * at its descriptors), "unauthenticated" from then until a frame on them
 * authenticates. At a limit the oldest unauthenticated connection of that
 * address (or of all) makes room for the newcomer, as a server under a
 * slow-loris attack sheds its oldest idle clients: a peer that holds the key
 * authenticates within one round trip of connecting, an attacker never
 * does. Authenticated connections are bounded only in all (they are at most
 * one per peer host) and closed after auth_idle_ms without an authenticated
 * frame. */
#ifndef NODECTL_ADMISSION_H
#define NODECTL_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One TCP connection, by its peer's end: the address (IPv4 as IPv4-mapped
 * IPv6, RFC 4291 2.5.5.2) and port. */
struct admission_conn {
    uint8_t ip[16];
    uint16_t port;
};

struct admission_conn admission_conn_v4(const uint8_t ip[4], uint16_t port);
struct admission_conn admission_conn_v6(const uint8_t ip[16], uint16_t port);

struct admission_limits {
    size_t total;            /* connections at once, in any state */
    size_t unauth_total;     /* half-open and unauthenticated ones at once, <= total */
    size_t unauth_per_addr;  /* of those, from one address, <= unauth_total; an address is
                              * an IPv4 address or an IPv6 /64 (one host gets a whole /64,
                              * so counting its addresses one by one would bound nothing) */
    uint64_t unauth_idle_ms; /* from connecting to the first authenticated frame */
    uint64_t auth_idle_ms;   /* between two authenticated frames */
};

/* Why a connection is to be cut. */
enum admission_reason {
    ADMISSION_PER_ADDRESS,  /* its address had unauth_per_addr newer unauthenticated ones */
    ADMISSION_UNAUTH_TOTAL, /* unauth_total newer unauthenticated ones */
    ADMISSION_TOTAL,        /* total connections: the newcomer, if all are authenticated */
    ADMISSION_UNAUTH_IDLE,  /* no authenticated frame within unauth_idle_ms */
    ADMISSION_IDLE,         /* no authenticated frame for auth_idle_ms */
    ADMISSION_REASONS
};

/* A connection to cut, its nng pipe (0: none yet) and why. conn.port 0:
 * none. */
struct admission_cut {
    struct admission_conn conn;
    uint32_t pipe;
    enum admission_reason why;
};

struct admission_counts {
    size_t open;      /* connections known */
    size_t half_open; /* of which nng has not reported yet */
    size_t unauth;    /* of which reported but not authenticated */
    uint64_t cut[ADMISSION_REASONS];
};

struct admission;

/* NULL if out of memory. The limits must be ordered as documented and
 * nonzero. */
struct admission *admission_new(const struct admission_limits *lim);
void admission_free(struct admission *a);

/* nng reports pipe `pipe` (nonzero) on connection c at now. Returns the
 * connection to cut: c itself when it is refused (then the caller closes
 * the pipe; a connection cut lately is refused again), another one evicted
 * to make room, or none. What is named for cutting is forgotten at once. */
struct admission_cut admission_pipe(struct admission *a, uint32_t pipe,
                                    const struct admission_conn *c, uint64_t now);
/* The pipe is gone (closed by anyone); unknown pipes are ignored. */
void admission_pipe_gone(struct admission *a, uint32_t pipe);
/* The pipe delivered an authenticated frame at now. */
void admission_authenticated(struct admission *a, uint32_t pipe, uint64_t now);

/* A look at every connection on the port: admission_scan_begin, then
 * admission_seen for each (a connection not known yet, nor cut lately, is
 * half-open; the result is as admission_pipe's), then admission_scan_end,
 * which forgets
 * the half-open connections that were not seen (nng dropped them) and
 * those nng reported whose pipe has been missing from two looks in a row
 * (its notice of their end was lost). */
void admission_scan_begin(struct admission *a);
struct admission_cut admission_seen(struct admission *a, const struct admission_conn *c,
                                    uint64_t now);
void admission_scan_end(struct admission *a);

/* Up to max connections whose time is up at now, into out; they are
 * forgotten (the caller cuts them). Returns how many. */
size_t admission_expired(struct admission *a, uint64_t now, struct admission_cut *out,
                         size_t max);
/* The earliest time admission_expired has something to report; UINT64_MAX
 * if nothing is known. */
uint64_t admission_deadline(const struct admission *a);
struct admission_counts admission_counts(const struct admission *a);
/* A short name for counters. */
const char *admission_reason_name(enum admission_reason why);
/* What the reason means, for a log line. */
const char *admission_reason_text(enum admission_reason why);
/* "192.0.2.7:40312", "[2001:db8::1]:40312". */
void admission_conn_text(const struct admission_conn *c, char *out, size_t len);

#endif
