/* A new domain's XML checked at the edge (nodectl create): bounded, well
 * formed, no DTD (so no entity can expand), a <domain> with a name, its
 * memory and vCPUs, which the leader places by. libvirt checks the rest
 * when the chosen host defines it. Pure: parses a buffer, no I/O. */
#ifndef NODECTL_DOMAIN_XML_H
#define NODECTL_DOMAIN_XML_H

#include <stddef.h>
#include <stdint.h>

#include "command/command.h"

struct domain_spec {
    char name[COMMAND_VM_MAX];
    uint32_t vcpus;      /* <vcpu>, 1 when absent (libvirt's default) */
    uint64_t memory_kib; /* <memory> in KiB, whatever its unit */
};

/* 0, or -1 with why naming what is wrong ("no <name>", "<memory unit='x'>
 * is not a unit libvirt knows", "the XML is 40000 bytes; at most 32767"). */
int domain_xml_parse(const char *xml, size_t len, struct domain_spec *out, char *why,
                     size_t whylen);

/* The XML travels deflated with zlib (RFC 1950): real guests' XML (4-8 KiB)
 * is larger than one command frame, and deflates 4-6 times; zlib is the
 * well-kept library every Debian host has. Deflates xml (len < COMMAND_XML_MAX)
 * into out[COMMAND_XMLZ_MAX]: its length, or -1 with why when even deflated
 * it does not fit. */
int domain_xml_deflate(const char *xml, size_t len, uint8_t out[COMMAND_XMLZ_MAX], size_t *out_len,
                       char *why, size_t whylen);
/* Inflates z into out[COMMAND_XML_MAX], NUL-terminated: 0, or -1 with why
 * (not zlib data, cut short, or more than COMMAND_XML_MAX - 1 bytes, where
 * inflating stops: a small input cannot make it write more). */
int domain_xml_inflate(const uint8_t *z, size_t zlen, char out[COMMAND_XML_MAX], size_t *len,
                       char *why, size_t whylen);

#endif
