/* Fuzz target: the resolver hub's requests (net/resolver.h). The hub takes them only from its
   own user, but it holds every egress sandbox's resolver sockets: a request that parses wrong
   must not take it down. What parses keeps its promises (an absolute key, the argv's bounds, an
   absolute program for TAKE) and builds back to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/resolver.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size > FK_RESOLVER_HUB_MSG_MAX + 1)
    return 0;
  char *buf = malloc (size ? size : 1);
  if (size)
    memcpy (buf, data, size);
  fk_error_t err = FK_ERROR_INIT;
  fk_resolver_hub_msg_t msg;
  if (fk_resolver_hub_msg_parse (buf, size, &msg, &err) == 0)
    {
      if (msg.key[0] != '/' || msg.argc > FK_RESOLVER_HUB_ARGV_MAX || msg.argv[msg.argc] != NULL)
        abort ();
      if (msg.op == FK_RESOLVER_HUB_TAKE && (msg.argc == 0 || msg.argv[0][0] != '/'))
        abort ();
      if (msg.op != FK_RESOLVER_HUB_TAKE && msg.argc != 0)
        abort ();
      const char *strs[FK_RESOLVER_HUB_ARGV_MAX + 2];
      strs[0] = msg.key;
      for (size_t i = 0; i <= msg.argc; i++)
        strs[i + 1] = msg.argv[i];
      size_t len;
      char *again = fk_resolver_hub_msg_build (msg.op, strs, &len, &err);
      if (again == NULL || len != size || memcmp (again, data, size) != 0)
        abort ();
      free (again);
    }
  fk_error_clear (&err);
  free (buf);
  return 0;
}
