/* domain_xml.h, with libxml2 (which libvirt itself parses domains with):
 * no network, no entity substitution, and a document with a DTD refused
 * before anything is read from it. */
#include "domain_xml.h"

#include <errno.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

/* libvirt's memory units (formatdomain.html, "Memory Allocation"). */
static int unit_kib(const char *unit, double *per_kib) {
    static const struct { const char *name; double kib; } units[] = {
        {"b", 1.0 / 1024}, {"bytes", 1.0 / 1024}, {"KB", 1000.0 / 1024}, {"k", 1},
        {"KiB", 1}, {"MB", 1e6 / 1024}, {"M", 1024}, {"MiB", 1024},
        {"GB", 1e9 / 1024}, {"G", 1024.0 * 1024}, {"GiB", 1024.0 * 1024},
        {"TB", 1e12 / 1024}, {"T", 1024.0 * 1024 * 1024}, {"TiB", 1024.0 * 1024 * 1024},
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(unit, units[i].name) == 0) {
            *per_kib = units[i].kib;
            return 0;
        }
    return -1;
}

static xmlNode *child(xmlNode *parent, const char *name) {
    for (xmlNode *n = parent->children; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0)
            return n;
    return NULL;
}

/* The element's text as a positive integer; -1 when it is not one. */
static int number(xmlNode *n, unsigned long long *out) {
    xmlChar *text = xmlNodeGetContent(n);
    char *end;
    errno = 0;
    unsigned long long v = text ? strtoull((const char *)text, &end, 10) : 0;
    int rc = text && end != (char *)text && *end == '\0' && !errno && v > 0 ? 0 : -1;
    xmlFree(text);
    *out = v;
    return rc;
}

static int parse(xmlDoc *doc, struct domain_spec *out, char *why, size_t whylen) {
    xmlNode *root = xmlDocGetRootElement(doc);
    if (doc->intSubset || doc->extSubset) {
        snprintf(why, whylen, "the XML has a DTD (<!DOCTYPE>); a domain needs none");
        return -1;
    }
    if (!root || strcmp((const char *)root->name, "domain") != 0) {
        snprintf(why, whylen, "the root element is not <domain>");
        return -1;
    }
    xmlNode *name = child(root, "name"), *mem = child(root, "memory"), *vcpu = child(root, "vcpu");
    if (!name) {
        snprintf(why, whylen, "<domain> has no <name>");
        return -1;
    }
    xmlChar *text = xmlNodeGetContent(name);
    size_t n = text ? strlen((const char *)text) : 0;
    bool ok = n > 0 && n < sizeof out->name;
    for (size_t i = 0; ok && i < n; i++)
        ok = text[i] >= 0x20 && text[i] != 0x7f && text[i] != '/';
    if (ok)
        memcpy(out->name, text, n + 1);
    xmlFree(text);
    if (!ok) {
        snprintf(why, whylen, "<name> must be 1 to %zu characters, without '/' or control "
                 "characters", sizeof out->name - 1);
        return -1;
    }
    unsigned long long v;
    if (!mem || number(mem, &v) != 0) {
        snprintf(why, whylen, "<memory> is missing or not a positive integer");
        return -1;
    }
    xmlChar *unit = xmlGetProp(mem, (const xmlChar *)"unit");
    double per_kib = 1;
    int rc = unit ? unit_kib((const char *)unit, &per_kib) : 0;
    if (rc != 0)
        snprintf(why, whylen, "<memory unit='%.16s'> is not a unit libvirt knows", unit);
    xmlFree(unit);
    if (rc != 0)
        return -1;
    double kib = (double)v * per_kib;
    if (kib < 1 || kib > 1e15) {
        snprintf(why, whylen, "<memory> of %.0f KiB is out of range", kib);
        return -1;
    }
    out->memory_kib = (uint64_t)kib;
    out->vcpus = 1;
    if (vcpu) {
        if (number(vcpu, &v) != 0 || v > 4096) {
            snprintf(why, whylen, "<vcpu> must be an integer from 1 to 4096");
            return -1;
        }
        out->vcpus = (uint32_t)v;
    }
    return 0;
}

int domain_xml_parse(const char *xml, size_t len, struct domain_spec *out, char *why,
                     size_t whylen) {
    memset(out, 0, sizeof *out);
    if (len >= COMMAND_XML_MAX) {
        snprintf(why, whylen, "the domain XML is %zu bytes; at most %d fit a command (leave out "
                 "what libvirt fills in itself)", len, COMMAND_XML_MAX - 1);
        return -1;
    }
    if (memchr(xml, '\0', len)) {
        snprintf(why, whylen, "the domain XML contains a NUL byte");
        return -1;
    }
    xmlDoc *doc = xmlReadMemory(xml, (int)len, "domain.xml", NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc) {
        const xmlError *e = xmlGetLastError();
        snprintf(why, whylen, "the domain XML is not well formed%s%.120s", e ? ": " : "",
                 e && e->message ? e->message : "");
        size_t w = strlen(why);
        if (w && why[w - 1] == '\n')
            why[w - 1] = '\0';
        return -1;
    }
    int rc = parse(doc, out, why, whylen);
    xmlFreeDoc(doc);
    return rc;
}

int domain_xml_deflate(const char *xml, size_t len, uint8_t out[COMMAND_XMLZ_MAX], size_t *out_len,
                       char *why, size_t whylen) {
    if (len >= COMMAND_XML_MAX) {
        snprintf(why, whylen, "the domain XML is %zu bytes; at most %d fit a command", len,
                 COMMAND_XML_MAX - 1);
        return -1;
    }
    uLongf n = COMMAND_XMLZ_MAX;
    int rc = compress2(out, &n, (const Bytef *)xml, (uLong)len, Z_BEST_COMPRESSION);
    if (rc == Z_BUF_ERROR) {
        snprintf(why, whylen, "the domain XML (%zu bytes) deflates to more than the %d bytes a "
                 "command carries (leave out what libvirt fills in itself)", len,
                 COMMAND_XMLZ_MAX);
        return -1;
    }
    if (rc != Z_OK) {
        snprintf(why, whylen, "deflating the domain XML: %s", zError(rc));
        return -1;
    }
    *out_len = n;
    return 0;
}

int domain_xml_inflate(const uint8_t *z, size_t zlen, char out[COMMAND_XML_MAX], size_t *len,
                       char *why, size_t whylen) {
    z_stream s = {.next_in = (Bytef *)z, .avail_in = (uInt)zlen, .next_out = (Bytef *)out,
                  .avail_out = COMMAND_XML_MAX - 1};
    if (zlen > COMMAND_XMLZ_MAX || inflateInit(&s) != Z_OK) {
        snprintf(why, whylen, "the deflated domain XML is %zu bytes; at most %d", zlen,
                 COMMAND_XMLZ_MAX);
        return -1;
    }
    int rc = inflate(&s, Z_FINISH);
    size_t n = COMMAND_XML_MAX - 1 - s.avail_out;
    inflateEnd(&s);
    if (rc == Z_STREAM_END) {
        out[n] = '\0';
        *len = n;
        return 0;
    }
    if (rc == Z_BUF_ERROR && s.avail_out == 0)
        snprintf(why, whylen, "the domain XML inflates to more than %d bytes",
                 COMMAND_XML_MAX - 1);
    else
        snprintf(why, whylen, "the deflated domain XML is not whole zlib data%s%s",
                 s.msg ? ": " : "", s.msg ? s.msg : "");
    return -1;
}
