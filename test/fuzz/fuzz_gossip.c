/* Gossip packets fed to a real gossip instance (src/gossip/) as a peer
 * holding the cluster key would send them, with the agent's record hooks
 * of an insecure cluster (sealed records, message_check.c's bounds)
 * deciding which records are kept. Besides raw bytes,
 * the input describes packets field by field, counts included, so that a
 * push-pull with hundreds of members, record pieces of any size and
 * offset, or want lists of any length are a few bytes away instead of a
 * lucky mutation of a valid encoding: the bounds are designed into the
 * input format. Time moves and timers run in between. After every step
 * the member table must stay within its limits. */
#include <stdlib.h>
#include <string.h>

#include "agent/message_check.h"
#include "fuzz_input.h"
#include "gossip.pb-c.h"
#include "gossip/gossip.h"
#include "net/signed_record.h"

#define PEERS 3
#define ENTRIES_MAX 255

static struct gossip_addr addr(uint8_t host, uint16_t port) {
    struct gossip_addr a = {.port = port};
    a.ip[10] = a.ip[11] = 0xff;
    a.ip[12] = 10;
    a.ip[15] = host;
    return a;
}

/* Member ids: a few that are (or may become) known, ourselves included,
 * and many strangers. */
static uint64_t member_id(struct fuzz_input *in) {
    uint8_t b = fuzz_u8(in);
    return b & 0x80 ? 1000 + (uint64_t)(b & 0x7f) + 128 * (uint64_t)fuzz_u8(in) : 1 + b % 8;
}

/* The agent's hooks in an insecure cluster (agent_record.c): records are
 * sealed without a signature, and one received is believed only when it
 * is sealed so and decodes within the bounds of message_limits.h (the
 * agent then also matches its name to the member id, left out here so
 * that inputs may use any id). */
static int record_seal(void *ctx, uint64_t version, const uint8_t *data, size_t len,
                       uint8_t **out, size_t *out_len) {
    *out = malloc(signed_record_size(0, len));
    if (!*out)
        return -1;
    *out_len = signed_record_seal(NULL, NULL, 0, 1, version, data, len, *out);
    return 0;
}

static bool record_verify(void *ctx, uint64_t id, uint64_t version, const uint8_t *data,
                          size_t len) {
    struct signed_record sr;
    struct cert_info owner;
    if (signed_record_verify(NULL, NULL, 0, id, version, data, len, &sr, &owner) !=
        SIGNED_RECORD_OK)
        return false;
    const char *field;
    Nodectl__HostRecord *r = message_record_decode(sr.record, sr.len, ctx, &field);
    if (r)
        nodectl__host_record__free_unpacked(r, NULL);
    return r != NULL;
}

struct packet {
    Nodectl__GossipPacket p;
    Nodectl__GossipMember mem[ENTRIES_MAX], *mp[ENTRIES_MAX];
    Nodectl__GossipRecord rec[ENTRIES_MAX], *rp[ENTRIES_MAX];
    uint64_t want[ENTRIES_MAX];
    struct gossip_addr addrs[ENTRIES_MAX + 1];
    uint8_t bytes[2 * GOSSIP_CHUNK]; /* record data and wake information */
};

/* What the input does not give of a packet's bytes: a fixed pattern. */
static uint8_t pattern[2 * GOSSIP_CHUNK];

static void fill_bytes(struct packet *pk, struct fuzz_input *in) {
    memcpy(pk->bytes, pattern, sizeof pk->bytes);
    size_t len;
    const uint8_t *b = fuzz_bytes(in, sizeof pk->bytes, &len);
    memcpy(pk->bytes, b, len);
}

/* n member entries, one byte each unless it asks for more: a zero byte
 * (or the end of the input) is a stranger, alive at a fresh address, that
 * claims a record; so a few bytes make a push-pull of 255 such members. */
static void members(struct packet *pk, struct fuzz_input *in) {
    size_t n = fuzz_u8(in);
    for (size_t k = 0; k < n; k++) {
        Nodectl__GossipMember *m = &pk->mem[k];
        nodectl__gossip_member__init(m);
        uint8_t b = fuzz_u8(in);
        m->id = b & 0x80 ? 1 + b % 8 : 5000 + k;
        m->record_version = 1 + (b & 0x0f);
        pk->addrs[k] = addr((uint8_t)k, (uint16_t)(7000 + k));
        m->ip.data = pk->addrs[k].ip;
        m->ip.len = 16;
        m->port = pk->addrs[k].port;
        m->wake.data = pk->bytes;
        pk->mp[k] = m;
        if (!(b & 0x40))
            continue;
        uint8_t flags = fuzz_u8(in);
        m->state = (Nodectl__GossipState)(flags % 6);
        m->incarnation = flags & 0x40 ? fuzz_u32(in) : fuzz_u8(in);
        m->record_version = flags & 0x20 ? fuzz_u8(in) : 0;
        m->ip.len = flags & 0x10 ? fuzz_u8(in) % 17 : 16;
        m->port = flags & 0x08 ? fuzz_u32(in) : m->port;
        m->from = flags & 0x04 ? member_id(in) : 0;
        m->wake.len = flags & 0x02 ? fuzz_u8(in) : 0;
        m->state_age_ms = flags & 0x01 ? fuzz_u32(in) : 0;
    }
    pk->p.n_members = n;
}

static void records(struct packet *pk, struct fuzz_input *in) {
    size_t n = fuzz_u8(in) % 24;
    for (size_t k = 0; k < n; k++) {
        Nodectl__GossipRecord *r = &pk->rec[k];
        nodectl__gossip_record__init(r);
        r->id = member_id(in);
        r->version = fuzz_u8(in);
        uint8_t flags = fuzz_u8(in);
        r->total_len = flags & 0x80 ? fuzz_u32(in) : 32u * fuzz_u16(in);
        r->offset = flags & 0x40 ? fuzz_u32(in) : GOSSIP_CHUNK * (uint32_t)(fuzz_u8(in) % 64);
        size_t len = flags & 0x20 ? fuzz_u16(in) % (sizeof pk->bytes + 1)
                     : r->total_len > r->offset ? r->total_len - r->offset : 0;
        if (len > GOSSIP_CHUNK && !(flags & 0x20))
            len = GOSSIP_CHUNK;
        r->data.data = pk->bytes;
        r->data.len = flags & 0x10 ? 0 : len;
        pk->rp[k] = r;
    }
    pk->p.n_records = n;
}

/* From the member the packet names as its sender, as the transport
 * authenticated it, or (the byte's high bit) from another. */
static void send_packet(struct gossip *g, int64_t now, struct packet *pk, struct fuzz_input *in) {
    uint8_t b = fuzz_u8(in);
    struct gossip_addr from = addr((uint8_t)(200 + b % PEERS), 7946);
    uint64_t sender = b & 0x80 ? 1 + b % 8 : pk->p.sender;
    size_t len = nodectl__gossip_packet__get_packed_size(&pk->p);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        abort();
    nodectl__gossip_packet__pack(&pk->p, buf);
    gossip_receive(g, now, sender, &from, buf, len);
    free(buf);
}

/* A packet described field by field. op 1: a push-pull whose first byte is
 * its member count (so [1, 200] is 200 strangers claiming records); op 2:
 * record pieces; op 3: any kind, with the entries the flags ask for. Only
 * the entries a packet counts are encoded, and each is set before, so one
 * buffer serves every packet. */
static void packet(struct gossip *g, int64_t now, uint8_t op, struct fuzz_input *in) {
    static struct packet buf;
    struct packet *pk = &buf;
    nodectl__gossip_packet__init(&pk->p);
    pk->p.members = pk->mp;
    pk->p.records = pk->rp;
    pk->p.want = pk->want;
    if (op == 1) {
        pk->p.kind = NODECTL__GOSSIP_KIND__GOSSIP_KIND_PUSH_PULL;
        memset(pk->bytes, 0, sizeof pk->bytes); /* its members' wake information */
        members(pk, in);
    } else if (op == 2) {
        pk->p.kind = NODECTL__GOSSIP_KIND__GOSSIP_KIND_RECORD_PIECES;
        fill_bytes(pk, in);
        records(pk, in);
    }
    uint8_t flags = fuzz_u8(in);
    pk->p.sender = flags & 0x80 ? member_id(in) : 2;
    pk->p.reply = flags & 0x02;
    pk->p.piece = flags & 0x04 ? fuzz_u8(in) : 0;
    if (op == 3) {
        pk->p.kind = (Nodectl__GossipKind)(fuzz_u8(in) % 9);
        pk->p.seq = fuzz_u8(in);
        pk->p.target = member_id(in);
        pk->addrs[ENTRIES_MAX] = addr(99, 99);
        pk->p.target_ip.data = pk->addrs[ENTRIES_MAX].ip;
        pk->p.target_ip.len = flags & 0x01 ? 16 : fuzz_u8(in) % 17;
        pk->p.target_port = 99;
        fill_bytes(pk, in);
        if (flags & 0x08)
            members(pk, in);
        if (flags & 0x10)
            records(pk, in);
        if (flags & 0x20) {
            size_t n = fuzz_u8(in);
            for (size_t k = 0; k < n; k++)
                pk->want[k] = member_id(in);
            pk->p.n_want = n;
        }
    }
    send_packet(g, now, pk, in);
}

static void drain(struct gossip *g) {
    struct gossip_msg out;
    while (gossip_next_msg(g, &out))
        free(out.data);
    struct gossip_event ev;
    while (gossip_next_event(g, &ev))
        ;
    size_t n = gossip_member_count(g);
    if (n > GOSSIP_MEMBERS_MAX)
        abort();
    for (size_t i = 0; i < n; i++) {
        struct gossip_member_info m;
        gossip_member_at(g, i, &m);
        if (m.state > GOSSIP_OFF || m.record_len > GOSSIP_RECORD_MAX ||
            m.wake_len > GOSSIP_WAKE_MAX)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!pattern[1])
        for (size_t i = 0; i < sizeof pattern; i++)
            pattern[i] = (uint8_t)(i * 31);
    struct fuzz_input in = {data, size};
    struct rejects records_refused;
    memset(&records_refused, 0, sizeof records_refused);
    struct gossip_config cfg;
    gossip_config_defaults(&cfg);
    cfg.record_seal = record_seal;
    cfg.record_verify = record_verify;
    cfg.record_ctx = &records_refused;
    struct gossip_addr self = addr(1, 7946);
    int64_t now = 0;
    struct gossip *g = gossip_new(&cfg, 1, &self, fuzz_u8(&in), 7, now);
    if (!g)
        abort();
    while (fuzz_more(&in)) {
        uint8_t op = fuzz_u8(&in);
        switch (op % 8) {
        case 0: {
            size_t len;
            const uint8_t *raw = fuzz_bytes(&in, 255, &len);
            struct gossip_addr from = addr(200, 7946);
            gossip_receive(g, now, 2, &from, raw, len);
            break;
        }
        case 1: case 2: case 3: packet(g, now, op % 8, &in); break;
        case 4:
            now += fuzz_u16(&in);
            if (now >= gossip_next_deadline(g))
                gossip_tick(g, now);
            break;
        case 5: { /* our own record: its size decides whether it goes in pieces */
            static uint8_t rec[4 * GOSSIP_CHUNK];
            size_t len = fuzz_u16(&in) % sizeof rec, got;
            const uint8_t *b = fuzz_bytes(&in, len, &got);
            memcpy(rec, b, got);
            gossip_set_record(g, now, rec, len);
            break;
        }
        case 6: {
            struct gossip_addr seed = addr(200, 7946);
            gossip_join(g, now, &seed, 1);
            break;
        }
        default: {
            size_t len;
            const uint8_t *wake = fuzz_bytes(&in, 255, &len);
            if (op & 0x08)
                gossip_leave(g, now);
            else if (op & 0x10)
                gossip_power_off(g, now, wake, len);
            else
                gossip_resume(g, now);
            break;
        }
        }
        drain(g);
    }
    gossip_free(g);
    return 0;
}
