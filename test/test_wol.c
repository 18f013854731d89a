/* Wake-on-LAN (src/net/wol.c): MAC parsing, the magic packet's layout (six
 * 0xFF, then the MAC sixteen times), and a real packet received on a
 * loopback UDP socket; bad MACs and targets are refused with a reason. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/wol.h"
#include "test_helpers.h"

static void macs_parse_and_format(void **state) {
    uint8_t m[6];
    char text[18];
    assert_int_equal(wol_parse_mac("02:77:00:00:00:0A", m), 0);
    assert_memory_equal(m, ((uint8_t[]){0x02, 0x77, 0, 0, 0, 0x0a}), 6);
    wol_format_mac(m, text);
    assert_string_equal(text, "02:77:00:00:00:0a");
    const char *bad[] = {"", "02:77:00:00:00", "02:77:00:00:00:0g", "02-77-00-00-00-0a",
                         "02:77:00:00:00:0a:", "0277:00:00:00:0a0"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(wol_parse_mac(bad[i], m), -1);
    (void)state;
}

static void the_magic_packet_is_ff_then_sixteen_macs(void **state) {
    const uint8_t mac[6] = {0x52, 0x54, 0, 0x12, 0x34, 0x56};
    uint8_t p[WOL_PACKET_LEN];
    wol_magic_packet(mac, p);
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(p[i], 0xff);
    for (size_t k = 0; k < 16; k++)
        assert_memory_equal(p + 6 + 6 * k, mac, 6);
    (void)state;
}

static void a_packet_reaches_a_listener(void **state) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    char to[32], err[160];
    snprintf(to, sizeof to, "127.0.0.1:%u", ntohs(sa.sin_port));
    assert_int_equal(wol_send("02:77:00:00:00:04", to, err, sizeof err), 0);
    uint8_t got[256], want[WOL_PACKET_LEN];
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ssize_t n = recv(fd, got, sizeof got, 0);
    assert_int_equal(n, WOL_PACKET_LEN);
    wol_magic_packet((uint8_t[]){2, 0x77, 0, 0, 0, 4}, want);
    assert_memory_equal(got, want, WOL_PACKET_LEN);
    close(fd);
    (void)state;
}

static void bad_macs_and_targets_are_named(void **state) {
    char err[160];
    assert_int_equal(wol_send("zz:77:00:00:00:04", "127.0.0.1", err, sizeof err), -1);
    assert_string_equal(err, "'zz:77:00:00:00:04' is not a MAC address");
    const char *bad[] = {"", "host.example", "10.0.0.255:", "10.0.0.255:0", "10.0.0.255:70000",
                         "10.0.0.255:9x", ":9", "::1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_false(wol_target_valid(bad[i]));
        assert_int_equal(wol_send("02:77:00:00:00:04", bad[i], err, sizeof err), -1);
        assert_non_null(strstr(err, "is not an IPv4 address"));
    }
    assert_true(wol_target_valid("10.0.0.255"));
    assert_true(wol_target_valid("10.0.0.255:7"));
    (void)state;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(macs_parse_and_format),
        cmocka_unit_test(the_magic_packet_is_ff_then_sixteen_macs),
        cmocka_unit_test(a_packet_reaches_a_listener),
        cmocka_unit_test(bad_macs_and_targets_are_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
