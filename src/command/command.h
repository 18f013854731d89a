/* The command channel's messages (proto/command.proto), decoded once at the
 * edge into flat structs with enums: the form the leader's executor
 * (src/leader/) emits and a host's guard (src/host/) accepts. A command
 * runs only under a grant from its issuer, which bounds it by the issuer's
 * lease on the target's own clock (docs/safety.md). Pure: no I/O. */
#ifndef NODECTL_COMMAND_H
#define NODECTL_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds of every text field; a frame with a longer one is refused whole.
 * They match the agent's own limits (CONFIG_NAME_MAX, HV_NAME_MAX,
 * CONFIG_ADDR_MAX, CONFIG_IPMI_ADDRESS_MAX), so nothing the agent sends is
 * ever cut. */
#define COMMAND_ID_MAX 64
#define COMMAND_NAME_MAX 64
#define COMMAND_VM_MAX 128
#define COMMAND_URI_MAX 256
#define COMMAND_MAC_MAX 18
#define COMMAND_REASON_MAX 256
#define COMMAND_GROUP_MAX 64 /* HV_GROUP_MAX */
#define COMMAND_HA_PRIORITY_MAX 1000 /* HV_HA_PRIORITY_MAX */
/* A new domain's XML: at most COMMAND_XML_MAX - 1 bytes, carried deflated
 * (zlib) in one command frame, at most COMMAND_XMLZ_MAX bytes once
 * deflated (TRANSPORT_PAYLOAD_MAX, about 3 KiB, holds it with the rest).
 * Real guests' XML is 4-8 KiB and deflates 4-6 times (src/command/
 * domain_xml.c). */
#define COMMAND_XML_MAX (32 * 1024)
#define COMMAND_XMLZ_MAX 2560

enum command_kind {
    COMMAND_MIGRATE,   /* the source starts a live migration */
    COMMAND_POWER_OFF, /* the target powers itself off */
    COMMAND_WAKE,      /* the target powers another host on */
    COMMAND_DRAIN,     /* the target sets or clears its drain flag */
    COMMAND_TRANSFER,  /* the target, the leader, hands leadership over */
    COMMAND_VM_RULES,  /* the target writes a VM's placement rules (nodectl vm set) */
    COMMAND_DEFINE,    /* the target defines a new domain (and starts it), or
                        * starts the protected one defined there (in_place) */
};
const char *command_kind_name(enum command_kind k);

struct command_migrate {
    char vm[COMMAND_VM_MAX];
    char destination[COMMAND_NAME_MAX];
    char destination_uri[COMMAND_URI_MAX];
    char migration_address[COMMAND_URI_MAX]; /* "": libvirt's choice */
    uint32_t timeout_ms;                     /* 0: the target's own */
};

struct command_wake {
    char host[COMMAND_NAME_MAX];          /* the host to wake, for reports */
    char mac[COMMAND_MAC_MAX];            /* Wake-on-LAN; "" with ipmi_address */
    char broadcast[COMMAND_NAME_MAX];     /* a.b.c.d:port */
    char ipmi_address[COMMAND_NAME_MAX];  /* host[:port] of its BMC; "": Wake-on-LAN */
};

struct command_vm_rules {
    char vm[COMMAND_VM_MAX];
    bool set_pinned, pinned;
    bool set_group;
    char group[COMMAND_GROUP_MAX]; /* with set_group: "" leaves the group */
    bool set_ha, ha;               /* protected (docs/ha.md) */
    bool set_ha_priority;
    uint32_t ha_priority;          /* 0..COMMAND_HA_PRIORITY_MAX */
};

struct command_define {
    char name[COMMAND_VM_MAX];
    uint8_t xmlz[COMMAND_XMLZ_MAX]; /* the XML, deflated (domain_xml_deflate) */
    size_t xmlz_len;  /* 0 with in_place */
    bool start;       /* set with in_place */
    bool in_place;    /* start the protected domain `name` defined there */
};

struct command {
    char id[COMMAND_ID_MAX]; /* unique; a host runs one id once */
    uint64_t term;           /* the issuer's; refused below a host's fence */
    char issuer[COMMAND_NAME_MAX];
    char target[COMMAND_NAME_MAX]; /* the host that must carry it out */
    bool by_operator;              /* granted by the issuer's agent without a lease */
    enum command_kind kind;
    union {
        struct command_migrate migrate;
        struct command_wake wake;
        struct command_define define;
        bool drain;
        char transfer_to[COMMAND_NAME_MAX]; /* "": the preferred candidate */
        struct command_vm_rules vm_rules;
    };
};

/* target -> issuer: may I act on `id` now? The nonce is fresh per request. */
struct grant_request {
    char id[COMMAND_ID_MAX];
    char target[COMMAND_NAME_MAX];
    uint64_t term;
    uint64_t nonce;
};

/* issuer -> target: the answer, echoing the request's nonce. Granted, the
 * target may act while its own clock is before the moment it asked plus
 * valid_ms * (1 - rho). */
struct grant {
    char id[COMMAND_ID_MAX];
    char target[COMMAND_NAME_MAX];
    uint64_t term;
    uint64_t nonce;
    bool granted;
    uint32_t valid_ms;
    char reason[COMMAND_REASON_MAX]; /* why refused */
};

/* host -> leader: renew my run lease (the self-fence lease, docs/ha.md). */
struct fence_renew {
    char host[COMMAND_NAME_MAX];
    uint64_t nonce;
};

/* leader -> host: the answer, echoing the nonce. Granted, the host's run
 * lease lasts until the moment it asked plus valid_ms * (1 - rho) on its
 * own clock; refused with `fenced`, the leader counts the host as fencing
 * itself. */
struct fence_renewed {
    char host[COMMAND_NAME_MAX];
    uint64_t term;
    uint64_t nonce;
    bool granted;
    uint32_t valid_ms;
    bool fenced;
    bool show_term; /* the leader waits for this host's record to show its term */
    char reason[COMMAND_REASON_MAX];
};

/* host -> candidates: a protected VM's definition, (epoch, seq) ordering
 * one host's copies. */
struct definition_put {
    char vm[COMMAND_VM_MAX];
    char host[COMMAND_NAME_MAX];
    uint64_t epoch, seq;
    char xml[COMMAND_XML_MAX];
    /* On the wire the XML travels deflated (domain_xml_deflate): xml is
     * "" in a decoded message with xmlz_len > 0, and the receiver inflates
     * it; an encoded message carries xmlz when xmlz_len > 0, else xml. */
    uint8_t xmlz[COMMAND_XMLZ_MAX];
    size_t xmlz_len;
};

enum command_msg_kind {
    COMMAND_MSG_COMMAND, COMMAND_MSG_ASK, COMMAND_MSG_GRANT, COMMAND_MSG_RENEW,
    COMMAND_MSG_RENEWED, COMMAND_MSG_DEFINITION
};

/* One frame of the command channel. */
struct command_msg {
    enum command_msg_kind kind;
    union {
        struct command command;
        struct grant_request ask;
        struct grant grant;
        struct fence_renew renew;
        struct fence_renewed renewed;
        struct definition_put definition;
    };
};

/* Decodes one frame: 0, or -1 with `why` naming what is malformed, missing
 * or too long (the whole frame is then refused). */
int command_msg_decode(const uint8_t *data, size_t len, struct command_msg *out, char *why,
                       size_t whylen);
/* Encodes into a malloc'd buffer (*out, *len); -1 when out of memory. */
int command_msg_encode(const struct command_msg *m, uint8_t **out, size_t *len);

/* "migrate web-1 to n3", "power-off", "wake n4", "drain", "undrain",
 * "leadership transfer to n2", "rules of web-1: pinned=yes group=db": for
 * logs and reports. */
void command_describe(const struct command *c, char *out, size_t len);

#endif
