/* Wake-on-LAN (AMD's "Magic Packet Technology" white paper, 1995): a frame
 * anywhere in which six 0xFF bytes are followed by the target's MAC address
 * sixteen times wakes a sleeping NIC that has WoL enabled. It is sent as a
 * UDP broadcast (port 9, "discard", by convention) so that it reaches the
 * sleeper's segment without an ARP entry for a host that cannot answer. */
#ifndef NODECTL_WOL_H
#define NODECTL_WOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WOL_PACKET_LEN 102 /* 6 + 16 * 6 */
#define WOL_DEFAULT_PORT 9

/* "aa:bb:cc:dd:ee:ff" (hex digits, either case) to bytes; 0 or -1. */
int wol_parse_mac(const char *text, uint8_t mac[6]);
void wol_format_mac(const uint8_t mac[6], char out[18]);
void wol_magic_packet(const uint8_t mac[6], uint8_t out[WOL_PACKET_LEN]);
/* Whether `to` is "a.b.c.d" or "a.b.c.d:port". */
bool wol_target_valid(const char *to);
/* Sends the magic packet for `mac` to "a.b.c.d[:port]" (port 9 when
 * omitted), with broadcast allowed. 0, or -1 with err saying what failed. */
int wol_send(const char *mac, const char *to, char *err, size_t errlen);

#endif
