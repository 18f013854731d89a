/* nodectl: one binary for every host. `nodectl agent` is the daemon; every
 * other subcommand talks to the local agent over its control socket. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "cli.h"
#include "common/config.h"
#include "hv/hv.h"

struct command {
    const char *name;
    const char *summary;
    const char *usage;
    int (*run)(const struct cli_ctx *, int, char **); /* NULL: handled in main */
    bool needs_agent;                                 /* a client of the control socket */
};

static const struct command commands[] = {
    {"agent", "run the agent in the foreground (the daemon every host runs)",
     "nodectl agent [-c FILE] [--check]\n"
     "  Runs until SIGTERM or SIGINT; SIGHUP reloads log_level, sample_interval, the\n"
     "  cluster policy ([leader] policy keys, timezone, [schedule]), the keyring and\n"
     "  this host's certificate and key.\n"
     "  --check validates the configuration and exits (0: good, 2: bad).",
     NULL, false},
    {"status", "show the cluster: this node, the leader, every member",
     "nodectl status [--json]\n"
     "  Cluster name, this node, the leader and term, and a table of members with\n"
     "  address, state, role, CPU %, memory used/total and running VMs.",
     cmd_status, true},
    {"members", "list the cluster's members as gossip sees them",
     "nodectl members [--json]\n"
     "  Every member with name, address, state (alive, suspect, dead, left, off),\n"
     "  incarnation and the age of its last state change.",
     cmd_members, true},
    {"vms", "list the VMs of every host that is up",
     "nodectl vms [--json]\n"
     "  Every VM with its host, state, vCPUs, memory, CPU % (of its own vCPUs) and\n"
     "  placement rules (pinned, anti-affinity group); HA shows yes/PRIORITY for a\n"
     "  protected VM.",
     cmd_vms, true},
    {"find", "show which host runs a VM",
     "nodectl find VM [--json]\n"
     "  The host (or hosts, while a migration completes) that report VM, and its\n"
     "  state there. Exit 1 if no live host has it.",
     cmd_find, true},
    {"migrate", "live-migrate a VM to another host",
     "nodectl migrate VM HOST [--wait]\n"
     "  Asks the agent of the host that runs VM to live-migrate it to HOST (which\n"
     "  must be alive and have a [hypervisor] migration_uri). Refused with the\n"
     "  reason when VM is unknown, stopped or already moving, or HOST cannot take\n"
     "  it. --wait follows the progress until libvirt reports VM running on HOST\n"
     "  (exit 0) or the migration failed or was aborted at its timeout (exit 1).",
     cmd_migrate, true},
    {"leader", "hand leadership to another candidate",
     "nodectl leader transfer [HOST]\n"
     "  Asks the leader to hand over to candidate HOST, or to the most preferred\n"
     "  reachable candidate (priorities: [cluster] candidates = a:10, b, c). The\n"
     "  leader stops acting at once; the new one is elected within milliseconds.\n"
     "  Stopping the leader's agent gracefully does this by itself.",
     cmd_leader, true},
    {"plan", "show the leader's last plan",
     "nodectl plan [--json]\n"
     "  The leader's last plan: every action (migrate, power-on, power-off) with\n"
     "  the actions it waits for, its state (proposed, dispatched, done, failed,\n"
     "  not-executed) and the planner's reason. Asked on any host: the agent asks\n"
     "  the leader. [leader] automation decides whether plans run (auto), are only\n"
     "  shown (advise) or not made (off).",
     cmd_plan, true},
    {"events", "show what the leader did and why",
     "nodectl events [--follow]\n"
     "  The leader's event log, newest last: elections, plans, dispatched actions\n"
     "  and their results, and what earlier leaders did (a new leader carries its\n"
     "  predecessor's log over). Asked on any host: the agent asks the leader;\n"
     "  with no leader, this agent's own log. The last 256 events are kept.\n"
     "  --follow keeps printing new ones until interrupted.",
     cmd_events, true},
    {"capacity", "how many more VMs of a size the cluster can take",
     "nodectl capacity [--vcpus N] [--memory SIZE] [--group NAME] [--json]\n"
     "  How many more VMs of N vCPUs (default 1) and SIZE of memory (default 1G;\n"
     "  2G, 512M, 2048 = MiB) the running hosts can take, and how many more with\n"
     "  the hosts that are off woken, under the planner's limits: memory, CPU\n"
     "  within the overcommit limit (a new VM counts at its full size), drained\n"
     "  and failed hosts, spare hosts held back, one VM per host of an\n"
     "  anti-affinity group. Names the resource that runs out first (Ganeti's\n"
     "  hspace). Answered by the leader.",
     cmd_capacity, true},
    {"create", "place a new VM: the leader chooses the host and defines it there",
     "nodectl create DOMAIN.xml [--start] [--policy most-free|power-aware|first-fit]\n"
     "       [--dry-run]\n"
     "  Asks the leader to choose a host for the domain (at most 32767 bytes of\n"
     "  XML, 2560 once deflated; - reads stdin): most-free (default: most free\n"
     "  CPU, memory, disk and network), power-aware (least increase of power draw)\n"
     "  or first-fit (first host by name with room); running hosts first, then a\n"
     "  host that is off, which the leader wakes. The leader defines it there\n"
     "  (and starts it with --start) under its grant; create prints the host and\n"
     "  why, and waits until the host reports it (exit 0) or refused it, or the\n"
     "  leader gave up waking it (exit 1). Refused, naming what is short, when no\n"
     "  host can take it. --dry-run only shows the choice.",
     cmd_create, true},
    {"drain", "evacuate a host for maintenance and keep it empty",
     "nodectl drain HOST [--wait]\n"
     "  Sets HOST's drain flag (through HOST's agent, which keeps it across\n"
     "  restarts) and waits until HOST's record shows it (at most 10 s). The\n"
     "  leader moves its VMs away and never places VMs on it, nor powers it off.\n"
     "  --wait: then shows the evacuation's progress and returns once no VM\n"
     "  runs on HOST (whichever leader moves them); exit 1 if HOST goes away.",
     cmd_drain, true},
    {"undrain", "end a host's maintenance",
     "nodectl undrain HOST\n"
     "  Clears HOST's drain flag (and waits until it shows): it takes VMs again.",
     cmd_drain, true},
    {"keygen", "make a new cluster key",
     "nodectl keygen [FILE]\n"
     "  Prints a new random cluster key (64 hex digits), or writes it to FILE with\n"
     "  mode 0600; an existing FILE is never overwritten. Copy the same key to every\n"
     "  host: as [cluster] key_file (a one-key keyring), or `nodectl keys install`.",
     cmd_keygen, false},
    {"keys", "change the cluster keys of this host's keyring",
     "nodectl keys list [--json]\n"
     "       nodectl keys install KEYFILE     (as `nodectl keygen` writes; - reads stdin)\n"
     "       nodectl keys use KEYID [--force]\n"
     "       nodectl keys remove KEYID [--force]\n"
     "  Acts on this host's keyring ([cluster] keyring_file, 0600) and the running\n"
     "  agent at once; run each step on every host. list shows every key installed\n"
     "  here or on a live member: how many members have it, how many seal with it\n"
     "  (primary), and which lack it. To change the key without downtime: install\n"
     "  the new key on every host; once list shows it on all, use it on every host;\n"
     "  once no host seals with the old one, remove it on every host. use is refused\n"
     "  while a live member lacks the key, remove while a member seals with it\n"
     "  (--force overrides both); the primary key is never removed.",
     cmd_keys, true},
    {"ca", "the cluster's certificate authority (offline)",
     "nodectl ca init DIR\n"
     "       nodectl ca sign --ca DIR [--candidate] [--days N] [-o CERT] HOST PUBKEY\n"
     "  init makes the CA's key pair: DIR/ca.key (secret, 0600: keep it offline, no\n"
     "  agent needs it) and DIR/ca.pub (copy it to every host as [cluster] ca_file);\n"
     "  it prints the public key and never overwrites. sign certifies that PUBKEY\n"
     "  (64 hex digits as `nodectl identity init` prints, or a file holding them) is\n"
     "  host HOST ([node] name), a leader candidate with --candidate (needed by the\n"
     "  hosts in [cluster] candidates), for N days (default 365); it writes CERT (or\n"
     "  standard output): copy it to HOST as [cluster] cert_file.",
     cmd_ca, false},
    {"identity", "this host's signing key and certificate",
     "nodectl [-c FILE] identity init [--key PATH]\n"
     "       nodectl [-c FILE] identity show\n"
     "  init makes this host's Ed25519 signing key ([cluster] host_key_file, or\n"
     "  PATH; mode 0600) unless it exists, and prints its public key for `nodectl ca\n"
     "  sign`. show checks the key, the certificate (cert_file) and the CA (ca_file)\n"
     "  together, as the agent does at start: exit 1 with the problem if they do\n"
     "  not belong together.",
     cmd_identity, false},
    {"hook", "libvirt's qemu hook: refuse what this host's gate keeps out",
     "nodectl [-c FILE] hook qemu DOMAIN OPERATION SUB-OPERATION [EXTRA]\n"
     "  Run by libvirtd (installed as /etc/libvirt/hooks/qemu.d/nodectl; libvirtd\n"
     "  finds hooks when it starts), the domain XML on stdin. Exits 1, saying why on\n"
     "  stderr, for an incoming migration (migrate begin) while this host is drained\n"
     "  or committed to power off, and for any domain start (prepare begin) while it\n"
     "  is committed to power off; libvirt then refuses it. Reads the gate the agent\n"
     "  writes to its state directory (file 'inbound'); exits 0 otherwise. The start\n"
     "  of a protected domain (ha=yes in its XML) is also refused until this host's\n"
     "  agent runs and has reconciled with the cluster (file 'protected').",
     cmd_hook, false},
    {"vm", "set a VM's rules: pinned, anti-affinity group, HA protection",
     "nodectl vm set VM [pinned=yes|no] [group=NAME|group=] [ha=yes|no] [ha_priority=N]\n"
     "  Writes the rules into the domain's <metadata> (namespace\n"
     "  " HV_RULES_NS ") on the host that runs VM,\n"
     "  live and in its persistent definition, and waits until that host's record\n"
     "  shows them. A pinned VM is never moved by the leader; VMs of one group are\n"
     "  never placed on one host. group= (empty) takes VM out of its group. A VM\n"
     "  with ha=yes is protected: when its host fails, the leader restarts it on\n"
     "  another host once the failed one is fenced (docs/ha.md), higher\n"
     "  ha_priority (0-1000, default 0) first; its disks must be on shared storage.",
     cmd_vm, true},
    {"host", "confirm a failed host fenced (HA)",
     "nodectl host fenced HOST\n"
     "  Tells the leader that HOST runs none of its guests (you powered it off, or\n"
     "  checked it): its protected VMs are restarted elsewhere without waiting for\n"
     "  its BMC or its self-fence (docs/ha.md). Refused while HOST answers. Only\n"
     "  say so when it is true: a host that still runs a guest then runs it twice.",
     cmd_host, true},
    {"help", "show help for a command", "nodectl help [COMMAND]", NULL, false},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out) {
    fprintf(out,
            "usage: nodectl [-c FILE | -s SOCKET] [-t MS] COMMAND [ARGS]\n"
            "       nodectl --help | --version\n\n"
            "Peer-to-peer control plane for clusters of libvirt (KVM, Xen) hosts.\n\n"
            "Options:\n"
            "  -c, --config FILE   configuration file (default " CONFIG_DEFAULT_PATH ");\n"
            "                      clients read its control_socket\n"
            "  -s, --socket PATH   the agent's control socket (overrides the file)\n"
            "  -t, --timeout MS    how long a client waits for the agent (default 5000)\n\n"
            "Commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nExit codes: 0 success, 1 failed operation, 2 bad usage or configuration.\n");
}

static const struct command *find(const char *name) {
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static int help(int argc, char **argv) {
    if (argc < 2) {
        usage(stdout);
        return 0;
    }
    const struct command *c = find(argv[1]);
    if (!c) {
        fprintf(stderr, "nodectl help: unknown command '%s'\n", argv[1]);
        return 2;
    }
    printf("usage: %s\n", c->usage);
    return 0;
}

/* The socket a client talks to: --socket, else the config file's, else the
 * default. */
static int resolve_socket(const struct cli_ctx *ctx, const char *socket_opt, struct config *cfg) {
    if (socket_opt) {
        snprintf(cfg->control_socket, sizeof cfg->control_socket, "%s", socket_opt);
        return 0;
    }
    return cli_load_config(ctx, cfg);
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "agent") == 0)
        return agent_main(argc - 1, argv + 1);

    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"socket", required_argument, NULL, 's'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         {NULL, 0, NULL, 0}};
    const char *socket_opt = NULL;
    struct cli_ctx ctx = {.timeout_ms = 5000};
    int opt;
    /* '+': stop at the command, whose own options follow it. */
    while ((opt = getopt_long(argc, argv, "+c:s:t:hV", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': ctx.config_path = optarg; break;
        case 's': socket_opt = optarg; break;
        case 't': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v <= 0 || v > 3600000) {
                fprintf(stderr, "nodectl: --timeout expects milliseconds from 1 to 3600000, "
                                "got '%s'\n", optarg);
                return 2;
            }
            ctx.timeout_ms = (int)v;
            break;
        }
        case 'h': usage(stdout); return 0;
        case 'V': printf("nodectl %s\n", NODECTL_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    int cargc = argc - optind;
    char **cargv = argv + optind;
    const struct command *c = find(cargv[0]);
    if (!c) {
        fprintf(stderr, "nodectl: unknown command '%s' (see: nodectl --help)\n", cargv[0]);
        return 2;
    }
    if (strcmp(c->name, "help") == 0)
        return help(cargc, cargv);
    if (!c->run) {
        fprintf(stderr, "nodectl: '%s' takes no global options; run: nodectl %s\n", c->name,
                c->name);
        return 2;
    }
    if (!c->needs_agent)
        return c->run(&ctx, cargc, cargv);
    struct config cfg;
    if (resolve_socket(&ctx, socket_opt, &cfg) != 0)
        return 2;
    ctx.socket_path = cfg.control_socket;
    return c->run(&ctx, cargc, cargv);
}
