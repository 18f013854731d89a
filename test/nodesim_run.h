/* Running nodesim from a test: its JSON report, its numbers, a run as a
 * function of its seed, and its refusal of bad arguments. */
#ifndef NODECTL_TEST_NODESIM_RUN_H
#define NODECTL_TEST_NODESIM_RUN_H

#include <jansson.h>
#include <stddef.h>

/* `bin mode --json args`, which must exit 0 and print one JSON object. */
json_t *nodesim_json(const char *bin, const char *mode, const char *args);
/* The value of key, which must be an integer (a number). */
long long nodesim_num(const json_t *o, const char *key);
double nodesim_real(const json_t *o, const char *key);
/* a and b (the same seed) are equal and c (another seed) differs, once the
 * keys that measure the machine's clock are left out; all three freed. */
void nodesim_assert_seeded(json_t *a, json_t *b, json_t *c, const char *const *clock, size_t n);
/* `bin args` exits 2 and its first line names every word of `words`. */
void nodesim_assert_refused(const char *bin, const char *args, const char *const *words, size_t n);

#endif
