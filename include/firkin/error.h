/* firkin/error.h: the error object every libfirkin call fills when it fails. A call returning int
   returns < 0 on failure and fills *err once, where it happened: code is an errno value (0 when
   the failure has none) and the message names the object ("open `/x': No such file or
   directory"). A later failure never overwrites an error already set: clear it first. */
#ifndef FIRKIN_ERROR_H
#define FIRKIN_ERROR_H

typedef struct fk_error
{
  int code;  /* an errno value, or 0 when the failure has none */
  char *msg; /* owned; NULL when no error is set */
} fk_error_t;

/* An unset error: declare every fk_error_t with it. */
#define FK_ERROR_INIT                                                                              \
  {                                                                                                \
    0, NULL                                                                                        \
  }

/* True when err holds an error. */
int fk_error_is_set (const fk_error_t *err);

/* The message, or "unknown error" when none is set; owned by err. */
const char *fk_error_message (const fk_error_t *err);

/* Frees the message and resets err to FK_ERROR_INIT; safe on an unset error and on NULL. */
void fk_error_clear (fk_error_t *err);

#endif
