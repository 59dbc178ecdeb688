/* Fuzz target: fkd's configuration file parser (daemon/config.c). Whatever it accepts holds
   only non-empty values without control characters, within the listen limits. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/config.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
check (const char *v)
{
  if (v == NULL)
    return;
  if (v[0] == '\0' || v[0] == ' ' || v[strlen (v) - 1] == ' ')
    abort ();
  for (const char *p = v; *p; p++)
    if ((unsigned char)*p < 0x20 && *p != '\t')
      abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  fkd_config_t c;
  fk_error_t err = FK_ERROR_INIT;
  if (fkd_config_parse ((const char *)data, size, "fuzz", &c, &err) == 0)
    {
      if (c.n_listen > FKD_MAX_LISTEN || c.n_envd_listen > FKD_MAX_LISTEN)
        abort ();
      for (size_t i = 0; i < c.n_listen; i++)
        check (c.listen[i]);
      for (size_t i = 0; i < c.n_envd_listen; i++)
        check (c.envd_listen[i]);
      check (c.api_key);
      check (c.domain);
      check (c.state_dir);
      check (c.agent);
      check (c.log_level);
    }
  fkd_config_clear (&c);
  fk_error_clear (&err);
  return 0;
}
