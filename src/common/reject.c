#include "reject.h"

#include <assert.h>
#include <inttypes.h>

#include "log.h"

_Static_assert(REJECT_REASONS_MAX <= 32, "reject_log.logged is a 32-bit set");

void reject_count(struct rejects *r, unsigned reason) {
    assert(reason < REJECT_REASONS_MAX);
    r->n[reason]++;
    r->total++;
}

void reject_log_new(struct reject_log *l, const struct rejects *now, const char *from) {
    for (unsigned i = 0; i < REJECT_REASONS_MAX; i++) {
        if (!now->n[i] || (l->logged & (UINT32_C(1) << i)))
            continue;
        l->logged |= UINT32_C(1) << i;
        log_warn("%s: refused input from %s: %s (logged once; counted in `nodectl status`)",
                 l->component, from, l->reason_name(i));
    }
}
