/* nodesim subcommands: each takes the arguments after its name (argv[0] is
 * the subcommand) and returns the process exit status. */
#ifndef NODECTL_NODESIM_H
#define NODECTL_NODESIM_H

int nodesim_gossip(int argc, char **argv);
int nodesim_election(int argc, char **argv);
int nodesim_replay(int argc, char **argv); /* sim_replay.c */
int nodesim_cluster(int argc, char **argv); /* sim_cluster.c */
int nodesim_ha(int argc, char **argv);      /* sim_ha.c */

#endif
