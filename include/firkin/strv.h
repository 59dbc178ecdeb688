/* firkin/strv.h: NULL-terminated vectors of strings, as the library returns them (template
   ids, environments, argv). */
#ifndef FIRKIN_STRV_H
#define FIRKIN_STRV_H

/* Frees every string of v, then v; NULL is fine. */
void fk_strv_free (char **v);

#endif
