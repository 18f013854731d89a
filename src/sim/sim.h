/* nodesim subcommands. Each takes the arguments after its name and returns
 * the process exit status. Add a subcommand: a file sim_<name>.c with its
 * main, a line in nodesim_main.c's table, and the file in src/CMakeLists.txt. */
#ifndef NODECTL_SIM_H
#define NODECTL_SIM_H

int sim_replay_main(int argc, char **argv);

#endif
