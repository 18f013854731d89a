/* The stamp clock in the agent (src/common/stamp_clock.h): the times this
 * host publishes and compares (its records' sample times, its actions'
 * start and end, its HA reconcile's table, the leader's view of its
 * peers' records) do not step with the wall clock.
 *
 * Its anchor is kept in the state directory with the boot's id, so that an
 * agent restarted on the same boot goes on from where its clock was rather
 * than from a wall clock that may have stepped while it ran: its peers hold
 * its earlier records and compare the new ones with them. After a reboot
 * the monotonic clock starts again and the anchor is the wall clock, which
 * is assumed right at boot: deploy/nodectl.service starts the agent after
 * time-sync.target (systemd-timesyncd's or chrony's wait for a first
 * synchronization, when one is enabled). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_internal.h"
#include "common/atomic_file.h"
#include "common/log.h"

#define BOOT_ID_FILE "/proc/sys/kernel/random/boot_id"

void agent_boot_id(char *out, size_t len) {
    size_t n;
    char *text = read_small_file(BOOT_ID_FILE, AGENT_BOOT_ID_MAX, &n);
    out[0] = '\0';
    if (text) {
        text[strcspn(text, "\n")] = '\0';
        snprintf(out, len, "%s", text);
        free(text);
    }
}

static void anchor_path(const struct agent *a, char *out, size_t len) {
    snprintf(out, len, "%s/stamp-anchor", a->cfg.state_dir);
}

/* The anchor kept on this boot; false: none (or another boot's). */
static bool restored(const struct agent *a, struct stamp_anchor *out) {
    char path[CONFIG_PATH_MAX + 16], boot[AGENT_BOOT_ID_MAX], saved[AGENT_BOOT_ID_MAX];
    anchor_path(a, path, sizeof path);
    agent_boot_id(boot, sizeof boot);
    size_t n;
    char *text = read_small_file(path, 160, &n);
    bool ok = text && boot[0] &&
              sscanf(text, "%63s %" SCNd64 " %" SCNu64, saved, &out->offset_ns, &out->mono_ms) ==
                  3 &&
              strcmp(saved, boot) == 0;
    free(text);
    return ok;
}

static void save(struct agent *a) {
    struct agent_stamp *s = &a->stamp;
    struct stamp_anchor k = stamp_clock_anchor_of(&s->clock);
    s->saved_ms = k.mono_ms;
    char path[CONFIG_PATH_MAX + 16], boot[AGENT_BOOT_ID_MAX], text[AGENT_BOOT_ID_MAX + 64];
    agent_boot_id(boot, sizeof boot);
    if (!boot[0])
        return;
    anchor_path(a, path, sizeof path);
    int n = snprintf(text, sizeof text, "%s %" PRId64 " %" PRIu64 "\n", boot, k.offset_ns,
                     k.mono_ms);
    if (make_dirs(a->cfg.state_dir, 0755) != 0 ||
        atomic_write_file(path, text, (size_t)n, 0644) != 0) {
        if (!s->save_failed)
            log_warn("cannot keep the stamp clock's anchor in %s: %s (a restart takes the wall "
                     "clock as it reads then)", path, strerror(errno));
        s->save_failed = true;
        return;
    }
    s->save_failed = false;
}

void agent_stamp_open(struct agent *a) {
    struct agent_stamp *s = &a->stamp;
    uint64_t mono = agent_clock_ms(), wall = agent_wall_clock_ms();
    struct stamp_anchor k;
    if (restored(a, &k) && stamp_clock_resume(&s->clock, &k, mono)) {
        uint64_t now = stamp_clock_read(&s->clock, mono, wall);
        if (now != wall)
            log_info("stamp clock resumed from before the restart: %+.3f s from the wall clock",
                     ((double)now - (double)wall) / 1000);
    } else {
        stamp_clock_anchor(&s->clock, mono, wall);
    }
    save(a);
}

uint64_t agent_stamp_ms(struct agent *a) {
    struct agent_stamp *s = &a->stamp;
    uint64_t mono = agent_clock_ms();
    uint64_t now = stamp_clock_read(&s->clock, mono, agent_wall_clock_ms());
    if (mono >= s->saved_ms + STAMP_CLOCK_SAVE_EVERY_MS)
        save(a);
    return now;
}

uint64_t agent_stamp_before(struct agent *a, uint64_t mono_ms) {
    agent_stamp_ms(a);
    return stamp_clock_before(&a->stamp.clock, mono_ms);
}
