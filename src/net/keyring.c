#include "keyring.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/atomic_file.h"

int keyring_init(void) { return sodium_init() < 0 ? -1 : 0; }

uint32_t keyring_id_of(const uint8_t key[KEYRING_KEY_BYTES]) {
    uint8_t h[crypto_generichash_BYTES];
    crypto_generichash(h, sizeof h, key, KEYRING_KEY_BYTES, NULL, 0);
    return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

void keyring_id_text(uint32_t id, char out[KEYRING_ID_TEXT]) {
    snprintf(out, KEYRING_ID_TEXT, "%08x", id);
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Exactly 2 * n hexadecimal digits. */
static int parse_hex(const char *text, size_t len, uint8_t *out, size_t n) {
    if (len != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int hi = hex_digit(text[2 * i]), lo = hex_digit(text[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

int keyring_parse_id(const char *text, uint32_t *id) {
    uint8_t b[4];
    if (parse_hex(text, strlen(text), b, sizeof b) != 0)
        return -1;
    *id = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    return 0;
}

const uint8_t *keyring_find(const struct keyring *r, uint32_t id) {
    for (size_t i = 0; i < r->n; i++)
        if (r->id[i] == id)
            return r->key[i];
    return NULL;
}

uint32_t keyring_primary_id(const struct keyring *r) {
    return r->n ? r->id[r->primary] : 0;
}

int keyring_parse_key(const char *text, size_t len, uint8_t key[KEYRING_KEY_BYTES]) {
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        len--;
    return parse_hex(text, len, key, KEYRING_KEY_BYTES);
}

static int add(struct keyring *r, const uint8_t key[KEYRING_KEY_BYTES], char *err,
               size_t errlen) {
    uint32_t id = keyring_id_of(key);
    char text[KEYRING_ID_TEXT];
    keyring_id_text(id, text);
    if (keyring_find(r, id)) {
        snprintf(err, errlen, "key %s is already installed", text);
        return -1;
    }
    if (r->n == KEYRING_MAX) {
        snprintf(err, errlen, "the keyring holds %d keys already; remove one first",
                 KEYRING_MAX);
        return -1;
    }
    memcpy(r->key[r->n], key, KEYRING_KEY_BYTES);
    r->id[r->n++] = id;
    return 0;
}

int keyring_parse(const char *text, size_t len, struct keyring *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    int primaries = 0, line = 0;
    for (size_t pos = 0; pos < len; line++) {
        const char *eol = memchr(text + pos, '\n', len - pos);
        size_t end = eol ? (size_t)(eol - text) : len;
        char buf[256];
        size_t n = end - pos;
        if (n >= sizeof buf) {
            snprintf(err, errlen, "line %d: too long", line + 1);
            return -1;
        }
        memcpy(buf, text + pos, n);
        buf[n] = '\0';
        pos = end + 1;
        char *hash = strchr(buf, '#');
        if (hash)
            *hash = '\0';
        char *save, *word = strtok_r(buf, " \t\r", &save);
        if (!word)
            continue;
        uint8_t key[KEYRING_KEY_BYTES];
        if (parse_hex(word, strlen(word), key, sizeof key) != 0) {
            snprintf(err, errlen, "line %d: a key is 64 hexadecimal digits", line + 1);
            return -1;
        }
        char *mark = strtok_r(NULL, " \t\r", &save);
        bool primary = mark && strcmp(mark, "primary") == 0;
        if ((mark && !primary) || strtok_r(NULL, " \t\r", &save)) {
            snprintf(err, errlen, "line %d: expected a key, optionally followed by 'primary'",
                     line + 1);
            return -1;
        }
        char why[128];
        if (add(out, key, why, sizeof why) != 0) {
            sodium_memzero(key, sizeof key);
            snprintf(err, errlen, "line %d: %s", line + 1, why);
            return -1;
        }
        sodium_memzero(key, sizeof key);
        if (primary) {
            primaries++;
            out->primary = out->n - 1;
        }
    }
    if (out->n == 0 || primaries != 1) {
        snprintf(err, errlen, out->n ? "exactly one key must be marked 'primary' (%d are)"
                                     : "no key in it", primaries);
        return -1;
    }
    return 0;
}

size_t keyring_format(const struct keyring *r, char *out) {
    size_t len = (size_t)snprintf(out, KEYRING_FILE_MAX,
                                  "# nodectl keyring: the cluster keys this host accepts; it "
                                  "seals with the primary.\n# Managed by `nodectl keys`.\n");
    for (size_t i = 0; i < r->n; i++) {
        char hex[2 * KEYRING_KEY_BYTES + 1], id[KEYRING_ID_TEXT];
        sodium_bin2hex(hex, sizeof hex, r->key[i], KEYRING_KEY_BYTES);
        keyring_id_text(r->id[i], id);
        len += (size_t)snprintf(out + len, KEYRING_FILE_MAX - len, "%s%s # id %s\n", hex,
                                i == r->primary ? " primary" : "", id);
        sodium_memzero(hex, sizeof hex);
    }
    return len;
}

int keyring_install(struct keyring *r, const uint8_t key[KEYRING_KEY_BYTES], char *err,
                    size_t errlen) {
    return add(r, key, err, errlen);
}

static int index_of(const struct keyring *r, uint32_t id, char *err, size_t errlen) {
    for (size_t i = 0; i < r->n; i++)
        if (r->id[i] == id)
            return (int)i;
    char text[KEYRING_ID_TEXT];
    keyring_id_text(id, text);
    snprintf(err, errlen, "key %s is not installed", text);
    return -1;
}

int keyring_use(struct keyring *r, uint32_t id, char *err, size_t errlen) {
    int i = index_of(r, id, err, errlen);
    if (i < 0)
        return -1;
    r->primary = (size_t)i;
    return 0;
}

int keyring_remove(struct keyring *r, uint32_t id, char *err, size_t errlen) {
    int i = index_of(r, id, err, errlen);
    if (i < 0)
        return -1;
    if ((size_t)i == r->primary) {
        char text[KEYRING_ID_TEXT];
        keyring_id_text(id, text);
        snprintf(err, errlen, "key %s is the primary key; make another key primary first "
                 "(nodectl keys use ID)", text);
        return -1;
    }
    size_t last = r->n - 1;
    sodium_memzero(r->key[i], KEYRING_KEY_BYTES);
    memmove(r->key[i], r->key[i + 1], (last - (size_t)i) * KEYRING_KEY_BYTES);
    memmove(&r->id[i], &r->id[i + 1], (last - (size_t)i) * sizeof r->id[0]);
    sodium_memzero(r->key[last], KEYRING_KEY_BYTES);
    if (r->primary > (size_t)i)
        r->primary--;
    r->n--;
    return 0;
}

int keyring_load(const char *keyring_path, const char *key_file, struct keyring *out,
                 bool *from_key_file, char *err, size_t errlen) {
    size_t len;
    char *text = read_small_file(keyring_path, KEYRING_FILE_MAX, &len);
    *from_key_file = false;
    if (text) {
        char why[200];
        int rc = keyring_parse(text, len, out, why, sizeof why);
        sodium_memzero(text, len);
        free(text);
        if (rc != 0)
            snprintf(err, errlen, "%s: %s", keyring_path, why);
        return rc;
    }
    if (errno != ENOENT) {
        snprintf(err, errlen, "%s: cannot read the keyring: %s", keyring_path, strerror(errno));
        return -1;
    }
    text = read_small_file(key_file, 256, &len);
    if (!text) {
        snprintf(err, errlen, "%s: cannot read the cluster key: %s (and there is no keyring %s)",
                 key_file, strerror(errno), keyring_path);
        return -1;
    }
    uint8_t key[KEYRING_KEY_BYTES];
    int rc = keyring_parse_key(text, len, key);
    sodium_memzero(text, len);
    free(text);
    if (rc != 0) {
        snprintf(err, errlen, "%s: a cluster key is 64 hexadecimal digits (make one with "
                 "`nodectl keygen`)", key_file);
        return -1;
    }
    memset(out, 0, sizeof *out);
    memcpy(out->key[0], key, sizeof key);
    out->id[0] = keyring_id_of(key);
    out->n = 1;
    sodium_memzero(key, sizeof key);
    *from_key_file = true;
    return 0;
}

int keyring_save(const char *path, const struct keyring *r, char *err, size_t errlen) {
    char *text = malloc(KEYRING_FILE_MAX);
    if (!text) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t len = keyring_format(r, text);
    int rc = atomic_write_file(path, text, len, 0600);
    if (rc != 0)
        snprintf(err, errlen, "%s: cannot write the keyring: %s", path, strerror(errno));
    sodium_memzero(text, KEYRING_FILE_MAX);
    free(text);
    return rc;
}
