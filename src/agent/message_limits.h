/* Every bound the agent puts on the messages it decodes, in one place
 * (docs/security.md, "Bounded before anything is believed"): host records
 * from gossip, requests on the control socket, and what it checks of a
 * command beyond the lengths command_msg_decode bounds (COMMAND_*_MAX in
 * src/command/command.h). Each bound is the size of the buffer the value
 * lands in, which the sender's own fields cannot exceed, so a message a
 * real agent builds always passes; message_check.c refuses the rest
 * whole. */
#ifndef NODECTL_MESSAGE_LIMITS_H
#define NODECTL_MESSAGE_LIMITS_H

#include "command/command.h"
#include "common/config.h"
#include "hv/hv.h"
#include "net/frame.h"
#include "net/keyring.h"

/* Text, including the terminating NUL, as in the C strings it is copied to. */
#define MSG_NAME_MAX CONFIG_NAME_MAX       /* host names: [node] name, leader, destinations */
#define MSG_ADDR_MAX FRAME_ADDR_MAX         /* host:port an agent advertises */
#define MSG_VM_NAME_MAX HV_NAME_MAX         /* a VM name as libvirt's sampler keeps it */
#define MSG_URI_MAX HV_URI_MAX              /* libvirt URIs: hypervisor, migration, data */
#define MSG_REASON_MAX HV_REASON_MAX        /* libvirt's error text, a refusal's reason */
#define MSG_CANDIDATE_MAX CONFIG_ADDR_MAX   /* an item of [cluster] candidates, as written */
#define MSG_ID_MAX COMMAND_ID_MAX           /* a command id: a UUID (36) with room */
#define MSG_WORD_MAX 16                     /* a migration's state or kind ("power-off") */
#define MSG_MAC_MAX 18                      /* aa:bb:cc:dd:ee:ff */
#define MSG_IPMI_MAX CONFIG_IPMI_ADDRESS_MAX /* a BMC's host[:port] */
#define MSG_GROUP_MAX HV_GROUP_MAX          /* a VM's anti-affinity group (hv_group_valid) */
#define MSG_DIGEST_MAX 17                   /* a policy digest: 16 hexadecimal digits */
#define MSG_UUID_BYTES 16
#define MSG_KEY_ID_MAX KEYRING_ID_TEXT      /* a cluster key's id: 8 hexadecimal digits */
#define MSG_CREATE_XMLZ_MAX COMMAND_XMLZ_MAX /* a new domain's XML, deflated: one command */
#define MSG_VCPUS_MAX 4096                  /* nodectl capacity: a VM's vCPUs (KVM's limit) */
#define MSG_MEMORY_KIB_MAX (1ull << 34)     /* and its memory: 16 TiB */

/* Repeated fields of a host record. A host publishes at most ACTIONS_MAX
 * (32) actions, the candidate list of its configuration (CONFIG_LIST_MAX)
 * and the ids of its keyring's keys (KEYRING_MAX). VMs: far more than a host runs (hundreds at most),
 * and 4,096 VMs of about 220 bytes each (a 63-character anti-affinity group
 * included) still fit GOSSIP_RECORD_MAX. */
#define MSG_RECORD_VMS_MAX 4096
#define MSG_RECORD_ACTIONS_MAX 32
#define MSG_RECORD_CANDIDATES_MAX CONFIG_LIST_MAX
#define MSG_RECORD_KEYS_MAX KEYRING_MAX     /* the keys a keyring holds */
/* The hosts the leader's record shows fenced (HA): it publishes at most
 * that many (agent_ha_fenced_to_record), the first it fenced. */
#define MSG_RECORD_FENCED_MAX 64
/* The hosts whose "off" the leader's probes disproved: it probes at most
 * OFFCHECK_MAX (1024, agent_internal.h) off hosts. */
#define MSG_RECORD_OFF_CHECKS_MAX 1024

/* A migration's own timeout, if the command sets one: a day. A longer
 * migration is stuck, and the agent's [hypervisor] migration_timeout
 * applies when it is 0. */
#define MSG_MIGRATION_TIMEOUT_MAX (24u * 3600 * 1000)

#endif
