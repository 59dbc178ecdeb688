/* Fuzz target: DNS messages (untrusted: queries come from the sandbox's code, answers from
   upstream resolvers and whoever answers them). Parses as a query and as a whole message; what
   parses renders its names and rebuilds to a message that parses the same. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/dns.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_dns_msg_t q;
  uint8_t out[FK_DNS_HEADER + FK_DNS_WIRE_NAME_MAX + 4 + 11];
  size_t len;
  if (fk_dns_parse_query (data, size, &q, &err) == 0)
    {
      if (fk_dns_build_reply (out, sizeof out, &q, FK_DNS_RCODE_NXDOMAIN, 1, &len, &err) < 0)
        abort ();
      fk_dns_msg_t r;
      if (fk_dns_parse (out, len, &r, &err) < 0 || r.id != q.id || r.has_question != q.has_question
          || r.n_rr != (q.has_edns ? 1u : 0u))
        abort ();
      if (q.has_question)
        {
          if (strcmp (r.question.name, q.question.name) != 0)
            abort ();
          if (fk_dns_build_query (out, sizeof out, 1, q.flags, &q.question, 1232, q.edns_do, &len,
                                  &err)
              < 0)
            abort ();
          fk_dns_msg_t again;
          if (fk_dns_parse_query (out, len, &again, &err) < 0
              || strcmp (again.question.name, q.question.name) != 0
              || again.question.qtype != q.question.qtype)
            abort ();
        }
      fk_dns_msg_clear (&r);
    }
  fk_error_clear (&err);

  fk_dns_msg_t m;
  if (fk_dns_parse (data, size, &m, &err) == 0)
    {
      uint8_t *copy = malloc (size ? size : 1);
      memcpy (copy, data, size);
      for (size_t i = 0; i < m.n_rr; i++)
        {
          char text[FK_DNS_TEXT_NAME_MAX];
          uint8_t wire[FK_DNS_WIRE_NAME_MAX];
          size_t wl;
          if (fk_dns_name_text (data, size, m.rr[i].name_off, text, &err) < 0
              || fk_dns_name_canon (data, size, m.rr[i].name_off, wire, &wl, &err) < 0
              || strlen (text) >= FK_DNS_TEXT_NAME_MAX || wl > FK_DNS_WIRE_NAME_MAX)
            abort ();
          if (m.rr[i].type == FK_DNS_TYPE_CNAME
              && fk_dns_name_text (data, size, m.rr[i].rdata_off, text, &err) < 0)
            abort ();
          fk_dns_set_ttl (copy, m.rr[i].ttl_off, 3600);
        }
      /* Rewritten TTLs stay in bounds; the message may no longer parse (a later name may point
         into a TTL), which only has to fail cleanly. */
      fk_dns_msg_t m2;
      (void)fk_dns_parse (copy, size, &m2, &err);
      fk_error_clear (&err);
      fk_dns_msg_clear (&m2);
      free (copy);
    }
  fk_dns_msg_clear (&m);
  fk_error_clear (&err);
  return 0;
}
