/* Messages out of bounds from a peer that holds the cluster's credentials
 * (here an insecure cluster, where a frame's name is a claim, so the test
 * is that peer: "ghost", the other candidate), sent to a real
 * agent over its transport: a push-pull listing more members than a packet
 * may (each member would want a record, past the stack array that holds
 * one want per member of a packet), a host record and a command out
 * of the bounds of src/agent/message_limits.h, election messages addressed
 * to another voter. Each is refused and counted in `nodectl status`, each
 * reason is logged once however often it comes, and the agent keeps
 * serving. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_process.h"
#include "command.pb-c.h"
#include "election.pb-c.h"
#include "gossip.pb-c.h"
#include "host.pb-c.h"
#include "net/signed_record.h"
#include "net/transport.h"
#include "test_helpers.h"

static char dir[PATH_MAX], conf[PATH_MAX], log_path[PATH_MAX], agent_addr[64], peer_addr[64];
static pid_t agent;
static struct frame_ctx *frames;
static struct transport *peer;

/* The agent is a voter (with a second, absent one), so that it takes
 * election messages. */
static int setup(void **state) {
    test_mkdtemp(dir, sizeof dir);
    unsigned port = test_port_base();
    char text[2048];
    snprintf(text, sizeof text,
             "[cluster]\nname = peers\ninsecure = true\ndiscovery = false\n"
             "candidates = target, ghost\n"
             "[node]\nname = target\nbind_address = 127.0.0.1\nport = %u\n"
             "state_dir = %s/state\ncontrol_socket = %s/ctl.sock\n",
             port, dir, dir);
    test_write_file(dir, "nodectl.conf", text, conf, sizeof conf);
    snprintf(log_path, sizeof log_path, "%s/agent.log", dir);
    snprintf(agent_addr, sizeof agent_addr, "127.0.0.1:%u", port);
    snprintf(peer_addr, sizeof peer_addr, "127.0.0.1:%u", port + 1);
    agent = agent_start(conf, log_path);
    char err[256];
    struct frame_config fc = {.cluster = "peers", .name = "ghost", .addrs = {peer_addr},
                              .n_addrs = 1, .insecure = true, .epoch = 1, .senders_max = 64};
    frames = frame_ctx_new(&fc);
    assert_non_null(frames);
    peer = transport_open("127.0.0.1", (uint16_t)(port + 1), frames, err, sizeof err);
    assert_non_null(peer);
    return agent_wait_ready(agent, conf, 10000);
}

static int teardown(void **state) {
    transport_close(peer);
    frame_ctx_free(frames);
    int rc = agent_stop(agent, SIGTERM, 5000);
    test_rmtree(dir);
    return rc;
}

static void send_gossip(const Nodectl__GossipPacket *p) {
    size_t len = nodectl__gossip_packet__get_packed_size(p);
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    nodectl__gossip_packet__pack(p, buf);
    assert_int_equal(transport_send(peer, agent_addr, CHANNEL_GOSSIP, buf, len), 0);
    free(buf);
}

/* The count of a refusal in `nodectl status --json`, once it is at least
 * `want` (polled: frames arrive asynchronously). */
static void expect_refused(const char *component, const char *reason, json_int_t want) {
    char out[65536], err[4096];
    json_int_t count = -1;
    for (int tries = 0; tries < 50 && count < want; tries++) {
        if (tries)
            usleep(100 * 1000);
        assert_int_equal(nodectl_run(conf, "status --json", out, sizeof out, err, sizeof err), 0);
        json_t *root = json_loads(out, 0, NULL);
        assert_non_null(root);
        json_t *x;
        size_t i;
        count = 0;
        json_array_foreach(json_object_get(root, "rejected"), i, x) {
            if (strcmp(json_string_value(json_object_get(x, "component")), component) == 0 &&
                strstr(json_string_value(json_object_get(x, "reason")), reason))
                count = json_integer_value(json_object_get(x, "count"));
        }
        json_decref(root);
    }
    if (count != want)
        fail_msg("%s / %s: counted %lld, expected %lld\n%s", component, reason,
                 (long long)count, (long long)want, out);
}

static void fill_member(Nodectl__GossipMember *m, uint64_t id, uint8_t ip[16], uint16_t port) {
    nodectl__gossip_member__init(m);
    memset(ip, 0, 16);
    ip[10] = ip[11] = 0xff;
    ip[12] = 127;
    ip[15] = 1;
    m->id = id;
    m->ip.data = ip;
    m->ip.len = 16;
    m->port = port;
}

/* A push-pull with too many members, three times: each is refused whole,
 * the reason is logged once. */
static void a_push_pull_with_too_many_members_is_refused(void **state) {
    enum { N = 100 }; /* more than GOSSIP_PKT_MEMBERS, within the transport's frame */
    Nodectl__GossipMember mem[N], *mp[N];
    uint8_t ip[N][16];
    for (size_t k = 0; k < N; k++) {
        fill_member(&mem[k], 5000 + k, ip[k], (uint16_t)(20000 + k));
        mem[k].record_version = 3;
        mp[k] = &mem[k];
    }
    Nodectl__GossipPacket p = NODECTL__GOSSIP_PACKET__INIT;
    p.kind = NODECTL__GOSSIP_KIND__GOSSIP_KIND_PUSH_PULL;
    p.sender = 4999;
    p.members = mp;
    p.n_members = N;
    for (int i = 0; i < 3; i++)
        send_gossip(&p);
    expect_refused("gossip", "more than GOSSIP_PKT_MEMBERS", 3);
    assert_int_equal(count_lines_with(log_path, "GOSSIP_PKT_MEMBERS"), 1);
}

/* A member whose record, sealed as an insecure cluster seals records, names
 * a host with a 300-character name: refused before it is believed, kept or
 * passed on, and counted with the field at fault. */
static void a_record_out_of_bounds_is_refused(void **state) {
    uint64_t ghost = signed_record_member_id("ghost");
    Nodectl__GossipMember m, *mp = &m;
    uint8_t ip[16];
    fill_member(&m, 6000, ip, 21000);
    Nodectl__GossipPacket p = NODECTL__GOSSIP_PACKET__INIT;
    p.sender = ghost;
    p.members = &mp;
    p.n_members = 1;
    send_gossip(&p);
    char name[300];
    memset(name, 'h', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    Nodectl__HostRecord rec = NODECTL__HOST_RECORD__INIT;
    rec.name = name;
    uint8_t data[512], sealed[512 + SIGNED_RECORD_OVERHEAD_MAX];
    size_t len = nodectl__host_record__pack(&rec, data);
    len = signed_record_seal(NULL, NULL, 0, 6000, 1, data, len, sealed);
    Nodectl__GossipRecord r = NODECTL__GOSSIP_RECORD__INIT, *rp = &r;
    r.id = 6000;
    r.version = 1;
    r.total_len = (uint32_t)len;
    r.data.data = sealed;
    r.data.len = len;
    Nodectl__GossipPacket q = NODECTL__GOSSIP_PACKET__INIT;
    q.kind = NODECTL__GOSSIP_KIND__GOSSIP_KIND_RECORD_PIECES;
    q.sender = ghost;
    q.records = &rp;
    q.n_records = 1;
    send_gossip(&q);
    expect_refused("host record", "text too long", 1);
    assert_int_equal(count_lines_with(log_path, "(name)"), 1);
}

static void send_command(const Nodectl__Command *cmd) {
    Nodectl__CommandMsg m = NODECTL__COMMAND_MSG__INIT;
    m.body_case = NODECTL__COMMAND_MSG__BODY_COMMAND;
    m.command = (Nodectl__Command *)cmd;
    uint8_t buf[512];
    size_t len = nodectl__command_msg__pack(&m, buf);
    assert_int_equal(transport_send(peer, agent_addr, CHANNEL_COMMAND, buf, len), 0);
}

/* Commands whose id is longer than any id, that have no action, or whose
 * id would forge a log line: refused before they run, each reason logged
 * once. */
static void a_command_out_of_bounds_is_refused(void **state) {
    char id[200];
    memset(id, 'i', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    Nodectl__Command cmd = NODECTL__COMMAND__INIT;
    Nodectl__DrainCommand dc = NODECTL__DRAIN_COMMAND__INIT;
    cmd.id = id;
    cmd.issuer = "ghost";
    cmd.target = "target";
    cmd.body_case = NODECTL__COMMAND__BODY_DRAIN;
    cmd.drain = &dc;
    dc.drain = true;
    for (int i = 0; i < 2; i++)
        send_command(&cmd);
    cmd.id = "short";
    cmd.body_case = NODECTL__COMMAND__BODY__NOT_SET;
    send_command(&cmd);
    cmd.id = "two\nerror: forged";
    cmd.body_case = NODECTL__COMMAND__BODY_DRAIN;
    send_command(&cmd);
    expect_refused("command", "does not decode within its bounds", 3);
    expect_refused("command", "control characters", 1);
    assert_int_equal(count_lines_with(log_path, "command: refused"), 2);
    assert_int_equal(count_lines_with(log_path, "forged"), 0);
    char out[4096], err[256];
    assert_int_equal(nodectl_run(conf, "status", out, sizeof out, err, sizeof err), 0);
    assert_null(strstr(out, "drained"));
}

/* FNV-1a of a voter's name, as agent_election.c derives voter ids. */
static uint64_t voter_id(const char *name) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* A vote request from the other voter, delivered here but addressed to a
 * third: refused and counted; addressed here, it is taken (answered). */
static void an_election_message_for_another_voter_is_refused(void **state) {
    Nodectl__ElectionMsg m = NODECTL__ELECTION_MSG__INIT;
    m.kind = NODECTL__ELECTION_KIND__ELECTION_PRE_VOTE;
    m.term = 1000;
    m.from = voter_id("ghost");
    m.to = voter_id("someone-else");
    m.boot = 1;
    uint8_t buf[128];
    size_t len = nodectl__election_msg__pack(&m, buf);
    assert_int_equal(transport_send(peer, agent_addr, CHANNEL_ELECTION, buf, len), 0);
    expect_refused("election", "addressed to another voter", 1);
    m.to = voter_id("target");
    len = nodectl__election_msg__pack(&m, buf);
    assert_int_equal(transport_send(peer, agent_addr, CHANNEL_ELECTION, buf, len), 0);
    usleep(300 * 1000);
    expect_refused("election", "addressed to another voter", 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_push_pull_with_too_many_members_is_refused),
        cmocka_unit_test(a_record_out_of_bounds_is_refused),
        cmocka_unit_test(a_command_out_of_bounds_is_refused),
        cmocka_unit_test(an_election_message_for_another_voter_is_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
