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
#include <stdint.h>

#include "agent_internal.h"
#include "common/log.h"

/* At the start, then STAMP_CLOCK_SAVE_EVERY_MS apart: one that fails is
 * logged by the agent's writer and tried again a period later. */
static void save(struct agent *a) {
    struct agent_stamp *s = &a->stamp;
    int64_t v[STAMP_CLOCK_KEPT_VALUES];
    s->saved_ms = stamp_clock_kept(&s->clock, v);
    (void)agent_bootfile_write(&s->file, v, STAMP_CLOCK_KEPT_VALUES);
}

void agent_stamp_open(struct agent *a) {
    struct agent_stamp *s = &a->stamp;
    uint64_t mono = agent_clock_ms(), wall = agent_wall_clock_ms();
    agent_bootfile_open(a, &s->file, "stamp-anchor", "stamp clock anchor",
                        "a restart takes the wall clock as it reads then");
    int64_t v[STAMP_CLOCK_KEPT_VALUES];
    enum boot_file_kept kept = agent_bootfile_read(&s->file, v, STAMP_CLOCK_KEPT_VALUES);
    /* What no clock of this boot can have kept (stamp_clock_resume). */
    if (kept == BOOT_FILE_THIS_BOOT && !stamp_clock_resume(&s->clock, v, mono))
        kept = BOOT_FILE_OUT_OF_RANGE;
    if (kept == BOOT_FILE_THIS_BOOT) {
        uint64_t now = stamp_clock_read(&s->clock, mono, wall);
        log_info("stamp clock resumed from before the restart: %+.3f s from the wall clock",
                 ((double)now - (double)wall) / 1000);
    } else {
        agent_bootfile_not_resumed(&s->file, kept);
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
