/* daemon/config.h: fkd's configuration file: `key = value' lines with the settings of its
   flags (docs/fkd.md). Parsed strictly: an unknown key, a line without `=', an empty value, a
   single-valued key given twice, a control character, or a file over 64 KiB is an error that
   names the line. `#' starts a comment line; blank lines are skipped. */
#ifndef FKD_CONFIG_H
#define FKD_CONFIG_H

#include <stddef.h>

#include "base/error.h"

#define FKD_CONFIG_MAX (64u * 1024u)
/* --listen and --envd-listen may each be given this many times at most. */
#define FKD_MAX_LISTEN 16

typedef struct fkd_config
{
  char *listen[FKD_MAX_LISTEN];
  size_t n_listen;
  char *envd_listen[FKD_MAX_LISTEN];
  size_t n_envd_listen;
  char *api_key, *domain, *state_dir, *agent, *log_level;
  char *warm_pool, *warm_template; /* as given: checked by fkd */
  char *network;                   /* as given: checked by fkd */
  char *oci_root;                  /* fk-oci containers served by envd: docs/oci.md */
} fkd_config_t;

/* Parses text (len bytes) into *ret (zeroed first; free with fkd_config_clear, also after a
   failure). name is the file's name for the messages ("firkin.conf:3: unknown key `x'"). */
int fkd_config_parse (const char *text, size_t len, const char *name, fkd_config_t *ret,
                      fk_error_t *err);
/* Reads and parses the file at path. */
int fkd_config_load (const char *path, fkd_config_t *ret, fk_error_t *err);
void fkd_config_clear (fkd_config_t *c);

#endif
