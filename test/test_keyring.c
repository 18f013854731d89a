/* The cluster keyring (src/net/keyring.c) and the identity files
 * (src/net/pki.c): parsing with errors that name the line, the three steps
 * of a key change, the one-key key_file, and certificates, keys and the
 * checks an agent makes of its own identity at start. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "net/keyring.h"
#include "net/pki.h"
#include "test_helpers.h"

#define K1 "000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F"
#define K2 "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

static void parse_ok(const char *text, struct keyring *r) {
    char err[256] = "";
    if (keyring_parse(text, strlen(text), r, err, sizeof err) != 0)
        fail_msg("%s", err);
}

static void parse_fails(const char *text, const char *want) {
    struct keyring r;
    char err[256] = "";
    assert_int_equal(keyring_parse(text, strlen(text), &r, err, sizeof err), -1);
    if (!strstr(err, want))
        fail_msg("error '%s' lacks '%s'", err, want);
}

static void keyring_files_parse_and_round_trip(void **state) {
    struct keyring r;
    parse_ok("# comment\n" K1 "\n  " K2 " primary  # the new one\n\n", &r);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.primary, 1);
    assert_int_equal(r.key[0][31], 0x1f);
    char text[KEYRING_FILE_MAX];
    size_t len = keyring_format(&r, text);
    struct keyring back;
    char err[256];
    assert_int_equal(keyring_parse(text, len, &back, err, sizeof err), 0);
    assert_int_equal(back.n, 2);
    assert_int_equal(back.primary, 1);
    assert_memory_equal(back.key, r.key, sizeof r.key);
    char id[KEYRING_ID_TEXT];
    keyring_id_text(r.id[1], id);
    assert_non_null(strstr(text, id));
    uint32_t parsed;
    assert_int_equal(keyring_parse_id(id, &parsed), 0);
    assert_int_equal(parsed, r.id[1]);
    assert_int_equal(keyring_parse_id("12345", &parsed), -1);
    assert_int_equal(keyring_parse_id("1234567g", &parsed), -1);

    parse_fails("", "no key");
    parse_fails(K1 "\n", "exactly one key must be marked 'primary' (0 are)");
    parse_fails(K1 " primary\n" K2 " primary\n", "(2 are)");
    parse_fails(K1 " primary\n0011\n", "line 2: a key is 64 hexadecimal digits");
    parse_fails(K1 " primary\n" K1 "\n", "line 2: key");
    parse_fails(K1 " primary extra\n", "line 1: expected a key");
    parse_fails(K1 " secondary\n", "line 1: expected a key");
}

static void a_key_change_in_three_steps(void **state) {
    struct keyring r;
    parse_ok(K1 " primary\n", &r);
    uint32_t old = r.id[0];
    uint8_t k2[KEYRING_KEY_BYTES];
    assert_int_equal(keyring_parse_key(K2 "\n", strlen(K2) + 1, k2), 0);
    char err[256];
    assert_int_equal(keyring_install(&r, k2, err, sizeof err), 0);
    assert_int_equal(keyring_install(&r, k2, err, sizeof err), -1);
    assert_non_null(strstr(err, "already installed"));
    uint32_t fresh = keyring_id_of(k2);
    assert_int_equal(keyring_primary_id(&r), old);
    assert_int_equal(keyring_remove(&r, old, err, sizeof err), -1);
    assert_non_null(strstr(err, "is the primary key"));
    assert_int_equal(keyring_use(&r, fresh, err, sizeof err), 0);
    assert_int_equal(keyring_primary_id(&r), fresh);
    assert_int_equal(keyring_remove(&r, old, err, sizeof err), 0);
    assert_int_equal(r.n, 1);
    assert_int_equal(keyring_primary_id(&r), fresh);
    assert_null(keyring_find(&r, old));
    assert_int_equal(keyring_use(&r, old, err, sizeof err), -1);
    assert_non_null(strstr(err, "is not installed"));
    /* Bounded. */
    for (int i = 1; i < KEYRING_MAX; i++) {
        uint8_t k[KEYRING_KEY_BYTES] = {(uint8_t)i, 0x42};
        assert_int_equal(keyring_install(&r, k, err, sizeof err), 0);
    }
    uint8_t k[KEYRING_KEY_BYTES] = {0x77};
    assert_int_equal(keyring_install(&r, k, err, sizeof err), -1);
    assert_non_null(strstr(err, "remove one first"));
    /* Removing below the primary keeps the primary. */
    uint8_t first[KEYRING_KEY_BYTES] = {1, 0x42};
    assert_int_equal(keyring_use(&r, keyring_id_of(first), err, sizeof err), 0);
    assert_int_equal(keyring_remove(&r, fresh, err, sizeof err), 0);
    assert_int_equal(keyring_primary_id(&r), keyring_id_of(first));
}

static void keyring_and_key_files_on_disk(void **state) {
    char keyfile[4200], ring[4200], err[512];
    test_write_file(test_dir, "cluster.key", K1 "\n", keyfile, sizeof keyfile);
    snprintf(ring, sizeof ring, "%s/keyring", test_dir);
    struct keyring r;
    bool from_key_file;
    assert_int_equal(keyring_load(ring, keyfile, &r, &from_key_file, err, sizeof err), 0);
    assert_true(from_key_file);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.primary, 0);
    assert_int_equal(keyring_save(ring, &r, err, sizeof err), 0);
    struct stat st;
    assert_int_equal(stat(ring, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    struct keyring back;
    assert_int_equal(keyring_load(ring, "/nonexistent/key", &back, &from_key_file, err,
                                  sizeof err), 0);
    assert_false(from_key_file);
    assert_memory_equal(back.key[0], r.key[0], KEYRING_KEY_BYTES);
    char bad[4200];
    test_write_file(test_dir, "bad.key", "0001\n", bad, sizeof bad);
    char nowhere[4200];
    snprintf(nowhere, sizeof nowhere, "%s/no-keyring", test_dir);
    assert_int_equal(keyring_load(nowhere, bad, &r, &from_key_file, err, sizeof err), -1);
    assert_non_null(strstr(err, "bad.key: a cluster key is 64 hexadecimal digits"));
    assert_int_equal(keyring_load(nowhere, "/nonexistent/key", &r, &from_key_file, err,
                                  sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/key: cannot read the cluster key"));
    assert_non_null(strstr(err, "no-keyring"));
    test_write_file(test_dir, "broken-ring", K1 "\n", bad, sizeof bad);
    assert_int_equal(keyring_load(bad, keyfile, &r, &from_key_file, err, sizeof err), -1);
    assert_non_null(strstr(err, "broken-ring: exactly one key"));
}

/* A CA, a host key and its certificate, as `nodectl ca` and `nodectl
 * identity` write them. */
static void write_identity(const char *dir, const char *name, bool candidate, uint64_t days,
                           uint8_t ca_sk_out[CERT_SK_BYTES]) {
    char path[4200], err[512];
    uint8_t seed[CERT_SEED_BYTES], ca_pk[CERT_PK_BYTES], ca_sk[CERT_SK_BYTES];
    uint8_t pk[CERT_PK_BYTES], sk[CERT_SK_BYTES];
    randombytes_buf(seed, sizeof seed);
    crypto_sign_seed_keypair(ca_pk, ca_sk, seed);
    snprintf(path, sizeof path, "%s/ca.pub", dir);
    assert_int_equal(pki_write_hex(path, ca_pk, sizeof ca_pk, "ca", 0644, 0, err, sizeof err), 0);
    randombytes_buf(seed, sizeof seed);
    crypto_sign_seed_keypair(pk, sk, seed);
    snprintf(path, sizeof path, "%s/host.key", dir);
    assert_int_equal(pki_write_hex(path, seed, sizeof seed, "key", 0600, 1, err, sizeof err), 0);
    assert_int_equal(pki_write_hex(path, seed, sizeof seed, "key", 0600, 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "never overwritten"));
    struct cert_info info = {.candidate = candidate, .not_before = (uint64_t)time(NULL) - 60,
                             .not_after = (uint64_t)time(NULL) + days * 86400};
    snprintf(info.name, sizeof info.name, "%s", name);
    memcpy(info.public_key, pk, sizeof pk);
    uint8_t cert[CERT_MAX];
    size_t len = cert_issue(ca_sk, &info, cert);
    snprintf(path, sizeof path, "%s/host.cert", dir);
    assert_int_equal(pki_write_cert(path, cert, len, &info, err, sizeof err), 0);
    if (ca_sk_out)
        memcpy(ca_sk_out, ca_sk, CERT_SK_BYTES);
}

static int load(const char *dir, const char *name, char *err, size_t len) {
    char ca[4200], key[4200], cert[4200];
    snprintf(ca, sizeof ca, "%s/ca.pub", dir);
    snprintf(key, sizeof key, "%s/host.key", dir);
    snprintf(cert, sizeof cert, "%s/host.cert", dir);
    struct pki_identity id;
    return pki_load_identity(ca, key, cert, name, (uint64_t)time(NULL), &id, err, len);
}

static void an_identity_must_belong_together(void **state) {
    char dir[4200], other[4200], err[2048];
    snprintf(dir, sizeof dir, "%s/id1", test_dir);
    snprintf(other, sizeof other, "%s/id2", test_dir);
    mkdir(dir, 0700);
    mkdir(other, 0700);
    write_identity(dir, "n1", true, 30, NULL);
    write_identity(other, "n2", false, 30, NULL);
    assert_int_equal(load(dir, "n1", err, sizeof err), 0);
    /* Another host's name. */
    assert_int_equal(load(dir, "n6", err, sizeof err), -1);
    assert_non_null(strstr(err, "key 'cert_file' in [cluster]"));
    assert_non_null(strstr(err, "certifies host 'n1', but this host is 'n6'"));
    /* Another CA's certificate. */
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "cp %s/host.cert %s/host.cert", other, dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(load(dir, "n2", err, sizeof err), -1);
    assert_non_null(strstr(err, "not signed by this cluster's CA"));
    /* The right CA, another key. */
    snprintf(cmd, sizeof cmd, "cp %s/ca.pub %s/ca.pub", other, dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(load(dir, "n2", err, sizeof err), -1);
    assert_non_null(strstr(err, "certifies another public key"));
    /* Expired. */
    char old[4200];
    snprintf(old, sizeof old, "%s/id3", test_dir);
    mkdir(old, 0700);
    uint8_t ca_sk[CERT_SK_BYTES];
    write_identity(old, "n3", false, 0, ca_sk);
    char path[4200];
    snprintf(path, sizeof path, "%s/host.cert", old);
    struct cert_info info = {.not_before = 1000, .not_after = 2000};
    snprintf(info.name, sizeof info.name, "n3");
    uint8_t pk[CERT_PK_BYTES], sk[CERT_SK_BYTES];
    snprintf(cmd, sizeof cmd, "%s/host.key", old);
    assert_int_equal(pki_read_keypair(cmd, pk, sk, err, sizeof err), 0);
    memcpy(info.public_key, pk, sizeof pk);
    uint8_t cert[CERT_MAX];
    size_t len = cert_issue(ca_sk, &info, cert);
    assert_int_equal(pki_write_cert(path, cert, len, &info, err, sizeof err), 0);
    assert_int_equal(load(old, "n3", err, sizeof err), -1);
    assert_non_null(strstr(err, "is expired (valid from 1970-01-01 to 1970-01-01 UTC)"));
    /* Missing and damaged files name the key and what to run. */
    snprintf(path, sizeof path, "%s/host.key", dir);
    remove(path);
    assert_int_equal(load(dir, "n2", err, sizeof err), -1);
    assert_non_null(strstr(err, "key 'host_key_file' in [cluster]"));
    assert_non_null(strstr(err, "nodectl identity init"));
    test_write_file(dir, "ca.pub", "# only a comment\n", path, sizeof path);
    assert_int_equal(load(dir, "n2", err, sizeof err), -1);
    assert_non_null(strstr(err, "key 'ca_file' in [cluster]"));
    assert_non_null(strstr(err, "expected one line of 64 hexadecimal digits"));
}

int main(void) {
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keyring_files_parse_and_round_trip),
        cmocka_unit_test(a_key_change_in_three_steps),
        cmocka_unit_test(keyring_and_key_files_on_disk),
        cmocka_unit_test(an_identity_must_belong_together),
    };
    return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
