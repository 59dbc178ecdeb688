/* Fuzz target: what fkd's port proxy parses from a server inside a sandbox (a response head, a
   chunked body) and the Host that routes to it (untrusted: the sandbox's code and any client).
   The first byte picks the parser; a chunked body is fed in pieces of varying size and must
   decode to the same bytes as in one piece. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/proxyhttp.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static long
decode_all (const uint8_t *data, size_t size, size_t step, char **ret, int *ret_done)
{
  fkd_chunked_t c = FKD_CHUNKED_INIT;
  char *out = malloc (size + 1);
  size_t n = 0;
  *ret_done = 0;
  for (size_t off = 0; off < size && !*ret_done; off += step)
    {
      size_t k = size - off < step ? size - off : step;
      char *piece = malloc (k);
      memcpy (piece, data + off, k);
      size_t rest;
      long got = fkd_chunked_decode (&c, piece, k, ret_done, &rest);
      if (got < 0)
        {
          free (piece);
          free (out);
          return -1;
        }
      if ((size_t)got > k || rest > k)
        abort ();
      memcpy (out + n, piece, (size_t)got);
      n += (size_t)got;
      free (piece);
    }
  *ret = out;
  return (long)n;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  uint8_t mode = data[0] % 3;
  data++;
  size--;
  if (mode == 0)
    {
      fkd_http_head_t h;
      long n = fkd_http_head_parse ((const char *)data, size, &h);
      if (n > 0)
        {
          if ((size_t)n > size || h.status < 100 || h.status > 599 || h.reason == NULL)
            abort ();
          for (size_t i = 0; i < h.n_headers; i++)
            if (strpbrk (h.headers[i].name, "\r\n:") || strpbrk (h.headers[i].value, "\r\n"))
              abort ();
          fkd_http_head_clear (&h);
        }
    }
  else if (mode == 1)
    {
      char *a = NULL, *b = NULL;
      int da, db;
      long na = decode_all (data, size, size ? size : 1, &a, &da);
      long nb = decode_all (data, size, 3, &b, &db);
      if ((na < 0) != (nb < 0))
        abort ();
      if (na >= 0 && da && db && (na != nb || memcmp (a, b, (size_t)na) != 0))
        abort ();
      free (a);
      free (b);
    }
  else
    {
      char *host = malloc (size + 1);
      memcpy (host, data, size);
      host[size] = '\0';
      unsigned port;
      char *id;
      if (fkd_proxy_host_parse (host, "fkd.test", &port, &id) == 1)
        {
          if (port < 1 || port > 65535 || id[0] == '\0' || strchr (id, '.'))
            abort ();
          free (id);
        }
      free (host);
    }
  return 0;
}
