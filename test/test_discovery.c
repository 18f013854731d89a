/* LAN discovery by multicast beacons, on loopback inside a network namespace
 * the test makes for itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "net/discovery.h"
#include "netns.h"

#define GROUP "239.192.0.77"
#define PORT 7947

static const uint8_t key[32] = {7, 7, 7};
static const uint8_t other_key[32] = {8};

static struct discovery *open_node(const char *adv, const char *cluster, const uint8_t *k) {
    char err[256];
    struct discovery *d = discovery_open(GROUP, PORT, "127.0.0.1", cluster, adv, k, err, sizeof err);
    if (!d)
        fail_msg("%s", err);
    return d;
}

/* Collects the addresses d hears within timeout_ms into a '|'-joined list. */
static void hear(struct discovery *d, char *out, size_t len, int timeout_ms) {
    out[0] = '\0';
    for (int waited = 0; waited < timeout_ms; waited += 20) {
        char addr[FRAME_ADDR_MAX];
        while (discovery_recv(d, addr, sizeof addr)) {
            if (!strstr(out, addr)) {
                strncat(out, addr, len - strlen(out) - 1);
                strncat(out, "|", len - strlen(out) - 1);
            }
        }
        struct pollfd p = {.fd = discovery_fd(d), .events = POLLIN};
        poll(&p, 1, 20);
    }
}

static void agents_find_each_other_but_not_themselves(void **state) {
    struct discovery *a = open_node("127.0.0.1:7001", "c", key);
    struct discovery *b = open_node("127.0.0.1:7002", "c", key);
    struct discovery *c = open_node("127.0.0.1:7003", "c", key);
    assert_int_equal(discovery_announce(a), 0);
    assert_int_equal(discovery_announce(b), 0);
    assert_int_equal(discovery_announce(c), 0);
    char heard[512];
    hear(a, heard, sizeof heard, 300);
    assert_non_null(strstr(heard, "127.0.0.1:7002|"));
    assert_non_null(strstr(heard, "127.0.0.1:7003|"));
    assert_null(strstr(heard, "127.0.0.1:7001|"));
    hear(c, heard, sizeof heard, 100);
    assert_non_null(strstr(heard, "127.0.0.1:7001|"));
    assert_non_null(strstr(heard, "127.0.0.1:7002|"));
    assert_int_equal(discovery_stats(a).received, 2);
    discovery_close(a);
    discovery_close(b);
    discovery_close(c);
}

static void beacons_of_other_keys_or_clusters_are_dropped(void **state) {
    struct discovery *a = open_node("127.0.0.1:7001", "c", key);
    struct discovery *intruder = open_node("127.0.0.1:7666", "c", other_key);
    struct discovery *insecure = open_node("127.0.0.1:7667", "c", NULL);
    struct discovery *stranger = open_node("127.0.0.1:7668", "other", key);
    assert_int_equal(discovery_announce(intruder), 0);
    assert_int_equal(discovery_announce(insecure), 0);
    assert_int_equal(discovery_announce(stranger), 0);
    char heard[512];
    hear(a, heard, sizeof heard, 300);
    assert_string_equal(heard, "");
    assert_int_equal(discovery_stats(a).dropped, 3);
    discovery_close(a);
    discovery_close(intruder);
    discovery_close(insecure);
    discovery_close(stranger);
}

static void bad_group_is_an_error(void **state) {
    char err[256];
    assert_null(discovery_open("10.1.2.3", PORT, "127.0.0.1", "c", "x:1", key, err, sizeof err));
    assert_non_null(strstr(err, "'10.1.2.3' is not an IPv4 multicast group"));
}

int main(void) {
    if (netns_private_loopback() != 0) {
        fprintf(stderr, "test_discovery needs root for its own network namespace\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(agents_find_each_other_but_not_themselves),
        cmocka_unit_test(beacons_of_other_keys_or_clusters_are_dropped),
        cmocka_unit_test(bad_group_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
