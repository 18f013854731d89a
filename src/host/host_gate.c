#include "host_gate.h"

#include <stdio.h>
#include <string.h>

const char *host_gate_name(enum host_gate g) {
    switch (g) {
    case HOST_GATE_OPEN: return "open";
    case HOST_GATE_DRAINED: return "drained";
    case HOST_GATE_CLOSED: return "closed";
    }
    return "closed";
}

void host_gate_format(enum host_gate g, const char *reason, char *out, size_t len) {
    if (reason && reason[0])
        snprintf(out, len, "%s: %s\n", host_gate_name(g), reason);
    else
        snprintf(out, len, "%s\n", host_gate_name(g));
}

int host_gate_parse(const char *text, enum host_gate *g, char *reason, size_t len) {
    static const enum host_gate all[] = {HOST_GATE_OPEN, HOST_GATE_DRAINED, HOST_GATE_CLOSED};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        const char *name = host_gate_name(all[i]);
        size_t n = strlen(name);
        if (strncmp(text, name, n) != 0)
            continue;
        const char *rest = text + n;
        if (rest[0] == ':' && rest[1] == ' ')
            rest += 2;
        else if (rest[0] != '\n' && rest[0] != '\0')
            continue;
        size_t k = strcspn(rest, "\n");
        /* One line: anything after it is not ours. */
        if (rest[k] == '\n' && rest[k + 1] != '\0')
            return -1;
        if (len) {
            size_t m = k < len - 1 ? k : len - 1;
            memcpy(reason, rest, m);
            reason[m] = '\0';
        }
        *g = all[i];
        return 0;
    }
    return -1;
}

bool host_gate_refuses(enum host_gate g, const char *op, const char *subop) {
    if (strcmp(subop, "begin") != 0)
        return false;
    if (strcmp(op, "migrate") == 0)
        return g != HOST_GATE_OPEN;
    if (strcmp(op, "prepare") == 0)
        return g == HOST_GATE_CLOSED;
    return false;
}
