/* nodectl keys: this host's keyring, changed on this host only, and what
 * every live member's record says of its own. As Serf's `keys`, a key is
 * changed in three rolling steps, each run on every host: install, use,
 * remove. Acting locally (rather than sending the new key to the cluster
 * under the old one, as Serf does) means a leaked old key never reveals the
 * new one. The records make each step safe: `use` is refused while a live
 * member has not installed the key, `remove` while a live member still
 * seals with it, unless forced. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_internal.h"
#include "common/log.h"

/* What the live members' records say of one key. */
#define MISSING_NAMED 16
struct key_view {
    char id[KEYRING_ID_TEXT];
    size_t hosts, primary_hosts;
    char missing[MISSING_NAMED][CONFIG_NAME_MAX + 20]; /* the first members without it */
    size_t n_missing;
    char sealing[MISSING_NAMED][CONFIG_NAME_MAX]; /* the first members that seal with it */
};

#define VIEWS_MAX (2 * KEYRING_MAX)

struct cluster_keys {
    struct key_view v[VIEWS_MAX];
    size_t n;
    size_t members;
};

static struct key_view *view_of(struct cluster_keys *ck, const char *id) {
    for (size_t i = 0; i < ck->n; i++)
        if (strcmp(ck->v[i].id, id) == 0)
            return &ck->v[i];
    if (ck->n == VIEWS_MAX || strlen(id) != KEYRING_ID_TEXT - 1)
        return NULL;
    struct key_view *v = &ck->v[ck->n++];
    memset(v, 0, sizeof *v);
    memcpy(v->id, id, KEYRING_ID_TEXT);
    return v;
}

static bool has(const Nodectl__HostRecord *rec, const char *id) {
    for (size_t k = 0; k < rec->n_keys; k++)
        if (strcmp(rec->keys[k], id) == 0)
            return true;
    return false;
}

static void add_missing(struct key_view *v, const char *name) {
    if (v->n_missing < MISSING_NAMED)
        snprintf(v->missing[v->n_missing], sizeof v->missing[0], "%s", name);
    v->n_missing++;
}

/* "a, b, c" (and how many more) of the first names of n into out. */
static void join_names(const char *names, size_t stride, size_t n, char *out, size_t len) {
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && i < MISSING_NAMED && used < len; i++)
        used += (size_t)snprintf(out + used, len - used, "%s%s", i ? ", " : "",
                                 names + i * stride);
    if (n > MISSING_NAMED && used < len)
        snprintf(out + used, len - used, " and %zu more", n - MISSING_NAMED);
}

/* Every key installed here or on a live member, and who has it. -1 when
 * out of memory. */
static int survey(struct agent *a, struct cluster_keys *ck) {
    memset(ck, 0, sizeof *ck);
    const struct keyring *mine = frame_ctx_keyring(a->sec.frames);
    for (size_t i = 0; mine && i < mine->n; i++) {
        char id[KEYRING_ID_TEXT];
        keyring_id_text(mine->id[i], id);
        view_of(ck, id);
    }
    const struct gossip *g = a->cluster.gossip;
    size_t n = gossip_member_count(g);
    Nodectl__HostRecord **recs = calloc(n ? n : 1, sizeof *recs);
    if (!recs)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct gossip_member_info m;
        gossip_member_at(g, i, &m);
        if (m.state != GOSSIP_ALIVE && m.state != GOSSIP_SUSPECT)
            continue;
        ck->members++;
        recs[i] = agent_member_record(a, &m);
        for (size_t k = 0; recs[i] && k < recs[i]->n_keys; k++)
            view_of(ck, recs[i]->keys[k]);
    }
    for (size_t i = 0; i < n; i++) {
        struct gossip_member_info m;
        gossip_member_at(g, i, &m);
        if (m.state != GOSSIP_ALIVE && m.state != GOSSIP_SUSPECT)
            continue;
        char unknown[40];
        snprintf(unknown, sizeof unknown, "%016llx (no record yet)", (unsigned long long)m.id);
        for (size_t k = 0; k < ck->n; k++) {
            struct key_view *v = &ck->v[k];
            if (recs[i] && has(recs[i], v->id)) {
                v->hosts++;
                if (strcmp(recs[i]->primary_key, v->id) == 0 &&
                    v->primary_hosts++ < MISSING_NAMED)
                    snprintf(v->sealing[v->primary_hosts - 1], sizeof v->sealing[0], "%s",
                             recs[i]->name);
            } else {
                add_missing(v, recs[i] ? recs[i]->name : unknown);
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        if (recs[i])
            nodectl__host_record__free_unpacked(recs[i], NULL);
    free(recs);
    return 0;
}

static Nodectl__Response *reply(struct agent *a, const char *done) {
    struct cluster_keys ck;
    if (survey(a, &ck) != 0)
        return NULL;
    Nodectl__KeysReply *r = malloc(sizeof *r);
    if (!r)
        return NULL;
    nodectl__keys_reply__init(r);
    Nodectl__Response *resp = malloc(sizeof *resp);
    if (!resp) {
        free(r);
        return NULL;
    }
    nodectl__response__init(resp);
    resp->body_case = NODECTL__RESPONSE__BODY_KEYS;
    resp->keys = r;
    r->members = (uint32_t)ck.members;
    r->file = strdup(security_keyring_path(a));
    r->done = strdup(done);
    r->keys = calloc(ck.n ? ck.n : 1, sizeof *r->keys);
    bool failed = !r->file || !r->done || !r->keys;
    const struct keyring *mine = frame_ctx_keyring(a->sec.frames);
    for (size_t i = 0; !failed && i < ck.n; i++) {
        Nodectl__KeyState *ks = malloc(sizeof *ks);
        if (!ks) {
            failed = true;
            break;
        }
        nodectl__key_state__init(ks);
        r->keys[r->n_keys++] = ks;
        uint32_t id;
        keyring_parse_id(ck.v[i].id, &id);
        ks->installed = mine && keyring_find(mine, id);
        ks->primary = mine && keyring_primary_id(mine) == id;
        ks->hosts = (uint32_t)ck.v[i].hosts;
        ks->primary_hosts = (uint32_t)ck.v[i].primary_hosts;
        size_t named = ck.v[i].n_missing < MISSING_NAMED ? ck.v[i].n_missing : MISSING_NAMED;
        failed = !(ks->id = strdup(ck.v[i].id)) ||
                 !(ks->missing = calloc(named ? named : 1, sizeof *ks->missing));
        for (size_t k = 0; !failed && k < named; k++)
            failed = !(ks->missing[ks->n_missing++] = strdup(ck.v[i].missing[k]));
    }
    if (failed) {
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return NULL;
    }
    return resp;
}

/* Whether the cluster is ready for `use` (every live member has the key)
 * or `remove` (no live member seals with it); why not in err. */
static bool ready(struct agent *a, Nodectl__KeysOp op, const char *id, char *err,
                  size_t errlen) {
    struct cluster_keys ck;
    if (survey(a, &ck) != 0) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    const struct key_view *v = NULL;
    for (size_t i = 0; i < ck.n; i++)
        if (strcmp(ck.v[i].id, id) == 0)
            v = &ck.v[i];
    if (op == NODECTL__KEYS_OP__KEYS_USE && v && v->n_missing) {
        char names[MISSING_NAMED * (CONFIG_NAME_MAX + 22) + 32];
        join_names(v->missing[0], sizeof v->missing[0], v->n_missing, names, sizeof names);
        snprintf(err, errlen, "key %s is not installed on %zu live member(s) (by their records): "
                 "%s; install it there first (nodectl keys install), or use --force", id,
                 v->n_missing, names);
        return false;
    }
    if (op == NODECTL__KEYS_OP__KEYS_REMOVE && v && v->primary_hosts) {
        char names[MISSING_NAMED * (CONFIG_NAME_MAX + 2) + 32];
        join_names(v->sealing[0], sizeof v->sealing[0], v->primary_hosts, names, sizeof names);
        snprintf(err, errlen, "key %s is still the primary key of %zu live member(s) (by their "
                 "records): %s; make another key primary there first (nodectl keys use ID), or "
                 "use --force", id, v->primary_hosts, names);
        return false;
    }
    return true;
}

static int change(struct agent *a, const Nodectl__KeysRequest *req, char *done, size_t donelen,
                  char *err, size_t errlen) {
    struct keyring ring;
    if (security_keyring_read(a, &ring, err, errlen) != 0)
        return -1;
    uint32_t id = 0;
    char text[KEYRING_ID_TEXT];
    int rc = -1;
    if (req->op == NODECTL__KEYS_OP__KEYS_INSTALL) {
        if (req->key.len != KEYRING_KEY_BYTES) {
            snprintf(err, errlen, "a key is %d bytes, got %zu", KEYRING_KEY_BYTES, req->key.len);
        } else if (keyring_install(&ring, req->key.data, err, errlen) == 0) {
            keyring_id_text(keyring_id_of(req->key.data), text);
            snprintf(done, donelen, "installed key %s", text);
            rc = 0;
        }
    } else if (keyring_parse_id(req->key_id, &id) != 0) {
        snprintf(err, errlen, "'%s' is not a key id (8 hexadecimal digits, see nodectl keys "
                 "list)", req->key_id);
    } else if (!req->force && !ready(a, req->op, req->key_id, err, errlen)) {
        rc = -1;
    } else if (req->op == NODECTL__KEYS_OP__KEYS_USE) {
        if (keyring_use(&ring, id, err, errlen) == 0) {
            snprintf(done, donelen, "frames are now sealed with key %s", req->key_id);
            rc = 0;
        }
    } else if (req->op == NODECTL__KEYS_OP__KEYS_REMOVE) {
        if (keyring_remove(&ring, id, err, errlen) == 0) {
            snprintf(done, donelen, "removed key %s", req->key_id);
            rc = 0;
        }
    } else {
        snprintf(err, errlen, "unknown keys operation");
    }
    if (rc == 0)
        rc = security_keyring_write(a, &ring, err, errlen);
    sodium_memzero(&ring, sizeof ring);
    return rc;
}

Nodectl__Response *agent_keys_request(struct agent *a, const Nodectl__KeysRequest *req) {
    char done[128] = "", err[CONFIG_PATH_MAX + 600] = "";
    if (req->op != NODECTL__KEYS_OP__KEYS_LIST) {
        if (change(a, req, done, sizeof done, err, sizeof err) != 0)
            return control_error_response(NODECTL__ERROR_CODE__ERROR_FAILED, err);
        log_info("nodectl keys: %s%s", done, req->force ? " (forced)" : "");
        cluster_publish(a, agent_clock_ms());
    }
    Nodectl__Response *resp = reply(a, done);
    return resp ? resp
                : control_error_response(NODECTL__ERROR_CODE__ERROR_INTERNAL, "out of memory");
}
