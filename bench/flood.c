/* A flood of unauthenticated connections against a real agent (the cost
 * before authentication is bounded): a 3-agent loopback cluster,
 * then IDLE idle and SLOW slow connections (test/flood.h) from one loopback
 * address against the first agent. Prints the agent's RSS and its side of the
 * flood's connections every second (agent_side: established, accepted or
 * queued; the flood's own counts are the client's view), and whether
 * legitimate traffic flowed: its status answers, it sees all three members
 * alive, and a record update travels both ways through it.
 *
 *   flood DIR [IDLE [SLOW [SECONDS [ANNOUNCE [FROM]]]]]
 *
 * bench/flood.sh builds and runs it. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "flood.h"
#include "net/transport.h"

int main(int argc, char **argv) {
    if (argc < 2 || argc > 7) {
        fprintf(stderr, "usage: flood DIR [IDLE [SLOW [SECONDS [ANNOUNCE [FROM]]]]]\n");
        return 2;
    }
    struct flood_plan p = {
        .dir = argv[1],
        .base = 30000 + (unsigned)(getpid() % 500) * 4,
        .from = argc > 6 ? argv[6] : "127.0.0.2",
        .idle = argc > 2 ? strtoul(argv[2], NULL, 10) : 2000,
        .slow = argc > 3 ? strtoul(argv[3], NULL, 10) : 2000,
        .seconds = argc > 4 ? atoi(argv[4]) : 30,
        .announce = argc > 5 ? strtoull(argv[5], NULL, 10) : TRANSPORT_FRAME_MAX,
        .seconds_after = 10,
        .verbose = 1,
    };
    printf("flood: %zu idle + %zu slow connections from %s for %d s, slow ones announce "
           "%llu bytes\n", p.idle, p.slow, p.from, p.seconds, (unsigned long long)p.announce);
    struct flood_result r;
    flood_run(&p, &r);
    if (!r.started)
        return 1;
    printf("rss_before_kib %ld\nrss_max_during_kib %ld\nrss_after_kib %ld\n"
           "rss_growth_mb %.1f\n", r.rss_before_kib, r.rss_max_kib, r.rss_after_kib,
           (double)(r.rss_max_kib - r.rss_before_kib) / 1024);
    printf("status_answered %d/%d\nmembership_whole_s %d/%d\n", r.status_answered, r.status_asked,
           r.whole_seconds, r.status_asked);
    printf("record_inbound_s %.1f\nrecord_outbound_s %.1f\n", r.inbound_s, r.outbound_s);
    printf("agent_side_max %ld\nagent_side_end %ld\n", r.agent_side_max, r.agent_side_end);
    printf("client_view_at_end idle %zu slow %zu connecting %zu failed %zu\n", r.end.idle_open,
           r.end.slow_open, r.end.connecting, r.end.failed);
    int flowed = r.status_answered == r.status_asked && r.whole_seconds == r.status_asked &&
                 r.inbound_s >= 0 && r.outbound_s >= 0;
    printf("legit_traffic %s\n", flowed ? "flowed" : "BLOCKED");
    return 0;
}
