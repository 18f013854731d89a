/* The agent's configuration file (INI, parsed with inih). Every key is
 * documented in deploy/nodectl.conf.example; the table in config.c is the
 * single list of keys, their types and their defaults. */
#ifndef NODECTL_CONFIG_H
#define NODECTL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "log.h"
#include "schedule.h"

#define CONFIG_NAME_MAX 64
#define CONFIG_ADDR_MAX 256
#define CONFIG_PATH_MAX 1024
#define CONFIG_IPMI_ADDRESS_MAX 64
#define CONFIG_LIST_MAX 128
/* The longest line of a configuration file (a list of CONFIG_LIST_MAX
 * addresses fits); a longer one is an error naming its line. */
#define CONFIG_LINE_MAX 32768
#define CONFIG_DEFAULT_PATH "/etc/nodectl/nodectl.conf"
#define CONFIG_DEFAULT_SOCKET "/run/nodectl/nodectl.sock"
/* The control socket's group, which the package creates. */
#define CONFIG_DEFAULT_CONTROL_GROUP "nodectl"

struct config_list {
    size_t n;
    char item[CONFIG_LIST_MAX][CONFIG_ADDR_MAX];
};

/* What the leader does with its plans. */
enum config_automation { CONFIG_AUTOMATION_OFF, CONFIG_AUTOMATION_ADVISE, CONFIG_AUTOMATION_AUTO };

struct config {
    char path[CONFIG_PATH_MAX];

    /* [cluster] */
    char cluster_name[CONFIG_NAME_MAX];
    struct config_list seeds;      /* host:port */
    struct config_list candidates; /* node names of the voters */
    char key_file[CONFIG_PATH_MAX];      /* a one-key keyring, when keyring_file is absent */
    char keyring_file[CONFIG_PATH_MAX];
    char ca_file[CONFIG_PATH_MAX];       /* the cluster CA's public key */
    char cert_file[CONFIG_PATH_MAX];     /* this host's certificate */
    char host_key_file[CONFIG_PATH_MAX]; /* this host's signing key */
    bool insecure;
    bool discovery;               /* multicast beacons */
    char discovery_group[CONFIG_NAME_MAX];
    uint16_t discovery_port;
    uint32_t discovery_interval_ms;

    /* [node] */
    char node_name[CONFIG_NAME_MAX];
    char bind_address[CONFIG_NAME_MAX];
    char advertise_address[CONFIG_NAME_MAX]; /* empty: derived */
    uint16_t port;
    bool candidate;
    char state_dir[CONFIG_PATH_MAX];
    char control_socket[CONFIG_PATH_MAX];
    enum log_level log_level;
    enum log_format log_format;

    /* [control]: who may use the control socket. */
    char control_group[CONFIG_NAME_MAX];       /* may connect and read */
    char control_admin_group[CONFIG_NAME_MAX]; /* may also change; empty: root only */

    /* [http]: metrics and the dashboard; listen "" is off. Checked by the
     * agent (http_listen_check). */
    char http_listen[CONFIG_NAME_MAX];
    struct config_list http_names; /* what Host may name besides the address and localhost */

    /* [hypervisor] */
    char hypervisor_uri[CONFIG_ADDR_MAX];
    uint32_t sample_interval_ms;
    char migration_uri[CONFIG_ADDR_MAX];     /* how peers reach it; empty: none */
    char migration_address[CONFIG_ADDR_MAX]; /* QEMU's data URI; empty: libvirt's */
    uint32_t migration_timeout_ms;
    /* Tests and demos: "VM percent" lines that replace the named VMs' CPU %
     * (and make the host's CPU % the sum of its VMs'); empty: none. */
    char synthetic_load_file[CONFIG_PATH_MAX];
    bool local_rebalance;                    /* off by default */
    /* 0 = the policy's default (rebalance_config_defaults). */
    uint32_t rebalance_margin_ms;
    uint32_t rebalance_shares_min, rebalance_shares_max;
    uint32_t rebalance_memory_floor_pct, rebalance_memory_headroom_pct;

    /* [gossip]: SWIM timing; 0 = the protocol's default. */
    uint32_t probe_interval_ms;
    uint32_t probe_timeout_ms;
    uint32_t indirect_checks;
    uint32_t suspicion_mult;
    uint32_t retransmit_mult;
    uint32_t push_pull_interval_ms;
    uint32_t reconnect_timeout_ms; /* a dead member is forgotten after it */
    uint32_t tombstone_timeout_ms; /* a member that left is forgotten after it */

    /* [election]: Raft timing. */
    uint32_t heartbeat_interval_ms;
    uint32_t election_timeout_ms;
    uint32_t lease_drift_margin_ms;

    /* [leader]: what the elected leader plans and does. The
     * policy name is checked against the planner's by the agent. */
    enum config_automation automation;
    char policy[CONFIG_NAME_MAX];
    uint32_t plan_interval_ms;
    uint32_t max_migrations;  /* in flight at once, cluster-wide */
    uint32_t power_idle_watts; /* linear power model of every host */
    uint32_t power_max_watts;
    uint32_t power_on_timeout_ms; /* a woken host not back by then is failed */
    uint32_t vm_cooldown_ms;      /* 0 = the policy's */
    uint32_t wake_cooldown_ms;    /* 0 = the policy's */
    uint32_t off_check_after_ms;  /* the leader probes a host "off" this long */

    /* [ha]: protected VMs (docs/ha.md). */
    uint32_t self_fence_timeout_ms; /* T: the run lease a leader renews */
    uint32_t fence_margin_ms;       /* the leader waits T * (1 + rho) plus this */
    /* The rest of the cluster policy (config_policy.c): the same on every
     * host. */
    double policy_parameter;       /* < 0: the policy's own */
    double cpu_overcommit;         /* 0: the policy's own */
    uint32_t spare_hosts;          /* idle hosts kept powered on */
    uint32_t underload_pct;        /* 0: the policy's own */
    char schedule_clock_file[CONFIG_PATH_MAX]; /* tests and demos: the schedule's clock */
    char timezone[CONFIG_NAME_MAX]; /* [cluster] timezone: the schedule's */
    struct schedule schedule;       /* [schedule] */

    /* [power]: how this host is powered off and woken. */
    char off_command[CONFIG_PATH_MAX]; /* run by /bin/sh; empty: never powered off */
    char wake_mac[18];                 /* empty: the NIC of the bind address */
    char wake_broadcast[CONFIG_NAME_MAX]; /* a.b.c.d[:port]; empty: that NIC's broadcast, port 9 */
    /* This host's BMC, host[:port] (checked by the agent): any live host
     * powers it on through it. Bounded so that the wake information still
     * fits GOSSIP_WAKE_MAX. */
    char ipmi_address[CONFIG_IPMI_ADDRESS_MAX];
    /* The cluster's BMC credentials, the same on every host that may power
     * others on; the password is read by ipmitool from the file (-f), never
     * by nodectl. */
    char ipmi_user[CONFIG_NAME_MAX];
    char ipmi_password_file[CONFIG_PATH_MAX];
    uint32_t ipmi_cipher_suite; /* ipmitool -C; 0: ipmitool negotiates */

    /* [ha] on this host (docs/safety.md, "The protected gate"): a watchdog
     * device (softdog's /dev/watchdog) the agent arms and pets while its
     * run lease covers the timeout; "": none (the default). */
    char ha_watchdog[CONFIG_PATH_MAX];
    /* [ha] qemu_state_dir: where libvirt's QEMU driver keeps its domains'
     * status files, for a self-fence while libvirtd does not answer; "":
     * /run/libvirt/qemu with hypervisor uri qemu:///system, else none. */
    char ha_qemu_state_dir[CONFIG_PATH_MAX];
    uint32_t ha_watchdog_timeout_ms;
};

/* "off", "advise", "auto". */
const char *config_automation_name(enum config_automation a);

/* The error of a failed load: "file:line: message" (line omitted when the
 * problem is not on one line). */
struct config_error {
    char text[512];
};

/* Fills *cfg with the defaults, then the file's values. Returns 0, or -1 with
 * *err set; *cfg is then unspecified. */
int config_load(const char *path, struct config *cfg, struct config_error *err);
/* The same from an open file (or fmemopen'ed text); path names it in
 * errors. */
int config_parse(FILE *f, const char *path, struct config *cfg, struct config_error *err);

/* Defaults only: what a client uses when there is no file. */
void config_defaults(struct config *cfg);

#endif
