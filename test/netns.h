/* Moves the calling test process into a network namespace of its own, with
 * loopback up and able to carry multicast (lo lacks the MULTICAST flag and a
 * multicast route by default). Every address a test uses afterwards is inside
 * that namespace. Returns 0, or -1 if the process may not (not root). */
#ifndef NODECTL_NETNS_H
#define NODECTL_NETNS_H

int netns_private_loopback(void);

#endif
