/* The cluster keyring: the symmetric keys this host accepts frames under,
 * one of them primary (the one it seals with). As Serf's keyring
 * (serf/keymanager.go), a key is changed on a live cluster in three rolling
 * steps: install the new key on every host, make it primary on every host,
 * remove the old one. A frame names its key by a 4-byte id, the first bytes
 * of the key's BLAKE2b hash, so a receiver tries one key, not all.
 *
 * The file (0600, written atomically) holds one key per line, 64
 * hexadecimal digits, the primary followed by the word "primary"; '#' starts
 * a comment. A single key file (nodectl keygen) is a one-key keyring. */
#ifndef NODECTL_KEYRING_H
#define NODECTL_KEYRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KEYRING_MAX 16
#define KEYRING_KEY_BYTES 32
#define KEYRING_ID_TEXT 9 /* 8 hexadecimal digits and a NUL */
/* The largest keyring file read: KEYRING_MAX lines with comments. */
#define KEYRING_FILE_MAX 4096

struct keyring {
    size_t n;
    size_t primary; /* index of the primary key; n > 0 */
    uint8_t key[KEYRING_MAX][KEYRING_KEY_BYTES];
    uint32_t id[KEYRING_MAX];
};

/* Initialises libsodium; 0, or -1 if it cannot be used. */
int keyring_init(void);
uint32_t keyring_id_of(const uint8_t key[KEYRING_KEY_BYTES]);
void keyring_id_text(uint32_t id, char out[KEYRING_ID_TEXT]);
/* "1a2b3c4d" to an id; 0, or -1 if it is not 8 hexadecimal digits. */
int keyring_parse_id(const char *text, uint32_t *id);
/* The key with this id, or NULL. */
const uint8_t *keyring_find(const struct keyring *r, uint32_t id);
uint32_t keyring_primary_id(const struct keyring *r);

/* A key file's text: 64 hexadecimal digits, optionally followed by a
 * newline. 0, or -1. */
int keyring_parse_key(const char *text, size_t len, uint8_t key[KEYRING_KEY_BYTES]);
/* A keyring file's text. 0, or -1 with what is wrong (and on which line) in
 * err. */
int keyring_parse(const char *text, size_t len, struct keyring *out, char *err, size_t errlen);
/* The file text of r into out (KEYRING_FILE_MAX bytes); its length. */
size_t keyring_format(const struct keyring *r, char *out);

/* The three steps of a key change; each 0, or -1 with the reason in err
 * and r unchanged. */
int keyring_install(struct keyring *r, const uint8_t key[KEYRING_KEY_BYTES], char *err,
                    size_t errlen);
int keyring_use(struct keyring *r, uint32_t id, char *err, size_t errlen);
/* Refuses the primary key: frames would be sealed with a key no longer
 * installed. */
int keyring_remove(struct keyring *r, uint32_t id, char *err, size_t errlen);

/* Reads keyring_path if it exists, else key_file as a one-key keyring
 * (*from_key_file set). 0, or -1 with a message naming the file. */
int keyring_load(const char *keyring_path, const char *key_file, struct keyring *out,
                 bool *from_key_file, char *err, size_t errlen);
/* Writes r to path atomically with mode 0600. 0, or -1 with a message. */
int keyring_save(const char *path, const struct keyring *r, char *err, size_t errlen);

#endif
