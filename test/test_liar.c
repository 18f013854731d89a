/* A host with valid credentials cannot fool the others (docs/security.md,
 * "Sane values"), with real agents on loopback: n1 .. n4, and "liar", a
 * host certified as a candidate and listed among the candidates, which the
 * test plays. Every frame it sends is one its certificate really signs; the
 * lies are in the payloads:
 * (f) gossip that names another member as its sender;
 * (a) another member's incarnation at UINT32_MAX, which its refutation
 *     would wrap to 0;
 * (b) another member's record at version UINT64_MAX, which would freeze it;
 * (c) a record for another host, sealed by the liar;
 * (d) a term near 2^60 in its election messages, its own signed record and
 *     a command, which would raise every fence above the real leader's;
 * (e) a wake request, which it also grants as its issuer, that makes n1
 *     present the cluster's IPMI credentials to a BMC address n3 never
 *     published, and a migration to a URI n2 does not advertise.
 * Each is refused and counted, and the cluster goes on: every member alive,
 * the leader and its term unchanged, and a real command still carried out
 * and seen by everyone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent_pki.h"
#include "agent_process.h"
#include "command.pb-c.h"
#include "election.pb-c.h"
#include "gossip.pb-c.h"
#include "host.pb-c.h"
#include "net/pki.h"
#include "net/signed_record.h"
#include "net/transport.h"
#include "test_helpers.h"

#define N 4
#define CLUSTER "liars"
#define HUGE_TERM (1ull << 60)

static pid_t pids[N + 1];
static char conf[N + 1][PATH_MAX];
static char pki[N + 1][3 * PATH_MAX];
static char out[1 << 16], err[8192];
static struct frame_ctx *liar_frames;
static struct transport *liar;
static struct pki_identity liar_id;
static char liar_addr[32];

static unsigned port(int i) { return test_port_base() + (unsigned)i - 1; }

static void addr_of(int i, char *out_addr, size_t len) {
    snprintf(out_addr, len, "127.0.0.1:%u", port(i));
}

static uint64_t id_of(const char *name) { return signed_record_member_id(name); }

/* ---- the cluster ---- */

static void write_and_start(int i) {
    char dir[PATH_MAX], text[6 * PATH_MAX], power[2 * PATH_MAX] = "", pass[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/n%d", test_dir, i);
    mkdir(dir, 0755);
    if (i == 1) { /* n1 holds the IPMI credentials */
        test_write_file(dir, "ipmi.pass", "secret\n", pass, sizeof pass);
        snprintf(power, sizeof power, "[power]\nipmi_user = admin\nipmi_password_file = %s\n",
                 pass);
    } else if (i == 3) { /* n3 has a BMC */
        snprintf(power, sizeof power, "[power]\nipmi_address = 127.0.0.23:623\n");
    }
    snprintf(text, sizeof text,
             "[cluster]\nname = " CLUSTER "\n%sdiscovery = false\n"
             "seeds = 127.0.0.1:%u\ncandidates = n1, n2, n3, liar\n"
             "[node]\nname = n%d\nbind_address = 127.0.0.1\nport = %u\n"
             "state_dir = %s/state\ncontrol_socket = %s/ctl.sock\n"
             "[hypervisor]\nuri = test:///default\nsample_interval = 1s\n"
             /* Slower than the defaults, as in test_security: a slow ASan
              * agent must not be suspected, so that a suspicion is a lie's. */
             "[gossip]\nprobe_interval = 500ms\nprobe_timeout = 300ms\nsuspicion_mult = 4\n"
             "push_pull_interval = 2s\n%s",
             pki[i], port(1), i, port(i), dir, dir, power);
    pids[i] = agent_start_in(dir, text, conf[i], sizeof conf[i]);
    assert_true(pids[i] > 0);
}

static json_t *status_of(int i) {
    if (nodectl_run(conf[i], "status --json", out, sizeof out, err, sizeof err) != 0)
        return NULL;
    json_error_t jerr;
    return json_loads(out, 0, &jerr);
}

/* A counter of "messages_refused" in agent i's status; -1 if it did not
 * answer. */
static long refused(int i, const char *name) {
    json_t *root = status_of(i);
    long v = root ? (long)json_integer_value(
                        json_object_get(json_object_get(root, "messages_refused"), name))
                  : -1;
    json_decref(root);
    return v;
}

/* Agent i's view of member `name`: its state, incarnation, and whether its
 * record says drained; 0, or -1 if it is not there. */
static int member_of(int i, const char *name, char *state, size_t len, long *inc, int *drain) {
    json_t *root = status_of(i);
    json_t *members = json_object_get(root, "members");
    int rc = -1;
    for (size_t k = 0; k < json_array_size(members); k++) {
        json_t *m = json_array_get(members, k);
        if (strcmp(json_string_value(json_object_get(m, "name")), name) != 0)
            continue;
        snprintf(state, len, "%s", json_string_value(json_object_get(m, "state")));
        *inc = (long)json_integer_value(json_object_get(m, "incarnation"));
        *drain = json_is_true(json_object_get(m, "drain"));
        rc = 0;
    }
    json_decref(root);
    return rc;
}

/* Every agent sees n1 .. n4 alive. */
static int all_alive(int timeout_s) {
    for (int t = 0; t < timeout_s * 5; t++, usleep(200000)) {
        int ok = 1;
        for (int i = 1; i <= N && ok; i++)
            for (int k = 1; k <= N && ok; k++) {
                char name[8], st[16] = "";
                long inc;
                int drain;
                snprintf(name, sizeof name, "n%d", k);
                ok = member_of(i, name, st, sizeof st, &inc, &drain) == 0 &&
                     strcmp(st, "alive") == 0;
            }
        if (ok)
            return 0;
    }
    return -1;
}

/* The leader and term every agent names, once they agree; -1 if not in
 * time. */
static int agreed(char *leader, size_t len, long *term) {
    for (int t = 0; t < 150; t++, usleep(200000)) {
        int ok = 1;
        char first[32] = "";
        long first_term = -1;
        for (int i = 1; i <= N && ok; i++) {
            json_t *root = status_of(i);
            const char *l = root ? json_string_value(json_object_get(root, "leader")) : NULL;
            long tm = root ? (long)json_integer_value(json_object_get(root, "term")) : -1;
            ok = l && tm > 0 && (i == 1 || (strcmp(l, first) == 0 && tm == first_term));
            if (ok && i == 1) {
                snprintf(first, sizeof first, "%s", l);
                first_term = tm;
            }
            json_decref(root);
        }
        if (ok) {
            snprintf(leader, len, "%s", first);
            *term = first_term;
            return 0;
        }
    }
    return -1;
}

/* The fence agent i keeps on disk. */
static long fence_of(int i) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/n%d/state/term", test_dir, i);
    FILE *f = fopen(path, "r");
    long v = -1;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

static int setup(void **state) {
    test_dir_setup(state);
    test_pki_cluster(test_dir);
    for (int i = 1; i <= N; i++) {
        char name[8];
        snprintf(name, sizeof name, "n%d", i);
        test_pki_host(test_dir, name, i <= 3, pki[i], sizeof pki[i]);
    }
    char lines[3 * PATH_MAX], ca[PATH_MAX], key[PATH_MAX], cert[PATH_MAX];
    test_pki_host(test_dir, "liar", true, lines, sizeof lines);
    snprintf(ca, sizeof ca, "%s/pki/ca/ca.pub", test_dir);
    snprintf(key, sizeof key, "%s/pki/liar/host.key", test_dir);
    snprintf(cert, sizeof cert, "%s/pki/liar/host.cert", test_dir);
    assert_int_equal(pki_load_identity(ca, key, cert, "liar", (uint64_t)time(NULL), &liar_id,
                                       err, sizeof err), 0);
    snprintf(liar_addr, sizeof liar_addr, "127.0.0.1:%u", port(N + 6));
    liar_frames = test_pki_ctx(test_dir, CLUSTER, "liar", liar_addr, (uint64_t)time(NULL));
    liar = transport_open("127.0.0.1", (uint16_t)port(N + 6), liar_frames, err, sizeof err);
    assert_non_null(liar);
    for (int i = 1; i <= N; i++)
        write_and_start(i);
    return all_alive(60);
}

static int teardown(void **state) {
    for (int i = 1; i <= N; i++)
        if (pids[i] > 0)
            agent_stop(pids[i], SIGTERM, 5000);
    transport_close(liar);
    frame_ctx_free(liar_frames);
    return test_dir_teardown(state);
}

/* ---- the liar's frames ---- */

/* Takes whatever the agents send the liar, so that its queues stay empty. */
static void liar_drain(void) {
    struct frame_msg m;
    while (transport_recv(liar, &m))
        free(m.payload);
}

static void liar_send(int to, uint32_t channel, const void *payload, size_t len) {
    char a[32];
    addr_of(to, a, sizeof a);
    assert_int_equal(transport_send(liar, a, channel, payload, len), 0);
    liar_drain();
}

static void gossip_addr_of(const char *addr, uint8_t ip[16], uint32_t *p) {
    memset(ip, 0, 16);
    ip[10] = ip[11] = 0xff;
    char host[32];
    snprintf(host, sizeof host, "%s", addr);
    *strrchr(host, ':') = '\0';
    assert_int_equal(inet_pton(AF_INET, host, ip + 12), 1);
    *p = (uint32_t)atoi(strrchr(addr, ':') + 1);
}

/* A gossip packet from the liar (that says it is from `sender`) to agent
 * `to`, with entries about members. */
struct entry {
    const char *name;
    uint32_t inc;
    Nodectl__GossipState st;
    uint64_t record_version;
};

static void gossip_to(int to, Nodectl__GossipKind kind, const char *sender,
                      const struct entry *e, size_t n, Nodectl__GossipRecord **recs,
                      size_t n_recs) {
    Nodectl__GossipMember mem[8], *mp[8];
    uint8_t ips[8][16];
    assert_true(n <= 8);
    for (size_t k = 0; k < n; k++) {
        nodectl__gossip_member__init(&mem[k]);
        char a[32];
        if (strcmp(e[k].name, "liar") == 0)
            snprintf(a, sizeof a, "%s", liar_addr);
        else
            addr_of(atoi(e[k].name + 1), a, sizeof a);
        gossip_addr_of(a, ips[k], &mem[k].port);
        mem[k].ip.data = ips[k];
        mem[k].ip.len = 16;
        mem[k].id = id_of(e[k].name);
        mem[k].incarnation = e[k].inc;
        mem[k].state = e[k].st;
        mem[k].from = id_of("liar");
        mem[k].record_version = e[k].record_version;
        mp[k] = &mem[k];
    }
    Nodectl__GossipPacket p = NODECTL__GOSSIP_PACKET__INIT;
    p.kind = kind;
    p.reply = kind == NODECTL__GOSSIP_KIND__GOSSIP_KIND_PUSH_PULL;
    p.sender = id_of(sender);
    p.n_members = n;
    p.members = mp;
    p.n_records = n_recs;
    p.records = recs;
    uint8_t buf[4096];
    assert_true(nodectl__gossip_packet__get_packed_size(&p) <= sizeof buf);
    liar_send(to, CHANNEL_GOSSIP, buf, nodectl__gossip_packet__pack(&p, buf));
}

/* `rec` sealed with the liar's key as member `owner`'s record at version,
 * as one whole piece in rp (data in buf). */
static void forged_piece(Nodectl__GossipRecord *r, uint8_t *buf, const char *owner,
                         uint64_t version, const Nodectl__HostRecord *rec) {
    uint8_t packed[2048];
    size_t len = nodectl__host_record__pack(rec, packed);
    size_t n = signed_record_seal(liar_id.sk, liar_id.cert, liar_id.cert_len, id_of(owner),
                                  version, packed, len, buf);
    nodectl__gossip_record__init(r);
    r->id = id_of(owner);
    r->version = version;
    r->total_len = (uint32_t)n;
    r->data.data = buf;
    r->data.len = n;
}

/* ---- the tests ---- */

static const Nodectl__GossipState ALIVE = NODECTL__GOSSIP_STATE__GOSSIP_STATE_ALIVE;
static const Nodectl__GossipState SUSPECT = NODECTL__GOSSIP_STATE__GOSSIP_STATE_SUSPECT;
static const Nodectl__GossipState DEAD = NODECTL__GOSSIP_STATE__GOSSIP_STATE_DEAD;
static const Nodectl__GossipKind GOSSIP = NODECTL__GOSSIP_KIND__GOSSIP_KIND_GOSSIP;

/* (f): gossip sent as n2, saying n4 left. */
static void gossip_as_another_member_is_refused(void **state) {
    const struct entry left = {"n4", 1, NODECTL__GOSSIP_STATE__GOSSIP_STATE_LEFT, 0};
    gossip_to(1, GOSSIP, "n2", &left, 1, NULL, 0);
    long r = 0;
    for (int t = 0; t < 25 && r < 1; t++, usleep(200000))
        r = refused(1, "gossip_sender_mismatch");
    assert_int_equal(r, 1);
    assert_int_equal(all_alive(5), 0);
}

/* (a): n3 at UINT32_MAX, as alive, suspect and dead, to everyone. */
static void an_incarnation_is_not_wrapped(void **state) {
    const struct entry lies[] = {{"n3", UINT32_MAX, SUSPECT, 0},
                                 {"n3", UINT32_MAX - 1, DEAD, 0},
                                 {"n3", UINT32_MAX - 2, ALIVE, 0}};
    for (int i = 1; i <= N; i++)
        for (size_t k = 0; k < 3; k++)
            gossip_to(i, GOSSIP, "liar", &lies[k], 1, NULL, 0);
    long r = 0;
    for (int t = 0; t < 25 && r < 3; t++, usleep(200000))
        r = refused(1, "gossip_incarnation_implausible");
    assert_int_equal(r, 3);
    sleep(3); /* a suspicion would have run out by now */
    assert_int_equal(all_alive(10), 0);
    for (int i = 1; i <= N; i++) {
        char st[16];
        long inc;
        int drain;
        assert_int_equal(member_of(i, "n3", st, sizeof st, &inc, &drain), 0);
        assert_true(inc <= 16);
    }
    char log[PATH_MAX];
    snprintf(log, sizeof log, "%s/n3/agent.log", test_dir);
    assert_int_equal(count_lines_with(log, "gossip from liar refused: "
                                           "gossip_incarnation_implausible"), 1);
}

/* (b) and (c): n3's record at UINT64_MAX, n4's (drained) at its next
 * version, both sealed by the liar; then a real change of n3's record
 * still reaches everyone. */
static void a_record_is_neither_frozen_nor_forged(void **state) {
    Nodectl__HostRecord fake = NODECTL__HOST_RECORD__INIT;
    fake.name = "n3";
    fake.drain = true;
    Nodectl__GossipRecord r[2], *rp[2] = {&r[0], &r[1]};
    uint8_t b0[4096], b1[4096];
    forged_piece(&r[0], b0, "n3", UINT64_MAX, &fake);
    fake.name = "n4";
    forged_piece(&r[1], b1, "n4", 1000, &fake);
    const struct entry frozen[] = {{"n3", 0, ALIVE, UINT64_MAX}, {"n4", 0, ALIVE, 1000}};
    for (int i = 1; i <= N; i++) {
        gossip_to(i, NODECTL__GOSSIP_KIND__GOSSIP_KIND_RECORD_PIECES, "liar", NULL, 0, rp, 2);
        /* and announced in a push-pull: the agents ask the liar for them */
        gossip_to(i, NODECTL__GOSSIP_KIND__GOSSIP_KIND_PUSH_PULL, "liar", frozen, 2, NULL, 0);
    }
    long r1 = 0;
    for (int t = 0; t < 25 && r1 < 2; t++, usleep(200000))
        r1 = refused(1, "gossip_record_not_owners");
    assert_true(r1 >= 2);
    assert_true(refused(2, "record_not_owners") >= 1);
    /* A real change: n3 drained by an operator, from n1. */
    assert_int_equal(nodectl_run(conf[1], "drain n3", out, sizeof out, err, sizeof err), 0);
    for (int i = 1; i <= N; i++) {
        char st[16];
        long inc;
        int drain = 0, drain4 = 1;
        for (int t = 0; t < 50 && !drain; t++, usleep(200000))
            member_of(i, "n3", st, sizeof st, &inc, &drain);
        assert_true(drain);
        assert_int_equal(member_of(i, "n4", st, sizeof st, &inc, &drain4), 0);
        assert_false(drain4);
    }
    assert_int_equal(nodectl_run(conf[1], "undrain n3", out, sizeof out, err, sizeof err), 0);
    char st[16];
    long inc;
    int drain = 1;
    for (int t = 0; t < 50 && drain; t++, usleep(200000))
        member_of(3, "n3", st, sizeof st, &inc, &drain);
    assert_false(drain);
}

/* The election names voters by FNV-1a of their name (name_id in
 * agent_election.c). */
static uint64_t voter_id(const char *name) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const char *p = name; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 0x100000001b3ULL;
    }
    return h;
}

static void election_to(int to, Nodectl__ElectionKind kind, uint64_t term) {
    char name[8];
    snprintf(name, sizeof name, "n%d", to);
    Nodectl__ElectionMsg m = NODECTL__ELECTION_MSG__INIT;
    m.kind = kind;
    m.term = term;
    m.from = voter_id("liar");
    m.to = voter_id(name); /* addressed to the voter, or refused before its term is looked at */
    uint8_t buf[128];
    liar_send(to, CHANNEL_ELECTION, buf, nodectl__election_msg__pack(&m, buf));
}

static void command_to(int to, const char *id, uint64_t term, Nodectl__WakeCommand *wake,
                       Nodectl__MigrateCommand *migrate) {
    Nodectl__DrainCommand dc = NODECTL__DRAIN_COMMAND__INIT;
    dc.drain = true;
    Nodectl__Command cmd = NODECTL__COMMAND__INIT;
    char target[8];
    snprintf(target, sizeof target, "n%d", to);
    cmd.id = (char *)id;
    cmd.term = term;
    cmd.issuer = "liar";
    cmd.target = target;
    if (wake) {
        cmd.body_case = NODECTL__COMMAND__BODY_WAKE;
        cmd.wake = wake;
    } else if (migrate) {
        cmd.body_case = NODECTL__COMMAND__BODY_MIGRATE;
        cmd.migrate = migrate;
    } else {
        cmd.body_case = NODECTL__COMMAND__BODY_DRAIN;
        cmd.drain = &dc;
    }
    Nodectl__CommandMsg m = NODECTL__COMMAND_MSG__INIT;
    m.body_case = NODECTL__COMMAND_MSG__BODY_COMMAND;
    m.command = &cmd;
    uint8_t buf[512];
    liar_send(to, CHANNEL_COMMAND, buf, nodectl__command_msg__pack(&m, buf));
}

/* Grants, as the issuer it is, the first request for command `id` that
 * comes (a target asks before it acts, docs/safety.md); 0, or -1 if none
 * came within timeout_s. */
static int liar_grant(const char *id, int timeout_s) {
    for (int t = 0; t < timeout_s * 10; t++, usleep(100000)) {
        struct frame_msg fm;
        while (transport_recv(liar, &fm)) {
            Nodectl__CommandMsg *in = fm.channel == CHANNEL_COMMAND
                                          ? nodectl__command_msg__unpack(NULL, fm.len, fm.payload)
                                          : NULL;
            bool mine = in && in->body_case == NODECTL__COMMAND_MSG__BODY_ASK &&
                        strcmp(in->ask->id, id) == 0;
            if (mine) {
                Nodectl__Grant g = NODECTL__GRANT__INIT;
                g.id = in->ask->id;
                g.target = in->ask->target;
                g.term = in->ask->term;
                g.nonce = in->ask->nonce;
                g.granted = true;
                g.valid_ms = 5000;
                g.reason = "";
                Nodectl__CommandMsg m = NODECTL__COMMAND_MSG__INIT;
                m.body_case = NODECTL__COMMAND_MSG__BODY_GRANT;
                m.grant = &g;
                uint8_t buf[512];
                size_t len = nodectl__command_msg__pack(&m, buf);
                assert_int_equal(transport_send(liar, fm.from, CHANNEL_COMMAND, buf, len), 0);
            }
            if (in)
                nodectl__command_msg__free_unpacked(in, NULL);
            free(fm.payload);
            if (mine)
                return 0;
        }
    }
    return -1;
}

/* (d): a term near 2^60 in election messages, in the liar's own record
 * (signed by itself: it is a candidate's), and in a command. */
static void a_huge_term_raises_no_fence(void **state) {
    char leader[32];
    long term;
    assert_int_equal(agreed(leader, sizeof leader, &term), 0);
    /* Its record: it joins with its own entry, then sends the record. */
    Nodectl__HostRecord rec = NODECTL__HOST_RECORD__INIT;
    rec.name = "liar";
    rec.address = liar_addr;
    rec.candidate = true;
    rec.term = HUGE_TERM;
    rec.leader = "liar";
    rec.lease = true;
    char *cands[] = {"n1", "n2", "n3", "liar"};
    rec.candidates = cands;
    rec.n_candidates = 4;
    uint8_t packed[1024], sealed[2048];
    size_t len = nodectl__host_record__pack(&rec, packed);
    size_t n = signed_record_seal(liar_id.sk, liar_id.cert, liar_id.cert_len, id_of("liar"), 1,
                                  packed, len, sealed);
    Nodectl__GossipRecord r = NODECTL__GOSSIP_RECORD__INIT, *rp = &r;
    r.id = id_of("liar");
    r.version = 1;
    r.total_len = (uint32_t)n;
    r.data.data = sealed;
    r.data.len = n;
    const struct entry self = {"liar", 0, ALIVE, 1};
    for (int i = 1; i <= N; i++) {
        gossip_to(i, NODECTL__GOSSIP_KIND__GOSSIP_KIND_PUSH_PULL, "liar", &self, 1, NULL, 0);
        gossip_to(i, NODECTL__GOSSIP_KIND__GOSSIP_KIND_RECORD_PIECES, "liar", NULL, 0, &rp, 1);
        election_to(i, NODECTL__ELECTION_KIND__ELECTION_HEARTBEAT, HUGE_TERM);
        election_to(i, NODECTL__ELECTION_KIND__ELECTION_VOTE, HUGE_TERM + 1);
        char id[32];
        snprintf(id, sizeof id, "huge-%d", i);
        command_to(i, id, HUGE_TERM, NULL, NULL);
    }
    long r1 = 0;
    for (int t = 0; t < 25 && r1 < 1; t++, usleep(200000))
        r1 = refused(4, "command_term_ahead");
    assert_int_equal(r1, 1);
    for (int i = 1; i <= 3; i++)
        assert_int_equal(refused(i, "election_term_implausible"), 2);
    sleep(2); /* every host has read the liar's record (observe: every 500 ms) */
    char leader2[32];
    long term2;
    assert_int_equal(agreed(leader2, sizeof leader2, &term2), 0);
    assert_string_equal(leader2, leader);
    assert_int_equal(term2, term);
    for (int i = 1; i <= N; i++) {
        long fence = fence_of(i);
        assert_true(fence > 0 && fence <= term);
        /* The liar's drain was refused; a real one still runs. */
        char name[8], st[16];
        long inc;
        int drain;
        snprintf(name, sizeof name, "n%d", i);
        assert_int_equal(member_of(i, name, st, sizeof st, &inc, &drain), 0);
        assert_false(drain);
    }
    assert_int_equal(nodectl_run(conf[2], "drain n4", out, sizeof out, err, sizeof err), 0);
    char log[PATH_MAX];
    snprintf(log, sizeof log, "%s/n4/agent.log", test_dir);
    assert_int_equal(nodectl_expect(conf[1], "status", "drained", 10, log, out, sizeof out, err,
                                    sizeof err), 0);
    assert_int_equal(nodectl_run(conf[2], "undrain n4", out, sizeof out, err, sizeof err), 0);
}

/* (e): n1 holds the IPMI credentials; the liar asks it to wake n3 through
 * a BMC at 127.0.0.99, which n3 never published (it published
 * 127.0.0.23:623), and to send its VM to a URI n2 does not advertise. */
static void a_wake_or_migration_to_foreign_addresses_is_refused(void **state) {
    char leader[32];
    long term;
    assert_int_equal(agreed(leader, sizeof leader, &term), 0);
    Nodectl__WakeCommand w = NODECTL__WAKE_COMMAND__INIT;
    w.host = "n3";
    w.ipmi_address = "127.0.0.99:623";
    command_to(1, "wake-foreign", (uint64_t)term, &w, NULL);
    assert_int_equal(liar_grant("wake-foreign", 10), 0);
    long r = 0;
    for (int t = 0; t < 25 && r < 1; t++, usleep(200000))
        r = refused(1, "wake_address_not_published");
    assert_int_equal(r, 1);
    char log[PATH_MAX];
    snprintf(log, sizeof log, "%s/n1/agent.log", test_dir);
    assert_int_equal(count_lines_with(log, "command wake-foreign refused: BMC address "
                                           "127.0.0.99:623 is not the one n3 published "
                                           "(127.0.0.23:623)"), 1);
    assert_int_equal(count_lines_with(log, "IPMI power on of n3"), 0);

    /* And a migration of n1's VM to a URI that n2 does not advertise. */
    Nodectl__MigrateCommand m = NODECTL__MIGRATE_COMMAND__INIT;
    m.vm = "test";
    m.destination = "n2";
    m.destination_uri = "test:///elsewhere";
    command_to(1, "migrate-foreign", (uint64_t)term, NULL, &m);
    assert_int_equal(liar_grant("migrate-foreign", 10), 0);
    r = 0;
    for (int t = 0; t < 25 && r < 1; t++, usleep(200000))
        r = refused(1, "migration_address_not_advertised");
    assert_int_equal(r, 1);
    assert_int_equal(count_lines_with(log, "command migrate-foreign refused: destination URI "
                                           "test:///elsewhere is not the one n2 advertises"), 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gossip_as_another_member_is_refused),
        cmocka_unit_test(an_incarnation_is_not_wrapped),
        cmocka_unit_test(a_record_is_neither_frozen_nor_forged),
        cmocka_unit_test(a_huge_term_raises_no_fence),
        cmocka_unit_test(a_wake_or_migration_to_foreign_addresses_is_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
