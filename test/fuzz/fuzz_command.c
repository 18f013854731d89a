/* The command channel on a real host guard (src/host/host_guard.c): what a
 * host does with commands and grants up to the moment it acts. The input
 * is a schedule of frames (raw bytes through command_msg_decode, or a
 * command or grant described field by field and sent through its encoder),
 * each command checked by message_check_command as the agent does, grants
 * that echo a request the guard sent or not, from its issuer or not, time,
 * timers and power-off commitments. Asserts, for every "act":
 *   - the command names this host, and its id acts at most once;
 *   - its term is not older than the fence was when it arrived;
 *   - the grant came from the command's issuer and echoes a nonce the
 *     guard asked with, for that id;
 *   - the deadline is no later than that ask's time plus valid_ms, and
 *     host_guard_may_act refuses at and after it;
 *   - the host has not committed to power off.
 * What passes the checks fits every buffer it is copied into. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/message_check.h"
#include "fuzz_input.h"
#include "host/host_guard.h"

#define SELF "self"
#define ASKS_KEPT 64
#define ACTED_MAX 256

struct ask_seen {
    struct grant_request ask;
    uint64_t at; /* no earlier than the guard's asked_at */
};

struct run {
    struct host_guard *g;
    struct fence fence;
    uint64_t now;
    bool off;
    struct ask_seen asks[ASKS_KEPT];
    size_t n_asks;
    char acted[ACTED_MAX][COMMAND_ID_MAX];
    size_t n_acted;
};

static void drain(struct run *r) {
    struct host_guard_out out;
    while (host_guard_next(r->g, &out)) {
        if (out.kind != HOST_GUARD_OUT_ASK)
            continue;
        if (strcmp(out.ask.target, SELF) != 0)
            abort(); /* a request names this host */
        r->asks[r->n_asks++ % ASKS_KEPT] = (struct ask_seen){out.ask, r->now};
    }
}

static void command(struct run *r, const struct command *c) {
    enum message_reject why;
    if (message_check_command(c, &why))
        return;
    if (strnlen(c->id, sizeof c->id) >= sizeof c->id || !c->id[0])
        abort();
    host_guard_receive(r->g, &r->fence, c, c->issuer[0] == 'l' ? "" : "10.0.0.1:7946", r->now);
    drain(r);
}

static void acted(struct run *r, const struct command *c, const struct grant *gr, const char *from,
                  uint64_t deadline, uint64_t fence_before) {
    if (strcmp(c->target, SELF) != 0 || r->off || c->term < fence_before ||
        strcmp(from, c->issuer) != 0 || strcmp(gr->id, c->id) != 0)
        abort();
    bool asked = false;
    size_t kept = r->n_asks < ASKS_KEPT ? r->n_asks : ASKS_KEPT;
    for (size_t k = 0; k < kept && !asked; k++) {
        const struct ask_seen *a = &r->asks[k];
        asked = a->ask.nonce == gr->nonce && strcmp(a->ask.id, c->id) == 0 &&
                deadline <= a->at + gr->valid_ms;
    }
    if (!asked && r->n_asks <= ASKS_KEPT)
        abort();
    for (size_t k = 0; k < r->n_acted; k++)
        if (strcmp(r->acted[k], c->id) == 0)
            abort(); /* one id acts once */
    if (r->n_acted < ACTED_MAX)
        memcpy(r->acted[r->n_acted++], c->id, COMMAND_ID_MAX);
    if (host_guard_may_act(&r->fence, c->term, deadline, deadline) ||
        (deadline > r->now && host_guard_may_act(&r->fence, c->term, deadline, r->now) &&
         c->term < r->fence.highest))
        abort();
}

static void grant(struct run *r, const struct grant *gr, const char *from) {
    struct command c;
    uint64_t deadline, fence_before = r->fence.highest;
    char why[COMMAND_REASON_MAX];
    if (host_guard_on_grant(r->g, &r->fence, gr, from, r->now, &c, &deadline, why, sizeof why) ==
        HOST_GUARD_ACT)
        acted(r, &c, gr, from, deadline, fence_before);
    drain(r);
}

static const char *const names[] = {SELF, "n1", "n2", "local", ""};

/* A command described field by field, through the encoder and back. */
static void made_command(struct run *r, struct fuzz_input *in) {
    struct command_msg m = {.kind = COMMAND_MSG_COMMAND};
    struct command *c = &m.command;
    snprintf(c->id, sizeof c->id, "c%u", fuzz_u8(in) % 16);
    c->term = fuzz_u8(in) % 8;
    snprintf(c->issuer, sizeof c->issuer, "%s", names[1 + fuzz_u8(in) % 3]);
    snprintf(c->target, sizeof c->target, "%s", names[fuzz_u8(in) % 5]);
    c->by_operator = fuzz_u8(in) & 1;
    c->kind = (enum command_kind)(fuzz_u8(in) % 5);
    if (c->kind == COMMAND_MIGRATE) {
        strcpy(c->migrate.vm, "web-1");
        strcpy(c->migrate.destination, "n2");
        strcpy(c->migrate.destination_uri, "qemu+tcp://n2/system");
        c->migrate.timeout_ms = fuzz_u32(in);
    } else if (c->kind == COMMAND_WAKE) {
        strcpy(c->wake.host, "n4");
        strcpy(c->wake.mac, "aa:bb:cc:dd:ee:ff");
    }
    uint8_t *buf;
    size_t len;
    struct command_msg back;
    char why[128];
    if (command_msg_encode(&m, &buf, &len) != 0)
        abort();
    if (command_msg_decode(buf, len, &back, why, sizeof why) != 0 ||
        back.kind != COMMAND_MSG_COMMAND || memcmp(&back.command, c, sizeof *c) != 0)
        abort(); /* what the encoder writes decodes to the same command */
    free(buf);
    command(r, &back.command);
}

/* A grant that answers one of the guard's requests, or not. */
static void made_grant(struct run *r, struct fuzz_input *in) {
    struct grant gr = {.granted = fuzz_u8(in) & 1, .valid_ms = fuzz_u16(in)};
    uint8_t how = fuzz_u8(in);
    size_t kept = r->n_asks < ASKS_KEPT ? r->n_asks : ASKS_KEPT;
    if (kept && !(how & 0x80)) {
        const struct grant_request *a = &r->asks[fuzz_u8(in) % kept].ask;
        memcpy(gr.id, a->id, sizeof gr.id);
        memcpy(gr.target, a->target, sizeof gr.target);
        gr.term = how & 0x40 ? fuzz_u8(in) % 8 : a->term;
        gr.nonce = how & 0x20 ? fuzz_u64(in) : a->nonce;
    } else {
        snprintf(gr.id, sizeof gr.id, "c%u", fuzz_u8(in) % 16);
        strcpy(gr.target, SELF);
        gr.term = fuzz_u8(in) % 8;
        gr.nonce = fuzz_u64(in);
    }
    grant(r, &gr, names[1 + how % 3]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct fuzz_input in = {data, size};
    struct host_guard_config cfg = {.rho = 0.01};
    strcpy(cfg.self, SELF);
    static struct run r;
    memset(&r, 0, sizeof r);
    r.g = host_guard_new(&cfg, 1);
    if (!r.g)
        abort();
    r.fence.highest = fuzz_u8(&in) % 4;
    r.now = 1000;
    while (fuzz_more(&in)) {
        switch (fuzz_u8(&in) % 6) {
        case 0: { /* a raw frame */
            size_t len;
            const uint8_t *b = fuzz_bytes(&in, 255, &len);
            struct command_msg m;
            char why[128];
            if (command_msg_decode(b, len, &m, why, sizeof why) != 0)
                break;
            if (m.kind == COMMAND_MSG_COMMAND)
                command(&r, &m.command);
            else if (m.kind == COMMAND_MSG_GRANT)
                grant(&r, &m.grant, names[1]);
            break;
        }
        case 1: case 2: made_command(&r, &in); break;
        case 3: made_grant(&r, &in); break;
        case 4:
            r.now += fuzz_u16(&in);
            if (r.now >= host_guard_deadline(r.g))
                host_guard_tick(r.g, r.now);
            drain(&r);
            break;
        default:
            r.off = !r.off;
            host_guard_set_off(r.g, r.off);
            drain(&r);
            break;
        }
    }
    host_guard_free(r.g);
    return 0;
}
