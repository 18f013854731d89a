/* boot_file.h: state files bound to the boot that wrote them. */
#include "boot_file.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

const char *boot_file_kept_name(enum boot_file_kept k) {
    switch (k) {
    case BOOT_FILE_THIS_BOOT:
        return "kept on this boot";
    case BOOT_FILE_NONE:
        return "none kept yet";
    case BOOT_FILE_OTHER_BOOT:
        return "another boot's";
    case BOOT_FILE_NO_BOOT_ID:
        return "this boot's id cannot be read";
    case BOOT_FILE_UNREADABLE:
        return "unreadable";
    case BOOT_FILE_MALFORMED:
        return "malformed";
    case BOOT_FILE_OUT_OF_RANGE:
        return "values out of range";
    }
    return "?";
}

bool boot_file_kept_normal(enum boot_file_kept k) {
    return k == BOOT_FILE_THIS_BOOT || k == BOOT_FILE_NONE || k == BOOT_FILE_OTHER_BOOT;
}

/* A boot id the text keeps as it is: 1 to BOOT_FILE_ID_MAX - 1 printable
 * characters, no space (the text's separator). */
static bool boot_ok(const char *s, size_t n) {
    if (n == 0 || n >= BOOT_FILE_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

int boot_file_format(const char *boot, const int64_t *v, size_t n, char *out, size_t len) {
    assert(n <= BOOT_FILE_VALUES_MAX);
    if (!boot_ok(boot, strlen(boot)))
        return -1;
    /* Room for the longest text: nothing is cut here. */
    char text[BOOT_FILE_TEXT_MAX];
    int o = snprintf(text, sizeof text, "%s", boot);
    for (size_t i = 0; i < n; i++)
        o += snprintf(text + o, sizeof text - (size_t)o, " %" PRId64, v[i]);
    o += snprintf(text + o, sizeof text - (size_t)o, "\n");
    assert((size_t)o < sizeof text);
    if ((size_t)o >= len)
        return -1;
    memcpy(out, text, (size_t)o + 1);
    return o;
}

/* One value at text[*at..len), as PRId64 writes it: an optional "-", then
 * 1 to 19 digits with no leading zero (but "0"), within int64_t. */
static bool value_at(const char *text, size_t len, size_t *at, int64_t *out) {
    size_t i = *at;
    bool neg = i < len && text[i] == '-';
    i += neg;
    size_t first = i;
    uint64_t mag = 0;
    for (; i < len && text[i] >= '0' && text[i] <= '9'; i++) {
        if (i - first == 19)
            return false;
        mag = mag * 10 + (uint64_t)(text[i] - '0');
    }
    size_t digits = i - first;
    if (digits == 0 || (digits > 1 && text[first] == '0') || (neg && mag == 0))
        return false;
    /* 19 digits stay below 10^19 < 2^64: mag did not wrap. */
    if (mag > (uint64_t)INT64_MAX + neg)
        return false;
    *out = neg ? -(int64_t)(mag - 1) - 1 : (int64_t)mag;
    *at = i;
    return true;
}

enum boot_file_kept boot_file_parse(const char *text, size_t len, const char *boot, int64_t *v,
                                    size_t n) {
    assert(n <= BOOT_FILE_VALUES_MAX);
    /* An id the text cannot keep is one no file can be matched with. */
    if (!boot_ok(boot, strlen(boot)))
        return BOOT_FILE_NO_BOOT_ID;
    if (!text)
        return BOOT_FILE_NONE;
    size_t id_len = 0;
    while (id_len < len && text[id_len] != ' ' && text[id_len] != '\n')
        id_len++;
    if (!boot_ok(text, id_len))
        return BOOT_FILE_MALFORMED;
    int64_t got[BOOT_FILE_VALUES_MAX];
    size_t at = id_len;
    for (size_t i = 0; i < n; i++) {
        if (at >= len || text[at] != ' ')
            return BOOT_FILE_MALFORMED;
        at++;
        if (!value_at(text, len, &at, &got[i]))
            return BOOT_FILE_MALFORMED;
    }
    if (at < len && text[at] == '\n')
        at++;
    if (at != len)
        return BOOT_FILE_MALFORMED;
    if (strlen(boot) != id_len || memcmp(text, boot, id_len) != 0)
        return BOOT_FILE_OTHER_BOOT;
    memcpy(v, got, n * sizeof *v);
    return BOOT_FILE_THIS_BOOT;
}
