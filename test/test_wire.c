/* Protobuf round trips of the wire schema: the host record the agent builds
 * from a hypervisor sample and its actions, and the control socket's request
 * and response. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/host_record.h"
#include "net/control.h"

static void host_record_round_trip(void **state) {
    struct config cfg;
    config_defaults(&cfg);
    snprintf(cfg.node_name, sizeof cfg.node_name, "h1");
    snprintf(cfg.bind_address, sizeof cfg.bind_address, "127.0.0.1");
    cfg.port = 7001;
    cfg.candidate = true;
    struct hv_vm vms[2] = {
        {.name = "web", .state = HV_VM_RUNNING, .vcpus = 2, .memory_kib = 1024, .cpu_percent = 12.5,
         .max_memory_kib = 2048, .disk_read_bps = 100, .net_tx_bps = 300},
        {.name = "old", .state = HV_VM_SHUTOFF, .vcpus = 1, .memory_kib = 512},
    };
    memset(vms[0].uuid, 0xab, 16);
    memset(vms[1].uuid, 0xcd, 16);
    struct hv_sample s = {.available = true, .cpus = 8, .cpu_mhz = 2000, .memory_kib = 1 << 24,
                          .cpu_percent = 33.0, .memory_used_kib = 4096, .n_vms = 2, .vms = vms};
    uuid_t id;
    memset(id, 0x42, sizeof id);
    static const double load[3] = {0.5, 0.25, 0.125};
    Nodectl__HostRecord *rec = host_record_build(&cfg, id, "test:///default", &s, NULL, load,
                                                 1234567);
    assert_non_null(rec);

    size_t len = nodectl__host_record__get_packed_size(rec);
    uint8_t *buf = malloc(len);
    assert_int_equal(nodectl__host_record__pack(rec, buf), len);
    Nodectl__HostRecord *back = nodectl__host_record__unpack(NULL, len, buf);
    assert_non_null(back);
    assert_string_equal(back->name, "h1");
    assert_string_equal(back->address, "127.0.0.1:7001");
    assert_true(back->candidate);
    assert_int_equal(back->node_id.len, 16);
    assert_memory_equal(back->node_id.data, id, 16);
    assert_string_equal(back->hypervisor->uri, "test:///default");
    assert_true(back->hypervisor->available);
    assert_int_equal(back->capacity->cpus, 8);
    assert_int_equal(back->capacity->memory_kib, 1 << 24);
    assert_true(back->usage->cpu_percent == 33.0);
    assert_int_equal(back->sampled_at_ms, 1234567);
    assert_int_equal(back->n_vms, 2);
    assert_string_equal(back->vms[0]->name, "web");
    assert_int_equal(back->vms[0]->state, NODECTL__VM_STATE__VM_STATE_RUNNING);
    assert_int_equal(back->vms[1]->state, NODECTL__VM_STATE__VM_STATE_SHUTOFF);
    assert_memory_equal(back->vms[1]->uuid.data, vms[1].uuid, 16);
    assert_true(back->vms[0]->cpu_percent == 12.5);
    assert_int_equal(back->vms[0]->max_memory_kib, 2048);
    assert_true(back->vms[0]->net_tx_bps == 300);
    assert_true(back->usage->disk_read_bps == 100); /* summed over the VMs */
    assert_true(back->usage->load5 == 0.25);

    /* Every strict prefix is either rejected or decodes to less. */
    for (size_t cut = 1; cut < len; cut++) {
        Nodectl__HostRecord *part = nodectl__host_record__unpack(NULL, cut, buf);
        if (part) {
            assert_true(nodectl__host_record__get_packed_size(part) < len);
            nodectl__host_record__free_unpacked(part, NULL);
        }
    }
    nodectl__host_record__free_unpacked(back, NULL);
    free(buf);
    protobuf_c_message_free_unpacked(&rec->base, NULL);
}

static void unavailable_hypervisor_record_carries_the_reason(void **state) {
    struct config cfg;
    config_defaults(&cfg);
    struct hv_sample s = {.available = false, .reason = "cannot connect: no socket"};
    uuid_t id = {0};
    static const double load[3] = {0, 0, 0};
    Nodectl__HostRecord *rec = host_record_build(&cfg, id, "qemu:///system", &s, NULL, load, 1);
    assert_non_null(rec);
    assert_false(rec->hypervisor->available);
    assert_string_equal(rec->hypervisor->reason, "cannot connect: no socket");
    assert_int_equal(rec->n_vms, 0);
    assert_int_equal(rec->capacity->cpus, 0);
    protobuf_c_message_free_unpacked(&rec->base, NULL);
    /* What it had before its hypervisor went away stays in the record, so
     * that the leader can still plan it (a power-on once it is off). */
    struct host_capacity last = {8, 2400, 1u << 24};
    rec = host_record_build(&cfg, id, "qemu:///system", &s, &last, load, 1);
    assert_non_null(rec);
    assert_false(rec->hypervisor->available);
    assert_int_equal(rec->capacity->cpus, 8);
    assert_int_equal(rec->capacity->cpu_mhz, 2400);
    assert_int_equal(rec->capacity->memory_kib, 1u << 24);
    assert_int_equal(rec->usage->cpu_percent, 0);
    protobuf_c_message_free_unpacked(&rec->base, NULL);
}

static void actions_in_the_record_round_trip(void **state) {
    struct config cfg;
    config_defaults(&cfg);
    struct hv_sample s = {.available = true, .cpus = 4};
    uuid_t id = {0};
    static const double load[3] = {0, 0, 0};
    Nodectl__HostRecord *rec = host_record_build(&cfg, id, "qemu:///system", &s, NULL, load, 1);
    assert_non_null(rec);
    assert_int_equal(host_record_actions(rec, NULL, 0), 0);
    assert_int_equal(rec->n_migrations, 0);
    const struct host_record_action x[2] = {
        {.id = "a1", .vm = "web", .destination = "h2", .state = "running", .error = "",
         .kind = "", .progress = 0.5, .started_ms = 10, .term = 7},
        {.id = "a2", .vm = "", .destination = "h1", .state = "failed", .error = "no empty host",
         .kind = "power-off", .started_ms = 20, .ended_ms = 30, .term = 8},
    };
    assert_int_equal(host_record_actions(rec, x, 2), 0);
    size_t len = nodectl__host_record__get_packed_size(rec);
    uint8_t *buf = malloc(len);
    assert_int_equal(nodectl__host_record__pack(rec, buf), len);
    Nodectl__HostRecord *back = nodectl__host_record__unpack(NULL, len, buf);
    assert_non_null(back);
    assert_int_equal(back->n_migrations, 2);
    assert_string_equal(back->migrations[0]->id, "a1");
    assert_string_equal(back->migrations[0]->vm, "web");
    assert_string_equal(back->migrations[0]->destination, "h2");
    assert_string_equal(back->migrations[0]->state, "running");
    assert_true(back->migrations[0]->progress == 0.5);
    assert_int_equal(back->migrations[0]->started_at_ms, 10);
    assert_int_equal(back->migrations[0]->term, 7);
    assert_string_equal(back->migrations[1]->kind, "power-off");
    assert_string_equal(back->migrations[1]->error, "no empty host");
    assert_int_equal(back->migrations[1]->ended_at_ms, 30);
    assert_int_equal(back->migrations[1]->term, 8);
    nodectl__host_record__free_unpacked(back, NULL);
    free(buf);
    protobuf_c_message_free_unpacked(&rec->base, NULL);
}

static void control_messages_round_trip(void **state) {
    Nodectl__Request req = NODECTL__REQUEST__INIT;
    Nodectl__VmsRequest vms = NODECTL__VMS_REQUEST__INIT;
    req.body_case = NODECTL__REQUEST__BODY_VMS;
    req.vms = &vms;
    uint8_t buf[64];
    size_t len = nodectl__request__pack(&req, buf);
    Nodectl__Request *back = nodectl__request__unpack(NULL, len, buf);
    assert_non_null(back);
    assert_int_equal(back->body_case, NODECTL__REQUEST__BODY_VMS);
    nodectl__request__free_unpacked(back, NULL);

    Nodectl__Response *err = control_error_response(NODECTL__ERROR_CODE__ERROR_MALFORMED, "bad");
    assert_non_null(err);
    uint8_t out[128];
    len = nodectl__response__pack(err, out);
    Nodectl__Response *rb = nodectl__response__unpack(NULL, len, out);
    assert_non_null(rb);
    assert_non_null(rb->error);
    assert_int_equal(rb->error->code, NODECTL__ERROR_CODE__ERROR_MALFORMED);
    assert_string_equal(rb->error->message, "bad");
    assert_int_equal(rb->body_case, NODECTL__RESPONSE__BODY__NOT_SET);
    nodectl__response__free_unpacked(rb, NULL);
    protobuf_c_message_free_unpacked(&err->base, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(host_record_round_trip),
        cmocka_unit_test(unavailable_hypervisor_record_carries_the_reason),
        cmocka_unit_test(actions_in_the_record_round_trip),
        cmocka_unit_test(control_messages_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
