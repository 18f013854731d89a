/* IPMI power-on: a host's BMC answers IPMI v2.0 over the LAN
 * (RMCP+, "lanplus") even while the host is off, so any host that can reach
 * it and holds the credentials powers the host on with `ipmitool -I lanplus
 * -H bmc -U user -f password-file chassis power on` (IPMI v2.0 section 28.3,
 * Chassis Control). nodectl runs ipmitool itself, without a shell; the
 * address comes from another host's record, so it is checked strictly
 * before it becomes an argument. */
#ifndef NODECTL_IPMI_H
#define NODECTL_IPMI_H

#include <stdbool.h>

#include "common/config.h"

/* Whether `addr` is "host" or "host:port": a host name or IPv4 address of
 * letters, digits, '.' and '-' that does not start with '-' (ipmitool would
 * take it for an option), shorter than CONFIG_IPMI_ADDRESS_MAX, and a port
 * from 1 to 65535. */
bool ipmi_address_valid(const char *addr);

/* ipmitool's command line; argv points into the struct. */
#define IPMI_ARGV_MAX 18
struct ipmi_command {
    char host[CONFIG_IPMI_ADDRESS_MAX];
    char port[24];
    char cipher[12];
    char *argv[IPMI_ARGV_MAX];
};

/* The command that powers on the chassis behind `addr` (cipher_suite 0:
 * ipmitool's default). 0, or -1 when addr is not valid. */
int ipmi_power_on_command(struct ipmi_command *c, const char *addr, const char *user,
                          const char *password_file, unsigned cipher_suite);
/* The same for `chassis power off` (fencing a failed host, docs/ha.md). */
int ipmi_power_off_command(struct ipmi_command *c, const char *addr, const char *user,
                           const char *password_file, unsigned cipher_suite);
/* The same for `chassis power status` (IPMI v2.0 section 28.2, Get Chassis
 * Status), whose answer ipmi_parse_power_status reads. */
int ipmi_power_status_command(struct ipmi_command *c, const char *addr, const char *user,
                              const char *password_file, unsigned cipher_suite);
/* ipmitool's output: 1 the chassis power is on, 0 off, -1 not an answer. */
int ipmi_parse_power_status(const char *out);

#endif
