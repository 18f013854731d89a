#include "ipmi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The host part of addr (len characters) and its port (0: none); false if
 * either is malformed. */
static bool split(const char *addr, size_t *len, unsigned long *port) {
    size_t n = strlen(addr);
    if (n == 0 || n >= CONFIG_IPMI_ADDRESS_MAX)
        return false;
    const char *colon = strchr(addr, ':');
    *len = colon ? (size_t)(colon - addr) : n;
    *port = 0;
    if (*len == 0 || addr[0] == '-')
        return false;
    for (size_t i = 0; i < *len; i++) {
        char ch = addr[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '-'))
            return false;
    }
    if (!colon)
        return true;
    const char *p = colon + 1;
    if (!*p || strlen(p) > 5)
        return false;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9')
            return false;
    *port = strtoul(p, NULL, 10);
    return *port >= 1 && *port <= 65535;
}

bool ipmi_address_valid(const char *addr) {
    size_t len;
    unsigned long port;
    return split(addr, &len, &port);
}

/* `ipmitool ... chassis power VERB`. */
static int chassis_command(struct ipmi_command *c, const char *addr, const char *user,
                           const char *password_file, unsigned cipher_suite, const char *verb) {
    size_t len;
    unsigned long port;
    if (!split(addr, &len, &port))
        return -1;
    memset(c, 0, sizeof *c);
    memcpy(c->host, addr, len);
    size_t n = 0;
    c->argv[n++] = "ipmitool";
    c->argv[n++] = "-I";
    c->argv[n++] = "lanplus";
    c->argv[n++] = "-H";
    c->argv[n++] = c->host;
    if (port) {
        snprintf(c->port, sizeof c->port, "%lu", port);
        c->argv[n++] = "-p";
        c->argv[n++] = c->port;
    }
    /* A fixed cipher suite skips ipmitool's query of the BMC's suites
     * ("Get Channel Cipher Suites"), which BMCs without it, as OpenIPMI's
     * simulator, answer only by a timeout. */
    if (cipher_suite) {
        snprintf(c->cipher, sizeof c->cipher, "%u", cipher_suite);
        c->argv[n++] = "-C";
        c->argv[n++] = c->cipher;
    }
    c->argv[n++] = "-U";
    c->argv[n++] = (char *)user;
    c->argv[n++] = "-f";
    c->argv[n++] = (char *)password_file;
    c->argv[n++] = "chassis";
    c->argv[n++] = "power";
    c->argv[n++] = (char *)verb;
    c->argv[n] = NULL;
    return 0;
}

int ipmi_power_on_command(struct ipmi_command *c, const char *addr, const char *user,
                          const char *password_file, unsigned cipher_suite) {
    return chassis_command(c, addr, user, password_file, cipher_suite, "on");
}

int ipmi_power_off_command(struct ipmi_command *c, const char *addr, const char *user,
                           const char *password_file, unsigned cipher_suite) {
    return chassis_command(c, addr, user, password_file, cipher_suite, "off");
}

int ipmi_power_status_command(struct ipmi_command *c, const char *addr, const char *user,
                              const char *password_file, unsigned cipher_suite) {
    return chassis_command(c, addr, user, password_file, cipher_suite, "status");
}

int ipmi_parse_power_status(const char *out) {
    /* ipmitool's chassis.c prints "Chassis Power is on" or "... off". */
    const char *p = strstr(out, "Chassis Power is ");
    if (!p)
        return -1;
    p += strlen("Chassis Power is ");
    if (strncmp(p, "on", 2) == 0 && (p[2] == '\0' || p[2] == '\n'))
        return 1;
    if (strncmp(p, "off", 3) == 0 && (p[3] == '\0' || p[3] == '\n'))
        return 0;
    return -1;
}
