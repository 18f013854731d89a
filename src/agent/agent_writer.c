/* Files the agent keeps but need not wait for go to disk in a thread of
 * their own: a write ends with two fsyncs (atomic_file.h), which a busy
 * disk can hold for seconds, and the agent's loop must never wait that
 * long (its probes time out in 100 ms). These are the membership snapshot,
 * the stamp clock's anchor, the run lease and the highest term seen: each
 * is a value a restart may find older than the last one, and is safe so.
 * The loop hands over the bytes; newer bytes for a path replace those not
 * yet written, so the thread writes at most the latest of each. Files that
 * must be on disk before the agent acts on them stay in the loop: the
 * vote (Raft, figure 2: on stable storage before it is answered), the protected
 * gate libvirt's hook reads, and the failed migrations a record reports. */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "agent_internal.h"
#include "common/atomic_file.h"
#include "common/log.h"

struct slot {
    char path[PATH_MAX];
    char dir[PATH_MAX]; /* made again if it went */
    const char *what; /* what it keeps, for the log */
    const char *lost; /* what a restart loses when it cannot be kept; NULL: not said */
    unsigned mode;
    uint8_t *pending; /* owned; NULL: nothing to write */
    size_t len;
    bool failed; /* the last write failed: logged once until one succeeds */
};

struct file_writer {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct slot slot[FILE_WRITER_FILES];
    size_t n;
    size_t turn; /* where the next look for pending bytes starts: no file waits behind another */
    bool stop;
};

static void write_slot(struct slot *s, const uint8_t *data, size_t len) {
    if (make_dirs(s->dir, 0755) == 0 && atomic_write_file(s->path, data, len, s->mode) == 0) {
        if (s->failed)
            log_info("%s written again to %s", s->what, s->path);
        s->failed = false;
        return;
    }
    if (!s->failed)
        log_warn("cannot keep the %s in %s: %s%s%s%s", s->what, s->path, strerror(errno),
                 s->lost ? " (" : "", s->lost ? s->lost : "", s->lost ? ")" : "");
    s->failed = true;
}

static struct slot *next_pending(struct file_writer *w) {
    for (size_t k = 0; k < w->n; k++) {
        struct slot *s = &w->slot[(w->turn + k) % w->n];
        if (s->pending) {
            w->turn = (w->turn + k + 1) % w->n;
            return s;
        }
    }
    return NULL;
}

static void *run(void *arg) {
    struct file_writer *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        struct slot *s;
        while (!(s = next_pending(w)) && !w->stop)
            pthread_cond_wait(&w->cond, &w->lock);
        if (!s)
            break;
        uint8_t *data = s->pending;
        size_t len = s->len;
        s->pending = NULL;
        /* The slot's path and flags are the thread's alone once added. */
        pthread_mutex_unlock(&w->lock);
        write_slot(s, data, len);
        free(data);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

struct file_writer *file_writer_start(void) {
    struct file_writer *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    /* The thread takes no signal: the agent reads them from its signalfd,
     * and one delivered here would take its default action (agent.c). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&w->thread, NULL, run, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return NULL;
    }
    return w;
}

int file_writer_add(struct file_writer *w, const char *path, unsigned mode, const char *what,
                    const char *lost) {
    pthread_mutex_lock(&w->lock);
    int id = -1;
    if (w->n < FILE_WRITER_FILES) {
        struct slot *s = &w->slot[w->n];
        snprintf(s->path, sizeof s->path, "%s", path);
        snprintf(s->dir, sizeof s->dir, "%s", path);
        char *slash = strrchr(s->dir, '/');
        if (slash && slash != s->dir)
            *slash = '\0';
        else
            snprintf(s->dir, sizeof s->dir, "%s", slash ? "/" : ".");
        s->mode = mode;
        s->what = what;
        s->lost = lost;
        id = (int)w->n++;
    }
    pthread_mutex_unlock(&w->lock);
    return id;
}

void file_writer_put(struct file_writer *w, int file, uint8_t *data, size_t len) {
    assert(file >= 0);
    pthread_mutex_lock(&w->lock);
    assert((size_t)file < w->n);
    struct slot *s = &w->slot[file];
    free(s->pending);
    s->pending = data;
    s->len = len;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

int file_writer_put_copy(struct file_writer *w, int file, const void *data, size_t len) {
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return -1;
    memcpy(copy, data, len);
    file_writer_put(w, file, copy, len);
    return 0;
}

void file_writer_stop(struct file_writer *w) {
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
