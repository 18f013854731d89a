/* Reading a workload folder. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sim/sim_trace.h"

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Regular files of dir, sorted by their bytes. */
static int list_files(const char *dir, char ***out, size_t *n_out, char *err, size_t errlen) {
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "cannot open workload folder %s: %s", dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
            continue;
        if (n == cap) {
            size_t c = cap ? cap * 2 : 256;
            char **nn = realloc(names, c * sizeof *nn);
            if (!nn) {
                rc = -1;
                break;
            }
            names = nn;
            cap = c;
        }
        if (!(names[n] = strdup(e->d_name))) {
            rc = -1;
            break;
        }
        n++;
    }
    closedir(d);
    if (rc != 0) {
        snprintf(err, errlen, "out of memory listing %s", dir);
        free_names(names, n);
        return -1;
    }
    if (n > 1)
        qsort(names, n, sizeof *names, cmp_names);
    *out = names;
    *n_out = n;
    return 0;
}

static int read_trace(const char *dir, const char *name, double *row, char *err, size_t errlen) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open trace %s: %s", path, strerror(errno));
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < SIM_TRACE_SAMPLES; i++) {
        long v;
        if (fscanf(f, "%ld", &v) != 1 || v < 0 || v > 100) {
            snprintf(err, errlen, "trace %s: line %d is not a percentage 0..100", path, i + 1);
            rc = -1;
            break;
        }
        row[i] = (double)v / 100.0;
    }
    row[SIM_TRACE_SAMPLES] = row[SIM_TRACE_SAMPLES - 1];
    fclose(f);
    return rc;
}

int sim_workload_load(const char *dir, struct sim_workload *w, char *err, size_t errlen) {
    char **names;
    size_t n;
    w->n_vms = 0;
    w->data = NULL;
    if (list_files(dir, &names, &n, err, errlen) != 0)
        return -1;
    if (n == 0) {
        snprintf(err, errlen, "workload folder %s holds no trace files", dir);
        free_names(names, n);
        return -1;
    }
    double *data = malloc(n * (SIM_TRACE_SAMPLES + 1) * sizeof *data);
    if (!data) {
        snprintf(err, errlen, "out of memory loading %s", dir);
        free_names(names, n);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (read_trace(dir, names[i], data + i * (SIM_TRACE_SAMPLES + 1), err, errlen) != 0) {
            free(data);
            free_names(names, n);
            return -1;
        }
    }
    free_names(names, n);
    w->n_vms = n;
    w->data = data;
    return 0;
}

void sim_workload_free(struct sim_workload *w) {
    free(w->data);
    w->data = NULL;
    w->n_vms = 0;
}
