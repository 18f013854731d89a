/* Commands this host was asked to carry out (live migrations, its own
 * power-off, wake requests for others), and
 * how they went. Their state travels in this host's gossiped record, so
 * whoever asked, any operator, and a new leader see in-flight work and its
 * results without asking. Running the same command id twice runs it once:
 * a command may be delivered again after a retry or a leader change. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_internal.h"
#include "common/log.h"

static const char *state_name(enum action_state s) {
    switch (s) {
    case ACTION_RUNNING: return "running";
    case ACTION_SUCCEEDED: return "succeeded";
    case ACTION_FAILED: return "failed";
    case ACTION_ABORTED: return "aborted";
    case ACTION_REFUSED: return "refused";
    }
    return "unknown";
}

static struct action *find(struct agent *a, const char *id) {
    for (size_t i = 0; i < ACTIONS_MAX; i++)
        if (a->actions[i].used && strcmp(a->actions[i].id, id) == 0)
            return &a->actions[i];
    return NULL;
}

/* A free slot, else the one that ended longest ago; NULL if all run. */
static struct action *slot(struct agent *a) {
    struct action *best = NULL;
    for (size_t i = 0; i < ACTIONS_MAX; i++) {
        struct action *x = &a->actions[i];
        if (!x->used)
            return x;
        if (x->state != ACTION_RUNNING && (!best || x->ended_ms < best->ended_ms))
            best = x;
    }
    return best;
}

void agent_execute(struct agent *a, const Nodectl__Command *cmd) {
    if (find(a, cmd->id)) {
        log_debug("command %s: already known, not run again", cmd->id);
        return;
    }
    char what[96];
    snprintf(what, sizeof what, "command %s", cmd->id);
    if (!leadership_admit(a, cmd->term, what, cmd->issuer))
        return;
    /* A leader's command that arrives after its deadline is stale: the
     * leader has given up on it (and may have planned anew). Wall clocks
     * must agree to within the dispatch grace (NTP). */
    if (cmd->deadline_ms && agent_wall_clock_ms() > cmd->deadline_ms) {
        log_warn("refused %s from %s: its deadline passed", what, cmd->issuer);
        return;
    }
    if (cmd->body_case == NODECTL__COMMAND__BODY_DRAIN) {
        char err[CONFIG_PATH_MAX + 64];
        if (agent_drain_set(a, cmd->drain->drain, err, sizeof err) != 0)
            log_err("%s from %s: %s", what, cmd->issuer, err);
        return;
    }
    if (cmd->body_case == NODECTL__COMMAND__BODY_TRANSFER) {
        char err[128];
        if (leadership_transfer(a, cmd->transfer->destination, err, sizeof err) != 0)
            log_warn("%s from %s: leadership transfer refused: %s", what, cmd->issuer, err);
        return;
    }
    if (cmd->body_case != NODECTL__COMMAND__BODY_MIGRATE &&
        cmd->body_case != NODECTL__COMMAND__BODY_POWER_OFF &&
        cmd->body_case != NODECTL__COMMAND__BODY_WAKE) {
        log_warn("command %s from %s: unknown kind; ignored", cmd->id, cmd->issuer);
        return;
    }
    struct action *x = slot(a);
    if (!x) {
        log_err("command %s from %s: %d actions already run; refused", cmd->id, cmd->issuer,
                ACTIONS_MAX);
        return;
    }
    memset(x, 0, sizeof *x);
    x->used = true;
    snprintf(x->id, sizeof x->id, "%s", cmd->id);
    x->term = cmd->term;
    x->started_ms = agent_wall_clock_ms();
    if (cmd->body_case == NODECTL__COMMAND__BODY_POWER_OFF) {
        snprintf(x->kind, sizeof x->kind, "power-off");
        snprintf(x->destination, sizeof x->destination, "%s", a->cfg.node_name);
        log_info("command %s from %s (term %llu): power off", cmd->id, cmd->issuer,
                 (unsigned long long)cmd->term);
        agent_power_off(a, x);
        cluster_publish(a, agent_clock_ms());
        return;
    }
    if (cmd->body_case == NODECTL__COMMAND__BODY_WAKE) {
        snprintf(x->kind, sizeof x->kind, "wake");
        snprintf(x->vm, sizeof x->vm, "%s", cmd->wake->host);
        snprintf(x->destination, sizeof x->destination, "%s", cmd->wake->host);
        log_info("command %s from %s (term %llu): wake %s", cmd->id, cmd->issuer,
                 (unsigned long long)cmd->term, cmd->wake->host);
        agent_wake(a, cmd->wake, x);
        cluster_publish(a, agent_clock_ms());
        return;
    }
    const Nodectl__MigrateCommand *m = cmd->migrate;
    snprintf(x->vm, sizeof x->vm, "%s", m->vm);
    snprintf(x->destination, sizeof x->destination, "%s", m->destination);
    log_info("command %s from %s (term %llu): migrate %s to %s", cmd->id, cmd->issuer,
             (unsigned long long)cmd->term, m->vm, m->destination);
    if (agent_migrate_refusal(a, cmd, x->error, sizeof x->error) == HOST_OK &&
        hv_migrate_start(a->hv, x->id, m->vm, m->destination_uri,
                         m->migration_address[0] ? m->migration_address : NULL,
                         m->timeout_ms ? m->timeout_ms : a->cfg.migration_timeout_ms,
                         agent_clock_ms(), agent_migrate_vm_check, NULL, x->error,
                         sizeof x->error) == 0) {
        x->state = ACTION_RUNNING;
    } else {
        x->state = ACTION_REFUSED;
        x->ended_ms = x->started_ms;
        log_warn("command %s refused: %s", cmd->id, x->error);
    }
    cluster_publish(a, agent_clock_ms());
}

void agent_actions_refresh(struct agent *a) {
    const struct hv_migration *migs[HV_MIGRATIONS_MAX];
    size_t n = hv_migrations(a->hv, migs);
    for (size_t i = 0; i < ACTIONS_MAX; i++) {
        struct action *x = &a->actions[i];
        if (!x->used || x->state != ACTION_RUNNING || x->kind[0])
            continue;
        for (size_t k = 0; k < n; k++) {
            if (strcmp(migs[k]->tag, x->id) != 0)
                continue;
            x->progress = migs[k]->data_total
                              ? (double)migs[k]->data_processed / (double)migs[k]->data_total
                              : 0;
            if (migs[k]->state == HV_MIG_RUNNING)
                break;
            x->state = migs[k]->state == HV_MIG_SUCCEEDED ? ACTION_SUCCEEDED
                       : migs[k]->state == HV_MIG_ABORTED ? ACTION_ABORTED
                       : migs[k]->state == HV_MIG_REFUSED ? ACTION_REFUSED : ACTION_FAILED;
            if (x->state == ACTION_SUCCEEDED)
                x->progress = 1;
            snprintf(x->error, sizeof x->error, "%s", migs[k]->error);
            x->ended_ms = agent_wall_clock_ms();
        }
    }
}

int agent_actions_to_record(const struct agent *a, Nodectl__HostRecord *rec) {
    size_t n = 0;
    for (size_t i = 0; i < ACTIONS_MAX; i++)
        n += a->actions[i].used;
    if (!n)
        return 0;
    rec->migrations = calloc(n, sizeof *rec->migrations);
    if (!rec->migrations)
        return -1;
    for (size_t i = 0; i < ACTIONS_MAX; i++) {
        const struct action *x = &a->actions[i];
        if (!x->used)
            continue;
        Nodectl__Migration *m = malloc(sizeof *m);
        if (!m)
            return -1;
        nodectl__migration__init(m);
        rec->migrations[rec->n_migrations++] = m;
        m->id = strdup(x->id);
        m->vm = strdup(x->vm);
        m->destination = strdup(x->destination);
        m->state = strdup(state_name(x->state));
        m->error = strdup(x->error);
        m->kind = strdup(x->kind);
        if (!m->id || !m->vm || !m->destination || !m->state || !m->error || !m->kind)
            return -1;
        m->progress = x->progress;
        m->started_at_ms = x->started_ms;
        m->ended_at_ms = x->ended_ms;
        m->term = x->term;
    }
    return 0;
}
