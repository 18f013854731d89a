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
 * is not a unit libvirt knows", "the XML is 9000 bytes; at most 2559"). */
int domain_xml_parse(const char *xml, size_t len, struct domain_spec *out, char *why,
                     size_t whylen);

#endif
