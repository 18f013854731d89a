/* Records sealed by their owner (src/net/signed_record.h): what verifies,
 * and every way a record can fail to be its owner's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "frame_fixture.h"
#include "net/signed_record.h"

#define NOW 1000000000u
#define ID 0x1234
#define VERSION 7

static struct fixture_ca ca, other_ca;
static struct fixture_host owner, expired;
static struct cert_cache cache;
static const uint8_t text[] = "a host record";

static int setup(void **state) {
    (void)state;
    fixture_ca(&ca);
    fixture_ca(&other_ca);
    fixture_host(&owner, "n1", "127.0.0.1:1", &ca, true, NOW - 10, NOW + 10);
    fixture_host(&expired, "n1", "127.0.0.1:1", &ca, true, NOW - 10, NOW - 1);
    return 0;
}

static size_t seal(const struct fixture_host *h, uint64_t id, uint64_t version, uint8_t *out) {
    size_t n = signed_record_seal(h->sk, h->cert, h->cert_len, id, version, text, sizeof text,
                                  out);
    assert_int_equal(n, signed_record_size(h->cert_len, sizeof text));
    return n;
}

static enum signed_record_result check(const uint8_t *ca_pk, uint64_t id, uint64_t version,
                                       const uint8_t *data, size_t len) {
    struct signed_record sr;
    struct cert_info who;
    cert_cache_clear(&cache);
    return signed_record_verify(&cache, ca_pk, NOW, id, version, data, len, &sr, &who);
}

static void the_owners_record_verifies_and_names_it(void **state) {
    uint8_t buf[1024];
    size_t n = seal(&owner, ID, VERSION, buf);
    assert_true(n <= sizeof text + SIGNED_RECORD_OVERHEAD_MAX);
    struct signed_record sr;
    struct cert_info who;
    assert_int_equal(signed_record_verify(&cache, ca.pk, NOW, ID, VERSION, buf, n, &sr, &who),
                     SIGNED_RECORD_OK);
    assert_string_equal(who.name, "n1");
    assert_true(who.candidate);
    assert_int_equal(sr.len, sizeof text);
    assert_memory_equal(sr.record, text, sizeof text);
    assert_true(signed_record_parse(buf, n, &sr));
    assert_memory_equal(sr.record, text, sizeof text);
}

static void another_id_version_byte_or_ca_does_not_verify(void **state) {
    uint8_t buf[1024];
    size_t n = seal(&owner, ID, VERSION, buf);
    assert_int_equal(check(ca.pk, ID + 1, VERSION, buf, n), SIGNED_RECORD_BAD_SIGNATURE);
    assert_int_equal(check(ca.pk, ID, VERSION + 1, buf, n), SIGNED_RECORD_BAD_SIGNATURE);
    assert_int_equal(check(ca.pk, ID, UINT64_MAX, buf, n), SIGNED_RECORD_BAD_SIGNATURE);
    assert_int_equal(check(other_ca.pk, ID, VERSION, buf, n), SIGNED_RECORD_BAD_CERT);
    for (size_t at = 0; at < n; at += 17) {
        buf[at] ^= 0x40;
        assert_int_not_equal(check(ca.pk, ID, VERSION, buf, n), SIGNED_RECORD_OK);
        buf[at] ^= 0x40;
    }
    n = seal(&expired, ID, VERSION, buf);
    assert_int_equal(check(ca.pk, ID, VERSION, buf, n), SIGNED_RECORD_CERT_EXPIRED);
}

static void unsigned_and_signed_do_not_mix(void **state) {
    uint8_t buf[1024];
    size_t n = signed_record_seal(NULL, NULL, 0, ID, VERSION, text, sizeof text, buf);
    assert_int_equal(n, signed_record_size(0, sizeof text));
    assert_int_equal(check(NULL, ID, VERSION, buf, n), SIGNED_RECORD_OK);
    assert_int_equal(check(ca.pk, ID, VERSION, buf, n), SIGNED_RECORD_MODE);
    n = seal(&owner, ID, VERSION, buf);
    assert_int_equal(check(NULL, ID, VERSION, buf, n), SIGNED_RECORD_MODE);
}

static void bad_bounds_are_malformed(void **state) {
    uint8_t buf[1024];
    size_t n = seal(&owner, ID, VERSION, buf);
    struct signed_record sr;
    for (size_t len = 0; len < 6 + owner.cert_len + CERT_SIG_BYTES; len++)
        assert_false(signed_record_parse(buf, len, &sr));
    assert_true(signed_record_parse(buf, 6 + owner.cert_len + CERT_SIG_BYTES, &sr));
    assert_int_equal(sr.len, 0);
    buf[4] = 0xff; /* a certificate longer than CERT_MAX */
    buf[5] = 0xff;
    assert_int_equal(check(ca.pk, ID, VERSION, buf, n), SIGNED_RECORD_MALFORMED);
    memcpy(buf, "ndr2", 4);
    assert_false(signed_record_parse(buf, n, &sr));
}

static void member_ids_are_stable_distinct_and_never_zero(void **state) {
    assert_int_equal(signed_record_member_id("n1"), signed_record_member_id("n1"));
    assert_int_not_equal(signed_record_member_id("n1"), signed_record_member_id("n2"));
    assert_int_not_equal(signed_record_member_id(""), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_owners_record_verifies_and_names_it),
        cmocka_unit_test(another_id_version_byte_or_ca_does_not_verify),
        cmocka_unit_test(unsigned_and_signed_do_not_mix),
        cmocka_unit_test(bad_bounds_are_malformed),
        cmocka_unit_test(member_ids_are_stable_distinct_and_never_zero),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
