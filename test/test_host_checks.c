/* A host's refusals (src/host/host_checks.c) and its inbound gate
 * (src/host/host_gate.c), as tables: every input that must refuse, with
 * the refusal and a word of its sentence, and the inputs that must pass. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "host/host_checks.h"
#include "host/host_gate.h"
#include "host/host_offcheck.h"

#define URI "qemu+tcp://10.0.0.2/system"

static void migrate_peer_table(void **state) {
    static const struct {
        uint64_t cmd_term, known_term;
        struct host_peer dest;
        const char *cmd_uri;
        enum host_refusal want;
        const char *says;
    } rows[] = {
        {5, 5, {HOST_PEER_ALIVE, "h2", "h1", URI, false, false}, URI, HOST_OK, ""},
        {6, 5, {HOST_PEER_ALIVE, "h2", "h1", URI, false, false}, URI, HOST_OK, ""},
        {4, 5, {HOST_PEER_ALIVE, "h2", "h1", URI, false, false}, URI, HOST_REFUSE_STALE_TERM,
         "term 4 is older than term 5"},
        /* The term goes first: a deposed leader's command says so even
         * when its destination went away too. */
        {4, 5, {HOST_PEER_DEAD, "h2", "h1", URI, false, false}, URI, HOST_REFUSE_STALE_TERM,
         "older"},
        {5, 5, {HOST_PEER_UNKNOWN, "h9", "h1", NULL, false, false}, URI,
         HOST_REFUSE_DEST_UNKNOWN, "'h9' is not a member"},
        {5, 5, {HOST_PEER_ALIVE, "h1", "h1", URI, false, false}, URI, HOST_REFUSE_DEST_SELF,
         "this host"},
        {5, 5, {HOST_PEER_SUSPECT, "h2", "h1", URI, false, false}, URI,
         HOST_REFUSE_DEST_NOT_ALIVE, "suspect, not alive"},
        {5, 5, {HOST_PEER_DEAD, "h2", "h1", URI, false, false}, URI, HOST_REFUSE_DEST_NOT_ALIVE,
         "dead, not alive"},
        {5, 5, {HOST_PEER_LEFT, "h2", "h1", URI, false, false}, URI, HOST_REFUSE_DEST_NOT_ALIVE,
         "left, not alive"},
        {5, 5, {HOST_PEER_OFF, "h2", "h1", URI, false, false}, URI, HOST_REFUSE_DEST_OFF,
         "'h2' is off"},
        {5, 5, {HOST_PEER_ALIVE, "h2", "h1", URI, false, true}, URI,
         HOST_REFUSE_DEST_POWERING_OFF, "powering off"},
        {5, 5, {HOST_PEER_ALIVE, "h2", "h1", URI, true, false}, URI, HOST_REFUSE_DEST_DRAINING,
         "drained"},
        {5, 5, {HOST_PEER_ALIVE, "h2", "h1", URI, false, false}, "qemu+tcp://10.0.0.9/system",
         HOST_REFUSE_DEST_URI, "takes migrations at " URI ", not at qemu+tcp://10.0.0.9"},
        {5, 5, {HOST_PEER_ALIVE, "h2", "h1", "", false, false}, URI, HOST_REFUSE_DEST_URI,
         "takes no migrations"},
        {5, 5, {HOST_PEER_ALIVE, "h2", "h1", NULL, false, false}, URI, HOST_REFUSE_DEST_URI,
         "takes no migrations"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char why[256] = "";
        enum host_refusal r = host_migrate_peer_check(rows[i].cmd_term, rows[i].known_term,
                                                      &rows[i].dest, rows[i].cmd_uri, why,
                                                      sizeof why);
        if (r != rows[i].want || !strstr(why, rows[i].says))
            fail_msg("row %zu: %s '%s', want %s '%s'", i, host_refusal_name(r), why,
                     host_refusal_name(rows[i].want), rows[i].says);
    }
}

static struct hv_domain_now dom(const char *name, enum hv_vm_state s, bool active,
                                enum hv_job job) {
    struct hv_domain_now d = {.state = s, .active = active, .persistent = true, .job = job};
    strncpy(d.name, name, sizeof d.name - 1);
    return d;
}

static void migrate_vm_table(void **state) {
    static const struct {
        enum hv_vm_state s;
        bool active;
        enum hv_job job;
        enum host_refusal want;
        const char *says;
    } rows[] = {
        {HV_VM_RUNNING, true, HV_JOB_NONE, HOST_OK, ""},
        {HV_VM_BLOCKED, true, HV_JOB_NONE, HOST_OK, ""},
        {HV_VM_PAUSED, true, HV_JOB_NONE, HOST_OK, ""},
        {HV_VM_SHUTOFF, false, HV_JOB_NONE, HOST_REFUSE_VM_NOT_RUNNING, "not running (shut off)"},
        {HV_VM_SHUTDOWN, true, HV_JOB_NONE, HOST_REFUSE_VM_NOT_RUNNING, "(shutdown)"},
        {HV_VM_CRASHED, true, HV_JOB_NONE, HOST_REFUSE_VM_NOT_RUNNING, "(crashed)"},
        {HV_VM_RUNNING, true, HV_JOB_MIGRATION_OUT, HOST_REFUSE_VM_MIGRATING,
         "already migrating (outgoing migration)"},
        {HV_VM_PAUSED, true, HV_JOB_MIGRATION_IN, HOST_REFUSE_VM_MIGRATING,
         "(incoming migration)"},
        {HV_VM_RUNNING, true, HV_JOB_OTHER, HOST_REFUSE_VM_BUSY, "busy"},
        {HV_VM_RUNNING, true, HV_JOB_UNKNOWN, HOST_REFUSE_VM_BUSY, "unknown job"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char why[256] = "";
        struct hv_domain_now d = dom("vm1", rows[i].s, rows[i].active, rows[i].job);
        enum host_refusal r = host_migrate_vm_check(&d, "vm1", why, sizeof why);
        if (r != rows[i].want || !strstr(why, rows[i].says))
            fail_msg("row %zu: %s '%s', want %s '%s'", i, host_refusal_name(r), why,
                     host_refusal_name(rows[i].want), rows[i].says);
    }
    char why[128];
    assert_int_equal(host_migrate_vm_check(NULL, "ghost", why, sizeof why),
                     HOST_REFUSE_VM_ABSENT);
    assert_string_equal(why, "VM 'ghost' is not on this host");
}

/* Empty but for shut-off domains, then any domain with a process. */
static void power_off_table(void **state) {
    struct hv_domain_now doms[12];
    struct hv_fresh v = {.token = 1, .available = true, .doms = doms};
    char why[256];
    assert_int_equal(host_power_off_check(&v, why, sizeof why), HOST_OK);
    doms[v.n++] = dom("off-1", HV_VM_SHUTOFF, false, HV_JOB_NONE);
    doms[v.n++] = dom("off-2", HV_VM_SHUTOFF, false, HV_JOB_NONE);
    assert_int_equal(host_power_off_check(&v, why, sizeof why), HOST_OK);
    /* Any state with a process refuses: a domain being started is active
     * before it runs, one shutting down still holds its memory. */
    static const enum hv_vm_state active_states[] = {HV_VM_RUNNING, HV_VM_BLOCKED, HV_VM_PAUSED,
                                                     HV_VM_SHUTDOWN, HV_VM_CRASHED,
                                                     HV_VM_SUSPENDED, HV_VM_SHUTOFF,
                                                     HV_VM_UNKNOWN};
    for (size_t i = 0; i < sizeof active_states / sizeof active_states[0]; i++) {
        doms[2] = dom("guest", active_states[i], true, HV_JOB_NONE);
        v.n = 3;
        assert_int_equal(host_power_off_check(&v, why, sizeof why), HOST_REFUSE_DOMAINS_ACTIVE);
        assert_string_equal(why, "VMs run here: guest");
    }
    /* A migration job outranks the active domains in the reason. */
    doms[3] = dom("arriving", HV_VM_PAUSED, true, HV_JOB_MIGRATION_IN);
    v.n = 4;
    assert_int_equal(host_power_off_check(&v, why, sizeof why), HOST_REFUSE_MIGRATION_JOB);
    assert_string_equal(why, "a migration runs from or to this host: arriving");
    doms[3] = dom("leaving", HV_VM_RUNNING, true, HV_JOB_MIGRATION_OUT);
    assert_int_equal(host_power_off_check(&v, why, sizeof why), HOST_REFUSE_MIGRATION_JOB);
    /* Many names: the first ones and a count. */
    v.n = 0;
    for (int i = 0; i < 12; i++) {
        char name[16];
        snprintf(name, sizeof name, "vm%d", i);
        doms[v.n++] = dom(name, HV_VM_RUNNING, true, HV_JOB_NONE);
    }
    assert_int_equal(host_power_off_check(&v, why, sizeof why), HOST_REFUSE_DOMAINS_ACTIVE);
    assert_string_equal(why, "VMs run here: vm0, vm1, vm2, vm3, vm4, vm5, vm6, vm7 and 4 more");
    /* No view, no power-off. */
    struct hv_fresh none = {.token = 2, .available = false, .reason = "cannot connect: gone"};
    assert_int_equal(host_power_off_check(&none, why, sizeof why), HOST_REFUSE_HV_UNAVAILABLE);
    assert_non_null(strstr(why, "cannot connect: gone"));
}

static void gate_text_round_trip(void **state) {
    char text[HOST_GATE_TEXT_MAX], reason[64];
    enum host_gate g;
    host_gate_format(HOST_GATE_OPEN, "", text, sizeof text);
    assert_string_equal(text, "open\n");
    assert_int_equal(host_gate_parse(text, &g, reason, sizeof reason), 0);
    assert_int_equal(g, HOST_GATE_OPEN);
    assert_string_equal(reason, "");
    host_gate_format(HOST_GATE_CLOSED, "powering off (command c1, term 3)", text, sizeof text);
    assert_string_equal(text, "closed: powering off (command c1, term 3)\n");
    assert_int_equal(host_gate_parse(text, &g, reason, sizeof reason), 0);
    assert_int_equal(g, HOST_GATE_CLOSED);
    assert_string_equal(reason, "powering off (command c1, term 3)");
    assert_int_equal(host_gate_parse("drained: in maintenance", &g, reason, sizeof reason), 0);
    assert_int_equal(g, HOST_GATE_DRAINED);
    /* A long reason is cut to the buffer, not overrun. */
    assert_int_equal(host_gate_parse("closed: 0123456789", &g, reason, 5), 0);
    assert_string_equal(reason, "0123");
    static const char *bad[] = {"", "\n", "opened\n", "closed:x", "Closed\n", "open\nclosed\n",
                                "drained - why", " open"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (host_gate_parse(bad[i], &g, reason, sizeof reason) == 0)
            fail_msg("'%s' parsed as a gate", bad[i]);
}

static void gate_refusals(void **state) {
    static const struct {
        enum host_gate g;
        const char *op, *subop;
        bool refused;
    } rows[] = {
        {HOST_GATE_OPEN, "migrate", "begin", false},
        {HOST_GATE_OPEN, "prepare", "begin", false},
        {HOST_GATE_DRAINED, "migrate", "begin", true},
        {HOST_GATE_DRAINED, "prepare", "begin", false},
        {HOST_GATE_CLOSED, "migrate", "begin", true},
        {HOST_GATE_CLOSED, "prepare", "begin", true},
        /* Never what would kill a running domain or come too late. */
        {HOST_GATE_CLOSED, "reconnect", "begin", false},
        {HOST_GATE_CLOSED, "attach", "begin", false},
        {HOST_GATE_CLOSED, "start", "begin", false},
        {HOST_GATE_CLOSED, "started", "begin", false},
        {HOST_GATE_CLOSED, "stopped", "end", false},
        {HOST_GATE_CLOSED, "release", "end", false},
        {HOST_GATE_CLOSED, "migrate", "end", false},
        {HOST_GATE_CLOSED, "restore", "begin", false},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (host_gate_refuses(rows[i].g, rows[i].op, rows[i].subop) != rows[i].refused)
            fail_msg("row %zu: %s %s %s", i, host_gate_name(rows[i].g), rows[i].op,
                     rows[i].subop);
}

/* What to probe when: nothing within the grace, both at its end, each
 * again at its own period; a BMC only when one can be asked. */
static void off_probes_fall_due(void **state) {
    struct host_off_policy p = {.grace_ms = 60000, .tcp_every_ms = 10000, .bmc_every_ms = 30000};
    struct host_off_watch w;
    host_off_watch_start(&w, 7, 1000);
    assert_int_equal(host_off_due(&w, &p, 1000, true), 0);
    assert_int_equal(host_off_due(&w, &p, 60999, true), 0);
    assert_int_equal(host_off_next_ms(&w, &p, true), 61000);
    assert_int_equal(host_off_due(&w, &p, 61000, true), HOST_PROBE_TCP | HOST_PROBE_BMC);
    assert_int_equal(host_off_due(&w, &p, 61000, false), HOST_PROBE_TCP);
    host_off_note(&w, HOST_PROBE_TCP, HOST_PROBE_SILENT, 61500);
    host_off_note(&w, HOST_PROBE_BMC, HOST_PROBE_BMC_OFF, 62000);
    assert_int_equal(host_off_due(&w, &p, 70000, true), 0);
    assert_int_equal(host_off_next_ms(&w, &p, true), 71500);
    assert_int_equal(host_off_due(&w, &p, 71500, true), HOST_PROBE_TCP);
    assert_int_equal(host_off_due(&w, &p, 92000, true), HOST_PROBE_TCP | HOST_PROBE_BMC);
    assert_int_equal(host_off_next_ms(&w, &p, false), 71500);
}

/* The verdict from the last results: any answer of the machine, or a BMC
 * saying on, disproves "off"; an error says nothing. */
static void off_verdict_table(void **state) {
    static const struct {
        enum host_probe_result tcp, bmc;
        enum host_off_verdict want;
        const char *says;
    } rows[] = {
        {HOST_PROBE_NONE, HOST_PROBE_NONE, HOST_OFF_UNCHECKED, "not probed"},
        {HOST_PROBE_ERROR, HOST_PROBE_ERROR, HOST_OFF_UNCHECKED, "not probed"},
        {HOST_PROBE_SILENT, HOST_PROBE_NONE, HOST_OFF_CONFIRMED, "does not answer"},
        {HOST_PROBE_SILENT, HOST_PROBE_BMC_OFF, HOST_OFF_CONFIRMED, "BMC says the power is off"},
        {HOST_PROBE_ERROR, HOST_PROBE_BMC_OFF, HOST_OFF_CONFIRMED, "BMC says the power is off"},
        {HOST_PROBE_REFUSED, HOST_PROBE_NONE, HOST_OFF_DISPROVED,
         "announced off, but its agent's port refuses connections (the machine is up, no "
         "agent)"},
        {HOST_PROBE_ANSWERED, HOST_PROBE_NONE, HOST_OFF_DISPROVED,
         "announced off, but its agent's port accepts connections"},
        {HOST_PROBE_SILENT, HOST_PROBE_BMC_ON, HOST_OFF_DISPROVED,
         "announced off, but its BMC says the power is on"},
        {HOST_PROBE_ERROR, HOST_PROBE_BMC_ON, HOST_OFF_DISPROVED, "BMC says the power is on"},
        {HOST_PROBE_REFUSED, HOST_PROBE_BMC_ON, HOST_OFF_DISPROVED,
         "refuses connections (the machine is up, no agent) and its BMC says the power is on"},
        /* A machine without power cannot answer, whatever its BMC says. */
        {HOST_PROBE_REFUSED, HOST_PROBE_BMC_OFF, HOST_OFF_DISPROVED, "port refuses"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct host_off_watch w;
        host_off_watch_start(&w, 1, 0);
        if (rows[i].tcp != HOST_PROBE_NONE)
            host_off_note(&w, HOST_PROBE_TCP, rows[i].tcp, 100);
        if (rows[i].bmc != HOST_PROBE_NONE)
            host_off_note(&w, HOST_PROBE_BMC, rows[i].bmc, 100);
        char why[256] = "";
        enum host_off_verdict v = host_off_verdict(&w, why, sizeof why);
        if (v != rows[i].want || !strstr(why, rows[i].says))
            fail_msg("row %zu: verdict %d '%s', want %d '%s'", i, v, why, rows[i].want,
                     rows[i].says);
    }
    /* Reports bind to the OFF announcement they disprove. */
    struct host_off_report r[] = {{"h3", 4, "BMC on"}, {"h5", 9, "refused"}};
    assert_ptr_equal(host_off_disproved(r, 2, "h3", 4), &r[0]);
    assert_null(host_off_disproved(r, 2, "h3", 5));
    assert_null(host_off_disproved(r, 2, "h4", 4));
    assert_ptr_equal(host_off_disproved(r, 2, "h5", 9), &r[1]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(migrate_peer_table),  cmocka_unit_test(migrate_vm_table),
        cmocka_unit_test(power_off_table),     cmocka_unit_test(gate_text_round_trip),
        cmocka_unit_test(gate_refusals),       cmocka_unit_test(off_probes_fall_due),
        cmocka_unit_test(off_verdict_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
