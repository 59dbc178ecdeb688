/* base/json.h: jansson helpers: loading with located errors, atomic dumps, typed getters. */
#ifndef FK_BASE_JSON_H
#define FK_BASE_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "base/error.h"

/* Parses len bytes; on failure err names the line, column and what is wrong. Caller decrefs. */
int fk_json_parse (const char *buf, size_t len, json_t **ret_json, fk_error_t *err);

/* Reads and parses the file at path relative to dirfd; at most max bytes. */
int fk_json_load_file_at (int dirfd, const char *path, size_t max, json_t **ret_json,
                          fk_error_t *err);

/* Serialises json (indented when pretty, else compact; keys in insertion order) and replaces
   path atomically; a newline ends the file. */
int fk_json_dump_file_atomic_at (int dirfd, const char *path, const json_t *json, int pretty,
                                 fk_error_t *err);
/* The same without the fsync (fk_write_file_replace_at). */
int fk_json_dump_file_replace_at (int dirfd, const char *path, const json_t *json, int pretty,
                                  fk_error_t *err);

/* Typed getters on an object. A missing key is an error only when required (then *ret is left
   as it was and 1 is not returned); a present key of the wrong type is always an error.
   Return 1 when found, 0 when absent and optional, < 0 on error. Strings are borrowed. */
int fk_json_get_string (const json_t *obj, const char *key, int required, const char **ret,
                        fk_error_t *err);
int fk_json_get_int (const json_t *obj, const char *key, int required, long long *ret,
                     fk_error_t *err);
int fk_json_get_number (const json_t *obj, const char *key, int required, double *ret,
                        fk_error_t *err);
int fk_json_get_bool (const json_t *obj, const char *key, int required, int *ret, fk_error_t *err);
/* Borrowed references. */
int fk_json_get_object (const json_t *obj, const char *key, int required, json_t **ret,
                        fk_error_t *err);
int fk_json_get_array (const json_t *obj, const char *key, int required, json_t **ret,
                       fk_error_t *err);

#endif
