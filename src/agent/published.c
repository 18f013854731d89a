#include "published.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *no_record(const Nodectl__HostRecord *rec, const char *host, char *why,
                             size_t len) {
    if (rec && strcmp(rec->name, host) == 0)
        return NULL;
    snprintf(why, len, "no record of %s: cannot tell where it is reached", host);
    return why;
}

const char *published_wake(const struct command_wake *w, const Nodectl__HostRecord *target,
                           char *why, size_t len) {
    if (no_record(target, w->host, why, len))
        return why;
    const Nodectl__Power *pw = target->power;
    if (!pw)
        snprintf(why, len, "%s published no wake information", w->host);
    else if (w->ipmi_address[0] && strcmp(w->ipmi_address, pw->ipmi_address) != 0)
        snprintf(why, len, "BMC address %s is not the one %s published (%s)", w->ipmi_address,
                 w->host, pw->ipmi_address[0] ? pw->ipmi_address : "none");
    else if (!w->ipmi_address[0] && (strcasecmp(w->mac, pw->wake_mac) != 0 ||
                                     strcmp(w->broadcast, pw->wake_broadcast) != 0))
        snprintf(why, len, "Wake-on-LAN to %s via %s is not what %s published (%s via %s)",
                 w->mac, w->broadcast, w->host, pw->wake_mac[0] ? pw->wake_mac : "no MAC",
                 pw->wake_broadcast[0] ? pw->wake_broadcast : "no broadcast");
    else
        return NULL;
    return why;
}

const char *published_migration(const struct command_migrate *m,
                                 const Nodectl__HostRecord *dest, char *why, size_t len) {
    if (no_record(dest, m->destination, why, len))
        return why;
    if (!dest->migration_uri[0] || strcmp(m->destination_uri, dest->migration_uri) != 0)
        snprintf(why, len, "destination URI %s is not the one %s advertises (%s)",
                 m->destination_uri, m->destination,
                 dest->migration_uri[0] ? dest->migration_uri : "none");
    else if (m->migration_address[0] &&
             strcmp(m->migration_address, dest->migration_address) != 0)
        snprintf(why, len, "migration address %s is not the one %s advertises (%s)",
                 m->migration_address, m->destination,
                 dest->migration_address[0] ? dest->migration_address : "none");
    else
        return NULL;
    return why;
}
