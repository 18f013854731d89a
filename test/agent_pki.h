/* The identities of a test cluster, made as an operator makes them: with
 * the real `nodectl ca`, `nodectl identity` and `nodectl keygen` in
 * DIR/pki. And frame contexts that load them, for the fake peers of the
 * process tests. */
#ifndef NODECTL_AGENT_PKI_H
#define NODECTL_AGENT_PKI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct frame_ctx;

/* DIR/pki/ca (the CA) and DIR/pki/cluster.key (the first cluster key),
 * unless they exist. */
void test_pki_cluster(const char *dir);
/* Host name's key and certificate (candidate or not), and the [cluster]
 * lines that name them and the keys (key_file, keyring_file under
 * DIR/pki/NAME/) into lines. */
void test_pki_host(const char *dir, const char *name, bool candidate, char *lines, size_t len);
/* A frame context of cluster `cluster` as host `name` (made by
 * test_pki_host), at addr, with the cluster key; the caller frees it. */
struct frame_ctx *test_pki_ctx(const char *dir, const char *cluster, const char *name,
                               const char *addr, uint64_t epoch);

#endif
