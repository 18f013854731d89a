/* `nodectl agent`: the daemon every host runs, and the only part of nodectl
 * that does I/O (sockets, clock, disk, libvirt). */
#ifndef NODECTL_AGENT_H
#define NODECTL_AGENT_H

/* Runs the agent in the foreground until SIGTERM or SIGINT. Returns the
 * process exit code: 0 after a clean stop, 1 when it could not run, 2 for a
 * bad command line or configuration. */
int agent_main(int argc, char **argv);

#endif
