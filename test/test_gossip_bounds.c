/* Gossip packets at and beyond the limits of src/gossip/gossip_limits.h,
 * from a peer that holds the cluster key: what exceeds a limit is refused
 * and counted by reason, and nothing is written past a buffer (the suite
 * runs under ASan). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gossip.pb-c.h"
#include "gossip/gossip.h"

static struct gossip_addr addr_of(uint32_t i) {
    struct gossip_addr a = {.port = (uint16_t)(7000 + i % 50000)};
    a.ip[10] = a.ip[11] = 0xff;
    a.ip[12] = 10;
    a.ip[13] = (uint8_t)(i >> 16);
    a.ip[14] = (uint8_t)(i >> 8);
    a.ip[15] = (uint8_t)i;
    return a;
}

static struct gossip *new_node(void) {
    struct gossip_config cfg;
    gossip_config_defaults(&cfg);
    struct gossip_addr self = addr_of(1);
    struct gossip *g = gossip_new(&cfg, 1, &self, 0, 7, 0);
    assert_non_null(g);
    return g;
}

/* A push-pull packet from member 2 listing n members 1000.. that claim
 * records, as an authenticated but malicious peer would send it. */
static uint8_t *push_pull(size_t n, size_t *len) {
    Nodectl__GossipPacket p = NODECTL__GOSSIP_PACKET__INIT;
    p.kind = NODECTL__GOSSIP_KIND__GOSSIP_KIND_PUSH_PULL;
    p.sender = 2;
    Nodectl__GossipMember *mem = calloc(n, sizeof *mem);
    Nodectl__GossipMember **mp = calloc(n, sizeof *mp);
    struct gossip_addr *addrs = calloc(n, sizeof *addrs);
    assert_true(mem && mp && addrs);
    for (size_t k = 0; k < n; k++) {
        nodectl__gossip_member__init(&mem[k]);
        addrs[k] = addr_of(1000 + (uint32_t)k);
        mem[k].id = 1000 + k;
        mem[k].ip.data = addrs[k].ip;
        mem[k].ip.len = sizeof addrs[k].ip;
        mem[k].port = addrs[k].port;
        mem[k].record_version = 5;
        mp[k] = &mem[k];
    }
    p.members = mp;
    p.n_members = n;
    *len = nodectl__gossip_packet__get_packed_size(&p);
    uint8_t *buf = malloc(*len);
    assert_non_null(buf);
    nodectl__gossip_packet__pack(&p, buf);
    free(mem);
    free(mp);
    free(addrs);
    return buf;
}

/* 65 and more unknown members that claim records in one push-pull: each
 * wants a record, more than a packet may list (want[] holds
 * GOSSIP_PKT_MEMBERS). */
static void push_pull_with_too_many_members_is_refused(void **state) {
    static const size_t counts[] = {64, 65, 200, 1000};
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        struct gossip *g = new_node();
        struct gossip_addr from = addr_of(2);
        size_t len;
        uint8_t *pkt = push_pull(counts[c], &len);
        assert_int_equal(gossip_receive(g, 1, 2, &from, pkt, len), 0);
        free(pkt);
        gossip_free(g);
    }
}

static uint64_t rejected(const struct gossip *g, enum gossip_reject r) {
    return gossip_rejects(g)->n[r];
}

static void receive(struct gossip *g, const Nodectl__GossipPacket *p) {
    size_t len = nodectl__gossip_packet__get_packed_size(p);
    uint8_t *buf = malloc(len ? len : 1);
    assert_non_null(buf);
    nodectl__gossip_packet__pack(p, buf);
    struct gossip_addr from = addr_of(2);
    assert_int_equal(gossip_receive(g, 1, 2, &from, buf, len), 0);
    free(buf);
}

static void too_many_members_is_counted_and_learns_nothing(void **state) {
    struct gossip *g = new_node();
    struct gossip_addr from = addr_of(2);
    size_t len;
    uint8_t *pkt = push_pull(GOSSIP_PKT_MEMBERS + 1, &len);
    assert_int_equal(gossip_receive(g, 1, 2, &from, pkt, len), 0);
    free(pkt);
    assert_int_equal(rejected(g, GOSSIP_REJECT_MEMBERS), 1);
    assert_int_equal(gossip_member_count(g), 1);
    /* At the limit it is a normal packet. */
    pkt = push_pull(GOSSIP_PKT_MEMBERS, &len);
    assert_int_equal(gossip_receive(g, 1, 2, &from, pkt, len), 0);
    free(pkt);
    assert_int_equal(gossip_member_count(g), 1 + GOSSIP_PKT_MEMBERS);
    assert_int_equal(gossip_bad_packets(g), 1);
    gossip_free(g);
}

static void too_many_records_wants_and_bytes_are_counted(void **state) {
    struct gossip *g = new_node();
    Nodectl__GossipPacket p = NODECTL__GOSSIP_PACKET__INIT;
    p.kind = NODECTL__GOSSIP_KIND__GOSSIP_KIND_RECORD_PIECES;
    p.sender = 2;
    Nodectl__GossipRecord rec[GOSSIP_PKT_RECORDS + 1], *rp[GOSSIP_PKT_RECORDS + 1];
    for (size_t k = 0; k <= GOSSIP_PKT_RECORDS; k++) {
        nodectl__gossip_record__init(&rec[k]);
        rec[k].id = 1000 + k;
        rec[k].version = 1;
        rec[k].total_len = 10;
        rp[k] = &rec[k];
    }
    p.records = rp;
    p.n_records = GOSSIP_PKT_RECORDS + 1;
    receive(g, &p);
    assert_int_equal(rejected(g, GOSSIP_REJECT_RECORDS), 1);

    uint64_t want[GOSSIP_PKT_WANT + 1] = {0};
    Nodectl__GossipPacket w = NODECTL__GOSSIP_PACKET__INIT;
    w.kind = NODECTL__GOSSIP_KIND__GOSSIP_KIND_RECORD_WANT;
    w.sender = 2;
    w.want = want;
    w.n_want = GOSSIP_PKT_WANT + 1;
    receive(g, &w);
    assert_int_equal(rejected(g, GOSSIP_REJECT_WANTS), 1);

    Nodectl__GossipPacket k = NODECTL__GOSSIP_PACKET__INIT;
    k.kind = (Nodectl__GossipKind)99;
    k.sender = 2;
    receive(g, &k);
    assert_int_equal(rejected(g, GOSSIP_REJECT_KIND), 1);

    uint8_t *big = calloc(GOSSIP_PACKET_LIMIT + 1, 1);
    struct gossip_addr from = addr_of(2);
    assert_int_equal(gossip_receive(g, 1, 2, &from, big, GOSSIP_PACKET_LIMIT + 1), 0);
    free(big);
    assert_int_equal(rejected(g, GOSSIP_REJECT_TOO_LARGE), 1);
    assert_int_equal(gossip_bad_packets(g), 4);
    gossip_free(g);
}

/* A gossip packet from member 2 with one entry, *mp: member id alive at
 * *a (which the entry points into). */
static void alive_member(Nodectl__GossipPacket *p, Nodectl__GossipMember **mp,
                         struct gossip_addr *a, uint64_t id) {
    *a = addr_of((uint32_t)id);
    nodectl__gossip_member__init(*mp);
    (*mp)->id = id;
    (*mp)->ip.data = a->ip;
    (*mp)->ip.len = sizeof a->ip;
    (*mp)->port = a->port;
    nodectl__gossip_packet__init(p);
    p->sender = 2;
    p->members = mp;
    p->n_members = 1;
}

/* A record piece claiming more than GOSSIP_RECORD_MAX, one off a chunk
 * boundary, a member state out of range and wake information too long:
 * each entry is skipped and counted. */
static void bad_entries_are_skipped_and_counted(void **state) {
    struct gossip *g = new_node();
    struct gossip_addr a;
    Nodectl__GossipMember m, *mp = &m;
    Nodectl__GossipPacket p;
    alive_member(&p, &mp, &a, 3);
    receive(g, &p); /* member 3 is now known */
    assert_int_equal(gossip_member_count(g), 2);

    m.state = (Nodectl__GossipState)7;
    m.incarnation = 1;
    receive(g, &p);
    assert_int_equal(rejected(g, GOSSIP_REJECT_STATE), 1);

    uint8_t wake[GOSSIP_WAKE_MAX + 1] = {0};
    m.state = NODECTL__GOSSIP_STATE__GOSSIP_STATE_OFF;
    m.wake.data = wake;
    m.wake.len = sizeof wake;
    receive(g, &p);
    assert_int_equal(rejected(g, GOSSIP_REJECT_WAKE), 1);
    struct gossip_member_info info;
    assert_true(gossip_member_find(g, 3, &info));
    assert_int_equal(info.wake_len, 0);

    m.id = 4;
    m.state = NODECTL__GOSSIP_STATE__GOSSIP_STATE_ALIVE;
    m.wake.len = 0;
    m.ip.len = 3;
    receive(g, &p);
    assert_int_equal(rejected(g, GOSSIP_REJECT_ADDRESS), 1);
    assert_false(gossip_member_find(g, 4, &info));

    uint8_t piece[GOSSIP_CHUNK] = {0};
    Nodectl__GossipRecord r = NODECTL__GOSSIP_RECORD__INIT, *rp = &r;
    r.id = 3;
    r.version = 1;
    r.total_len = GOSSIP_RECORD_MAX + 1;
    r.data.data = piece;
    r.data.len = sizeof piece;
    Nodectl__GossipPacket q = NODECTL__GOSSIP_PACKET__INIT;
    q.kind = NODECTL__GOSSIP_KIND__GOSSIP_KIND_RECORD_PIECES;
    q.sender = 2;
    q.records = &rp;
    q.n_records = 1;
    receive(g, &q);
    assert_int_equal(rejected(g, GOSSIP_REJECT_RECORD_SIZE), 1);
    r.total_len = 4 * GOSSIP_CHUNK;
    r.offset = 10;
    receive(g, &q);
    assert_int_equal(rejected(g, GOSSIP_REJECT_PIECE), 1);
    gossip_free(g);
}

/* Members invented by a peer stop at GOSSIP_MEMBERS_MAX. The table is
 * filled to 10 short of it as from a snapshot (no news to spread, which
 * keeps the test short); a packet of 64 strangers then adds 10. */
static void the_member_table_is_bounded(void **state) {
    struct gossip *g = new_node();
    size_t fill = GOSSIP_MEMBERS_MAX - 1 - 10;
    struct gossip_member_info *info = calloc(fill, sizeof *info);
    assert_non_null(info);
    for (size_t k = 0; k < fill; k++) {
        info[k].id = 100000 + k;
        info[k].addr = addr_of(100000 + (uint32_t)k);
    }
    assert_int_equal(gossip_add_members(g, 1, info, fill), 0);
    free(info);
    /* More than the table holds is refused whole from a snapshot too. */
    struct gossip_member_info extra[11] = {{0}};
    for (size_t k = 0; k < 11; k++)
        extra[k].id = 900000 + k;
    assert_int_equal(gossip_add_members(g, 1, extra, 11), -1);
    size_t len;
    uint8_t *pkt = push_pull(GOSSIP_PKT_MEMBERS, &len);
    struct gossip_addr from = addr_of(2);
    assert_int_equal(gossip_receive(g, 1, 2, &from, pkt, len), 0);
    free(pkt);
    assert_int_equal(gossip_member_count(g), GOSSIP_MEMBERS_MAX);
    assert_int_equal(rejected(g, GOSSIP_REJECT_TABLE_FULL), GOSSIP_PKT_MEMBERS - 10);
    gossip_free(g);
}

/* A want naming one record many times is answered once. */
static void a_repeated_want_is_answered_once(void **state) {
    struct gossip *g = new_node();
    uint8_t record[3 * GOSSIP_CHUNK] = {1};
    assert_int_equal(gossip_set_record(g, 1, record, sizeof record), 0);
    struct gossip_msg out;
    while (gossip_next_msg(g, &out))
        free(out.data);
    uint64_t want[GOSSIP_PKT_WANT];
    for (size_t k = 0; k < GOSSIP_PKT_WANT; k++)
        want[k] = 1;
    Nodectl__GossipPacket w = NODECTL__GOSSIP_PACKET__INIT;
    w.kind = NODECTL__GOSSIP_KIND__GOSSIP_KIND_RECORD_WANT;
    w.sender = 2;
    w.want = want;
    w.n_want = GOSSIP_PKT_WANT;
    receive(g, &w);
    size_t pieces = 0;
    while (gossip_next_msg(g, &out)) {
        Nodectl__GossipPacket *p = nodectl__gossip_packet__unpack(NULL, out.len, out.data);
        assert_non_null(p);
        pieces += p->n_records;
        nodectl__gossip_packet__free_unpacked(p, NULL);
        free(out.data);
    }
    assert_int_equal(pieces, 3);
    gossip_free(g);
}

/* An empty record (total_len 0) from a peer decodes with no data pointer:
 * it is stored without copying from NULL, which is undefined even for no
 * bytes (UBSan stops on it). */
static void an_empty_record_is_taken(void **state) {
    struct gossip *g = new_node();
    struct gossip_addr a;
    Nodectl__GossipMember m, *mp = &m;
    Nodectl__GossipPacket p;
    alive_member(&p, &mp, &a, 3);
    receive(g, &p);
    Nodectl__GossipRecord r = NODECTL__GOSSIP_RECORD__INIT, *rp = &r;
    r.id = 3;
    r.version = 1;
    Nodectl__GossipPacket q = NODECTL__GOSSIP_PACKET__INIT;
    q.kind = NODECTL__GOSSIP_KIND__GOSSIP_KIND_RECORD_PIECES;
    q.sender = 2;
    q.records = &rp;
    q.n_records = 1;
    receive(g, &q);
    struct gossip_member_info info;
    assert_true(gossip_member_find(g, 3, &info));
    assert_int_equal(info.record_version, 1);
    assert_int_equal(info.record_len, 0);
    gossip_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(push_pull_with_too_many_members_is_refused),
        cmocka_unit_test(too_many_members_is_counted_and_learns_nothing),
        cmocka_unit_test(too_many_records_wants_and_bytes_are_counted),
        cmocka_unit_test(bad_entries_are_skipped_and_counted),
        cmocka_unit_test(the_member_table_is_bounded),
        cmocka_unit_test(a_repeated_want_is_answered_once),
        cmocka_unit_test(an_empty_record_is_taken),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
