/* nodesim: the deterministic simulator. Dispatches to one
 * subcommand per protocol. */
#include <stdio.h>
#include <string.h>

#include "nodesim.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} commands[] = {
    {"gossip", nodesim_gossip, "SWIM/Lifeguard membership on a simulated network"},
    {"election", nodesim_election, "leader election with gossip, under faults"},
    {"replay", nodesim_replay, "a day of PlanetLab traces through the planner (CloudSim model)"},
    {"cluster", nodesim_cluster, "the agent's code on simulated hosts, hypervisors and faults"},
    {"ha", nodesim_ha, "protected VMs: the run lease, fencing and restarts under faults"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: nodesim COMMAND [options]   (nodesim COMMAND --help)\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "nodesim: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
