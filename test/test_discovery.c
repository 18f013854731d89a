/* LAN discovery by multicast beacons, on loopback inside a network namespace
 * the test makes for itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "frame_fixture.h"
#include "net/discovery.h"
#include "netns.h"

#define GROUP "239.192.0.77"
#define PORT 7947

static struct fixture_ca ca;
static struct keyring ring, other_ring;
static struct frame_ctx *ctxs[16];
static size_t n_ctxs;

enum mode { KEYED, OTHER_KEY, INSECURE, OTHER_CLUSTER };

static struct discovery *open_node(const char *adv, enum mode mode) {
    uint64_t now = (uint64_t)time(NULL);
    struct fixture_host h;
    char name[32];
    snprintf(name, sizeof name, "at-%s", adv);
    fixture_host(&h, name, adv, &ca, false, now - 60, now + 3600);
    struct frame_ctx *c;
    if (mode == INSECURE) {
        c = fixture_insecure_ctx(name, adv, 1);
    } else if (mode == OTHER_CLUSTER) {
        struct frame_config fc = {.cluster = "other", .name = name, .addrs = {adv},
                                  .n_addrs = 1, .epoch = 1, .senders_max = 8};
        c = frame_ctx_new(&fc);
        frame_ctx_set_keyring(c, &ring);
        frame_ctx_set_identity(c, ca.pk, h.sk, h.cert, h.cert_len);
    } else {
        c = fixture_ctx(&h, 1, mode == KEYED ? &ring : &other_ring, &ca);
    }
    ctxs[n_ctxs++] = c;
    char err[256];
    struct discovery *d = discovery_open(GROUP, PORT, "127.0.0.1", c, err, sizeof err);
    if (!d)
        fail_msg("%s", err);
    return d;
}

static int setup(void **state) {
    fixture_ca(&ca);
    fixture_ring(&ring, 7);
    fixture_ring(&other_ring, 8);
    return 0;
}

static int teardown(void **state) {
    while (n_ctxs)
        frame_ctx_free(ctxs[--n_ctxs]);
    return 0;
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
    struct discovery *a = open_node("127.0.0.1:7001", KEYED);
    struct discovery *b = open_node("127.0.0.1:7002", KEYED);
    struct discovery *c = open_node("127.0.0.1:7003", KEYED);
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
    struct discovery *a = open_node("127.0.0.1:7001", KEYED);
    struct discovery *intruder = open_node("127.0.0.1:7666", OTHER_KEY);
    struct discovery *insecure = open_node("127.0.0.1:7667", INSECURE);
    struct discovery *stranger = open_node("127.0.0.1:7668", OTHER_CLUSTER);
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

/* A listener in the group that captures one datagram and sends it again. */
static void a_replayed_beacon_is_refused(void **state) {
    int raw = socket(AF_INET, SOCK_DGRAM, 0);
    int one = 1;
    setsockopt(raw, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in grp = {.sin_family = AF_INET, .sin_port = htons(PORT)};
    inet_pton(AF_INET, GROUP, &grp.sin_addr);
    assert_int_equal(bind(raw, (struct sockaddr *)&grp, sizeof grp), 0);
    struct ip_mreq mreq = {.imr_multiaddr = grp.sin_addr};
    inet_pton(AF_INET, "127.0.0.1", &mreq.imr_interface);
    assert_int_equal(setsockopt(raw, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof mreq), 0);
    assert_int_equal(setsockopt(raw, IPPROTO_IP, IP_MULTICAST_IF, &mreq.imr_interface,
                                sizeof mreq.imr_interface), 0);
    struct discovery *a = open_node("127.0.0.1:7001", KEYED);
    struct discovery *b = open_node("127.0.0.1:7002", KEYED);
    assert_int_equal(discovery_announce(b), 0);
    uint8_t beacon[2048];
    ssize_t n = recv(raw, beacon, sizeof beacon, 0);
    assert_true(n > 0);
    char heard[512];
    hear(a, heard, sizeof heard, 200);
    assert_string_equal(heard, "127.0.0.1:7002|");
    assert_int_equal(sendto(raw, beacon, (size_t)n, 0, (struct sockaddr *)&grp, sizeof grp), n);
    hear(a, heard, sizeof heard, 200);
    assert_string_equal(heard, "");
    assert_int_equal(discovery_stats(a).dropped, 1);
    discovery_close(a);
    discovery_close(b);
    close(raw);
}

static void bad_group_is_an_error(void **state) {
    char err[256];
    assert_null(discovery_open("10.1.2.3", PORT, "127.0.0.1", NULL, err, sizeof err));
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
        cmocka_unit_test(a_replayed_beacon_is_refused),
        cmocka_unit_test(bad_group_is_an_error),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
