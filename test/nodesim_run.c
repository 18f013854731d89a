#include "nodesim_run.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <cmocka.h>

json_t *nodesim_json(const char *bin, const char *mode, const char *args) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s --json %s", bin, mode, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    json_error_t err;
    json_t *o = json_loadf(p, 0, &err);
    assert_int_equal(pclose(p), 0);
    if (!o)
        fail_msg("nodesim output is not JSON: %s", err.text);
    return o;
}

long long nodesim_num(const json_t *o, const char *key) {
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        fail_msg("%s missing or not an integer", key);
    return json_integer_value(v);
}

double nodesim_real(const json_t *o, const char *key) {
    const json_t *v = json_object_get(o, key);
    if (!json_is_number(v))
        fail_msg("%s missing or not a number", key);
    return json_number_value(v);
}

void nodesim_assert_seeded(json_t *a, json_t *b, json_t *c, const char *const *clock, size_t n) {
    for (size_t k = 0; k < n; k++) {
        json_object_del(a, clock[k]);
        json_object_del(b, clock[k]);
        json_object_del(c, clock[k]);
    }
    assert_true(json_equal(a, b));
    assert_false(json_equal(a, c));
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

void nodesim_assert_refused(const char *bin, const char *args, const char *const *words, size_t n) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", bin, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[512] = "";
    assert_non_null(fgets(line, sizeof line, p));
    assert_int_equal(WEXITSTATUS(pclose(p)), 2);
    for (size_t k = 0; k < n; k++)
        if (!strstr(line, words[k]))
            fail_msg("'%s' does not name %s", line, words[k]);
}
