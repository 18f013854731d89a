/* The membership snapshot goes to disk in a thread of its own: a write
 * ends with two fsyncs, which a busy disk can hold for seconds, and the
 * agent's loop must never wait that long (its probes time out in 100 ms).
 * The loop hands over the encoded bytes; a newer snapshot replaces one not
 * yet written, so the thread writes at most the latest. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "agent_internal.h"
#include "common/atomic_file.h"
#include "common/log.h"

struct snapshot_writer {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    char path[PATH_MAX];
    uint8_t *pending; /* owned; NULL: nothing to write */
    size_t len;
    bool stop;
};

static void *run(void *arg) {
    struct snapshot_writer *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->pending && !w->stop)
            pthread_cond_wait(&w->cond, &w->lock);
        if (!w->pending)
            break;
        uint8_t *data = w->pending;
        size_t len = w->len;
        w->pending = NULL;
        pthread_mutex_unlock(&w->lock);
        if (atomic_write_file(w->path, data, len, 0600) != 0)
            log_err("membership snapshot %s: %s", w->path, strerror(errno));
        free(data);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

struct snapshot_writer *snapshot_writer_start(const char *path) {
    struct snapshot_writer *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    snprintf(w->path, sizeof w->path, "%s", path);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    if (pthread_create(&w->thread, NULL, run, w) != 0) {
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return NULL;
    }
    return w;
}

void snapshot_writer_put(struct snapshot_writer *w, uint8_t *data, size_t len) {
    pthread_mutex_lock(&w->lock);
    free(w->pending);
    w->pending = data;
    w->len = len;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

void snapshot_writer_stop(struct snapshot_writer *w) {
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL); /* what was pending is written first */
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
