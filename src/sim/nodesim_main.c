/* nodesim: runs nodectl's protocol code in one deterministic process. */
#include <stdio.h>
#include <string.h>

#include "sim/sim.h"

static const struct {
    const char *name;
    int (*main)(int argc, char **argv);
    const char *help;
} commands[] = {
    {"replay", sim_replay_main, "replay a day of PlanetLab traces through the planner"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: nodesim COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].main(argc - 1, argv + 1);
    fprintf(stderr, "nodesim: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
