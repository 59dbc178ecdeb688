/* daemon/proxyhttp.h: the HTTP that fkd's port proxy parses: the `{port}-{id}.{domain}' Host
   that routes a request to a sandbox's port, and what a server inside a sandbox answers (a
   response head, a chunked body). The answers come from the sandbox and are hostile: sizes are
   bounded, nothing is trusted, and these parsers stand alone so a fuzz target links them. */
#ifndef FKD_PROXYHTTP_H
#define FKD_PROXYHTTP_H

#include <stddef.h>
#include <stdint.h>

/* A response head (status line and headers) longer than this is refused. */
#define FKD_PROXY_HEAD_MAX (64u * 1024u)
#define FKD_PROXY_MAX_HEADERS 100

/* Parses a Host (an optional `:port' of the listener is ignored) of the form
   `{port}-{id}.{domain}' (domain compared without case): 1 with *ret_port (1-65535) and *ret_id
   (caller frees; a well-formed sandbox id, not yet looked up), 0 when the Host is not of that
   form (or domain is NULL). */
int fkd_proxy_host_parse (const char *host, const char *domain, unsigned *ret_port, char **ret_id);

typedef struct fkd_http_header
{
  char *name, *value;
} fkd_http_header_t;

typedef struct fkd_http_head
{
  unsigned status; /* 100-599 */
  char *reason;    /* may be "" */
  fkd_http_header_t *headers;
  size_t n_headers;
  int64_t length; /* Content-Length, -1 when absent */
  int chunked;    /* Transfer-Encoding ends in chunked */
  int upgrade;    /* Connection lists upgrade */
} fkd_http_head_t;

/* Parses a response head at buf: the number of bytes it takes (> 0) with *ret filled (free
   with fkd_http_head_clear), 0 when more bytes are needed, -1 when it is not a valid head (or
   longer than FKD_PROXY_HEAD_MAX). */
long fkd_http_head_parse (const char *buf, size_t len, fkd_http_head_t *ret);
void fkd_http_head_clear (fkd_http_head_t *h);
/* 1 when name (any case) is a hop-by-hop header a proxy does not pass on (Connection,
   Keep-Alive, Transfer-Encoding, TE, Trailer, Upgrade, Proxy-*), or one the proxy sets itself
   (Content-Length). */
int fkd_http_hop_header (const char *name);
/* 1 when the comma-separated list value holds token (any case). */
int fkd_http_list_has (const char *value, const char *token);

/* A chunked body being decoded. */
typedef struct fkd_chunked
{
  int state;
  uint64_t left; /* bytes left in the current chunk */
  unsigned line; /* length of the size or trailer line read so far */
} fkd_chunked_t;

#define FKD_CHUNKED_INIT                                                                           \
  {                                                                                                \
    0, 0, 0                                                                                        \
  }

/* Decodes in place: reads buf[0, len), moves the body's bytes to the front of buf, and returns
   how many there are; *ret_done is set once the last chunk and the trailers are read (bytes
   after that are left out and counted in *ret_rest, from the end of buf). -1: not chunked
   encoding. */
long fkd_chunked_decode (fkd_chunked_t *c, char *buf, size_t len, int *ret_done, size_t *ret_rest);

#endif
