/* The agent's side of the frame layer (docs/security.md): its boot epoch,
 * its keyring and its identity (the CA's public key, its signing key and
 * certificate), loaded at start and again on SIGHUP or `nodectl keys`, and
 * the counters of what was refused. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent_internal.h"
#include "common/atomic_file.h"
#include "common/log.h"
#include "net/pki.h"

#define EPOCH_FILE "boot-epoch"
/* Certificates: warn this long before one expires, and check this often. */
#define EXPIRY_WARNING_S (14 * 86400)
#define EXPIRY_CHECK_MS (3600 * 1000)
/* Senders whose windows are kept; past it the least recently heard is
 * forgotten (docs/security.md). */
#define SENDERS_MAX 16384

static const char *const refusal_names[REFUSED_REASONS] = {
    [REFUSED_ELECTION_NOT_CANDIDATE] = "election_not_candidate",
    [REFUSED_ELECTION_SENDER] = "election_sender_mismatch",
    [REFUSED_COMMAND_ISSUER] = "command_issuer_mismatch",
    [REFUSED_RECORD_NOT_OWNERS] = "record_not_owners",
    [REFUSED_COMMAND_TERM_AHEAD] = "command_term_ahead",
    [REFUSED_WAKE_ADDRESS] = "wake_address_not_published",
    [REFUSED_MIGRATION_ADDRESS] = "migration_address_not_advertised",
};
static const char *const refusal_texts[REFUSED_REASONS] = {
    [REFUSED_ELECTION_NOT_CANDIDATE] = "not a candidate by its certificate and [cluster] "
                                       "candidates",
    [REFUSED_ELECTION_SENDER] = "its payload names another sender than its certificate",
    [REFUSED_COMMAND_ISSUER] = "its payload names another sender than its certificate",
    [REFUSED_RECORD_NOT_OWNERS] = "not sealed by the host it describes",
    [REFUSED_COMMAND_TERM_AHEAD] = "its term is ahead of what a quorum of candidates shows",
    [REFUSED_WAKE_ADDRESS] = "its addresses are not the ones the host to wake published",
    [REFUSED_MIGRATION_ADDRESS] = "its addresses are not the ones the destination advertises",
};

/* The boot epoch: one more than the last start's, and at least the wall
 * clock in seconds, so that a host whose state directory was lost or
 * restored from a backup still starts above every epoch its peers know
 * (WireGuard's handshake uses a timestamp for the same reason). Written
 * before any frame leaves. */
static int next_epoch(const struct agent *a, uint64_t *epoch, char *err, size_t errlen) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", a->cfg.state_dir, EPOCH_FILE);
    size_t len;
    uint64_t last = 0;
    char *text = read_small_file(path, 64, &len);
    if (text) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(text, &end, 10);
        bool ok = !errno && end != text && (*end == '\n' || *end == '\0');
        free(text);
        if (!ok) {
            snprintf(err, errlen, "%s: corrupt (expected one number, the boot epoch); remove "
                     "it: the next start takes the wall clock", path);
            return -1;
        }
        last = v;
    } else if (errno != ENOENT) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    uint64_t now_s = agent_wall_clock_ms() / 1000;
    *epoch = last + 1 > now_s ? last + 1 : now_s;
    char line[32];
    int n = snprintf(line, sizeof line, "%" PRIu64 "\n", *epoch);
    if (make_dirs(a->cfg.state_dir, 0755) != 0 ||
        atomic_write_file(path, line, (size_t)n, 0644) != 0) {
        snprintf(err, errlen, "%s: cannot write the boot epoch: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int load_keyring(struct agent *a, struct keyring *ring, char *err, size_t errlen) {
    bool from_key_file;
    if (keyring_load(a->cfg.keyring_file, a->cfg.key_file, ring, &from_key_file, err, errlen) !=
        0)
        return -1;
    a->sec.from_key_file = from_key_file;
    return 0;
}

/* Loads and checks the identity; a candidate whose certificate does not
 * say so is warned about, not stopped: it still gossips, and the others
 * ignore its election messages. */
static int load_identity(struct agent *a, struct pki_identity *id, char *err, size_t errlen) {
    if (pki_load_identity(a->cfg.ca_file, a->cfg.host_key_file, a->cfg.cert_file,
                          a->cfg.node_name, agent_wall_clock_ms() / 1000, id, err, errlen) != 0)
        return -1;
    a->sec.candidate_cert = id->info.candidate;
    a->sec.cert_not_after = id->info.not_after;
    a->sec.warning[0] = '\0';
    if (a->cfg.candidate && !id->info.candidate) {
        snprintf(a->sec.warning, sizeof a->sec.warning,
                 "this host is in [cluster] candidates but its certificate (%s) does not say "
                 "candidate: every other host ignores its election messages; sign it again "
                 "with `nodectl ca sign --candidate`", a->cfg.cert_file);
        log_err("%s", a->sec.warning);
    }
    return 0;
}

static void apply_identity(struct agent *a, struct pki_identity *id) {
    struct security *s = &a->sec;
    frame_ctx_set_identity(s->frames, id->ca_pk, id->sk, id->cert, id->cert_len);
    memcpy(s->ca_pk, id->ca_pk, sizeof s->ca_pk);
    memcpy(s->sk, id->sk, sizeof s->sk);
    memcpy(s->cert, id->cert, id->cert_len);
    s->cert_len = id->cert_len;
    sodium_memzero(id, sizeof *id);
}

int security_open(struct agent *a, const char *const *addrs, size_t n_addrs, char *err,
                  size_t errlen) {
    struct security *s = &a->sec;
    if (frame_init() != 0) {
        snprintf(err, errlen, "libsodium failed to initialise");
        return -1;
    }
    if (next_epoch(a, &s->epoch, err, errlen) != 0)
        return -1;
    struct frame_config fc = {.cluster = a->cfg.cluster_name, .name = a->cfg.node_name,
                              .n_addrs = n_addrs, .insecure = a->cfg.insecure,
                              .epoch = s->epoch, .senders_max = SENDERS_MAX};
    for (size_t i = 0; i < n_addrs; i++)
        fc.addrs[i] = addrs[i];
    struct keyring ring;
    struct pki_identity id;
    if (!a->cfg.insecure && (load_keyring(a, &ring, err, errlen) != 0 ||
                             load_identity(a, &id, err, errlen) != 0)) {
        size_t n = strlen(err);
        snprintf(err + n, errlen - n, " (or set [cluster] insecure = true, for tests only)");
        return -1;
    }
    if (!(s->frames = frame_ctx_new(&fc))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (a->cfg.insecure) {
        snprintf(s->warning, sizeof s->warning,
                 "INSECURE: [cluster] insecure = true: cluster messages are neither encrypted "
                 "nor signed, and any host that can reach port %u can join and claim any name "
                 "(for tests only; production hosts need a keyring, ca_file, cert_file and "
                 "host_key_file)", a->cfg.port);
        log_warn("%s", s->warning);
    } else {
        frame_ctx_set_keyring(s->frames, &ring);
        sodium_memzero(&ring, sizeof ring);
        char until[11];
        pki_date(id.info.not_after, until);
        apply_identity(a, &id);
        char pid[KEYRING_ID_TEXT];
        keyring_id_text(keyring_primary_id(frame_ctx_keyring(s->frames)), pid);
        log_info("identity: certificate for %s%s valid until %s; keyring %s, %zu key(s), "
                 "primary %s; boot epoch %" PRIu64, a->cfg.node_name,
                 s->candidate_cert ? " (candidate)" : "", until,
                 s->from_key_file ? a->cfg.key_file : a->cfg.keyring_file,
                 frame_ctx_keyring(s->frames)->n, pid, s->epoch);
    }
    s->next_expiry_check_ms = 0;
    return 0;
}

void security_close(struct agent *a) {
    frame_ctx_free(a->sec.frames);
    a->sec.frames = NULL;
    sodium_memzero(a->sec.sk, sizeof a->sec.sk);
}

int security_keyring_read(struct agent *a, struct keyring *ring, char *err, size_t errlen) {
    if (a->cfg.insecure) {
        snprintf(err, errlen, "[cluster] insecure = true: there is no keyring");
        return -1;
    }
    return load_keyring(a, ring, err, errlen);
}

int security_keyring_write(struct agent *a, const struct keyring *ring, char *err,
                           size_t errlen) {
    if (keyring_save(a->cfg.keyring_file, ring, err, errlen) != 0)
        return -1;
    a->sec.from_key_file = false;
    frame_ctx_set_keyring(a->sec.frames, ring);
    return 0;
}

const char *security_keyring_path(const struct agent *a) {
    return a->sec.from_key_file ? a->cfg.key_file : a->cfg.keyring_file;
}

int security_reload(struct agent *a, char *err, size_t errlen) {
    if (a->cfg.insecure)
        return 0;
    struct keyring ring;
    struct pki_identity id;
    if (load_keyring(a, &ring, err, errlen) != 0 || load_identity(a, &id, err, errlen) != 0)
        return -1;
    frame_ctx_set_keyring(a->sec.frames, &ring);
    sodium_memzero(&ring, sizeof ring);
    apply_identity(a, &id);
    char pid[KEYRING_ID_TEXT];
    keyring_id_text(keyring_primary_id(frame_ctx_keyring(a->sec.frames)), pid);
    log_info("keyring and identity reloaded: %zu key(s), primary %s",
             frame_ctx_keyring(a->sec.frames)->n, pid);
    a->sec.next_expiry_check_ms = 0;
    return 0;
}

void security_refuse(struct agent *a, enum security_refusal r, const char *sender,
                     const char *what) {
    struct security *s = &a->sec;
    s->refused[r]++;
    if (s->reported & 1u << r)
        return;
    s->reported |= 1u << r;
    log_warn("refused %s from %s: %s (counted as %s; further ones are not logged)", what, sender,
             refusal_texts[r], refusal_names[r]);
}

/* Warns, daily, of a certificate that expires within EXPIRY_WARNING_S. */
void security_run(struct agent *a, uint64_t now) {
    struct security *s = &a->sec;
    if (a->cfg.insecure || now < s->next_expiry_check_ms)
        return;
    s->next_expiry_check_ms = now + EXPIRY_CHECK_MS;
    uint64_t now_s = agent_wall_clock_ms() / 1000;
    if (s->cert_not_after > now_s + EXPIRY_WARNING_S)
        return;
    char until[11];
    pki_date(s->cert_not_after, until);
    if (s->cert_not_after < now_s)
        log_err("this host's certificate (%s) expired on %s: no other host accepts its frames; "
                "sign a new one with `nodectl ca sign` and reload (SIGHUP)", a->cfg.cert_file,
                until);
    else
        log_warn("this host's certificate (%s) expires on %s; sign a new one with `nodectl ca "
                 "sign` and reload (SIGHUP)", a->cfg.cert_file, until);
}

int security_to_record(const struct agent *a, Nodectl__HostRecord *rec) {
    const struct keyring *r = a->sec.frames ? frame_ctx_keyring(a->sec.frames) : NULL;
    if (!r)
        return 0;
    if (!(rec->keys = calloc(r->n, sizeof *rec->keys)))
        return -1;
    for (size_t i = 0; i < r->n; i++) {
        char id[KEYRING_ID_TEXT];
        keyring_id_text(r->id[i], id);
        if (!(rec->keys[i] = strdup(id)))
            return -1;
        rec->n_keys++;
    }
    char id[KEYRING_ID_TEXT];
    keyring_id_text(keyring_primary_id(r), id);
    return (rec->primary_key = strdup(id)) ? 0 : -1;
}

Nodectl__Counter *status_counter(const char *name, uint64_t value) {
    Nodectl__Counter *c = malloc(sizeof *c);
    if (!c)
        return NULL;
    nodectl__counter__init(c);
    c->value = value;
    if (!(c->name = strdup(name))) {
        free(c);
        return NULL;
    }
    return c;
}

int security_to_status(const struct agent *a, Nodectl__StatusReply *st) {
    const struct security *s = &a->sec;
    st->boot_epoch = s->epoch;
    if (s->warning[0]) {
        char **w = realloc(st->warnings, (st->n_warnings + 1) * sizeof *w);
        if (!w)
            return -1;
        st->warnings = w;
        if (!(w[st->n_warnings] = strdup(s->warning)))
            return -1;
        st->n_warnings++;
    }
    uint64_t counts[FRAME_RESULTS] = {0};
    if (s->frames)
        frame_ctx_counts(s->frames, counts);
    size_t n_refused = REFUSED_REASONS + GOSSIP_REFUSALS + 1;
    if (!(st->frames = calloc(FRAME_RESULTS, sizeof *st->frames)) ||
        !(st->refused = calloc(n_refused, sizeof *st->refused)))
        return -1;
    for (int r = 0; r < FRAME_RESULTS; r++) {
        if (!(st->frames[r] = status_counter(frame_result_name((enum frame_result)r), counts[r])))
            return -1;
        st->n_frames++;
    }
    for (int r = 0; r < REFUSED_REASONS; r++) {
        if (!(st->refused[r] = status_counter(refusal_names[r], s->refused[r])))
            return -1;
        st->n_refused++;
    }
    for (int r = 0; r < GOSSIP_REFUSALS; r++) {
        uint64_t v = a->cluster.gossip ? gossip_refused(a->cluster.gossip, r) : 0;
        if (!(st->refused[st->n_refused] = status_counter(gossip_refusal_name(r), v)))
            return -1;
        st->n_refused++;
    }
    const struct election *e = a->lead.election;
    if (!(st->refused[st->n_refused] =
              status_counter("election_term_implausible", e ? election_refused_terms(e) : 0)))
        return -1;
    st->n_refused++;
    return 0;
}

void security_metrics(const struct agent *a, struct metrics *m) {
    const struct security *s = &a->sec;
    uint64_t counts[FRAME_RESULTS] = {0};
    if (s->frames)
        frame_ctx_counts(s->frames, counts);
    metrics_family(m, "nodectl_frames_total", "counter",
                   "Frames opened by the frame layer, by result (ok, or why refused).");
    for (int r = 0; r < FRAME_RESULTS; r++)
        metrics_sample(m, "nodectl_frames_total",
                       (const char *[]){"result", frame_result_name((enum frame_result)r), NULL},
                       (double)counts[r]);
    metrics_family(m, "nodectl_refused_total", "counter",
                   "Authenticated messages refused for a value no sender may set, by reason.");
    for (int r = 0; r < REFUSED_REASONS; r++)
        metrics_sample(m, "nodectl_refused_total",
                       (const char *[]){"reason", refusal_names[r], NULL}, (double)s->refused[r]);
    for (int r = 0; r < GOSSIP_REFUSALS; r++)
        metrics_sample(m, "nodectl_refused_total",
                       (const char *[]){"reason", gossip_refusal_name(r), NULL},
                       a->cluster.gossip ? (double)gossip_refused(a->cluster.gossip, r) : 0);
    const struct election *e = a->lead.election;
    metrics_sample(m, "nodectl_refused_total",
                   (const char *[]){"reason", "election_term_implausible", NULL},
                   e ? (double)election_refused_terms(e) : 0);
}
