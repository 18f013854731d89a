#include "wol.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int wol_parse_mac(const char *text, uint8_t mac[6]) {
    if (strlen(text) != 17)
        return -1;
    for (size_t i = 0; i < 6; i++) {
        const char *p = text + 3 * i;
        if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]) ||
            (i < 5 && p[2] != ':'))
            return -1;
        char byte[3] = {p[0], p[1], '\0'};
        mac[i] = (uint8_t)strtoul(byte, NULL, 16);
    }
    return 0;
}

void wol_format_mac(const uint8_t mac[6], char out[18]) {
    snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
             mac[5]);
}

void wol_magic_packet(const uint8_t mac[6], uint8_t out[WOL_PACKET_LEN]) {
    memset(out, 0xff, 6);
    for (size_t i = 0; i < 16; i++)
        memcpy(out + 6 + 6 * i, mac, 6);
}

/* "a.b.c.d" or "a.b.c.d:port". */
static int parse_target(const char *to, struct sockaddr_in *sa) {
    char host[INET_ADDRSTRLEN];
    const char *colon = strchr(to, ':');
    size_t n = colon ? (size_t)(colon - to) : strlen(to);
    unsigned long port = WOL_DEFAULT_PORT;
    if (n == 0 || n >= sizeof host)
        return -1;
    memcpy(host, to, n);
    host[n] = '\0';
    if (colon) {
        char *end;
        errno = 0;
        port = strtoul(colon + 1, &end, 10);
        if (errno || *end || colon[1] == '\0' || port == 0 || port > 65535)
            return -1;
    }
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

bool wol_target_valid(const char *to) {
    struct sockaddr_in sa;
    return parse_target(to, &sa) == 0;
}

int wol_send(const char *mac, const char *to, char *err, size_t errlen) {
    uint8_t m[6], pkt[WOL_PACKET_LEN];
    struct sockaddr_in sa;
    if (wol_parse_mac(mac, m) != 0) {
        snprintf(err, errlen, "'%s' is not a MAC address", mac);
        return -1;
    }
    if (parse_target(to, &sa) != 0) {
        snprintf(err, errlen, "'%s' is not an IPv4 address with an optional port", to);
        return -1;
    }
    wol_magic_packet(m, pkt);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), on = 1;
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int rc = 0;
    if (setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &on, sizeof on) != 0) {
        snprintf(err, errlen, "SO_BROADCAST: %s", strerror(errno));
        rc = -1;
    } else if (sendto(fd, pkt, sizeof pkt, 0, (struct sockaddr *)&sa, sizeof sa) !=
               (ssize_t)sizeof pkt) {
        snprintf(err, errlen, "sending the magic packet to %s: %s", to, strerror(errno));
        rc = -1;
    }
    close(fd);
    return rc;
}
