/* daemon/proxyhttp.c: see proxyhttp.h. */
#include "daemon/proxyhttp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/xalloc.h"
#include "daemon/controlreq.h"

/* A chunk-size line (with extensions) or a trailer line longer than this is refused. */
#define LINE_MAX_LEN 8192

int
fkd_proxy_host_parse (const char *host, const char *domain, unsigned *ret_port, char **ret_id)
{
  if (host == NULL || domain == NULL || domain[0] == '\0')
    return 0;
  size_t n = strlen (host);
  /* The listener's own port, when the client sent one. */
  const char *colon = memchr (host, ':', n);
  if (colon)
    n = (size_t)(colon - host);
  size_t dn = strlen (domain);
  if (n < dn + 4 || host[n - dn - 1] != '.' || strncasecmp (host + n - dn, domain, dn) != 0)
    return 0;
  size_t label = n - dn - 1; /* `{port}-{id}' */
  const char *dash = memchr (host, '-', label);
  if (dash == NULL || dash == host || dash - host > 5)
    return 0;
  unsigned port = 0;
  for (const char *p = host; p < dash; p++)
    {
      if (*p < '0' || *p > '9')
        return 0;
      port = port * 10 + (unsigned)(*p - '0');
    }
  if (port < 1 || port > 65535)
    return 0;
  char *id = xstrndup (dash + 1, label - (size_t)(dash + 1 - host));
  if (!fkd_sandbox_id_valid (id))
    {
      free (id);
      return 0;
    }
  *ret_port = port;
  *ret_id = id;
  return 1;
}

int
fkd_http_list_has (const char *value, const char *token)
{
  size_t tn = strlen (token);
  const char *p = value;
  while (*p)
    {
      while (*p == ' ' || *p == '\t' || *p == ',')
        p++;
      const char *start = p;
      while (*p && *p != ',')
        p++;
      const char *end = p;
      while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
      if ((size_t)(end - start) == tn && strncasecmp (start, token, tn) == 0)
        return 1;
    }
  return 0;
}

int
fkd_http_hop_header (const char *name)
{
  static const char *const hop[] = { "connection", "keep-alive", "transfer-encoding", "te",
                                     "trailer",    "upgrade",    "content-length",    NULL };
  for (size_t i = 0; hop[i]; i++)
    if (strcasecmp (name, hop[i]) == 0)
      return 1;
  return strncasecmp (name, "proxy-", 6) == 0;
}

void
fkd_http_head_clear (fkd_http_head_t *h)
{
  for (size_t i = 0; i < h->n_headers; i++)
    {
      free (h->headers[i].name);
      free (h->headers[i].value);
    }
  free (h->headers);
  free (h->reason);
  memset (h, 0, sizeof *h);
}

static int
tchar (unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
         || strchr ("!#$%&'*+-.^_`|~", c) != NULL;
}

/* A field value or reason: visible characters, spaces and tabs, and obs-text; no other control
   character (they would reach the client). */
static int
text_ok (const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      unsigned char c = (unsigned char)s[i];
      if ((c < 0x20 && c != '\t') || c == 0x7f)
        return 0;
    }
  return 1;
}

/* The end of the line at p (the LF), or NULL. */
static const char *
line_end (const char *p, const char *end)
{
  return memchr (p, '\n', (size_t)(end - p));
}

long
fkd_http_head_parse (const char *buf, size_t len, fkd_http_head_t *ret)
{
  size_t scan = len < FKD_PROXY_HEAD_MAX ? len : FKD_PROXY_HEAD_MAX;
  /* The end of the head: an empty line (CRLF or a bare LF). */
  size_t head_len = 0;
  for (size_t i = 0; i < scan; i++)
    if (buf[i] == '\n'
        && ((i >= 1 && buf[i - 1] == '\n') || (i >= 2 && buf[i - 1] == '\r' && buf[i - 2] == '\n')))
      {
        head_len = i + 1;
        break;
      }
  if (head_len == 0)
    return len >= FKD_PROXY_HEAD_MAX ? -1 : 0;
  fkd_http_head_t h = { .length = -1 };
  const char *p = buf, *end = buf + head_len;
  const char *le = line_end (p, end);
  size_t ll = (size_t)(le - p);
  if (ll && p[ll - 1] == '\r')
    ll--;
  /* HTTP/1.x SSS[ reason] */
  if (ll < 12 || strncmp (p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') || p[8] != ' '
      || p[9] < '1' || p[9] > '5' || p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9'
      || (ll > 12 && p[12] != ' ') || !text_ok (p, ll))
    return -1;
  h.status = (unsigned)((p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0'));
  h.reason = ll > 13 ? xstrndup (p + 13, ll - 13) : xstrdup ("");
  p = le + 1;
  int te_seen = 0;
  while (p < end)
    {
      le = line_end (p, end);
      ll = (size_t)(le - p);
      if (ll && p[ll - 1] == '\r')
        ll--;
      if (ll == 0)
        break;
      const char *colon = memchr (p, ':', ll);
      if (colon == NULL || colon == p || h.n_headers >= FKD_PROXY_MAX_HEADERS)
        goto bad;
      for (const char *q = p; q < colon; q++)
        if (!tchar ((unsigned char)*q))
          goto bad;
      const char *v = colon + 1, *ve = p + ll;
      while (v < ve && (*v == ' ' || *v == '\t'))
        v++;
      while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
        ve--;
      if (!text_ok (v, (size_t)(ve - v)))
        goto bad;
      h.headers = xrealloc (h.headers, (h.n_headers + 1) * sizeof *h.headers);
      fkd_http_header_t *hd = &h.headers[h.n_headers++];
      hd->name = xstrndup (p, (size_t)(colon - p));
      hd->value = xstrndup (v, (size_t)(ve - v));
      if (strcasecmp (hd->name, "Content-Length") == 0)
        {
          char *e;
          errno = 0;
          if (hd->value[0] < '0' || hd->value[0] > '9')
            goto bad;
          unsigned long long n = strtoull (hd->value, &e, 10);
          if (errno || *e || n > INT64_MAX || (h.length >= 0 && (uint64_t)h.length != n))
            goto bad;
          h.length = (int64_t)n;
        }
      else if (strcasecmp (hd->name, "Transfer-Encoding") == 0)
        {
          te_seen = 1;
          /* The last coding decides (`gzip, chunked'). */
          const char *last = strrchr (hd->value, ',');
          last = last ? last + 1 : hd->value;
          while (*last == ' ' || *last == '\t')
            last++;
          h.chunked = strcasecmp (last, "chunked") == 0;
        }
      else if (strcasecmp (hd->name, "Connection") == 0 && fkd_http_list_has (hd->value, "upgrade"))
        h.upgrade = 1;
      p = le + 1;
    }
  /* A Transfer-Encoding overrides a length; one that is not chunked runs to the close. */
  if (te_seen)
    h.length = -1;
  *ret = h;
  return (long)head_len;
bad:
  fkd_http_head_clear (&h);
  return -1;
}

enum
{
  C_SIZE,
  C_EXT,
  C_SIZE_LF,
  C_DATA,
  C_DATA_CR,
  C_DATA_LF,
  C_TRAILER,
  C_DONE,
};

static int
hexval (char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* The size line is over: the chunk's data next, or the trailers after the last chunk. */
static void
size_line_done (fkd_chunked_t *c)
{
  c->state = c->left ? C_DATA : C_TRAILER;
  c->line = 0;
}

long
fkd_chunked_decode (fkd_chunked_t *c, char *buf, size_t len, int *ret_done, size_t *ret_rest)
{
  size_t in = 0, out = 0;
  *ret_done = 0;
  *ret_rest = 0;
  while (in < len && c->state != C_DONE)
    {
      char ch = buf[in];
      switch (c->state)
        {
        case C_SIZE:
          {
            int d = hexval (ch);
            if (d >= 0)
              {
                if (c->left >> 56)
                  return -1;
                c->left = c->left * 16 + (uint64_t)d;
                c->line++;
              }
            else if (c->line == 0)
              return -1;
            else if (ch == ';' || ch == ' ' || ch == '\t')
              c->state = C_EXT;
            else if (ch == '\r')
              c->state = C_SIZE_LF;
            else if (ch == '\n')
              size_line_done (c);
            else
              return -1;
            in++;
            break;
          }
        case C_EXT:
          if (ch == '\n')
            size_line_done (c);
          else if (++c->line > LINE_MAX_LEN)
            return -1;
          in++;
          break;
        case C_SIZE_LF:
          if (ch != '\n')
            return -1;
          size_line_done (c);
          in++;
          break;
        case C_DATA:
          {
            size_t n = len - in;
            if (n > c->left)
              n = (size_t)c->left;
            memmove (buf + out, buf + in, n);
            out += n;
            in += n;
            c->left -= n;
            if (c->left == 0)
              c->state = C_DATA_CR;
            break;
          }
        case C_DATA_CR:
          if (ch == '\r')
            c->state = C_DATA_LF;
          else if (ch == '\n')
            c->state = C_SIZE;
          else
            return -1;
          c->line = 0;
          in++;
          break;
        case C_DATA_LF:
          if (ch != '\n')
            return -1;
          c->state = C_SIZE;
          c->line = 0;
          in++;
          break;
        case C_TRAILER:
          if (ch == '\n')
            {
              if (c->line == 0)
                c->state = C_DONE;
              c->line = 0;
            }
          else if (ch != '\r' && ++c->line > LINE_MAX_LEN)
            return -1;
          in++;
          break;
        }
    }
  if (c->state == C_DONE)
    {
      *ret_done = 1;
      *ret_rest = len - in;
    }
  return (long)out;
}
