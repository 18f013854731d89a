/* The agent's side of the election: the I/O around src/election/. Voters are
 * the hosts named in [cluster] candidates (each name may carry a priority,
 * "host-a:10"); a voter's id is a hash of its name, so every host derives
 * the same ids from the same list, and its address comes from gossip. The
 * term and vote are written atomically and flushed before any message that
 * depends on them leaves. Every host, voter or not, keeps the highest term
 * it knows on disk and refuses commands from older terms (fencing); the
 * (leader, term) it knows travels in its gossiped record, which is how hosts
 * that do not vote learn the leader.
 *
 * A term is known from this host's own election, or when a quorum of the
 * candidates show it in their records, which they sign (src/election/fence.h;
 * docs/security.md, "Sane values"): one host, even a certified candidate,
 * cannot raise the fences of the others, and a non-candidate's record is
 * never read for a term. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "agent_internal.h"
#include "common/atomic_file.h"
#include "common/log.h"
#include "election.pb-c.h"
#include "net/signed_record.h"

#define HARD_STATE_FILE "election.state"
#define TERM_FILE "term"
#define OBSERVE_EVERY_MS 500

/* FNV-1a (Fowler, Noll, Vo), 64 bits: a stable id from a name. */
static uint64_t name_id(const char *name) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    return h ? h : 1;
}

static void state_path(const struct agent *a, const char *file, char *out, size_t len) {
    snprintf(out, len, "%s/%s", a->cfg.state_dir, file);
}

/* "name" or "name:priority". */
static int parse_candidate(const char *item, char *name, size_t len, uint32_t *prio) {
    const char *colon = strchr(item, ':');
    size_t n = colon ? (size_t)(colon - item) : strlen(item);
    if (n == 0 || n >= len)
        return -1;
    memcpy(name, item, n);
    name[n] = '\0';
    *prio = 0;
    if (colon) {
        char *end;
        unsigned long v = strtoul(colon + 1, &end, 10);
        if (!colon[1] || *end || v > 1000000)
            return -1;
        *prio = (uint32_t)v;
    }
    return 0;
}

/* A small state file's text: 0, 1 if it does not exist, -1 if unreadable. */
static int read_state(const char *path, char *out, size_t len) {
    size_t n;
    char *text = read_small_file(path, len - 1, &n);
    if (!text)
        return errno == ENOENT ? 1 : -1;
    memcpy(out, text, n + 1);
    free(text);
    return 0;
}

static int load_highest_term(const char *path, uint64_t *term) {
    char text[64];
    int rc = read_state(path, text, sizeof text);
    if (rc != 0)
        return rc > 0 ? 0 : -1;
    return sscanf(text, "%" SCNu64, term) == 1 ? 0 : -1;
}

static int load_hard_state(const char *path, struct election_hard_state *hs) {
    char text[128];
    int rc = read_state(path, text, sizeof text);
    if (rc != 0)
        return rc > 0 ? 0 : -1;
    return sscanf(text, "term %" SCNu64 " voted_for %" SCNx64, &hs->term, &hs->voted_for) == 2
               ? 0 : -1;
}

/* The fence in memory holds either way; what a write that fails or comes
 * late risks is forgetting the term across a restart, when the persisted
 * vote (voters) or gossip (everyone) teaches it again before any command
 * runs. So the loop does not wait for it (agent_writer.c). */
static void save_highest_term(struct agent *a) {
    char text[32];
    int n = snprintf(text, sizeof text, "%" PRIu64 "\n", a->lead.fence.highest);
    if (file_writer_put_copy(a->writer, a->lead.term_file, text, (size_t)n) != 0)
        log_err("cannot persist the highest term %" PRIu64 ": out of memory",
                a->lead.fence.highest);
}

/* Every term this host knows raises the fence. */
static void see_term(struct agent *a, uint64_t term) {
    if (fence_see(&a->lead.fence, term))
        save_highest_term(a);
}

int leadership_open(struct agent *a, char *err, size_t errlen) {
    struct leadership *l = &a->lead;
    l->election_log = (struct reject_log){.component = "election",
                                          .reason_name = election_reject_name};
    char path[PATH_MAX];
    state_path(a, TERM_FILE, path, sizeof path);
    if (load_highest_term(path, &l->fence.highest) != 0) {
        snprintf(err, errlen, "%s: corrupt (expected one number, the highest term seen)", path);
        return -1;
    }
    l->term_file = file_writer_add(a->writer, path, 0644, "highest term seen",
                                   "a restart learns it again before any command runs");
    assert(l->term_file >= 0); /* FILE_WRITER_FILES has room for every file written so */
    struct election_config ec = {.heartbeat_ms = a->cfg.heartbeat_interval_ms,
                                 .election_timeout_ms = a->cfg.election_timeout_ms,
                                 .lease_margin_ms = a->cfg.lease_drift_margin_ms};
    if (a->cfg.candidates.n > ELECTION_VOTERS_MAX) {
        snprintf(err, errlen, "%s: [cluster] candidates: at most %d", a->cfg.path,
                 ELECTION_VOTERS_MAX);
        return -1;
    }
    for (size_t i = 0; i < a->cfg.candidates.n; i++) {
        uint32_t prio;
        if (parse_candidate(a->cfg.candidates.item[i], l->voter_name[i], CONFIG_NAME_MAX,
                            &prio) != 0) {
            snprintf(err, errlen, "%s: [cluster] candidates: '%s' is not NAME or NAME:PRIORITY",
                     a->cfg.path, a->cfg.candidates.item[i]);
            return -1;
        }
        l->voter_id[i] = name_id(l->voter_name[i]);
        ec.voters[i] = (struct election_voter){.id = l->voter_id[i], .priority = prio};
        if (strcmp(l->voter_name[i], a->cfg.node_name) == 0)
            ec.self_id = l->voter_id[i];
    }
    l->n_voters = ec.n_voters = a->cfg.candidates.n;
    /* Members known from the snapshot, read now that the voters are. */
    member_views_rebuild(a);
    if (!ec.self_id)
        return 0; /* not a voter: follows the leader through gossip */
    const char *bad = election_config_check(&ec);
    if (bad) {
        snprintf(err, errlen, "%s: [election] %s", a->cfg.path, bad);
        return -1;
    }
    struct election_hard_state hs = {0};
    state_path(a, HARD_STATE_FILE, path, sizeof path);
    if (load_hard_state(path, &hs) != 0) {
        snprintf(err, errlen, "%s: corrupt election state; restore it, or remove it only if "
                 "this host never voted", path);
        return -1;
    }
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
        seed = agent_wall_clock_ms() ^ ec.self_id;
    l->election = election_new(&ec, &hs, seed, (int64_t)agent_clock_ms());
    if (!l->election) {
        snprintf(err, errlen, "election: out of memory");
        return -1;
    }
    l->term = hs.term;
    see_term(a, hs.term);
    log_info("candidate among %zu voters, term %" PRIu64, l->n_voters, hs.term);
    return 0;
}

void leadership_close(struct agent *a) {
    election_free(a->lead.election);
    a->lead.election = NULL;
}

bool leadership_is_leader(const struct agent *a) {
    return a->lead.election && election_role(a->lead.election) == ELECTION_LEADER;
}

static int voter_index(const struct leadership *l, uint64_t id) {
    for (size_t i = 0; i < l->n_voters; i++)
        if (l->voter_id[i] == id)
            return (int)i;
    return -1;
}

/* Saves the hard state if it changed, then sends what may leave. */
static void flush(struct agent *a) {
    struct leadership *l = &a->lead;
    struct election_hard_state hs;
    if (election_unsaved(l->election, &hs)) {
        char path[PATH_MAX], text[96];
        state_path(a, HARD_STATE_FILE, path, sizeof path);
        int n = snprintf(text, sizeof text, "term %" PRIu64 " voted_for %016" PRIx64 "\n", hs.term,
                         hs.voted_for);
        if (atomic_write_file(path, text, (size_t)n, 0600) == 0) {
            if (election_disabled(l->election))
                log_info("election state persisted again; voting and leading resume");
            election_saved(l->election);
            see_term(a, hs.term);
        } else {
            if (!election_disabled(l->election))
                log_err("cannot persist term %" PRIu64 " and vote in %s: %s; refusing to vote or "
                        "lead until it can", hs.term, path, strerror(errno));
            election_save_failed(l->election);
        }
    }
    struct election_msg m;
    while (election_next_msg(l->election, &m)) {
        int i = voter_index(l, m.to);
        if (i >= 0 && l->voter_addr[i][0])
            transport_send(a->cluster.transport, l->voter_addr[i], CHANNEL_ELECTION, m.data,
                           m.len);
        free(m.data);
    }
}

/* A host that does not vote shows the leader and term it follows in its
 * record when the leader asks (the leader's HA holds a restart back until
 * every running host's record shows its term, and asks in its answers to
 * the run lease's renewals, src/leader/ha.c). Shown at every change, each
 * election would make every such host publish its record and every host
 * fetch N of them: work per host that grows with the cluster, at each
 * change; while elections come one after another (candidates on a
 * saturated machine), that work saturates it further, the feedback of a
 * metastable failure. Asked, the record follows the view at once after a
 * quiet spell, and then at most once per hold of TERM_SHOWN_MEMBER_MS per
 * member (at least TERM_SHOWN_MIN_MS): the hosts together publish at most
 * five records a second for it however often terms change and however many
 * they are. The view itself (nodectl status, whom commands are from)
 * follows at once; only the record, and so the leader's wait before HA
 * restarts, lags, which errs on the safe side. */
#define TERM_SHOWN_MIN_MS 500
#define TERM_SHOWN_MEMBER_MS 200

static void show_view(struct agent *a, uint64_t now) {
    struct leadership *l = &a->lead;
    if (l->shown_term == l->term && strcmp(l->shown_leader, l->leader) == 0) {
        l->show_asked = false;
        return;
    }
    if (!l->show_asked || now < l->shown_next_ms)
        return;
    l->show_asked = false;
    uint64_t hold = (uint64_t)gossip_member_count(a->cluster.gossip) * TERM_SHOWN_MEMBER_MS;
    l->shown_next_ms = now + (hold > TERM_SHOWN_MIN_MS ? hold : TERM_SHOWN_MIN_MS);
    l->shown_term = l->term;
    snprintf(l->shown_leader, sizeof l->shown_leader, "%s", l->leader);
    cluster_publish(a, now);
}

static bool view_unshown(const struct leadership *l) {
    return !l->election && l->show_asked &&
           (l->shown_term != l->term || strcmp(l->shown_leader, l->leader) != 0);
}

void leadership_show_asked(struct agent *a) {
    if (!a->lead.election)
        a->lead.show_asked = true;
}

/* The leader that a quorum of the voters' records name at the highest term
 * they agree on, into l->leader and l->term (hosts that do not vote follow
 * the election this way); one voter's claim to lead is not enough. */
static void follow_records(struct agent *a, uint64_t now, const uint64_t *term,
                           char (*leader)[CONFIG_NAME_MAX]) {
    struct leadership *l = &a->lead;
    size_t quorum = l->n_voters / 2 + 1, best = SIZE_MAX;
    for (size_t i = 0; i < l->n_voters; i++) {
        if (!leader[i][0] || (best != SIZE_MAX && term[i] <= term[best]))
            continue;
        size_t agree = 0;
        for (size_t k = 0; k < l->n_voters; k++)
            agree += term[k] == term[i] && strcmp(leader[k], leader[i]) == 0;
        if (agree >= quorum)
            best = i;
    }
    if (best == SIZE_MAX || term[best] < l->term ||
        (term[best] == l->term && strcmp(leader[best], l->leader) == 0))
        return;
    l->term = term[best];
    snprintf(l->leader, sizeof l->leader, "%s", leader[best]);
    log_info("leader is %s in term %" PRIu64 " (learned by gossip)", l->leader, l->term);
    show_view(a, now);
}

/* Names, addresses and claims from the gossiped records: voter addresses
 * (kept when a voter is down: it comes back at the same address),
 * the candidate-list check, the terms the candidates show (the fence, and
 * the election's bound on terms) and the leader for hosts that do not
 * vote. */
static void observe(struct agent *a, uint64_t now) {
    struct leadership *l = &a->lead;
    uint64_t shown[ELECTION_VOTERS_MAX] = {0};
    char leader[ELECTION_VOTERS_MAX][CONFIG_NAME_MAX];
    memset(leader, 0, sizeof leader);
    /* Every member's record is read once per version (agent_views.c):
     * here only the voters are looked up. */
    for (size_t v = 0; v < l->n_voters; v++) {
        const struct member_view *mv =
            member_views_find(a, signed_record_member_id(l->voter_name[v]));
        if (!mv || !mv->up || strcmp(mv->name, l->voter_name[v]) != 0)
            continue;
        snprintf(l->voter_addr[v], sizeof l->voter_addr[v], "%s", mv->address);
        if (mv->candidate) {
            shown[v] = mv->term;
            snprintf(leader[v], sizeof leader[v], "%s", mv->leader);
            if (l->election)
                election_observe_term(l->election, l->voter_id[v], mv->term);
        }
    }
    size_t agree = a->views.agree, disagree = a->views.disagree;
    const char *other = a->views.other;
    /* The odd one out does not vote: a host whose list differs from most of
     * the others' would count a different majority. */
    bool mismatch = disagree > agree;
    if (mismatch && !l->mismatch) {
        snprintf(l->warning, sizeof l->warning,
                 "[cluster] candidates differ from what %zu of %zu other hosts use (e.g. %s): "
                 "this host does not vote until the lists agree", disagree, agree + disagree,
                 other);
        log_err("%s", l->warning);
    } else if (!mismatch && l->mismatch) {
        log_info("candidate lists agree again; voting resumes");
        l->warning[0] = '\0';
    }
    l->mismatch = mismatch;
    if (!l->election)
        follow_records(a, now, shown, leader);
    /* A voter shows its own term too; then the term a quorum reaches. */
    int self = voter_index(l, name_id(a->cfg.node_name));
    if (self >= 0 && l->election)
        shown[self] = election_term(l->election);
    see_term(a, fence_quorum_term(shown, l->n_voters));
    l->next_observe_ms = now + OBSERVE_EVERY_MS;
}

/* Follows the election's view and tells the cluster when it changes. */
static void update_view(struct agent *a, uint64_t now) {
    struct leadership *l = &a->lead;
    struct election *e = l->election;
    uint64_t term = election_term(e);
    int v = voter_index(l, election_leader(e));
    const char *leader = v >= 0 ? l->voter_name[v] : "";
    bool lease = election_has_lease(e, (int64_t)now);
    if (term == l->term && strcmp(leader, l->leader) == 0 && lease == l->lease)
        return;
    bool news = term != l->term || strcmp(leader, l->leader) != 0;
    if (news)
        log_info("term %" PRIu64 ": %s (%s)", term, leader[0] ? leader : "no leader",
                 election_role_name(election_role(e)));
    if (lease != l->lease)
        log_info("%s the leader lease", lease ? "holding" : "no longer holding");
    l->term = term;
    snprintf(l->leader, sizeof l->leader, "%s", leader);
    l->lease = lease;
    cluster_publish(a, now);
    /* Hosts that do not vote follow the leader that a quorum of candidates'
     * records name: sent to each at once, a new leader is known everywhere
     * within a round trip rather than after the epidemic's log N rounds. */
    if (news && leader[0])
        cluster_push_record(a, now);
}

uint64_t leadership_deadline(const struct agent *a) {
    const struct leadership *l = &a->lead;
    uint64_t d = l->next_observe_ms;
    if (view_unshown(l) && l->shown_next_ms < d)
        d = l->shown_next_ms;
    if (l->election) {
        uint64_t e = (uint64_t)election_next_deadline(l->election);
        if (e < d)
            d = e;
        /* Notice the lease running out, to stop acting and say so. */
        int64_t until = election_lease_until(l->election);
        if (l->lease && until > 0 && (uint64_t)until < d)
            d = (uint64_t)until;
    }
    return d;
}

void leadership_run(struct agent *a, uint64_t now) {
    struct leadership *l = &a->lead;
    if (now >= l->next_observe_ms)
        observe(a, now);
    if (!l->election) {
        show_view(a, now);
        return;
    }
    if (l->mismatch) {
        /* Not a voter while the lists disagree: a silent follower. */
        update_view(a, now);
        return;
    }
    /* Lifeguard's local health, as the failure detector measures it
     * (missed probes, a late loop), widens what the election waits for. */
    election_local_health(l->election, gossip_health_score(a->cluster.gossip));
    int64_t due = election_next_deadline(l->election);
    struct election_counts before = election_counts(l->election);
    if ((int64_t)now >= due && election_tick(l->election, (int64_t)now) != 0)
        log_err("election: out of memory");
    struct election_counts after = election_counts(l->election);
    /* Why a term may end, in the words an operator needs: how long the
     * leader was silent, and how late this host's own loop ran. */
    if (after.pre_votes != before.pre_votes)
        log_info("campaigning for term %" PRIu64 ": no heartbeat taken for %" PRId64 " ms "
                 "(this host's election timer ran %" PRId64 " ms late)",
                 election_term(l->election) + 1,
                 (int64_t)now - election_leader_contact(l->election), (int64_t)now - due);
    if (after.late_ticks != before.late_ticks)
        log_info("election timer ran %" PRId64 " ms late: this host did not run meanwhile, so "
                 "that silence ends no term (%" PRIu64 " such ticks so far)", (int64_t)now - due,
                 after.late_ticks);
    flush(a);
    update_view(a, now);
}

void leadership_receive(struct agent *a, uint64_t now, const struct frame_msg *msg) {
    struct leadership *l = &a->lead;
    /* The sender is the frame's certificate: it must be a candidate there
     * and in our list, and the message must name it as its sender. */
    if (!msg->candidate || !leadership_is_candidate(a, msg->sender)) {
        security_refuse(a, REFUSED_ELECTION_NOT_CANDIDATE, msg->sender, "an election message");
        return;
    }
    Nodectl__ElectionMsg *m = nodectl__election_msg__unpack(NULL, msg->len, msg->payload);
    if (!m) {
        log_debug("election message from %s does not decode; dropped", msg->sender);
        return;
    }
    uint64_t claimed = m->from;
    nodectl__election_msg__free_unpacked(m, NULL);
    if (claimed != name_id(msg->sender)) {
        security_refuse(a, REFUSED_ELECTION_SENDER, msg->sender, "an election message");
        return;
    }
    if (!l->election || l->mismatch)
        return;
    int v = voter_index(l, claimed);
    assert(v >= 0);
    /* The voter is reachable at the address its signed frame gives.
     * Learning it here, rather than waiting for gossip to carry the voter's
     * record, lets a restarted voter answer at once. */
    snprintf(l->voter_addr[v], sizeof l->voter_addr[v], "%s", msg->from);
    election_local_health(l->election, gossip_health_score(a->cluster.gossip));
    if (election_receive(l->election, (int64_t)now, l->voter_id[v], msg->payload, msg->len) != 0)
        log_debug("election message from %s refused", l->voter_name[v]);
    uint64_t refused = election_refused_terms(l->election);
    if (refused != l->election_refused_seen && !l->election_refused_seen)
        log_warn("election message from %s refused: its term is more than %d above what a "
                 "quorum of the candidates shows (counted as election_term_implausible; further "
                 "ones are not logged)", l->voter_name[v], ELECTION_TERM_STEP);
    l->election_refused_seen = refused;
    reject_log_new(&l->election_log, election_rejects(l->election), msg->sender, NULL);
    flush(a);
    update_view(a, now);
}

void leadership_refused_stale(struct agent *a, uint64_t term, const char *what,
                              const char *issuer) {
    a->lead.stale_refused++;
    log_warn("refused %s from %s: its term %" PRIu64 " is older than term %" PRIu64
             " (a deposed leader); %" PRIu64 " refused so far",
             what, issuer, term, a->lead.fence.highest, a->lead.stale_refused);
}

uint64_t leadership_lease_until(const struct agent *a, uint64_t *term) {
    const struct leadership *l = &a->lead;
    const struct election *e = l->election;
    *term = e ? election_term(e) : l->term;
    if (!e || l->mismatch || !election_has_lease(e, (int64_t)agent_clock_ms()))
        return 0;
    return (uint64_t)election_lease_until(e);
}

void leadership_refused_ahead(struct agent *a, uint64_t term, const char *what,
                              const char *issuer) {
    log_info("refused %s from %s: its term %" PRIu64 " is ahead of term %" PRIu64 ", the "
             "highest this host knows", what, issuer, term, a->lead.fence.highest);
    security_refuse(a, REFUSED_COMMAND_TERM_AHEAD, issuer, what);
}

bool leadership_is_candidate(const struct agent *a, const char *name) {
    int v = voter_index(&a->lead, name_id(name));
    return v >= 0 && strcmp(a->lead.voter_name[v], name) == 0;
}

int leadership_transfer(struct agent *a, const char *to, char *err, size_t errlen) {
    struct leadership *l = &a->lead;
    uint64_t id = 0;
    if (to[0]) {
        if (!leadership_is_candidate(a, to)) {
            snprintf(err, errlen, "'%s' is not a candidate", to);
            return -1;
        }
        id = name_id(to);
    }
    if (!leadership_is_leader(a)) {
        snprintf(err, errlen, "this host is not the leader");
        return -1;
    }
    if (election_transfer(l->election, (int64_t)agent_clock_ms(), id) != 0) {
        snprintf(err, errlen, "no reachable candidate to hand over to");
        return -1;
    }
    log_info("leadership transfer to %s started", to[0] ? to : "the preferred candidate");
    flush(a);
    update_view(a, agent_clock_ms());
    return 0;
}

void leadership_handover(struct agent *a) {
    char err[128];
    if (!leadership_is_leader(a) || leadership_transfer(a, "", err, sizeof err) != 0)
        return;
    /* Run the loop until another leader is known or a timeout passes, so the
     * cluster is not left waiting an election timeout. */
    uint64_t until = agent_clock_ms() + 2 * a->cfg.election_timeout_ms;
    uint64_t now;
    while ((now = agent_clock_ms()) < until) {
        int fds[CLUSTER_FDS_MAX], n = cluster_fds(a, fds);
        struct pollfd p[CLUSTER_FDS_MAX];
        for (int i = 0; i < n; i++)
            p[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
        poll(p, (nfds_t)n, 20);
        cluster_run(a, agent_clock_ms());
        leadership_run(a, agent_clock_ms());
        if (a->lead.leader[0] && strcmp(a->lead.leader, a->cfg.node_name) != 0) {
            log_info("handed leadership over to %s", a->lead.leader);
            return;
        }
    }
}

int leadership_to_record(const struct agent *a, Nodectl__HostRecord *rec) {
    const struct leadership *l = &a->lead;
    const char *leader = l->election ? l->leader : l->shown_leader;
    rec->term = l->election ? l->term : l->shown_term;
    rec->lease = l->lease;
    if (leader[0] && !(rec->leader = strdup(leader)))
        return -1;
    if (!a->cfg.candidates.n)
        return 0;
    rec->candidates = calloc(a->cfg.candidates.n, sizeof *rec->candidates);
    if (!rec->candidates)
        return -1;
    for (size_t i = 0; i < a->cfg.candidates.n; i++) {
        if (!(rec->candidates[i] = strdup(a->cfg.candidates.item[i])))
            return -1;
        rec->n_candidates++;
    }
    return 0;
}

void leadership_metrics(const struct agent *a, struct metrics *m) {
    const struct leadership *L = &a->lead;
    const struct election *e = L->election;
    metrics_gauge(m, "nodectl_election_term", "The highest election term this host knows.",
                  (double)L->term);
    metrics_gauge(m, "nodectl_is_leader", "1 if this host is the leader it knows of, else 0.",
                  leadership_is_leader(a) ? 1 : 0);
    metrics_gauge(m, "nodectl_leader_lease_held",
                  "1 if this host leads and holds its lease, else 0.", L->lease ? 1 : 0);
    metrics_gauge(m, "nodectl_election_candidate", "1 if this host may be elected, else 0.",
                  e ? 1 : 0);
    struct election_counts c = e ? election_counts(e) : (struct election_counts){0};
    metrics_counter(m, "nodectl_election_pre_votes_total",
                    "Pre-vote rounds this host began (Raft thesis 9.6).", (double)c.pre_votes);
    metrics_counter(m, "nodectl_election_pre_votes_yielded_total",
                    "Pre-vote rounds this host ended for a candidate that outranks it, asking "
                    "at the same time.", (double)c.pre_votes_yielded);
    metrics_counter(m, "nodectl_elections_total", "Elections this host began, each in a new term.",
                    (double)c.elections);
    metrics_counter(m, "nodectl_elections_won_total", "Terms this host became the leader in.",
                    (double)c.won);
    metrics_counter(m, "nodectl_election_late_ticks_total",
                    "Election timer ticks that came late (this host did not run) and so ended "
                    "no term.", (double)c.late_ticks);
    metrics_counter(m, "nodectl_leader_transfers_total",
                    "Times this host handed leadership to another candidate.",
                    (double)c.transfers);
    metrics_counter(m, "nodectl_fenced_commands_refused_total",
                    "Commands refused because their term is older than this host's fence.",
                    (double)L->stale_refused);
}
