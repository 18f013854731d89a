/* The agent's side of gossip: the I/O around the pure protocol in
 * src/gossip/. It carries packets over the authenticated transport, joins
 * through the seeds (retried with backoff) and the hosts that multicast
 * discovery finds, publishes this host's record when it moved, and keeps a
 * snapshot of the membership in the state directory, so that a restart,
 * even of the whole cluster, remembers the hosts that were off. */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <ifaddrs.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "agent_internal.h"
#include "common/atomic_file.h"
#include "common/log.h"
#include "gossip.pb-c.h"
#include "net/signed_record.h"

#define SNAPSHOT_FILE "members.snapshot"
#define SNAPSHOT_MAX (64u << 20)
/* A state change (who is off, dead or gone) is on disk within 2 s; records
 * alone, which every host republishes at least every 30 s and which a
 * restart gets fresh from its peers anyway, once a minute: the snapshot
 * holds every member, so writing it at every record change would cost each
 * agent work that grows with the cluster. */
#define SNAPSHOT_EVERY_MS 2000
#define SNAPSHOT_RECORDS_EVERY_MS 60000
/* A record is republished when usage moved this much, or at least every
 * PUBLISH_EVERY_MS, a period that grows with the cluster: every agent
 * receives, checks and passes on every other's record, so refreshing each
 * of N records every 30 s would cost each agent work growing with N.
 * Stretched to PUBLISH_MEMBER_MS per member, the whole cluster sends
 * about one refresh every 2 s whatever its size; a change that matters
 * (VMs, states, capacity, usage beyond the thresholds) goes out at once. */
#define PUBLISH_CPU_POINTS 5.0
#define PUBLISH_MEM_FRACTION 0.05
#define PUBLISH_EVERY_MS 30000
#define PUBLISH_MEMBER_MS 2000

const char *cluster_gossip_config(const struct config *cfg, struct gossip_config *out) {
    gossip_config_defaults(out);
    if (cfg->probe_interval_ms)
        out->probe_interval_ms = cfg->probe_interval_ms;
    if (cfg->probe_timeout_ms)
        out->probe_timeout_ms = cfg->probe_timeout_ms;
    if (cfg->indirect_checks)
        out->indirect_checks = cfg->indirect_checks;
    if (cfg->suspicion_mult)
        out->suspicion_mult = cfg->suspicion_mult;
    if (cfg->retransmit_mult)
        out->retransmit_mult = cfg->retransmit_mult;
    if (cfg->push_pull_interval_ms)
        out->push_pull_interval_ms = cfg->push_pull_interval_ms;
    if (cfg->reconnect_timeout_ms)
        out->reap_dead_ms = cfg->reconnect_timeout_ms;
    if (cfg->tombstone_timeout_ms)
        out->reap_left_ms = cfg->tombstone_timeout_ms;
    /* A packet travels in one frame (transport.h). */
    if (out->packet_max > TRANSPORT_PAYLOAD_MAX)
        return "packet_max exceeds the transport's largest payload";
    return gossip_config_check(out);
}

/* Member ids are derived from certified names: a gossip packet, a record
 * and the frame that carries them name the same host. */
static uint64_t member_id(const char *name) {
    return signed_record_member_id(name);
}

/* "a.b.c.d:port", "[v6]:port" or "name:port" to a gossip address. */
static int resolve(const char *text, struct gossip_addr *out) {
    char host[CONFIG_ADDR_MAX];
    const char *colon = strrchr(text, ':');
    if (!colon || colon == text || (size_t)(colon - text) >= sizeof host)
        return -1;
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    char *h = host;
    if (h[0] == '[' && h[strlen(h) - 1] == ']') {
        h[strlen(h) - 1] = '\0';
        h++;
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port <= 0 || port > 65535)
        return -1;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    if (getaddrinfo(h, NULL, &hints, &res) != 0)
        return -1;
    memset(out, 0, sizeof *out);
    out->port = (uint16_t)port;
    if (res->ai_family == AF_INET) {
        out->ip[10] = out->ip[11] = 0xff;
        memcpy(out->ip + 12, &((struct sockaddr_in *)res->ai_addr)->sin_addr, 4);
    } else {
        memcpy(out->ip, &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, 16);
    }
    freeaddrinfo(res);
    return 0;
}

void cluster_format_addr(const struct gossip_addr *a, char *out, size_t len) {
    static const uint8_t v4_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    char ip[INET6_ADDRSTRLEN];
    if (memcmp(a->ip, v4_prefix, 12) == 0) {
        inet_ntop(AF_INET, a->ip + 12, ip, sizeof ip);
        snprintf(out, len, "%s:%u", ip, a->port);
    } else {
        inet_ntop(AF_INET6, a->ip, ip, sizeof ip);
        snprintf(out, len, "[%s]:%u", ip, a->port);
    }
}

/* The address peers reach this node at: configured, else the bind
 * address, else the first non-loopback IPv4 address of the host. */
static int advertise_address(const struct config *cfg, char *out, size_t len) {
    if (cfg->advertise_address[0]) {
        snprintf(out, len, "%s:%u", cfg->advertise_address, cfg->port);
        return 0;
    }
    if (strcmp(cfg->bind_address, "0.0.0.0") != 0 && strcmp(cfg->bind_address, "::") != 0) {
        snprintf(out, len, "%s:%u", cfg->bind_address, cfg->port);
        return 0;
    }
    struct ifaddrs *ifs;
    if (getifaddrs(&ifs) != 0)
        return -1;
    int rc = -1;
    for (struct ifaddrs *i = ifs; i && rc; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
            continue;
        struct in_addr in = ((struct sockaddr_in *)i->ifa_addr)->sin_addr;
        if ((ntohl(in.s_addr) >> 24) == 127)
            continue;
        char ip[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &in, ip, sizeof ip);
        snprintf(out, len, "%s:%u", ip, cfg->port);
        rc = 0;
    }
    freeifaddrs(ifs);
    return rc;
}

static size_t add_address(char out[][TRANSPORT_ADDR_MAX], size_t n, const char *addr) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(out[i], addr) == 0)
            return n;
    if (n == FRAME_SELF_ADDRS)
        return n;
    snprintf(out[n], TRANSPORT_ADDR_MAX, "%s", addr);
    return n + 1;
}

/* The "host:port" forms peers may address frames to this host by, the
 * advertised one first: as advertised, as gossip resolved it, and, when the
 * agent listens on every address, each address of the host's interfaces
 * (a seed list may name another of them). All are this host's own, so
 * accepting them lets no frame meant for another host in. */
static size_t self_addresses(const struct config *cfg, const char *advertise,
                             const struct gossip_addr *resolved,
                             char out[FRAME_SELF_ADDRS][TRANSPORT_ADDR_MAX]) {
    char text[TRANSPORT_ADDR_MAX];
    size_t n = add_address(out, 0, advertise);
    cluster_format_addr(resolved, text, sizeof text);
    n = add_address(out, n, text);
    struct gossip_addr bind;
    char bind_text[CONFIG_ADDR_MAX + 8];
    snprintf(bind_text, sizeof bind_text, strchr(cfg->bind_address, ':') ? "[%s]:%u" : "%s:%u",
             cfg->bind_address, cfg->port);
    bool wildcard = strcmp(cfg->bind_address, "0.0.0.0") == 0 ||
                    strcmp(cfg->bind_address, "::") == 0;
    if (!wildcard && resolve(bind_text, &bind) == 0) {
        cluster_format_addr(&bind, text, sizeof text);
        return add_address(out, n, text);
    }
    struct ifaddrs *ifs;
    if (!wildcard || getifaddrs(&ifs) != 0)
        return n;
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr || (i->ifa_addr->sa_family != AF_INET &&
                             i->ifa_addr->sa_family != AF_INET6))
            continue;
        struct gossip_addr g = {.port = cfg->port};
        if (i->ifa_addr->sa_family == AF_INET) {
            g.ip[10] = g.ip[11] = 0xff;
            memcpy(g.ip + 12, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, 4);
        } else {
            memcpy(g.ip, &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, 16);
        }
        cluster_format_addr(&g, text, sizeof text);
        n = add_address(out, n, text);
    }
    freeifaddrs(ifs);
    return n;
}

static void snapshot_path(const struct agent *a, char *out, size_t len) {
    snprintf(out, len, "%s/%s", a->cfg.state_dir, SNAPSHOT_FILE);
}

/* Our own incarnation in the snapshot, so that we come back above it. */
static uint32_t snapshot_incarnation(const uint8_t *data, size_t len, uint64_t self_id) {
    Nodectl__GossipSnapshot *s = nodectl__gossip_snapshot__unpack(NULL, len, data);
    uint32_t inc = 0;
    for (size_t i = 0; s && i < s->n_members; i++)
        if (s->members[i]->id == self_id)
            inc = s->members[i]->incarnation;
    if (s)
        nodectl__gossip_snapshot__free_unpacked(s, NULL);
    return inc;
}

static void write_snapshot(struct agent *a) {
    struct cluster *c = &a->cluster;
    uint8_t *data;
    size_t len;
    if (gossip_snapshot_encode(c->gossip, &data, &len) != 0) {
        log_err("membership snapshot: out of memory");
        return;
    }
    c->snapshot_dirty = c->snapshot_records_dirty = false;
    file_writer_put(a->writer, c->snapshot_file, data, len);
}

int cluster_open(struct agent *a, char *err, size_t errlen, bool *usage) {
    struct cluster *c = &a->cluster;
    const struct config *cfg = &a->cfg;
    *usage = true;
    struct gossip_config gcfg;
    const char *bad = cluster_gossip_config(cfg, &gcfg);
    if (bad) {
        snprintf(err, errlen, "%s: [gossip] %s", cfg->path, bad);
        return -1;
    }
    if (advertise_address(cfg, c->advertise, sizeof c->advertise) != 0) {
        snprintf(err, errlen, "%s: cannot tell which address to advertise; set [node] "
                 "advertise_address", cfg->path);
        return -1;
    }
    struct gossip_addr self_addr;
    if (resolve(c->advertise, &self_addr) != 0) {
        snprintf(err, errlen, "%s: advertise address '%s' is not an address", cfg->path,
                 c->advertise);
        return -1;
    }
    char self[FRAME_SELF_ADDRS][TRANSPORT_ADDR_MAX];
    const char *addrs[FRAME_SELF_ADDRS];
    size_t n_addrs = self_addresses(cfg, c->advertise, &self_addr, self);
    for (size_t i = 0; i < n_addrs; i++)
        addrs[i] = self[i];
    if (security_open(a, addrs, n_addrs, err, errlen) != 0)
        return -1;
    *usage = false;
    c->transport = transport_open(cfg->bind_address, cfg->port, a->sec.frames, err, errlen);
    if (!c->transport)
        return -1;
    c->self_id = member_id(cfg->node_name);
    gcfg.record_seal = agent_record_seal;
    gcfg.record_verify = agent_record_verify;
    gcfg.record_ctx = a;
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
        seed = agent_wall_clock_ms() ^ c->self_id;
    prng_seed(&c->rng, seed);

    char path[PATH_MAX];
    snapshot_path(a, path, sizeof path);
    /* Named before gossip exists: cluster_close writes one whenever it does. */
    c->snapshot_file = file_writer_add(a->writer, path, 0600, "membership snapshot",
                                       "a restart rejoins through the seeds alone");
    assert(c->snapshot_file >= 0); /* FILE_WRITER_FILES has room for every file written so */
    size_t snap_len = 0;
    uint8_t *snap = (uint8_t *)read_small_file(path, SNAPSHOT_MAX, &snap_len);
    if (!snap && errno != ENOENT)
        log_warn("membership snapshot %s: %s; starting without it", path, strerror(errno));
    c->gossip_log = (struct reject_log){.component = "gossip",
                                        .reason_name = gossip_reject_name};
    c->record_log = (struct reject_log){.component = "host record",
                                        .reason_name = message_reject_name};
    c->command_log = (struct reject_log){.component = "command",
                                         .reason_name = message_reject_name};
    uint32_t inc = snap ? snapshot_incarnation(snap, snap_len, c->self_id) + 1 : 0;
    uint64_t now = agent_clock_ms();
    c->gossip = gossip_new(&gcfg, c->self_id, &self_addr, inc, prng_next(&c->rng), (int64_t)now);
    if (!c->gossip) {
        free(snap);
        snprintf(err, errlen, "gossip: out of memory");
        return -1;
    }
    if (snap) {
        const char *why = NULL;
        /* Records in it are checked again, as if they had just arrived. */
        if (gossip_snapshot_load(c->gossip, (int64_t)now, snap, snap_len, &why) != 0)
            log_warn("membership snapshot %s: %s%s; starting without it", path, why ? why : "?",
                     why && strstr(why, "another node id")
                         ? " (member ids come from certified names: a snapshot of a version "
                           "before them is not reused)"
                         : "");
        else
            log_info("membership snapshot: %zu members remembered, incarnation %u",
                     gossip_member_count(c->gossip), inc);
        reject_log_new(&c->record_log, &c->record_rejects, path, c->record_field);
        free(snap);
    }
    if (cfg->discovery) {
        char iface[CONFIG_ADDR_MAX];
        snprintf(iface, sizeof iface, "%s", c->advertise);
        *strrchr(iface, ':') = '\0';
        c->discovery = discovery_open(cfg->discovery_group, cfg->discovery_port, iface,
                                      a->sec.frames, err, errlen);
        if (!c->discovery)
            log_warn("%s; continuing with seeds only", err);
    }
    c->state_changes = 1; /* members from the snapshot are looked at once */
    c->join_backoff = (struct backoff){.base_ms = 500, .cap_ms = 30000};
    c->join_turn = (uint32_t)prng_below(&c->rng, CONFIG_LIST_MAX);
    c->next_join_ms = now;
    c->next_announce_ms = now;
    log_info("gossip on %s as %016llx, %zu seeds, discovery %s", c->advertise,
             (unsigned long long)c->self_id, cfg->seeds.n, c->discovery ? "on" : "off");
    return 0;
}

void cluster_close(struct agent *a) {
    struct cluster *c = &a->cluster;
    /* Written before the agent's writer stops (agent.c). */
    if (c->gossip)
        write_snapshot(a);
    gossip_free(c->gossip);
    member_views_free(a);
    transport_close(c->transport);
    discovery_close(c->discovery);
    security_close(a);
    free(c->published);
    memset(c, 0, sizeof *c);
}

int cluster_fds(const struct agent *a, int fds[CLUSTER_FDS_MAX]) {
    int n = 0;
    if (a->cluster.transport) {
        fds[n++] = transport_fd(a->cluster.transport);
        fds[n++] = transport_wake_fd(a->cluster.transport);
    }
    if (a->cluster.discovery)
        fds[n++] = discovery_fd(a->cluster.discovery);
    return n;
}

uint64_t cluster_deadline(const struct agent *a) {
    const struct cluster *c = &a->cluster;
    uint64_t d = (uint64_t)gossip_next_deadline(c->gossip);
    if (!gossip_joined(c->gossip) && a->cfg.seeds.n && c->next_join_ms < d)
        d = c->next_join_ms;
    if (c->discovery && c->next_announce_ms < d)
        d = c->next_announce_ms;
    if (c->snapshot_dirty && c->next_snapshot_ms < d)
        d = c->next_snapshot_ms;
    if (c->snapshot_records_dirty && c->next_snapshot_records_ms < d)
        d = c->next_snapshot_records_ms;
    uint64_t t = transport_deadline(c->transport);
    return t < d ? t : d;
}

/* The name a member's record gives, for log lines. */
static void member_name(const struct agent *a, uint64_t id, char *out, size_t len) {
    const struct member_view *mv = member_views_find(a, id);
    if (mv)
        snprintf(out, len, "%s", mv->name);
    else
        snprintf(out, len, "%016llx", (unsigned long long)id);
}

/* Sends what gossip produced and logs what it learned. */
static void flush(struct agent *a) {
    struct cluster *c = &a->cluster;
    struct gossip_msg m;
    while (gossip_next_msg(c->gossip, &m)) {
        char to[TRANSPORT_ADDR_MAX];
        cluster_format_addr(&m.to, to, sizeof to);
        transport_send(c->transport, to, CHANNEL_GOSSIP, m.data, m.len);
        free(m.data);
    }
    struct gossip_event ev;
    while (gossip_next_event(c->gossip, &ev)) {
        if (ev.kind == GOSSIP_EV_RECORD) {
            c->snapshot_records_dirty = true;
        } else {
            c->snapshot_dirty = true;
            c->state_changes++;
        }
        member_views_update(a, ev.id);
        a->lead.next_observe_ms = 0; /* look at names, addresses and claims again */
        if (ev.kind == GOSSIP_EV_RECORD || ev.id == c->self_id)
            continue;
        char name[CONFIG_NAME_MAX + 20];
        member_name(a, ev.id, name, sizeof name);
        if (ev.kind == GOSSIP_EV_REMOVED)
            log_info("member %s forgotten: %s longer than the %s", name,
                     gossip_state_name(ev.state),
                     ev.state == GOSSIP_DEAD ? "reconnect_timeout" : "tombstone_timeout");
        else if (ev.learned)
            log_info("member %s joined as %s (incarnation %u)", name, gossip_state_name(ev.state),
                     ev.incarnation);
        else if (ev.state == ev.old_state)
            /* A refutation of a suspicion this host had not heard of, or a
             * member that restarted: its state stands at a new incarnation. */
            log_info("member %s: still %s (incarnation %u)", name, gossip_state_name(ev.state),
                     ev.incarnation);
        else
            log_info("member %s: %s -> %s (incarnation %u)", name,
                     gossip_state_name(ev.old_state), gossip_state_name(ev.state), ev.incarnation);
    }
}

static bool known_address(const struct gossip *g, const struct gossip_addr *addr) {
    size_t n = gossip_member_count(g);
    for (size_t i = 0; i < n; i++) {
        struct gossip_member_info m;
        gossip_member_at(g, i, &m);
        if (memcmp(&m.addr, addr, sizeof *addr) == 0)
            return true;
    }
    return false;
}

static void join_seeds(struct agent *a, uint64_t now) {
    struct cluster *c = &a->cluster;
    struct gossip_addr seeds[CONFIG_LIST_MAX];
    size_t n = 0;
    for (size_t i = 0; i < a->cfg.seeds.n; i++) {
        if (strcmp(a->cfg.seeds.item[i], c->advertise) == 0)
            continue;
        if (resolve(a->cfg.seeds.item[i], &seeds[n]) == 0)
            n++;
        else
            log_warn("seed '%s' does not resolve", a->cfg.seeds.item[i]);
    }
    /* One seed per attempt, each agent starting at a random one and going
     * round: when a whole cluster starts at once (power restored), every
     * seed answers a share of the joins with its whole table, not every
     * join; a seed that is down costs one backoff before the next is
     * asked. */
    if (n && gossip_join(c->gossip, (int64_t)now, &seeds[c->join_turn++ % n], 1) != 0)
        log_err("gossip join: out of memory");
    c->next_join_ms = now + backoff_next_ms(&c->join_backoff, &c->rng);
}

/* Logs the first of each kind of gossip refusal, naming its sender;
 * gossip counts them all (nodectl status --json, messages_refused). */
static void report_refusals(struct agent *a, const char *sender) {
    struct cluster *c = &a->cluster;
    for (int r = 0; r < GOSSIP_REFUSALS; r++) {
        uint64_t n = gossip_refused(c->gossip, r);
        if (n == c->refusals_seen[r])
            continue;
        c->refusals_seen[r] = n;
        if (c->refusals_reported & 1u << r)
            continue;
        c->refusals_reported |= 1u << r;
        log_warn("gossip from %s refused: %s (counted; further ones are not logged)", sender,
                 gossip_refusal_name(r));
    }
}

/* Frames taken in one turn of the loop. While frames keep coming (a
 * cluster joining, a burst of record fetches) the loop still turns, as
 * Redis's ae.c serves timers between batches of events: the election's
 * heartbeats and timers, and gossip's probes, are not held back behind an
 * inbound queue that never empties. What is left waits in nng's queue for
 * the next turn, which starts at once (the socket stays readable). */
#define FRAMES_PER_TURN 128

void cluster_run(struct agent *a, uint64_t now) {
    struct cluster *c = &a->cluster;
    struct frame_msg msg;
    for (int taken = 0; taken < FRAMES_PER_TURN && transport_recv(c->transport, &msg); taken++) {
        /* Each frame at the time it is taken: a long batch must not date
         * a heartbeat from when the batch began. */
        now = agent_clock_ms();
        struct gossip_addr from;
        if (msg.channel == CHANNEL_GOSSIP && resolve(msg.from, &from) == 0) {
            /* The frame's certificate names the sender (insecure: its
             * claim): gossip believes the packet only from that member. */
            uint64_t refused = gossip_bad_packets(c->gossip);
            gossip_receive(c->gossip, (int64_t)now, member_id(msg.sender), &from, msg.payload,
                           msg.len);
            report_refusals(a, msg.sender);
            if (gossip_bad_packets(c->gossip) != refused)
                reject_log_new(&c->gossip_log, gossip_rejects(c->gossip), msg.sender, NULL);
            reject_log_new(&c->record_log, &c->record_rejects, msg.sender, c->record_field);
        } else if (msg.channel == CHANNEL_ELECTION) {
            leadership_receive(a, now, &msg);
        } else if (msg.channel == CHANNEL_COMMAND) {
            agent_command_frame(a, &msg);
        } else if (msg.channel == CHANNEL_FORWARD) {
            agent_forward_frame(a, &msg);
        }
        free(msg.payload);
    }
    /* After the frames: a connection whose first frame waited in our own
     * queue (this loop ran late) has authenticated by now, and is not cut
     * as one that never sent any. */
    if (now >= transport_deadline(c->transport))
        transport_run(c->transport);
    char addr[FRAME_ADDR_MAX];
    while (c->discovery && discovery_recv(c->discovery, addr, sizeof addr)) {
        struct gossip_addr peer;
        if (resolve(addr, &peer) == 0 && !known_address(c->gossip, &peer)) {
            log_info("discovered %s", addr);
            if (gossip_join(c->gossip, (int64_t)now, &peer, 1) != 0)
                log_err("gossip join: out of memory");
        }
    }
    if (!gossip_joined(c->gossip) && a->cfg.seeds.n && now >= c->next_join_ms)
        join_seeds(a, now);
    if (c->discovery && now >= c->next_announce_ms) {
        if (discovery_announce(c->discovery) != 0)
            log_debug("discovery beacon: %s", strerror(errno));
        /* Announce every second until in a cluster, then at the interval. */
        c->next_announce_ms = now + (gossip_member_count(c->gossip) > 1
                                         ? a->cfg.discovery_interval_ms : 1000);
    }
    if ((int64_t)now >= gossip_next_deadline(c->gossip) &&
        gossip_tick(c->gossip, (int64_t)now) != 0)
        log_err("gossip tick: out of memory");
    flush(a);
    if ((c->snapshot_dirty && now >= c->next_snapshot_ms) ||
        (c->snapshot_records_dirty && now >= c->next_snapshot_records_ms)) {
        write_snapshot(a);
        c->next_snapshot_ms = now + SNAPSHOT_EVERY_MS;
        c->next_snapshot_records_ms = now + SNAPSHOT_RECORDS_EVERY_MS;
    }
}

/* The record without what changes at every sample, to tell whether anything
 * an operator or the planner cares about (VMs, states, capacity) moved. */
static void strip_volatile(Nodectl__HostRecord *r) {
    r->sampled_at_ms = 0;
    if (r->usage)
        nodectl__usage__init(r->usage);
    for (size_t i = 0; i < r->n_vms; i++) {
        r->vms[i]->cpu_percent = 0;
        r->vms[i]->disk_read_bps = r->vms[i]->disk_write_bps = 0;
        r->vms[i]->net_rx_bps = r->vms[i]->net_tx_bps = 0;
    }
}

void cluster_publish(struct agent *a, uint64_t now) {
    struct cluster *c = &a->cluster;
    /* The first record waits for a second sample of a hypervisor that
     * answers: rates (the host's and its VMs' CPU) are measured between two,
     * and a first record without them would be followed at once by one
     * with them, past PUBLISH_CPU_POINTS: a cluster whose agents start
     * together would publish every record twice, and every agent fetch 2N
     * records while it joins. The loop asks for its second sample as soon
     * as it runs (agent.c). */
    if (!c->published && a->sample && a->sample->available && a->fresh_samples < 2)
        return;
    Nodectl__HostRecord *rec = agent_self_record(a);
    if (!rec) {
        log_err("host record: out of memory");
        return;
    }
    size_t len = nodectl__host_record__get_packed_size(rec);
    uint8_t *full = malloc(len);
    double cpu = rec->usage ? rec->usage->cpu_percent : 0;
    uint64_t mem = rec->usage ? rec->usage->memory_used_kib : 0;
    uint64_t total = rec->capacity ? rec->capacity->memory_kib : 0;
    if (full)
        nodectl__host_record__pack(rec, full);
    strip_volatile(rec);
    size_t slen = nodectl__host_record__get_packed_size(rec);
    uint8_t *stable = malloc(slen ? slen : 1);
    if (stable)
        nodectl__host_record__pack(rec, stable);
    protobuf_c_message_free_unpacked(&rec->base, NULL);
    if (!full || !stable) {
        free(full);
        free(stable);
        log_err("host record: out of memory");
        return;
    }
    double mem_moved = total ? (double)(mem > c->published_mem ? mem - c->published_mem
                                                                : c->published_mem - mem) /
                                   (double)total
                             : 0;
    bool changed = !c->published || slen != c->published_len ||
                   memcmp(stable, c->published, slen) != 0;
    uint64_t refresh = (uint64_t)gossip_member_count(c->gossip) * PUBLISH_MEMBER_MS;
    if (refresh < PUBLISH_EVERY_MS)
        refresh = PUBLISH_EVERY_MS;
    bool due = changed || now >= c->published_ms + refresh ||
               cpu > c->published_cpu + PUBLISH_CPU_POINTS ||
               cpu < c->published_cpu - PUBLISH_CPU_POINTS || mem_moved >= PUBLISH_MEM_FRACTION;
    if (due && gossip_set_record(c->gossip, (int64_t)now, full, len) == 0) {
        free(c->published);
        c->published = stable;
        c->published_len = slen;
        c->published_ms = now;
        c->published_cpu = cpu;
        c->published_mem = mem;
        stable = NULL;
        flush(a);
    }
    free(stable);
    free(full);
}

void cluster_push_record(struct agent *a, uint64_t now) {
    if (gossip_push_record(a->cluster.gossip, (int64_t)now) != 0)
        log_err("gossip: out of memory pushing this host's record");
    flush(a);
}

int cluster_send_command(struct agent *a, const char *to, const struct command_msg *m) {
    uint8_t *buf;
    size_t len;
    if (command_msg_encode(m, &buf, &len) != 0)
        return -1;
    int rc = transport_send(a->cluster.transport, to, CHANNEL_COMMAND, buf, len);
    free(buf);
    return rc;
}

int cluster_leave(struct agent *a) {
    struct cluster *c = &a->cluster;
    if (!c->gossip || gossip_leave(c->gossip, (int64_t)agent_clock_ms()) != 0)
        return -1;
    flush(a);
    return 0;
}

void cluster_metrics(const struct agent *a, struct metrics *m) {
    const struct gossip *g = a->cluster.gossip;
    double by_state[GOSSIP_OFF + 1] = {0};
    for (size_t i = 0, n = gossip_member_count(g); i < n; i++) {
        struct gossip_member_info info;
        gossip_member_at(g, i, &info);
        if ((unsigned)info.state <= GOSSIP_OFF)
            by_state[info.state]++;
    }
    metrics_family(m, "nodectl_gossip_members", "gauge",
                   "Members this host knows, by gossip state (itself included).");
    for (int s = 0; s <= GOSSIP_OFF; s++)
        metrics_sample(m, "nodectl_gossip_members",
                       (const char *[]){"state", gossip_state_name((enum gossip_state)s), NULL},
                       by_state[s]);
    struct gossip_counts c = gossip_counts(g);
    metrics_counter(m, "nodectl_gossip_probes_total", "Members probed (SWIM).", (double)c.probes);
    metrics_counter(m, "nodectl_gossip_probes_failed_total",
                    "Probes no ack answered, directly or through other members.",
                    (double)c.probes_failed);
    metrics_counter(m, "nodectl_gossip_suspicions_total", "Members this host began to suspect.",
                    (double)c.suspicions);
    metrics_counter(m, "nodectl_gossip_refutations_total",
                    "Suspicions of this host that it refuted.", (double)c.refutations);
    metrics_family(m, "nodectl_gossip_packets_total", "counter",
                   "Gossip packets by direction and kind (received: decoded, from others).");
    for (unsigned k = 0; k < GOSSIP_KINDS; k++) {
        metrics_sample(m, "nodectl_gossip_packets_total",
                       (const char *[]){"direction", "sent", "kind", gossip_kind_name(k), NULL},
                       (double)c.sent[k]);
        metrics_sample(m, "nodectl_gossip_packets_total",
                       (const char *[]){"direction", "received", "kind", gossip_kind_name(k), NULL},
                       (double)c.received[k]);
    }
    metrics_gauge(m, "nodectl_gossip_health_score",
                  "Lifeguard's local health multiplier (0: healthy).",
                  (double)gossip_health_score(g));
    struct transport_stats t = transport_stats(a->cluster.transport);
    metrics_counter(m, "nodectl_transport_sent_bytes_total",
                    "Bytes of the frames queued to peers (gossip, election, commands).",
                    (double)t.bytes_sent);
    metrics_counter(m, "nodectl_transport_received_bytes_total",
                    "Bytes of the frames received from peers, refused ones included.",
                    (double)t.bytes_received);
    metrics_counter(m, "nodectl_transport_sent_messages_total", "Frames queued to peers.",
                    (double)t.sent);
    metrics_counter(m, "nodectl_transport_received_messages_total",
                    "Frames received and authenticated.", (double)t.received);
    metrics_family(m, "nodectl_transport_frames_total", "counter",
                   "Frames by direction and channel (sent: queued; received: authenticated).");
    for (uint32_t ch = 0; ch < CHANNELS; ch++) {
        metrics_sample(m, "nodectl_transport_frames_total",
                       (const char *[]){"direction", "sent", "channel", frame_channel_name(ch), NULL},
                       (double)t.sent_on[ch]);
        metrics_sample(m, "nodectl_transport_frames_total",
                       (const char *[]){"direction", "received", "channel", frame_channel_name(ch),
                                        NULL},
                       (double)t.received_on[ch]);
    }
    metrics_family(m, "nodectl_transport_dropped_total", "counter",
                   "Frames dropped by the transport, by reason.");
    metrics_sample(m, "nodectl_transport_dropped_total",
                   (const char *[]){"reason", "unauthenticated", NULL}, (double)t.dropped_auth);
    metrics_sample(m, "nodectl_transport_dropped_total",
                   (const char *[]){"reason", "malformed", NULL}, (double)t.dropped_malformed);
    metrics_sample(m, "nodectl_transport_dropped_total",
                   (const char *[]){"reason", "send_failed", NULL}, (double)t.dropped_send);
    metrics_counter(m, "nodectl_transport_peers_down_total",
                    "Outbound connections given up because the peer did not answer.",
                    (double)t.peers_down);
    metrics_gauge(m, "nodectl_transport_connections", "Inbound connections open.",
                  (double)t.conns.open);
    metrics_family(m, "nodectl_transport_connections_cut_total", "counter",
                   "Inbound connections cut by the admission limits, by reason.");
    for (int r = 0; r < ADMISSION_REASONS; r++)
        metrics_sample(m, "nodectl_transport_connections_cut_total",
                       (const char *[]){"reason", admission_reason_name((enum admission_reason)r),
                                        NULL},
                       (double)t.conns.cut[r]);
}

/* Appends "DIRECTION CHANNEL" (frames) or "DIRECTION gossip.KIND" (gossip
 * packets; "received gossip.new_records": record versions believed, against
 * which the record pieces received show how many came twice) = value to
 * st->traffic (room reserved by the caller). */
static int traffic_add(Nodectl__StatusReply *st, const char *dir, const char *kind,
                       const char *name, uint64_t v) {
    char key[64];
    snprintf(key, sizeof key, "%s %s%s%s", dir, kind ? kind : "", kind ? "." : "", name);
    if (!(st->traffic[st->n_traffic] = status_counter(key, v)))
        return -1;
    st->n_traffic++;
    return 0;
}

int cluster_to_status(const struct agent *a, Nodectl__StatusReply *st) {
    if (!a->cluster.transport || !a->cluster.gossip)
        return 0;
    struct transport_stats t = transport_stats(a->cluster.transport);
    struct gossip_counts c = gossip_counts(a->cluster.gossip);
    if (!(st->traffic = calloc(2 * (CHANNELS + GOSSIP_KINDS) + 1, sizeof *st->traffic)) ||
        traffic_add(st, "received", "gossip", "new_records", c.records) != 0)
        return -1;
    for (uint32_t ch = 0; ch < CHANNELS; ch++)
        if (traffic_add(st, "sent", NULL, frame_channel_name(ch), t.sent_on[ch]) != 0 ||
            traffic_add(st, "received", NULL, frame_channel_name(ch), t.received_on[ch]) != 0)
            return -1;
    for (unsigned k = 0; k < GOSSIP_KINDS; k++)
        if (traffic_add(st, "sent", "gossip", gossip_kind_name(k), c.sent[k]) != 0 ||
            traffic_add(st, "received", "gossip", gossip_kind_name(k), c.received[k]) != 0)
            return -1;
    return 0;
}
