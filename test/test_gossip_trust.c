/* A member with valid credentials cannot fool the others through gossip
 * (docs/security.md, "Sane values"): a packet is believed only from the
 * member it names, an ack only from the member probed or a relay asked,
 * an incarnation moves only by a step on others' word and never wraps, and
 * a record version moves only with the record its owner sealed (real
 * Ed25519 signatures, src/net/signed_record.h). Node 2 is the liar in
 * every test: its packets are injected as authenticated to node 2. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "frame_fixture.h"
#include "gossip_harness.h"
#include "net/signed_record.h"

#define LIAR 2
#define NOW_S 1000000000u

static const Nodectl__GossipState ALIVE = NODECTL__GOSSIP_STATE__GOSSIP_STATE_ALIVE;
static const Nodectl__GossipState SUSPECT = NODECTL__GOSSIP_STATE__GOSSIP_STATE_SUSPECT;
static const Nodectl__GossipState DEAD = NODECTL__GOSSIP_STATE__GOSSIP_STATE_DEAD;
static const Nodectl__GossipKind GOSSIP = NODECTL__GOSSIP_KIND__GOSSIP_KIND_GOSSIP;
static const Nodectl__GossipKind PUSH_PULL = NODECTL__GOSSIP_KIND__GOSSIP_KIND_PUSH_PULL;

static uint32_t incarnation(const struct harness *h, size_t observer, size_t member) {
    struct gossip_member_info m;
    assert_true(gossip_member_find(h->g[observer], harness_id(member), &m));
    return m.incarnation;
}

/* Node 2 tells node `to` that `member` is in state st at inc. */
static void lie(struct harness *h, size_t to, size_t member, uint32_t inc,
                Nodectl__GossipState st) {
    uint8_t buf[256];
    size_t n = harness_craft(buf, GOSSIP, harness_id(LIAR), harness_id(member), inc, st,
                             harness_id(LIAR), 0);
    harness_inject(h, to, LIAR, buf, n);
}

/* ---- who sent it ---- */

static void a_packet_naming_another_member_is_refused(void **state) {
    struct harness h;
    harness_start(&h, 5, NULL);
    harness_run(&h, 3000);
    uint8_t buf[256];
    /* Node 2 sends, as node 3, node 3's own "I left", and a push-pull in
     * which node 3 says it is at incarnation 1000 (its own word would be
     * believed at any value). */
    size_t n = harness_craft(buf, GOSSIP, harness_id(3), harness_id(3), 1,
                             NODECTL__GOSSIP_STATE__GOSSIP_STATE_LEFT, 0, 0);
    harness_inject(&h, 0, LIAR, buf, n);
    n = harness_craft(buf, PUSH_PULL, harness_id(3), harness_id(3), 1000, ALIVE, 0, 0);
    harness_inject(&h, 0, LIAR, buf, n);
    assert_int_equal(harness_state(&h, 0, 3), GOSSIP_ALIVE);
    assert_int_equal(incarnation(&h, 0, 3), 0);
    assert_int_equal(gossip_refused(h.g[0], GOSSIP_REFUSED_SENDER), 2);
    /* Said as itself, the same is believed. */
    n = harness_craft(buf, GOSSIP, harness_id(LIAR), harness_id(LIAR), 1,
                      NODECTL__GOSSIP_STATE__GOSSIP_STATE_LEFT, 0, 0);
    harness_inject(&h, 0, LIAR, buf, n);
    assert_int_equal(harness_state(&h, 0, LIAR), GOSSIP_LEFT);
    harness_stop(&h);
}

/* Node 0 probes node 1, which is down; node 2 acks every ping it could be
 * asked about. Only node 1 itself (no relays: indirect_checks 0) may ack,
 * so node 0 suspects node 1 and declares it dead on its own. Node 2's real
 * packets do not reach node 0, so that node 0 hears of node 1 from nobody
 * else. */
static void an_ack_from_a_member_not_probed_is_refused(void **state) {
    struct gossip_config cfg;
    gossip_config_defaults(&cfg);
    cfg.indirect_checks = 0;
    struct harness h;
    harness_start(&h, 3, &cfg);
    harness_run(&h, 3000);
    h.down[1] = true;
    h.cut[LIAR][0] = true;
    uint32_t seq_max = 0;
    for (int64_t until = h.now + 20000; h.now < until;) {
        /* A ping or a relay takes the next sequence number: ack every one
         * node 0 may have used by now. */
        for (uint32_t seq = 1; seq <= seq_max + 8; seq++) {
            Nodectl__GossipPacket p = NODECTL__GOSSIP_PACKET__INIT;
            p.kind = NODECTL__GOSSIP_KIND__GOSSIP_KIND_ACK;
            p.sender = harness_id(LIAR);
            p.seq = seq;
            uint8_t buf[64];
            harness_inject(&h, 0, LIAR, buf, nodectl__gossip_packet__pack(&p, buf));
        }
        seq_max += 2;
        harness_run(&h, h.now + 50);
    }
    assert_int_equal(harness_state(&h, 0, 1), GOSSIP_DEAD);
    assert_true(gossip_refused(h.g[0], GOSSIP_REFUSED_ACK) > 0);
    harness_stop(&h);
}

/* ---- incarnations ---- */

/* A refutation of UINT32_MAX would be 0, which loses to the claim: the
 * member would be declared dead. No one takes the claim: not the member,
 * not the others. */
static void an_incarnation_is_never_wrapped(void **state) {
    struct harness h;
    harness_start(&h, 5, NULL);
    harness_run(&h, 3000);
    lie(&h, 1, 1, UINT32_MAX, SUSPECT);
    assert_int_equal(gossip_incarnation(h.g[1]), 0);
    assert_int_equal(gossip_refused(h.g[1], GOSSIP_REFUSED_INCARNATION), 1);
    const Nodectl__GossipState states[] = {ALIVE, SUSPECT, DEAD};
    for (size_t o = 0; o < h.n; o++)
        for (size_t k = 0; k < 3; k++)
            if (o != 1 && o != LIAR)
                lie(&h, o, 1, UINT32_MAX - (uint32_t)k, states[k]);
    harness_run(&h, h.now + 10000);
    for (size_t o = 0; o < h.n; o++) {
        assert_int_equal(harness_state(&h, o, 1), GOSSIP_ALIVE);
        assert_true(incarnation(&h, o, 1) <= GOSSIP_INCARNATION_STEP);
    }
    assert_int_equal(gossip_refused(h.g[0], GOSSIP_REFUSED_INCARNATION), 3);
    harness_stop(&h);
}

/* Others' word moves an incarnation a step above its anchor, however often
 * they say it: node 2 cannot ratchet node 0's view of node 1 up to where
 * node 1 would not refute a suspicion. Node 1's own word (its ack to the
 * ping node 0 then sends it) anchors the view again. */
static void others_raise_an_incarnation_a_step_at_most(void **state) {
    struct harness h;
    harness_start(&h, 4, NULL);
    harness_run(&h, 3000);
    h.cut[1][0] = true; /* node 0 hears node 1 only when it asks */
    for (uint32_t k = 1; k <= 8; k++)
        lie(&h, 0, 1, k * GOSSIP_INCARNATION_STEP, ALIVE);
    assert_int_equal(incarnation(&h, 0, 1), GOSSIP_INCARNATION_STEP);
    assert_int_equal(gossip_refused(h.g[0], GOSSIP_REFUSED_INCARNATION), 7);
    /* At the step, a suspicion node 1 refutes: it is within its reach. */
    lie(&h, 0, 1, GOSSIP_INCARNATION_STEP, SUSPECT);
    lie(&h, 1, 1, GOSSIP_INCARNATION_STEP, SUSPECT);
    assert_int_equal(gossip_incarnation(h.g[1]), GOSSIP_INCARNATION_STEP + 1);
    h.cut[1][0] = false;
    harness_run(&h, h.now + 10000);
    for (size_t o = 0; o < h.n; o++) {
        assert_int_equal(harness_state(&h, o, 1), GOSSIP_ALIVE);
        assert_int_equal(incarnation(&h, o, 1), GOSSIP_INCARNATION_STEP + 1);
    }
    harness_stop(&h);
}

/* A view far behind (node 0 missed many refutations of node 1) catches up
 * from node 1's own word: the relayed news is refused, node 0 asks node 1,
 * and node 1's ack carries its entry. */
static void a_view_far_behind_catches_up_from_the_member(void **state) {
    struct harness h;
    harness_start(&h, 4, NULL);
    harness_run(&h, 3000);
    h.down[0] = true;
    for (uint32_t k = 0; k < 3 * GOSSIP_INCARNATION_STEP; k++) {
        lie(&h, 1, 1, gossip_incarnation(h.g[1]), SUSPECT);
        harness_run(&h, h.now + h.cfg.probe_interval_ms);
    }
    uint32_t now_at = gossip_incarnation(h.g[1]);
    assert_true(now_at > 2 * GOSSIP_INCARNATION_STEP);
    h.down[0] = false;
    lie(&h, 0, 1, now_at, ALIVE);
    assert_int_equal(gossip_refused(h.g[0], GOSSIP_REFUSED_INCARNATION), 1);
    harness_run(&h, h.now + 1000);
    assert_int_equal(incarnation(&h, 0, 1), now_at);
    harness_stop(&h);
}

/* Claims a step above, again and again within one probe interval: the
 * member refutes once, then once more at the next interval. */
static void a_member_refutes_once_per_probe_interval(void **state) {
    struct harness h;
    harness_start(&h, 4, NULL);
    harness_run(&h, 3000);
    for (int k = 0; k < 50; k++)
        lie(&h, 1, 1, gossip_incarnation(h.g[1]) + GOSSIP_INCARNATION_STEP, SUSPECT);
    assert_int_equal(gossip_incarnation(h.g[1]), GOSSIP_INCARNATION_STEP + 1);
    harness_run(&h, h.now + h.cfg.probe_interval_ms);
    assert_int_equal(gossip_incarnation(h.g[1]), 2 * GOSSIP_INCARNATION_STEP + 2);
    harness_stop(&h);
}

/* ---- records ---- */

static struct fixture_ca ca;
static struct fixture_host keys[HARNESS_MAX + 1]; /* the last: a host of no member */
static struct cert_cache cache;
static uint64_t verified, forged;

static int seal(void *ctx, uint64_t version, const uint8_t *data, size_t len, uint8_t **out,
                size_t *out_len) {
    const struct fixture_host *k = ctx;
    uint64_t id = harness_id((size_t)(k - keys));
    *out = malloc(signed_record_size(k->cert_len, len));
    assert_non_null(*out);
    *out_len = signed_record_seal(k->sk, k->cert, k->cert_len, id, version, data, len, *out);
    return 0;
}

/* As the agent checks (agent_record.c): the owner's signature, and the
 * owner's name is that of member id. */
static bool verify(void *ctx, uint64_t id, uint64_t version, const uint8_t *data, size_t len) {
    (void)ctx;
    struct signed_record sr;
    struct cert_info owner;
    char name[16];
    snprintf(name, sizeof name, "n%d", (int)(id - harness_id(0)));
    bool ok = signed_record_verify(&cache, ca.pk, NOW_S, id, version, data, len, &sr, &owner) ==
                  SIGNED_RECORD_OK &&
              strcmp(owner.name, name) == 0;
    ok ? verified++ : forged++;
    return ok;
}

static void signing(size_t i, struct gossip_config *c) {
    c->record_seal = seal;
    c->record_verify = verify;
    c->record_ctx = &keys[i];
}

static int make_keys(void **state) {
    (void)state;
    fixture_ca(&ca);
    for (int i = 0; i <= HARNESS_MAX; i++) {
        char name[16];
        snprintf(name, sizeof name, "n%d", i);
        fixture_host(&keys[i], name, "127.0.0.1:1", &ca, false, NOW_S - 1, NOW_S + 1);
    }
    return 0;
}

/* The record bytes member `owner` holds of itself, as others see them. */
static void assert_record_of(struct harness *h, size_t observer, size_t owner,
                             const char *text) {
    struct gossip_member_info m;
    assert_true(gossip_member_find(h->g[observer], harness_id(owner), &m));
    struct signed_record sr;
    assert_true(signed_record_parse(m.record, m.record_len, &sr));
    assert_int_equal(sr.len, strlen(text));
    assert_memory_equal(sr.record, text, sr.len);
}

/* Node 2 sends, as relayed gossip, member `id`'s record at version,
 * sealed with `by`'s key (whole, in one piece) and an announcement of it. */
static void push_record(struct harness *h, size_t to, size_t id, uint64_t version,
                        const struct fixture_host *by, const char *text) {
    uint8_t sealed[1024], buf[1400];
    size_t len = signed_record_seal(by->sk, by->cert, by->cert_len, harness_id(id), version,
                                    (const uint8_t *)text, strlen(text), sealed);
    Nodectl__GossipRecord r = NODECTL__GOSSIP_RECORD__INIT;
    r.id = harness_id(id);
    r.version = version;
    r.total_len = (uint32_t)len;
    r.data.data = sealed;
    r.data.len = len;
    Nodectl__GossipRecord *rp[] = {&r};
    Nodectl__GossipPacket p = NODECTL__GOSSIP_PACKET__INIT;
    p.kind = NODECTL__GOSSIP_KIND__GOSSIP_KIND_RECORD_PIECES;
    p.sender = harness_id(LIAR);
    p.n_records = 1;
    p.records = rp;
    harness_inject(h, to, LIAR, buf, nodectl__gossip_packet__pack(&p, buf));
    r.data.len = 0; /* and announced: the receiver asks node 2 for it */
    harness_inject(h, to, LIAR, buf, nodectl__gossip_packet__pack(&p, buf));
}

static void set_record(struct harness *h, size_t i, const char *text) {
    assert_int_equal(gossip_set_record(h->g[i], h->now, (const uint8_t *)text, strlen(text)), 0);
}

/* A version its owner never made does not freeze a record: node 2 pushes
 * node 3's record at UINT64_MAX, signed by itself or by a host of no
 * member, and node 3's own later versions still reach everyone. */
static void a_record_version_moves_only_with_its_owners_record(void **state) {
    struct harness h;
    harness_start_each(&h, 5, NULL, signing);
    harness_run(&h, 3000);
    set_record(&h, 3, "v1");
    harness_run(&h, h.now + 3000);
    forged = 0;
    for (size_t o = 0; o < h.n; o++) {
        if (o == 3 || o == LIAR)
            continue;
        push_record(&h, o, 3, UINT64_MAX, &keys[LIAR], "frozen");
        push_record(&h, o, 3, UINT64_MAX - 1, &keys[HARNESS_MAX], "frozen");
    }
    /* And to node 3 itself: its own record at a version above its own. */
    push_record(&h, 3, 3, UINT64_MAX - 1, &keys[LIAR], "frozen");
    harness_run(&h, h.now + 3000);
    assert_true(forged >= 7);
    set_record(&h, 3, "v2");
    harness_run(&h, h.now + 3000);
    for (size_t o = 0; o < h.n; o++) {
        struct gossip_member_info m;
        assert_true(gossip_member_find(h.g[o], harness_id(3), &m));
        assert_int_equal(m.record_version, 2);
        assert_record_of(&h, o, 3, "v2");
        if (o != 3 && o != LIAR)
            assert_true(gossip_refused(h.g[o], GOSSIP_REFUSED_RECORD) >= 2);
    }
    harness_stop(&h);
}

/* No member can publish another's record: node 2's record for node 3,
 * signed by node 2, is refused by everyone, while node 3's own, relayed by
 * others, is believed. */
static void a_record_sealed_by_another_host_is_refused(void **state) {
    struct harness h;
    harness_start_each(&h, 5, NULL, signing);
    harness_run(&h, 3000);
    set_record(&h, 3, "real");
    harness_run(&h, h.now + 3000);
    for (size_t o = 0; o < h.n; o++)
        if (o != 3 && o != LIAR)
            push_record(&h, o, 3, 2, &keys[LIAR], "forged");
    harness_run(&h, h.now + 3000);
    for (size_t o = 0; o < h.n; o++) {
        struct gossip_member_info m;
        assert_true(gossip_member_find(h.g[o], harness_id(3), &m));
        assert_int_equal(m.record_version, 1);
        assert_record_of(&h, o, 3, "real");
    }
    harness_stop(&h);
}

/* Signed, a previous life's record still makes the owner publish above
 * it: node 3 restarts without its state and comes back above version 3. */
static void a_previous_life_is_outnumbered_when_it_is_signed(void **state) {
    struct harness h;
    harness_start_each(&h, 4, NULL, signing);
    harness_run(&h, 3000);
    for (int k = 0; k < 3; k++)
        set_record(&h, 3, "old");
    harness_run(&h, h.now + 3000);
    gossip_free(h.g[3]);
    struct gossip_addr a = harness_addr(3), seed = harness_addr(0);
    struct gossip_config c = h.cfg;
    signing(3, &c);
    h.g[3] = gossip_new(&c, harness_id(3), &a, 1, 7, h.now);
    assert_non_null(h.g[3]);
    set_record(&h, 3, "new");
    assert_int_equal(gossip_join(h.g[3], h.now, &seed, 1), 0);
    harness_run(&h, h.now + 10000);
    for (size_t o = 0; o < h.n; o++) {
        struct gossip_member_info m;
        assert_true(gossip_member_find(h.g[o], harness_id(3), &m));
        assert_int_equal(m.record_version, 4);
        assert_record_of(&h, o, 3, "new");
    }
    harness_stop(&h);
}

/* A snapshot's records are checked again when it is loaded: one whose
 * signature does not hold is not taken. */
static void a_snapshot_record_is_checked_again(void **state) {
    struct harness h;
    harness_start_each(&h, 3, NULL, signing);
    harness_run(&h, 3000);
    set_record(&h, 1, "rec1");
    harness_run(&h, h.now + 3000);
    struct gossip_member_info m[3];
    for (size_t i = 0; i < 3; i++)
        gossip_member_at(h.g[0], i, &m[i]);
    uint8_t tampered[1024];
    for (size_t i = 0; i < 3; i++) {
        if (m[i].id != harness_id(1))
            continue;
        memcpy(tampered, m[i].record, m[i].record_len);
        tampered[m[i].record_len - 1] ^= 1;
        m[i].record = tampered;
    }
    uint8_t *snap;
    size_t len;
    assert_int_equal(gossip_snapshot_build(harness_id(0), m, 3, &snap, &len), 0);
    struct gossip_addr a = harness_addr(0);
    struct gossip_config c = h.cfg;
    signing(0, &c);
    struct gossip *g = gossip_new(&c, harness_id(0), &a, 0, 5, 0);
    assert_non_null(g);
    const char *err;
    assert_int_equal(gossip_snapshot_load(g, 0, snap, len, &err), 0);
    struct gossip_member_info got;
    assert_true(gossip_member_find(g, harness_id(1), &got));
    assert_int_equal(got.record_version, 0);
    assert_int_equal(gossip_refused(g, GOSSIP_REFUSED_RECORD), 1);
    gossip_free(g);
    free(snap);
    harness_stop(&h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_packet_naming_another_member_is_refused),
        cmocka_unit_test(an_ack_from_a_member_not_probed_is_refused),
        cmocka_unit_test(an_incarnation_is_never_wrapped),
        cmocka_unit_test(others_raise_an_incarnation_a_step_at_most),
        cmocka_unit_test(a_view_far_behind_catches_up_from_the_member),
        cmocka_unit_test(a_member_refutes_once_per_probe_interval),
        cmocka_unit_test(a_record_version_moves_only_with_its_owners_record),
        cmocka_unit_test(a_record_sealed_by_another_host_is_refused),
        cmocka_unit_test(a_previous_life_is_outnumbered_when_it_is_signed),
        cmocka_unit_test(a_snapshot_record_is_checked_again),
    };
    return cmocka_run_group_tests(tests, make_keys, NULL);
}
