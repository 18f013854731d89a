/* A flood of unauthenticated connections against a real agent of a real
 * 3-agent cluster on loopback (test/flood.h; bench/flood runs a larger
 * one): 300 idle and 300 slow connections from one address. The agent's
 * resident memory stays within 20 MB of what it was, it answers its control
 * socket every second, keeps all three members alive, and records travel
 * to and from it. The agents start with systemd's soft descriptor limit of
 * 1024. Past their grace, the agent holds no more of the flood's
 * connections than its per-address limit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>

#include "flood.h"
#include "net/transport.h"
#include "test_helpers.h"

static void a_flood_leaves_memory_bounded_and_the_cluster_working(void **state) {
    /* Under AddressSanitizer an agent's RSS also counts the freed memory
     * held in ASan's quarantine (256 MB by default), which grows with every
     * allocation the flood makes the agent do and undo; a small quarantine
     * keeps RSS about the memory in use. */
    char asan[1024];
    const char *was = getenv("ASAN_OPTIONS");
    snprintf(asan, sizeof asan, "%s%squarantine_size_mb=4", was ? was : "",
             was && *was ? ":" : "");
    setenv("ASAN_OPTIONS", asan, 1);
    struct flood_plan plan = {.dir = test_dir, .base = test_port_base(), .from = "127.0.0.2",
                              .idle = 300, .slow = 300, .announce = TRANSPORT_FRAME_MAX,
                              .seconds = 12, .seconds_after = 2, .verbose = 1};
    struct flood_result r;
    flood_run(&plan, &r);
    assert_true(r.started);
    printf("rss before %ld KiB, at most %ld KiB during the flood; status %d/%d; whole %d/%d; "
           "record in %.1f s, out %.1f s; the flood's connections on the agent's side: at most "
           "%ld, %ld at the end\n", r.rss_before_kib, r.rss_max_kib, r.status_answered,
           r.status_asked, r.whole_seconds, r.status_asked, r.inbound_s, r.outbound_s,
           r.agent_side_max, r.agent_side_end);
    assert_true(r.rss_max_kib - r.rss_before_kib < 20 * 1024);
    /* None authenticates: past their 5 s of grace, at most the few the
     * agent accepted late (its accept queue overflowed) are left, never
     * more than the per-address limit (32). */
    assert_true(r.agent_side_end >= 0 && r.agent_side_end <= 32);
    assert_int_equal(r.status_answered, r.status_asked);
    assert_int_equal(r.whole_seconds, r.status_asked);
    assert_true(r.inbound_s >= 0);
    assert_true(r.outbound_s >= 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_flood_leaves_memory_bounded_and_the_cluster_working),
    };
    return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
