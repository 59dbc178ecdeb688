/* template/template.h: the template store; the public API is include/firkin/template.h. This
   header adds what the library's own users (tests, benchmarks) need beyond it. */
#ifndef FK_TEMPLATE_TEMPLATE_H
#define FK_TEMPLATE_TEMPLATE_H

#include "base/cleanup.h"
#include "firkin/template.h"

FK_DEFINE_CLEANUP (fk_template_t *, fk_template_free)
#define cleanup_template FK_CLEANUP (fk_template_free)

/* Checks a template id: 1-128 of [A-Za-z0-9_.-], not starting with `.' or `-'. */
int fk_template_id_validate (const char *id, fk_error_t *err);

/* The id a reference gets when none is given: its last path component and tag, lower-case,
   other characters turned into `-' ("debian:bookworm-slim" -> "debian-bookworm-slim"). */
char *fk_template_default_id (const char *ref);

#endif
