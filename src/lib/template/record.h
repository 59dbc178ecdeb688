/* template/record.h: the template record files shared by loading (record.c) and the store side
   (template.c: prepare, list, inspect, remove). */
#ifndef FK_TEMPLATE_RECORD_H
#define FK_TEMPLATE_RECORD_H

#include <jansson.h>

#include "base/error.h"

/* Largest record file read. */
#define FK_TEMPLATE_RECORD_MAX (1u << 20)

/* "templates/<id>.json", relative to the state dir (caller frees). */
char *fk_template_record_name (const char *id);

/* Validates id and loads its record; a missing template is ENOENT with a hint. Caller decrefs. */
int fk_template_record_load (const char *state_dir, const char *id, json_t **ret, fk_error_t *err);

#endif
