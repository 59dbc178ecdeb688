/* sandbox/events.h: a sandbox's lifecycle events, one line each in sandboxes/<id>/events
   ("<unix ms> <name> <detail>"), bounded to FK_SANDBOX_EVENTS_MAX bytes: an append that would
   pass it first drops the older half. libc only: fk-timeout records what it does too. Writers
   hold the sandbox's lifecycle lock, so appends and trims never interleave. */
#ifndef FK_SANDBOX_EVENTS_H
#define FK_SANDBOX_EVENTS_H

#include <stddef.h>

#include "base/error.h"
#include "firkin/sandbox.h"

/* Appends an event to the sandbox directory dirfd (any mode); the detail is printf-formatted,
   its newlines become spaces, and the line is cut at 512 bytes. Best effort: -1 (errno set) when
   it could not be written, which a caller may ignore: an event is a record, not a state. */
int fk_events_append (int dirfd, const char *name, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

/* Parses an events file's text into events, oldest first (malformed lines are skipped). */
void fk_events_parse (const char *text, size_t len, fk_sandbox_event_t **ret_events, size_t *ret_n);

#endif
