/* The command channel's frames (src/command/): every message survives the
 * wire, a field longer than its bound refuses the whole frame with the
 * field's name, and junk is refused; the issuer's grants for an operator's
 * command are given once, inside its window. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "command.pb-c.h"
#include "agent/message_check.h"
#include "command/domain_xml.h"
#include "net/transport.h"
#include "command/issued.h"

static struct command_msg roundtrip(const struct command_msg *m) {
    uint8_t *buf;
    size_t len;
    assert_int_equal(command_msg_encode(m, &buf, &len), 0);
    struct command_msg back;
    char why[128];
    assert_int_equal(command_msg_decode(buf, len, &back, why, sizeof why), 0);
    free(buf);
    return back;
}

static void every_message_survives_the_wire(void **state) {
    struct command_msg m = {.kind = COMMAND_MSG_COMMAND};
    struct command *c = &m.command;
    snprintf(c->id, sizeof c->id, "id-1");
    c->term = 12;
    snprintf(c->issuer, sizeof c->issuer, "n1");
    snprintf(c->target, sizeof c->target, "n2");
    c->by_operator = true;
    c->kind = COMMAND_MIGRATE;
    snprintf(c->migrate.vm, sizeof c->migrate.vm, "web-1");
    snprintf(c->migrate.destination, sizeof c->migrate.destination, "n3");
    snprintf(c->migrate.destination_uri, sizeof c->migrate.destination_uri, "qemu+tcp://n3/system");
    c->migrate.timeout_ms = 5000;
    struct command_msg b = roundtrip(&m);
    assert_int_equal(b.kind, COMMAND_MSG_COMMAND);
    assert_memory_equal(&b.command, c, sizeof *c);
    static const enum command_kind kinds[] = {COMMAND_POWER_OFF, COMMAND_WAKE, COMMAND_DRAIN,
                                              COMMAND_TRANSFER, COMMAND_VM_RULES};
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
        memset(&c->migrate, 0, sizeof c->migrate);
        c->kind = kinds[i];
        if (c->kind == COMMAND_WAKE) {
            snprintf(c->wake.host, sizeof c->wake.host, "n4");
            snprintf(c->wake.ipmi_address, sizeof c->wake.ipmi_address, "10.0.0.4:623");
        } else if (c->kind == COMMAND_DRAIN) {
            c->drain = true;
        } else if (c->kind == COMMAND_TRANSFER) {
            snprintf(c->transfer_to, sizeof c->transfer_to, "n2");
        } else if (c->kind == COMMAND_VM_RULES) {
            snprintf(c->vm_rules.vm, sizeof c->vm_rules.vm, "db-a");
            c->vm_rules.set_pinned = c->vm_rules.pinned = c->vm_rules.set_group = true;
            snprintf(c->vm_rules.group, sizeof c->vm_rules.group, "db");
            c->vm_rules.set_ha = c->vm_rules.ha = c->vm_rules.set_ha_priority = true;
            c->vm_rules.ha_priority = 1000;
        }
        b = roundtrip(&m);
        assert_memory_equal(&b.command, c, sizeof *c);
    }
    struct command_msg ask = {.kind = COMMAND_MSG_ASK,
                              .ask = {.id = "id-1", .target = "n2", .term = 12, .nonce = 77}};
    b = roundtrip(&ask);
    assert_int_equal(b.kind, COMMAND_MSG_ASK);
    assert_memory_equal(&b.ask, &ask.ask, sizeof ask.ask);
    struct command_msg gr = {.kind = COMMAND_MSG_GRANT,
                             .grant = {.id = "id-1", .target = "n2", .term = 12, .nonce = 77,
                                       .granted = true, .valid_ms = 321, .reason = ""}};
    b = roundtrip(&gr);
    assert_memory_equal(&b.grant, &gr.grant, sizeof gr.grant);
    struct command_msg rn = {.kind = COMMAND_MSG_RENEW, .renew = {.host = "n3", .nonce = 5}};
    b = roundtrip(&rn);
    assert_int_equal(b.kind, COMMAND_MSG_RENEW);
    assert_memory_equal(&b.renew, &rn.renew, sizeof rn.renew);
    struct command_msg rd = {.kind = COMMAND_MSG_RENEWED,
                             .renewed = {.host = "n3", .term = 4, .nonce = 5, .fenced = true,
                                         .show_term = true, .reason = "fenced"}};
    b = roundtrip(&rd);
    assert_int_equal(b.kind, COMMAND_MSG_RENEWED);
    assert_memory_equal(&b.renewed, &rd.renewed, sizeof rd.renewed);
    struct command_msg df = {.kind = COMMAND_MSG_DEFINITION,
                             .definition = {.vm = "db-a", .host = "n3", .epoch = 9, .seq = 2,
                                            .xml = "<domain><name>db-a</name></domain>"}};
    b = roundtrip(&df);
    assert_int_equal(b.kind, COMMAND_MSG_DEFINITION);
    assert_memory_equal(&b.definition, &df.definition, sizeof df.definition);
    (void)state;
}

static void bad_frames_are_refused_with_a_reason(void **state) {
    char why[128], long_vm[300];
    struct command_msg out;
    memset(long_vm, 'v', sizeof long_vm - 1);
    long_vm[sizeof long_vm - 1] = '\0';
    Nodectl__MigrateCommand mc = NODECTL__MIGRATE_COMMAND__INIT;
    mc.vm = long_vm;
    Nodectl__Command cmd = NODECTL__COMMAND__INIT;
    cmd.id = "x";
    cmd.body_case = NODECTL__COMMAND__BODY_MIGRATE;
    cmd.migrate = &mc;
    Nodectl__CommandMsg msg = NODECTL__COMMAND_MSG__INIT;
    msg.body_case = NODECTL__COMMAND_MSG__BODY_COMMAND;
    msg.command = &cmd;
    uint8_t buf[1024];
    size_t len = nodectl__command_msg__pack(&msg, buf);
    assert_int_equal(command_msg_decode(buf, len, &out, why, sizeof why), -1);
    assert_string_equal(why, "migrate.vm is 299 bytes long, more than 127");
    mc.vm = "ok";
    cmd.id = "";
    len = nodectl__command_msg__pack(&msg, buf);
    assert_int_equal(command_msg_decode(buf, len, &out, why, sizeof why), -1);
    assert_string_equal(why, "a command without an id");
    cmd.id = "x";
    cmd.body_case = NODECTL__COMMAND__BODY__NOT_SET;
    len = nodectl__command_msg__pack(&msg, buf);
    assert_int_equal(command_msg_decode(buf, len, &out, why, sizeof why), -1);
    assert_string_equal(why, "command x has no action this version knows");
    msg.body_case = NODECTL__COMMAND_MSG__BODY__NOT_SET;
    len = nodectl__command_msg__pack(&msg, buf);
    assert_int_equal(command_msg_decode(buf, len, &out, why, sizeof why), -1);
    assert_string_equal(why, "an empty command message");
    static const uint8_t junk[] = {0xff, 0xff, 0xff};
    assert_int_equal(command_msg_decode(junk, sizeof junk, &out, why, sizeof why), -1);
    assert_string_equal(why, "does not decode");
    (void)state;
}

/* A VM's rules are bounded where they are decoded: a group that is not a
 * group name refuses the command, or the whole record that carries it. */
static void rules_out_of_bounds_are_refused(void **state) {
    (void)state;
    struct command c = {.kind = COMMAND_VM_RULES};
    enum message_reject why;
    snprintf(c.id, sizeof c.id, "id-2");
    snprintf(c.issuer, sizeof c.issuer, "n1");
    snprintf(c.vm_rules.vm, sizeof c.vm_rules.vm, "db-a");
    c.vm_rules.set_group = true;
    snprintf(c.vm_rules.group, sizeof c.vm_rules.group, "db");
    assert_null(message_check_command(&c, &why));
    c.vm_rules.set_ha_priority = true;
    c.vm_rules.ha_priority = 1001;
    assert_string_equal(message_check_command(&c, &why), "vm_rules.ha_priority");
    c.vm_rules.ha_priority = 1000;
    assert_null(message_check_command(&c, &why));
    snprintf(c.vm_rules.group, sizeof c.vm_rules.group, "d\nb");
    assert_string_equal(message_check_command(&c, &why), "vm_rules.group");
    c.vm_rules.vm[0] = '\0';
    assert_string_equal(message_check_command(&c, &why), "vm_rules.vm");
    Nodectl__HostRecord r = NODECTL__HOST_RECORD__INIT;
    Nodectl__Vm vm = NODECTL__VM__INIT, *vms[1] = {&vm};
    r.name = "n1";
    r.vms = vms;
    r.n_vms = 1;
    vm.name = "db-a";
    vm.group = "db";
    assert_null(message_check_record(&r, &why));
    vm.group = "db/../etc";
    assert_string_equal(message_check_record(&r, &why), "vms.group");
    vm.group = "";
    r.policy_digest = "0123456789abcdef0";
    assert_string_equal(message_check_record(&r, &why), "policy_digest");
    r.policy_digest = "";
    /* The leader's fenced hosts (HA): named, a word of evidence, bounded. */
    Nodectl__HaFenced f = NODECTL__HA_FENCED__INIT, *fs[MSG_RECORD_FENCED_MAX + 1];
    for (size_t i = 0; i <= MSG_RECORD_FENCED_MAX; i++)
        fs[i] = &f;
    r.ha_fenced = fs;
    r.n_ha_fenced = 1;
    f.host = "n2";
    f.evidence = "bmc";
    assert_null(message_check_record(&r, &why));
    f.evidence = "a-word-far-too-long-to-be-one";
    assert_string_equal(message_check_record(&r, &why), "ha_fenced.evidence");
    f.evidence = "";
    f.host = "";
    assert_string_equal(message_check_record(&r, &why), "ha_fenced.host");
    f.host = "n2";
    r.n_ha_fenced = MSG_RECORD_FENCED_MAX + 1;
    assert_string_equal(message_check_record(&r, &why), "ha_fenced");
    r.n_ha_fenced = 0;
    /* The hosts whose "off" the leader disproved: named, a bounded
     * reason, at most as many as it probes. */
    static Nodectl__OffCheck oc = NODECTL__OFF_CHECK__INIT, *ocs[MSG_RECORD_OFF_CHECKS_MAX + 1];
    for (size_t i = 0; i <= MSG_RECORD_OFF_CHECKS_MAX; i++)
        ocs[i] = &oc;
    r.off_checks = ocs;
    r.n_off_checks = 1;
    oc.host = "n3";
    oc.reason = "its BMC says the power is on";
    assert_null(message_check_record(&r, &why));
    oc.host = "";
    assert_string_equal(message_check_record(&r, &why), "off_checks.host");
    oc.host = "n3";
    char long_reason[MSG_REASON_MAX + 2];
    memset(long_reason, 'x', sizeof long_reason - 1);
    long_reason[sizeof long_reason - 1] = '\0';
    oc.reason = long_reason;
    assert_string_equal(message_check_record(&r, &why), "off_checks.reason");
    oc.reason = "";
    r.n_off_checks = MSG_RECORD_OFF_CHECKS_MAX + 1;
    assert_string_equal(message_check_record(&r, &why), "off_checks");
}

static void operator_commands_are_granted_once_in_their_window(void **state) {
    struct issued t;
    issued_clear(&t);
    struct command c = {.id = "op-1", .term = 3, .target = "n2", .by_operator = true};
    issued_add(&t, &c, 1000, 0);
    struct grant_request req = {.id = "op-1", .target = "n2", .term = 3, .nonce = 5};
    struct grant g;
    issued_grant_operator(&t, &req, 1000 + OPERATOR_VALID_MS - 10, OPERATOR_VALID_MS, 20, &g);
    assert_false(g.granted);
    assert_non_null(strstr(g.reason, "older than 30 s"));
    issued_grant_operator(&t, &req, 1500, OPERATOR_VALID_MS, 20, &g);
    assert_true(g.granted);
    assert_int_equal(g.nonce, 5);
    assert_int_equal(g.valid_ms, OPERATOR_VALID_MS - 500 - 20);
    issued_grant_operator(&t, &req, 1600, OPERATOR_VALID_MS, 20, &g);
    assert_false(g.granted);
    assert_string_equal(g.reason, "granted once already");
    /* The table is bounded: the oldest goes, and is never granted. */
    for (int i = 0; i < ISSUED_MAX; i++) {
        snprintf(c.id, sizeof c.id, "fill-%d", i);
        issued_add(&t, &c, 2000, 0);
    }
    assert_null(issued_find(&t, "op-1"));
    assert_non_null(issued_find(&t, "fill-0"));
    (void)state;
}

/* A define carries its XML whole, deflated, in one frame; a new domain's
 * XML is checked at the edge, each refusal naming what is wrong. */
static void a_define_and_its_xml(void **state) {
    struct command_msg m = {.kind = COMMAND_MSG_COMMAND};
    struct command *c = &m.command;
    snprintf(c->id, sizeof c->id, "id-2");
    snprintf(c->issuer, sizeof c->issuer, "n1");
    snprintf(c->target, sizeof c->target, "n2");
    c->kind = COMMAND_DEFINE;
    snprintf(c->define.name, sizeof c->define.name, "web-3");
    memset(c->define.xmlz, 'x', sizeof c->define.xmlz);
    c->define.xmlz_len = sizeof c->define.xmlz;
    c->define.start = true;
    struct command_msg b = roundtrip(&m);
    assert_memory_equal(&b.command, c, sizeof *c);
    uint8_t *wire;
    size_t wire_len;
    assert_int_equal(command_msg_encode(&m, &wire, &wire_len), 0);
    assert_true(wire_len <= TRANSPORT_PAYLOAD_MAX - 256); /* with its longest names */
    free(wire);
    char desc[128];
    command_describe(c, desc, sizeof desc);
    assert_string_equal(desc, "define web-3 and start it");
    enum message_reject rej;
    assert_null(message_check_command(c, &rej));
    /* In place (an HA restart where the VM stopped): no XML, and start. */
    c->define.xmlz_len = 0;
    assert_string_equal(message_check_command(c, &rej), "define.xml_deflated");
    c->define.in_place = true;
    memset(c->define.xmlz, 0, sizeof c->define.xmlz);
    assert_null(message_check_command(c, &rej));
    b = roundtrip(&m);
    assert_memory_equal(&b.command, c, sizeof *c);
    assert_true(b.command.define.in_place);
    command_describe(c, desc, sizeof desc);
    assert_string_equal(desc, "start web-3 in place");
    c->define.start = false;
    assert_string_equal(message_check_command(c, &rej), "define.start");
    assert_int_equal(rej, MESSAGE_REJECT_VALUE);
    c->define.start = true;
    c->define.xmlz_len = 1;
    assert_string_equal(message_check_command(c, &rej), "define.xml_deflated");
    assert_int_equal(rej, MESSAGE_REJECT_TEXT);

    struct domain_spec d;
    char why[256];
    static const char ok[] = "<domain type='kvm'><name>web-3</name>"
                             "<memory unit='GiB'>2</memory><vcpu placement='static'>4</vcpu>"
                             "</domain>";
    assert_int_equal(domain_xml_parse(ok, strlen(ok), &d, why, sizeof why), 0);
    assert_string_equal(d.name, "web-3");
    assert_int_equal(d.vcpus, 4);
    assert_int_equal(d.memory_kib, 2u << 20);
    static const char kib[] = "<domain><name>a</name><memory>524288</memory></domain>";
    assert_int_equal(domain_xml_parse(kib, strlen(kib), &d, why, sizeof why), 0);
    assert_int_equal(d.memory_kib, 524288);
    assert_int_equal(d.vcpus, 1);
    static const struct {
        const char *xml, *why;
    } bad[] = {
        {"<domain><name>a</name>", "not well formed"},
        {"<vm><name>a</name><memory>1</memory></vm>", "root element is not <domain>"},
        {"<domain><memory>1</memory></domain>", "has no <name>"},
        {"<domain><name>a/b</name><memory>1</memory></domain>", "without '/'"},
        {"<domain><name>a</name></domain>", "<memory> is missing"},
        {"<domain><name>a</name><memory unit='parsec'>1</memory></domain>", "not a unit"},
        {"<domain><name>a</name><memory>1</memory><vcpu>0</vcpu></domain>", "<vcpu> must be"},
        {"<!DOCTYPE d [<!ENTITY e 'x'>]><domain><name>&e;</name><memory>1</memory></domain>",
         "has a DTD"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(domain_xml_parse(bad[i].xml, strlen(bad[i].xml), &d, why, sizeof why), -1);
        if (!strstr(why, bad[i].why))
            fail_msg("case %zu: '%s', expected '%s'", i, why, bad[i].why);
    }
    char big[COMMAND_XML_MAX + 8];
    memset(big, ' ', sizeof big);
    assert_int_equal(domain_xml_parse(big, COMMAND_XML_MAX, &d, why, sizeof why), -1);
    assert_non_null(strstr(why, "at most 32767 fit a command"));
    (void)state;
}

/* A guest's XML as libvirt writes it: `disks` disks and as many NICs,
 * padded with spaces to exactly `size` bytes when size is not 0. */
static size_t guest_xml(char *out, size_t cap, int disks, size_t size) {
    int n = snprintf(out, cap, "<domain type='kvm'>\n  <name>big-guest</name>\n"
                     "  <uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid>\n"
                     "  <memory unit='KiB'>4194304</memory>\n  <vcpu placement='static'>2</vcpu>\n"
                     "  <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>\n"
                     "  <devices>\n");
    for (int i = 0; i < disks; i++)
        n += snprintf(out + n, cap - (size_t)n,
                      "    <disk type='file' device='disk'>\n"
                      "      <driver name='qemu' type='qcow2' cache='none' io='native'/>\n"
                      "      <source file='/var/lib/libvirt/images/big-guest-%d.qcow2'/>\n"
                      "      <target dev='vd%c' bus='virtio'/>\n"
                      "      <address type='pci' domain='0x0000' bus='0x%02x' slot='0x00' "
                      "function='0x0'/>\n    </disk>\n"
                      "    <interface type='bridge'>\n      <mac address='52:54:00:%02x:1e:07'/>\n"
                      "      <source bridge='br%d'/>\n      <model type='virtio'/>\n"
                      "    </interface>\n", i, 'a' + i, i + 3, i, i);
    n += snprintf(out + n, cap - (size_t)n, "  </devices>\n</domain>\n");
    size_t len = (size_t)n;
    if (size > len) {
        memset(out + len, ' ', size - len);
        len = size;
    }
    return len;
}

/* Real guests' XML (4-8 KiB) goes deflated; the bounds on both sides:
 * COMMAND_XML_MAX - 1 bytes inflated, COMMAND_XMLZ_MAX deflated, and an
 * inflate that stops at its bound whatever the input says. */
static void a_guest_xml_deflates_into_one_command(void **state) {
    static char xml[COMMAND_XML_MAX + 64], back[COMMAND_XML_MAX];
    static uint8_t z[COMMAND_XMLZ_MAX];
    size_t zlen, blen, len = guest_xml(xml, sizeof xml, 16, 0);
    char why[256];
    struct domain_spec d;
    if (len < 6000 || len > 8192)
        fail_msg("the guest's XML is %zu bytes, not 6000 to 8192", len);
    assert_int_equal(domain_xml_parse(xml, len, &d, why, sizeof why), 0);
    assert_int_equal(domain_xml_deflate(xml, len, z, &zlen, why, sizeof why), 0);
    assert_true(zlen < len / 4);
    assert_int_equal(domain_xml_inflate(z, zlen, back, &blen, why, sizeof why), 0);
    assert_int_equal(blen, len);
    assert_memory_equal(back, xml, len);
    /* The largest XML a command takes, and one byte more. */
    len = guest_xml(xml, sizeof xml, 16, COMMAND_XML_MAX - 1);
    assert_int_equal(domain_xml_parse(xml, len, &d, why, sizeof why), 0);
    assert_int_equal(domain_xml_deflate(xml, len, z, &zlen, why, sizeof why), 0);
    assert_int_equal(domain_xml_inflate(z, zlen, back, &blen, why, sizeof why), 0);
    assert_int_equal(blen, COMMAND_XML_MAX - 1);
    len = guest_xml(xml, sizeof xml, 16, COMMAND_XML_MAX);
    assert_int_equal(domain_xml_deflate(xml, len, z, &zlen, why, sizeof why), -1);
    assert_non_null(strstr(why, "the domain XML is 32768 bytes; at most 32767 fit a command"));
    /* Small enough, but what does not deflate does not fit: random
     * text in a <description>. */
    len = (size_t)snprintf(xml, sizeof xml, "<domain><name>r</name><memory>1</memory>"
                                            "<description>");
    uint64_t x = 88172645463325252u;
    for (int i = 0; i < 4000; i++, len++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        xml[len] = (char)('A' + x % 58); /* 'A' to 'z': no '<' or '&' */
    }
    len += (size_t)snprintf(xml + len, sizeof xml - len, "</description></domain>");
    assert_int_equal(domain_xml_parse(xml, len, &d, why, sizeof why), 0);
    assert_int_equal(domain_xml_deflate(xml, len, z, &zlen, why, sizeof why), -1);
    assert_non_null(strstr(why, "deflates to more than the 2560 bytes a command carries"));
    /* A small input that would inflate past the bound stops there. */
    static char zeros[4 * COMMAND_XML_MAX];
    memset(zeros, ' ', sizeof zeros);
    uLongf n = sizeof z;
    assert_int_equal(compress2(z, &n, (const Bytef *)zeros, sizeof zeros, 9), Z_OK);
    assert_int_equal(domain_xml_inflate(z, n, back, &blen, why, sizeof why), -1);
    assert_non_null(strstr(why, "inflates to more than 32767 bytes"));
    /* Cut short, or not zlib at all. */
    len = guest_xml(xml, sizeof xml, 4, 0);
    assert_int_equal(domain_xml_deflate(xml, len, z, &zlen, why, sizeof why), 0);
    assert_int_equal(domain_xml_inflate(z, zlen / 2, back, &blen, why, sizeof why), -1);
    assert_non_null(strstr(why, "not whole zlib data"));
    assert_int_equal(domain_xml_inflate((const uint8_t *)"<domain/>", 9, back, &blen, why,
                                        sizeof why), -1);
    assert_non_null(strstr(why, "not whole zlib data"));
    (void)state;
}

/* A protected VM's definition, as replication sends it (agent_hadefs.c):
 * a real guest's XML, 7 KiB, does not fit a frame as it is; deflated it
 * does, and comes back whole. One that does not fit even deflated is
 * refused by the deflate with a reason (the agent logs it), and a frame
 * with more deflated bytes than the bound is refused. */
static void a_large_definition_travels_deflated(void **state) {
    static struct command_msg m = {.kind = COMMAND_MSG_DEFINITION}, b;
    static char back[COMMAND_XML_MAX];
    struct definition_put *p = &m.definition;
    snprintf(p->vm, sizeof p->vm, "big-guest");
    snprintf(p->host, sizeof p->host, "n2");
    p->epoch = 7;
    p->seq = 3;
    size_t len = guest_xml(p->xml, sizeof p->xml, 16, 0), blen;
    assert_true(len > 6000);
    char why[256];
    assert_int_equal(domain_xml_deflate(p->xml, len, p->xmlz, &p->xmlz_len, why, sizeof why), 0);
    uint8_t *wire;
    size_t wire_len;
    assert_int_equal(command_msg_encode(&m, &wire, &wire_len), 0);
    assert_true(wire_len <= TRANSPORT_PAYLOAD_MAX - 256);
    assert_int_equal(command_msg_decode(wire, wire_len, &b, why, sizeof why), 0);
    free(wire);
    assert_int_equal(b.kind, COMMAND_MSG_DEFINITION);
    assert_string_equal(b.definition.vm, "big-guest");
    assert_int_equal(b.definition.seq, 3);
    assert_string_equal(b.definition.xml, "");
    assert_int_equal(b.definition.xmlz_len, p->xmlz_len);
    assert_int_equal(domain_xml_inflate(b.definition.xmlz, b.definition.xmlz_len, back, &blen,
                                        why, sizeof why), 0);
    assert_int_equal(blen, len);
    assert_memory_equal(back, p->xml, len);
    /* As it was sent before (xml, not deflated): too large for a frame. */
    p->xmlz_len = 0;
    assert_int_equal(command_msg_encode(&m, &wire, &wire_len), 0);
    assert_true(wire_len > TRANSPORT_PAYLOAD_MAX);
    free(wire);
    /* XML that deflates badly (random bytes in a comment): refused. */
    uint32_t x = 12345;
    int n = snprintf(p->xml, sizeof p->xml, "<domain><name>n</name><!-- ");
    for (int i = 0; i < 8000; i++) {
        x = x * 1103515245u + 12345u;
        p->xml[n++] = (char)('a' + (x >> 16) % 26);
    }
    snprintf(p->xml + n, sizeof p->xml - (size_t)n, " --><memory>1</memory></domain>");
    assert_int_equal(domain_xml_deflate(p->xml, strlen(p->xml), p->xmlz, &p->xmlz_len, why,
                                        sizeof why), -1);
    assert_non_null(strstr(why, "deflates to more than"));
    /* A frame with more deflated bytes than the bound. */
    Nodectl__DefinitionPut def = NODECTL__DEFINITION_PUT__INIT;
    Nodectl__CommandMsg pb = NODECTL__COMMAND_MSG__INIT;
    static uint8_t z[COMMAND_XMLZ_MAX + 1];
    def.vm = "v";
    def.host = "n2";
    def.xml_deflated.data = z;
    def.xml_deflated.len = sizeof z;
    pb.body_case = NODECTL__COMMAND_MSG__BODY_DEFINITION;
    pb.definition = &def;
    uint8_t buf[COMMAND_XMLZ_MAX + 64];
    size_t blen2 = nodectl__command_msg__pack(&pb, buf);
    assert_int_equal(command_msg_decode(buf, blen2, &b, why, sizeof why), -1);
    assert_non_null(strstr(why, "definition.xml_deflated"));
    (void)state;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_define_and_its_xml),
        cmocka_unit_test(a_guest_xml_deflates_into_one_command),
        cmocka_unit_test(a_large_definition_travels_deflated),
        cmocka_unit_test(every_message_survives_the_wire),
        cmocka_unit_test(bad_frames_are_refused_with_a_reason),
        cmocka_unit_test(rules_out_of_bounds_are_refused),
        cmocka_unit_test(operator_commands_are_granted_once_in_their_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
