/* trace/envparse.h: the reference's rules for benchmark settings read from the environment
   (repeat counts and concurrency level lists), and strict variants for command lines. */
#ifndef FK_TRACE_ENVPARSE_H
#define FK_TRACE_ENVPARSE_H

#include <stddef.h>

#include "base/error.h"

/* Parses a usize as Rust's str::parse::<usize> does: ASCII digits with an optional leading
   '+', nothing else (no whitespace, no sign '-'), no overflow. Returns 0, or -1 when invalid. */
int fk_trace_parse_usize (const char *s, size_t len, size_t *ret_value);

/* A repeat count: value parsed as above and > 0, else def (NULL, not UTF-8, invalid, zero or
   empty all fall back). As in the reference the whole value must be a number: it is not
   trimmed. */
size_t fk_trace_env_repeat_count (const char *value, size_t def);

/* A level list: value split at ',', each item trimmed of whitespace and parsed as above,
   items that are invalid or zero dropped; when nothing is left (or value is NULL or not
   UTF-8) the default. *ret_levels is allocated (caller frees), *ret_n >= 1 when ndef >= 1. */
void fk_trace_env_levels (const char *value, const size_t *def, size_t ndef, size_t **ret_levels,
                          size_t *ret_n);

/* A command-line level list: like fk_trace_env_levels but every item must be a positive
   number; otherwise err names the bad item. */
int fk_trace_levels_parse (const char *value, size_t **ret_levels, size_t *ret_n, fk_error_t *err);

#endif
