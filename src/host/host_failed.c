/* host_failed.h: failed migrations kept across an agent's restart. */
#include "host_failed.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A field the line keeps as it is: 1 to max - 1 printable characters,
 * with no space unless it is the last field (the VM's name), which does not
 * begin with one. */
static bool field_ok(const char *s, size_t max, bool last) {
    size_t n = strlen(s);
    if (n == 0 || n >= max || s[0] == ' ')
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f || (!last && s[i] == ' '))
            return false;
    return true;
}

static bool entry_ok(const struct host_failed *f) {
    return (f->state == REPORT_RUNNING || f->state == REPORT_FAILED ||
            f->state == REPORT_ABORTED) &&
           field_ok(f->id, sizeof f->id, false) &&
           field_ok(f->destination, sizeof f->destination, false) &&
           field_ok(f->vm, sizeof f->vm, true);
}

int host_failed_format(const struct host_failed *f, size_t n, char *out, size_t len) {
    size_t o = 0;
    if (!len || n > HOST_FAILED_MAX)
        return -1;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (!entry_ok(&f[i]))
            return -1;
        int w = snprintf(out + o, len - o, "%s %s %" PRIu64 " %" PRIu64 " %" PRIu64 " %s %s\n",
                         f[i].id, report_state_name(f[i].state), f[i].started_ms, f[i].ended_ms,
                         f[i].term, f[i].destination, f[i].vm);
        if (w < 0 || (size_t)w >= len - o)
            return -1;
        o += (size_t)w;
    }
    return (int)o;
}

/* One line (without its newline) into f; false when it is not an entry. */
static bool parse_line(const char *line, struct host_failed *f) {
    char id[COMMAND_ID_MAX], state[16], dest[COMMAND_NAME_MAX];
    int used = 0;
    memset(f, 0, sizeof *f);
    if (sscanf(line, "%63s %15s %" SCNu64 " %" SCNu64 " %" SCNu64 " %63s %n", id, state,
               &f->started_ms, &f->ended_ms, &f->term, dest, &used) != 6 ||
        used == 0 || line[used - 1] != ' ')
        return false;
    _Static_assert(COMMAND_ID_MAX == 64 && COMMAND_NAME_MAX == 64, "the widths above");
    f->state = report_state_parse(state);
    int w = snprintf(f->vm, sizeof f->vm, "%s", line + used);
    snprintf(f->id, sizeof f->id, "%s", id);
    snprintf(f->destination, sizeof f->destination, "%s", dest);
    return w > 0 && (size_t)w < sizeof f->vm && entry_ok(f);
}

size_t host_failed_parse(const char *text, struct host_failed *out, size_t max, size_t *bad) {
    size_t n = 0;
    *bad = 0;
    for (const char *p = text; *p;) {
        size_t l = strcspn(p, "\n");
        char line[HOST_FAILED_LINE_MAX];
        if (l >= sizeof line) {
            ++*bad;
        } else if (l > 0) {
            memcpy(line, p, l);
            line[l] = '\0';
            if (n < max && parse_line(line, &out[n]))
                n++;
            else
                ++*bad;
        }
        p += l + (p[l] == '\n');
    }
    return n;
}

enum report_state host_failed_settle(const struct host_failed *f, bool available,
                                     const struct hv_domain_now *dom, char *why, size_t len) {
    if (!available) {
        snprintf(why, len, "libvirt does not answer");
        return REPORT_RUNNING;
    }
    if (!dom) {
        snprintf(why, len, "VM '%s' left this host while the agent was stopped", f->vm);
        return REPORT_SUCCEEDED;
    }
    if (dom->job != HV_JOB_NONE) {
        snprintf(why, len, "VM '%s' has a job (%s)", f->vm, hv_job_name(dom->job));
        return REPORT_RUNNING;
    }
    snprintf(why, len, "VM '%s' is still here with no job%s: the migration failed while the "
             "agent was stopped", f->vm,
             strcmp(dom->arrival, f->id) == 0 ? " and this migration's id" : "");
    return REPORT_FAILED;
}
