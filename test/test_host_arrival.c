/* A copy a failed migration left at its destination
 * (src/host/host_arrival.c), as a table: the source's record and the
 * destination's domain in, the verdict and a word of its sentence out.
 * Only one row destroys; each of the others changes one thing of it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "host/host_arrival.h"

#define ID "c0ffee00-0000-4000-8000-000000000001"

struct row {
    const char *name;
    const char *report_id, *report_vm, *report_dest, *report_state, *report_kind;
    uint64_t ended_at, sampled_at;
    bool alive, hv_ok, vm_listed, same_uuid;
    Nodectl__VmState vm_state;
    const char *again; /* a later migration of the VM in the source's record: its state */
    uint64_t again_at; /* and when it started */
    bool active;
    enum hv_job job;
    const char *arrival;
    enum host_arrival want;
    const char *says;
};

static const struct row base = {
    "leftover", ID, "vm1", "h2", "failed", "", 1000, 2000, true, true, true, true,
    NODECTL__VM_STATE__VM_STATE_RUNNING, NULL, 1500, true, HV_JOB_NONE, ID, HOST_ARRIVAL_LEFTOVER,
    "runs vm1 since"};

/* The row's records and domain, judged by host_arrival_check, or with
 * `migrate` by host_arrival_migrate_check (its host_refusal). */
static int judge(const struct row *r, bool migrate, char *why, size_t len) {
    static const unsigned char uuid[16] = {1, 2, 3}, other[16] = {9};
    Nodectl__Hypervisor hv = NODECTL__HYPERVISOR__INIT;
    hv.available = r->hv_ok;
    Nodectl__Vm vm = NODECTL__VM__INIT;
    vm.name = "vm1";
    vm.state = r->vm_state;
    vm.uuid = (ProtobufCBinaryData){16, (uint8_t *)(r->same_uuid ? uuid : other)};
    Nodectl__Vm *vms[] = {&vm};
    Nodectl__Migration rep = NODECTL__MIGRATION__INIT, again = NODECTL__MIGRATION__INIT;
    rep.id = (char *)r->report_id;
    rep.vm = (char *)r->report_vm;
    rep.destination = (char *)r->report_dest;
    rep.state = (char *)r->report_state;
    rep.kind = (char *)r->report_kind;
    rep.ended_at_ms = r->ended_at;
    again.id = "later";
    again.vm = "vm1";
    again.destination = "h3";
    again.state = (char *)(r->again ? r->again : "succeeded");
    again.started_at_ms = r->again_at;
    Nodectl__Migration *migs[] = {&rep, &again};
    Nodectl__HostRecord src = NODECTL__HOST_RECORD__INIT, self = NODECTL__HOST_RECORD__INIT;
    src.name = "h1";
    src.hypervisor = &hv;
    src.sampled_at_ms = r->sampled_at;
    src.vms = vms;
    src.n_vms = r->vm_listed ? 1 : 0;
    src.migrations = migs;
    src.n_migrations = r->again ? 2 : 1;
    self.name = "h2";
    const struct host_arrival_peer peers[] = {{&self, true}, {&src, r->alive}};
    struct hv_domain_now d = {.name = "vm1", .uuid = {1, 2, 3}, .state = HV_VM_RUNNING,
                              .active = r->active, .persistent = true, .job = r->job};
    snprintf(d.arrival, sizeof d.arrival, "%s", r->arrival);
    if (migrate)
        return (int)host_arrival_migrate_check("h2", &d, peers, 2, why, len);
    return (int)host_arrival_check("h2", &d, peers, 2, why, len);
}

static enum host_arrival run(const struct row *r, char *why, size_t len) {
    return (enum host_arrival)judge(r, false, why, len);
}

static void arrival_table(void **state) {
    (void)state;
    struct row rows[24];
    size_t n = 0;
    rows[n++] = base;
#define VARY(field, value, verdict, text)                                                         \
    do {                                                                                          \
        rows[n] = base;                                                                           \
        rows[n].field = value;                                                                    \
        rows[n].name = #field "=" #value;                                                         \
        rows[n].want = verdict;                                                                   \
        rows[n].says = text;                                                                      \
        n++;                                                                                      \
    } while (0)
    VARY(report_state, "aborted", HOST_ARRIVAL_LEFTOVER, "reports aborted");
    VARY(report_state, "succeeded", HOST_ARRIVAL_KEEP, "is succeeded");
    VARY(report_state, "running", HOST_ARRIVAL_KEEP, "is running");
    VARY(arrival, "", HOST_ARRIVAL_KEEP, "not the leftover");
    VARY(arrival, "another-id", HOST_ARRIVAL_KEEP, "not the leftover");
    VARY(report_dest, "h3", HOST_ARRIVAL_KEEP, "not the leftover");
    VARY(report_kind, "power-off", HOST_ARRIVAL_KEEP, "not the leftover");
    VARY(sampled_at, 1000, HOST_ARRIVAL_DOUBT, "has not shown vm1 since");
    VARY(hv_ok, false, HOST_ARRIVAL_DOUBT, "has not shown vm1 since");
    VARY(alive, false, HOST_ARRIVAL_DOUBT, "has not shown vm1 since");
    VARY(vm_listed, false, HOST_ARRIVAL_KEEP, "does not show vm1 running");
    VARY(same_uuid, false, HOST_ARRIVAL_KEEP, "does not show vm1 running");
    VARY(vm_state, NODECTL__VM_STATE__VM_STATE_PAUSED, HOST_ARRIVAL_KEEP,
         "does not show vm1 running");
    VARY(again, "running", HOST_ARRIVAL_DOUBT, "migrates vm1 again");
    /* The source moved its copy on to h3 after the failure (the chaos
     * run's case: the leader migrated it before this host's copy showed). */
    rows[n] = base;
    rows[n].name = "moved on to h3";
    rows[n].again = "succeeded";
    rows[n].vm_listed = false;
    rows[n].says = "has since moved its copy to h3";
    n++;
    /* ...and went off since: its last record still says so. */
    rows[n] = rows[n - 1];
    rows[n].name = "moved on to h3, source off";
    rows[n].alive = false;
    n++;
    rows[n] = rows[n - 1];
    rows[n].name = "moved on, but started before the failure ended";
    rows[n].again_at = 900;
    rows[n].alive = true;
    rows[n].want = HOST_ARRIVAL_KEEP;
    rows[n].says = "does not show vm1 running";
    n++;
    VARY(job, HV_JOB_MIGRATION_IN, HOST_ARRIVAL_KEEP, "has a job");
    VARY(active, false, HOST_ARRIVAL_KEEP, "not the leftover");
#undef VARY
    for (size_t i = 0; i < n; i++) {
        char why[512] = "";
        enum host_arrival v = run(&rows[i], why, sizeof why);
        if (v != rows[i].want || !strstr(why, rows[i].says))
            fail_msg("row %s: verdict %d '%s', want %d '%s'", rows[i].name, v, why, rows[i].want,
                     rows[i].says);
    }
    /* No domain, no records. */
    char why[256];
    assert_int_equal(host_arrival_check("h2", NULL, NULL, 0, why, sizeof why), HOST_ARRIVAL_KEEP);
}

/* The source's refusal to migrate a copy away follows the verdict: only a
 * copy kept leaves; a leftover, or a copy whose source may still run its
 * own (the source's agent is down: seed 3861's n18), stays. */
static void a_doubtful_copy_does_not_leave(void **state) {
    (void)state;
    struct {
        const char *name;
        bool alive;
        const char *report_state, *arrival;
        enum host_refusal want;
    } rows[] = {
        {"leftover", true, "failed", ID, HOST_REFUSE_VM_LEFTOVER},
        {"source down", false, "failed", ID, HOST_REFUSE_VM_LEFTOVER},
        {"migration succeeded", false, "succeeded", ID, HOST_OK},
        {"no arrival", false, "failed", "", HOST_OK},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct row r = base;
        r.alive = rows[i].alive;
        r.report_state = rows[i].report_state;
        r.arrival = rows[i].arrival;
        char why[512] = "";
        enum host_refusal got = (enum host_refusal)judge(&r, true, why, sizeof why);
        if (got != rows[i].want || (got != HOST_OK && !strstr(why, "may run at the source")))
            fail_msg("row %s: %s '%s'", rows[i].name, host_refusal_name(got), why);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(arrival_table),
                                       cmocka_unit_test(a_doubtful_copy_does_not_leave)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
