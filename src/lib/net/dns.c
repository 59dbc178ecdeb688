/* net/dns.c: DNS message parsing and building for the sandbox resolver (hostile input). */
#include "net/dns.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

static uint16_t
get16 (const uint8_t *p)
{
  return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t
get32 (const uint8_t *p)
{
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void
put16 (uint8_t *p, uint16_t v)
{
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

static void
put32 (uint8_t *p, uint32_t v)
{
  put16 (p, (uint16_t)(v >> 16));
  put16 (p + 2, (uint16_t)v);
}

/* Reads the name at off: its uncompressed form into wire (when not NULL; lower case when lower)
   and its length, and the offset just past it where it sits (ret_end). Every pointer must point
   before the part of the name it is found in, so the walk only moves backwards and ends. */
static int
read_name (const uint8_t *msg, size_t len, size_t off, uint8_t *wire, int lower,
           size_t *ret_wire_len, size_t *ret_end, fk_error_t *err)
{
  size_t pos = off, seg = off, end = 0, wlen = 0;
  unsigned ptrs = 0;
  for (;;)
    {
      if (pos >= len)
        return fk_error_set (err, EINVAL, "dns: name at %zu runs past the message", off);
      uint8_t c = msg[pos];
      if (c == 0)
        {
          if (wire)
            wire[wlen] = 0;
          wlen++;
          if (end == 0)
            end = pos + 1;
          break;
        }
      if ((c & 0xc0) == 0xc0)
        {
          if (pos + 1 >= len)
            return fk_error_set (err, EINVAL, "dns: name at %zu: cut pointer", off);
          size_t p = ((size_t)(c & 0x3f) << 8) | msg[pos + 1];
          if (end == 0)
            end = pos + 2;
          if (p >= seg || p < FK_DNS_HEADER)
            return fk_error_set (err, EINVAL,
                                 "dns: name at %zu: pointer to %zu does not point back", off, p);
          if (++ptrs > FK_DNS_PTR_MAX)
            return fk_error_set (err, EINVAL, "dns: name at %zu: more than %u pointers", off,
                                 FK_DNS_PTR_MAX);
          seg = pos = p;
          continue;
        }
      if (c & 0xc0)
        return fk_error_set (err, EINVAL, "dns: name at %zu: label type %#x", off, c & 0xc0);
      if (pos + 1 + c > len)
        return fk_error_set (err, EINVAL, "dns: name at %zu runs past the message", off);
      if (wlen + 1 + c + 1 > FK_DNS_WIRE_NAME_MAX)
        return fk_error_set (err, EINVAL, "dns: name at %zu longer than %u bytes", off,
                             FK_DNS_WIRE_NAME_MAX);
      if (wire)
        {
          wire[wlen] = c;
          for (size_t i = 0; i < c; i++)
            {
              uint8_t b = msg[pos + 1 + i];
              wire[wlen + 1 + i] = lower && b >= 'A' && b <= 'Z' ? (uint8_t)(b + 32) : b;
            }
        }
      wlen += 1 + (size_t)c;
      pos += 1 + (size_t)c;
    }
  if (ret_wire_len)
    *ret_wire_len = wlen;
  if (ret_end)
    *ret_end = end;
  return 0;
}

/* The presentation form of an uncompressed name. buf holds FK_DNS_TEXT_NAME_MAX, which the
   longest name (255 bytes, every byte escaped to 4) fits. */
static void
wire_to_text (const uint8_t *wire, char *buf)
{
  size_t o = 0, i = 0;
  while (wire[i] != 0)
    {
      size_t n = wire[i++];
      if (o > 0)
        buf[o++] = '.';
      for (size_t k = 0; k < n; k++, i++)
        {
          uint8_t b = wire[i];
          if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || b == '-'
              || b == '_')
            buf[o++] = (char)b;
          else
            {
              buf[o++] = '\\';
              buf[o++] = (char)('0' + b / 100);
              buf[o++] = (char)('0' + b / 10 % 10);
              buf[o++] = (char)('0' + b % 10);
            }
        }
    }
  buf[o] = '\0';
}

int
fk_dns_name_text (const uint8_t *msg, size_t len, size_t off, char *buf, fk_error_t *err)
{
  uint8_t wire[FK_DNS_WIRE_NAME_MAX];
  if (read_name (msg, len, off, wire, 0, NULL, NULL, err) < 0)
    return -1;
  wire_to_text (wire, buf);
  return 0;
}

int
fk_dns_name_canon (const uint8_t *msg, size_t len, size_t off, uint8_t *wire, size_t *ret_len,
                   fk_error_t *err)
{
  return read_name (msg, len, off, wire, 1, ret_len, NULL, err);
}

static int
parse_header (const uint8_t *msg, size_t len, fk_dns_msg_t *m, fk_error_t *err)
{
  if (len < FK_DNS_HEADER)
    return fk_error_set (err, EINVAL, "dns: %zu bytes, shorter than a header", len);
  if (len > FK_DNS_MSG_MAX)
    return fk_error_set (err, EINVAL, "dns: %zu bytes, longer than a message", len);
  m->id = get16 (msg);
  m->flags = get16 (msg + 2);
  m->qdcount = get16 (msg + 4);
  m->ancount = get16 (msg + 6);
  m->nscount = get16 (msg + 8);
  m->arcount = get16 (msg + 10);
  return 0;
}

static int
parse_question (const uint8_t *msg, size_t len, fk_dns_msg_t *m, fk_error_t *err)
{
  size_t pos = FK_DNS_HEADER;
  if (m->qdcount > 1)
    return fk_error_set (err, EINVAL, "dns: %u questions", m->qdcount);
  if (m->qdcount == 1)
    {
      fk_dns_question_t *q = &m->question;
      size_t end;
      if (read_name (msg, len, pos, q->wire, 0, &q->wire_len, &end, err) < 0)
        return -1;
      if (end + 4 > len)
        return fk_error_set (err, EINVAL, "dns: question cut short");
      wire_to_text (q->wire, q->name);
      q->qtype = get16 (msg + end);
      q->qclass = get16 (msg + end + 2);
      pos = end + 4;
      m->has_question = 1;
    }
  m->question_end = pos;
  return 0;
}

/* Reads the record at *pos into rr and moves *pos past it. */
static int
parse_rr (const uint8_t *msg, size_t len, size_t *pos, fk_dns_rr_t *rr, fk_error_t *err)
{
  size_t end;
  rr->name_off = *pos;
  if (read_name (msg, len, *pos, NULL, 0, NULL, &end, err) < 0)
    return -1;
  if (end + 10 > len)
    return fk_error_set (err, EINVAL, "dns: record at %zu cut short", *pos);
  rr->type = get16 (msg + end);
  rr->rclass = get16 (msg + end + 2);
  rr->ttl_off = end + 4;
  rr->ttl = get32 (msg + end + 4);
  rr->rdlen = get16 (msg + end + 8);
  rr->rdata_off = end + 10;
  if (rr->rdata_off + rr->rdlen > len)
    return fk_error_set (err, EINVAL, "dns: record at %zu: data runs past the message", *pos);
  switch (rr->type)
    {
    case FK_DNS_TYPE_A:
    case FK_DNS_TYPE_AAAA:
      {
        size_t want = rr->type == FK_DNS_TYPE_A ? 4 : 16;
        if (rr->rclass == FK_DNS_CLASS_IN)
          {
            if (rr->rdlen != want)
              return fk_error_set (err, EINVAL, "dns: record at %zu: address of %u bytes", *pos,
                                   rr->rdlen);
            memcpy (rr->addr, msg + rr->rdata_off, want);
          }
        break;
      }
    case FK_DNS_TYPE_CNAME:
      {
        size_t tend;
        if (read_name (msg, len, rr->rdata_off, NULL, 0, NULL, &tend, err) < 0)
          return -1;
        if (tend != rr->rdata_off + rr->rdlen)
          return fk_error_set (err, EINVAL, "dns: record at %zu: CNAME target of the wrong length",
                               *pos);
        break;
      }
    default:
      break;
    }
  *pos = rr->rdata_off + rr->rdlen;
  return 0;
}

static int
take_opt (const uint8_t *msg, fk_dns_msg_t *m, const fk_dns_rr_t *rr, fk_error_t *err)
{
  if (rr->section != FK_DNS_SECTION_ADDITIONAL || msg[rr->name_off] != 0)
    return fk_error_set (err, EINVAL, "dns: OPT record out of place");
  if (m->has_edns)
    return fk_error_set (err, EINVAL, "dns: two OPT records");
  m->has_edns = 1;
  m->edns_size = rr->rclass < FK_DNS_UDP_MIN ? FK_DNS_UDP_MIN : rr->rclass;
  m->edns_do = (rr->ttl & 0x8000u) != 0;
  return 0;
}

int
fk_dns_parse_query (const uint8_t *msg, size_t len, fk_dns_msg_t *ret, fk_error_t *err)
{
  memset (ret, 0, sizeof *ret);
  if (parse_header (msg, len, ret, err) < 0)
    return -1;
  if (ret->flags & FK_DNS_FLAG_QR)
    return fk_error_set (err, EINVAL, "dns: an answer where a query was expected");
  if (parse_question (msg, len, ret, err) < 0)
    return -1;
  if (ret->ancount || ret->nscount || ret->arcount > 1)
    return fk_error_set (err, EINVAL, "dns: query with records");
  size_t pos = ret->question_end;
  if (ret->arcount == 1)
    {
      fk_dns_rr_t rr = { .section = FK_DNS_SECTION_ADDITIONAL };
      if (parse_rr (msg, len, &pos, &rr, err) < 0)
        return -1;
      if (rr.type != FK_DNS_TYPE_OPT)
        return fk_error_set (err, EINVAL, "dns: query with a record of type %u", rr.type);
      if (take_opt (msg, ret, &rr, err) < 0)
        return -1;
    }
  if (pos != len)
    return fk_error_set (err, EINVAL, "dns: %zu bytes after the query", len - pos);
  return 0;
}

int
fk_dns_parse (const uint8_t *msg, size_t len, fk_dns_msg_t *ret, fk_error_t *err)
{
  memset (ret, 0, sizeof *ret);
  if (parse_header (msg, len, ret, err) < 0)
    return -1;
  if (parse_question (msg, len, ret, err) < 0)
    return -1;
  size_t pos = ret->question_end;
  size_t n = (size_t)ret->ancount + ret->nscount + ret->arcount;
  /* A record takes 11 bytes at least: counts the message cannot hold are lies. */
  if (n > FK_DNS_RR_MAX || n * 11 > len - pos)
    return fk_error_set (err, EINVAL, "dns: %zu records in %zu bytes", n, len - pos);
  if (n > 0)
    ret->rr = xcalloc (n, sizeof *ret->rr);
  for (size_t i = 0; i < n; i++)
    {
      fk_dns_rr_t *rr = &ret->rr[i];
      rr->section = i < ret->ancount                          ? FK_DNS_SECTION_ANSWER
                    : i < (size_t)ret->ancount + ret->nscount ? FK_DNS_SECTION_AUTHORITY
                                                              : FK_DNS_SECTION_ADDITIONAL;
      if (parse_rr (msg, len, &pos, rr, err) < 0)
        return -1;
      ret->n_rr = i + 1;
      if (rr->type == FK_DNS_TYPE_OPT && take_opt (msg, ret, rr, err) < 0)
        return -1;
    }
  if (pos != len)
    return fk_error_set (err, EINVAL, "dns: %zu bytes after the last record", len - pos);
  return 0;
}

void
fk_dns_msg_clear (fk_dns_msg_t *msg)
{
  free (msg->rr);
  msg->rr = NULL;
  msg->n_rr = 0;
}

static int
put_opt (uint8_t *buf, size_t size, size_t *pos, uint16_t edns_size, int edns_do, fk_error_t *err)
{
  if (*pos + 11 > size)
    return fk_error_set (err, ENOSPC, "dns: no room for the OPT record");
  uint8_t *p = buf + *pos;
  p[0] = 0;
  put16 (p + 1, FK_DNS_TYPE_OPT);
  put16 (p + 3, edns_size);
  put32 (p + 5, edns_do ? 0x8000u : 0);
  put16 (p + 9, 0);
  *pos += 11;
  return 0;
}

static int
put_question (uint8_t *buf, size_t size, size_t *pos, const fk_dns_question_t *q, fk_error_t *err)
{
  if (q->wire_len == 0 || q->wire_len > FK_DNS_WIRE_NAME_MAX || *pos + q->wire_len + 4 > size)
    return fk_error_set (err, ENOSPC, "dns: no room for the question");
  memcpy (buf + *pos, q->wire, q->wire_len);
  *pos += q->wire_len;
  put16 (buf + *pos, q->qtype);
  put16 (buf + *pos + 2, q->qclass);
  *pos += 4;
  return 0;
}

int
fk_dns_build_query (uint8_t *buf, size_t size, uint16_t id, uint16_t flags,
                    const fk_dns_question_t *q, uint16_t edns_size, int edns_do, size_t *ret_len,
                    fk_error_t *err)
{
  if (size < FK_DNS_HEADER)
    return fk_error_set (err, ENOSPC, "dns: no room for a header");
  memset (buf, 0, FK_DNS_HEADER);
  put16 (buf, id);
  put16 (buf + 2, (uint16_t)(flags & (FK_DNS_FLAG_RD | FK_DNS_FLAG_CD)));
  put16 (buf + 4, 1);
  put16 (buf + 10, edns_size ? 1 : 0);
  size_t pos = FK_DNS_HEADER;
  if (put_question (buf, size, &pos, q, err) < 0)
    return -1;
  if (edns_size && put_opt (buf, size, &pos, edns_size, edns_do, err) < 0)
    return -1;
  *ret_len = pos;
  return 0;
}

int
fk_dns_build_reply (uint8_t *buf, size_t size, const fk_dns_msg_t *q, unsigned rcode, int tc,
                    size_t *ret_len, fk_error_t *err)
{
  if (size < FK_DNS_HEADER)
    return fk_error_set (err, ENOSPC, "dns: no room for a header");
  memset (buf, 0, FK_DNS_HEADER);
  uint16_t flags = (uint16_t)(FK_DNS_FLAG_QR | FK_DNS_FLAG_RA
                              | (q->flags & (FK_DNS_FLAG_RD | FK_DNS_FLAG_CD | 0x7800u))
                              | (rcode & 0xfu) | (tc ? FK_DNS_FLAG_TC : 0));
  put16 (buf, q->id);
  put16 (buf + 2, flags);
  put16 (buf + 4, q->has_question ? 1 : 0);
  put16 (buf + 10, q->has_edns ? 1 : 0);
  size_t pos = FK_DNS_HEADER;
  if (q->has_question && put_question (buf, size, &pos, &q->question, err) < 0)
    return -1;
  if (q->has_edns && put_opt (buf, size, &pos, 1232, q->edns_do, err) < 0)
    return -1;
  *ret_len = pos;
  return 0;
}

void
fk_dns_set_id (uint8_t *msg, uint16_t id)
{
  put16 (msg, id);
}

void
fk_dns_set_ttl (uint8_t *msg, size_t ttl_off, uint32_t ttl)
{
  put32 (msg + ttl_off, ttl);
}
