/* Every bound gossip puts on what a peer sends, in one place
 * (docs/security.md, "Bounded before anything is believed"). A packet that
 * exceeds a count limit is refused whole: no node of ours builds one (the
 * packet builders in gossip_wire.c stop at the same limits), so only a
 * broken or malicious peer sends it. An entry with a bad value is skipped.
 * Each refusal is counted by reason (enum gossip_reject). */
#ifndef NODECTL_GOSSIP_LIMITS_H
#define NODECTL_GOSSIP_LIMITS_H

/* Bytes of one packet as received: packet_max may be configured up to this
 * (gossip_config_check), and a node must take the packets of a peer
 * configured larger than itself. Also bounds what decoding allocates. */
#define GOSSIP_PACKET_LIMIT 65000u

/* Entries of one packet. Member entries take at least 20 bytes packed (id,
 * 16-byte address, port), so a 1,400-byte packet holds about 50: 64 leaves
 * room for larger packet_max values without letting one packet add
 * thousands of members. Records: a piece is GOSSIP_CHUNK bytes, so 16 fill
 * a 16 KiB packet; announcements are smaller but rarely many at once. A
 * want list names member ids, 10 bytes each: 64 fit in a default packet. */
#define GOSSIP_PKT_MEMBERS 64
#define GOSSIP_PKT_RECORDS 16
#define GOSSIP_PKT_WANT 64

/* Members this node keeps, self included: 6.5 times the largest cluster
 * simulated (bench/gossip.sh runs 10,000), so a peer inventing ids cannot
 * grow the table, and the memory it costs, without bound. */
#define GOSSIP_MEMBERS_MAX 65536u

/* Bytes of one record (a host record lists its VMs and recent actions:
 * a few hundred bytes per VM) and of wake information (the agent's packed
 * Power: a MAC, a broadcast address, a BMC address). */
#define GOSSIP_RECORD_MAX (1u << 20)
#define GOSSIP_WAKE_MAX 128

/* Record pieces have a fixed size so reassembly needs only a bitmap. */
#define GOSSIP_CHUNK 1024
/* Records fetched at once, each holding up to GOSSIP_RECORD_MAX bytes
 * while it is collected: at most 32 MiB in flight, whoever asks for it. */
#define GOSSIP_REASSEMBLY_MAX 32
/* Ping-reqs relayed at once; past this the request is dropped (the
 * requester asked several relays). */
#define GOSSIP_RELAYS_MAX 64

#endif
