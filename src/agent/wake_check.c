#include "wake_check.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *wake_check(const struct command_wake *w, const Nodectl__HostRecord *target,
                       char *why, size_t len) {
    const Nodectl__Power *pw = target ? target->power : NULL;
    if (!target || strcmp(target->name, w->host) != 0)
        snprintf(why, len, "no record of %s: cannot tell where it is woken", w->host);
    else if (!pw)
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
