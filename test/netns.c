#include "netns.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

int netns_private_loopback(void) {
    if (unshare(CLONE_NEWNET) != 0) {
        perror("unshare(CLONE_NEWNET)");
        return -1;
    }
    if (system("ip link set lo up multicast on && ip route add 224.0.0.0/4 dev lo") != 0) {
        fprintf(stderr, "could not set up loopback multicast in the test namespace\n");
        return -1;
    }
    return 0;
}
