/* Hosts that announced "off" and are not (docs/safety.md, "An off host
 * that never powered off"). A host announces OFF itself, then its off
 * command cuts the power; gossip never overrides OFF (only the host's own
 * return, with a higher incarnation, does). If its agent died between the
 * two, or its off command did not power it off and the agent could not say
 * so, everyone would show it "off" forever and the leader would count on
 * waking it. So the leader probes the hosts that are OFF, once the grace a
 * real shutdown needs has passed:
 *   - its BMC, when it declared one and the leader holds the IPMI
 *     credentials: `chassis power status` says on or off;
 *   - its agent's TCP port: a machine without power does not answer at all
 *     (no SYN-ACK, no RST; the connect times out or the address is
 *     unreachable), while a machine that is up answers, with a connection
 *     or a refusal (RST: up, no agent).
 * Any answer from the machine, or a BMC that says on, disproves OFF; the
 * leader publishes the verdict in its record (host, the incarnation of the
 * OFF announcement, the reason) and every host shows that host as failed,
 * not off; the planner neither counts on it nor wakes it. A later probe
 * that finds it silent, or the host's own return, ends it.
 *
 * Pure: what to probe when, and what the results mean. The agent
 * (agent_offcheck.c) runs the probes. */
#ifndef NODECTL_HOST_OFFCHECK_H
#define NODECTL_HOST_OFFCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum host_probe_result {
    HOST_PROBE_NONE,     /* not done since the watch began */
    HOST_PROBE_SILENT,   /* TCP: no answer: what a machine without power gives */
    HOST_PROBE_REFUSED,  /* TCP: connection refused: the machine is up, nothing listens */
    HOST_PROBE_ANSWERED, /* TCP: connected: the machine is up and listening */
    HOST_PROBE_BMC_OFF,  /* BMC: chassis power is off */
    HOST_PROBE_BMC_ON,   /* BMC: chassis power is on */
    HOST_PROBE_ERROR     /* the probe itself failed (BMC unreachable...): says nothing */
};

enum host_probe_kind { HOST_PROBE_TCP = 1, HOST_PROBE_BMC = 2 };

/* One OFF announcement as the prober follows it. */
struct host_off_watch {
    uint32_t incarnation;        /* of the OFF announcement */
    uint64_t since_ms;           /* when the prober first saw it (monotonic) */
    enum host_probe_result tcp, bmc;
    uint64_t tcp_at_ms, bmc_at_ms; /* when each last ended; 0: never */
};

struct host_off_policy {
    uint64_t grace_ms;     /* a real power-off is over by then */
    uint64_t tcp_every_ms; /* after the grace, how often each probe runs */
    uint64_t bmc_every_ms;
};

enum host_off_verdict {
    HOST_OFF_UNCHECKED, /* within the grace, or nothing probed yet */
    HOST_OFF_CONFIRMED, /* silent, or the BMC says off */
    HOST_OFF_DISPROVED  /* the machine answers, or its BMC says on */
};

/* A fresh watch of an OFF announcement seen at now_ms. */
void host_off_watch_start(struct host_off_watch *w, uint32_t incarnation, uint64_t now_ms);

/* The probes due at now_ms (HOST_PROBE_TCP | HOST_PROBE_BMC); bmc tells
 * whether a BMC probe is possible (declared, and credentials held). */
unsigned host_off_due(const struct host_off_watch *w, const struct host_off_policy *p,
                      uint64_t now_ms, bool bmc);
/* When the next probe falls due (UINT64_MAX: never). */
uint64_t host_off_next_ms(const struct host_off_watch *w, const struct host_off_policy *p,
                          bool bmc);

/* Records a probe's result at now_ms. */
void host_off_note(struct host_off_watch *w, enum host_probe_kind kind,
                   enum host_probe_result r, uint64_t now_ms);

/* What the last results say, with the reason shown to operators. Either
 * evidence disproves "off" (a machine without power cannot answer; a BMC
 * that says on is believed), and the reason names both when both do; an
 * error says nothing. */
enum host_off_verdict host_off_verdict(const struct host_off_watch *w, char *why, size_t len);

/* A verdict as published in a live host's record. */
struct host_off_report {
    const char *host;
    uint32_t incarnation;
    const char *reason;
};

/* The report that disproves host's OFF announcement `incarnation` (an
 * older one's report does not), or NULL. */
const struct host_off_report *host_off_disproved(const struct host_off_report *reports, size_t n,
                                                 const char *host, uint32_t incarnation);

#endif
