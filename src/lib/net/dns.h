/* net/dns.h: DNS messages (RFC 1035, EDNS from RFC 6891) as the sandbox resolver reads and writes
   them: queries from the sandbox (hostile) and answers from the host's resolvers.

   The parser is strict and bounded: a message is at most FK_DNS_MSG_MAX bytes, a compression
   pointer must point before the name it is in (so no loop can form) and a name follows at most
   FK_DNS_PTR_MAX of them, a name is at most 255 bytes on the wire, every count in the header must
   be backed by bytes, and every record's data must end where its length says. Names come out in
   presentation form (RFC 4343): labels joined by '.', lower case kept as sent, and every byte that
   is not a letter, a digit, '-' or '_' written as \DDD, so a label holding a '.' can never pass
   for two labels. */
#ifndef FK_NET_DNS_H
#define FK_NET_DNS_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define FK_DNS_MSG_MAX 65535u      /* the most a message (TCP) can be */
#define FK_DNS_UDP_MIN 512u        /* a UDP answer without EDNS */
#define FK_DNS_HEADER 12u          /* the fixed header */
#define FK_DNS_WIRE_NAME_MAX 255u  /* a name on the wire, uncompressed */
#define FK_DNS_TEXT_NAME_MAX 1024u /* its presentation form with \DDD escapes, and the NUL */
#define FK_DNS_PTR_MAX 32u         /* compression pointers one name may follow */
#define FK_DNS_RR_MAX 1024u        /* records a message may hold */

enum
{
  FK_DNS_TYPE_A = 1,
  FK_DNS_TYPE_CNAME = 5,
  FK_DNS_TYPE_AAAA = 28,
  FK_DNS_TYPE_OPT = 41,
  FK_DNS_CLASS_IN = 1,
};

enum
{
  FK_DNS_RCODE_NOERROR = 0,
  FK_DNS_RCODE_FORMERR = 1,
  FK_DNS_RCODE_SERVFAIL = 2,
  FK_DNS_RCODE_NXDOMAIN = 3,
  FK_DNS_RCODE_NOTIMP = 4,
  FK_DNS_RCODE_REFUSED = 5,
};

/* Header flag bits (the second 16-bit word). */
#define FK_DNS_FLAG_QR 0x8000u
#define FK_DNS_FLAG_AA 0x0400u
#define FK_DNS_FLAG_TC 0x0200u
#define FK_DNS_FLAG_RD 0x0100u
#define FK_DNS_FLAG_RA 0x0080u
#define FK_DNS_FLAG_AD 0x0020u
#define FK_DNS_FLAG_CD 0x0010u
#define FK_DNS_OPCODE(flags) (((flags) >> 11) & 0xfu)
#define FK_DNS_RCODE(flags) ((flags)&0xfu)

typedef struct fk_dns_question
{
  uint8_t wire[FK_DNS_WIRE_NAME_MAX]; /* the name uncompressed, as sent (case kept) */
  size_t wire_len;
  char name[FK_DNS_TEXT_NAME_MAX]; /* presentation form, no trailing dot; "" for the root */
  uint16_t qtype;
  uint16_t qclass;
} fk_dns_question_t;

typedef enum
{
  FK_DNS_SECTION_ANSWER,
  FK_DNS_SECTION_AUTHORITY,
  FK_DNS_SECTION_ADDITIONAL,
} fk_dns_section_t;

typedef struct fk_dns_rr
{
  fk_dns_section_t section;
  size_t name_off; /* the owner name in the message (fk_dns_name_text, fk_dns_name_canon) */
  uint16_t type;
  uint16_t rclass; /* OPT: the sender's UDP payload size */
  uint32_t ttl;    /* OPT: extended rcode, version, flags */
  size_t ttl_off;  /* where the TTL is in the message, for fk_dns_set_ttl */
  uint16_t rdlen;
  size_t rdata_off;
  uint8_t addr[16]; /* A (4 bytes) and AAAA */
  /* CNAME: rdata_off is the target name */
} fk_dns_rr_t;

typedef struct fk_dns_msg
{
  uint16_t id;
  uint16_t flags;
  uint16_t qdcount, ancount, nscount, arcount;
  int has_question; /* qdcount == 1 */
  fk_dns_question_t question;
  size_t question_end; /* the offset just past the question (header + question) */
  int has_edns;        /* an OPT record in the additional section */
  uint16_t edns_size;  /* its UDP payload size (at least 512) */
  int edns_do;         /* its DNSSEC OK bit */
  fk_dns_rr_t *rr;     /* answer, authority and additional records in order; owned */
  size_t n_rr;
} fk_dns_msg_t;

/* Parses the header and at most one question of msg (a query: records after the question, other
   than one OPT, are refused). EINVAL naming what is wrong; ret is filled as far as it got (the
   header when len >= 12, so a FORMERR can carry the id). No allocation. */
int fk_dns_parse_query (const uint8_t *msg, size_t len, fk_dns_msg_t *ret, fk_error_t *err);

/* Parses a whole message: header, question (at most one) and every record. EINVAL for anything
   malformed, and more than FK_DNS_RR_MAX records. ret is cleared first; free its records with
   fk_dns_msg_clear (also after an error). */
int fk_dns_parse (const uint8_t *msg, size_t len, fk_dns_msg_t *ret, fk_error_t *err);

void fk_dns_msg_clear (fk_dns_msg_t *msg);

/* Writes a query for q with id and the header flags (RD, CD) into buf (size bytes); with
   edns_size > 0 an OPT record (no options) saying that payload size and the DO bit. The length
   in *ret_len. ENOSPC when buf is too small. */
int fk_dns_build_query (uint8_t *buf, size_t size, uint16_t id, uint16_t flags,
                        const fk_dns_question_t *q, uint16_t edns_size, int edns_do,
                        size_t *ret_len, fk_error_t *err);

/* Writes an answer with no records to the query q (its id, RD and CD bits and question, when it
   had one; an OPT record of 1232 bytes when it had EDNS) with rcode and, when tc, the TC bit set
   (a truncated answer: the client retries over TCP). ENOSPC when buf is too small. */
int fk_dns_build_reply (uint8_t *buf, size_t size, const fk_dns_msg_t *q, unsigned rcode, int tc,
                        size_t *ret_len, fk_error_t *err);

/* The header's id, and a record's TTL (at the rr's ttl_off), rewritten in place. */
void fk_dns_set_id (uint8_t *msg, uint16_t id);
void fk_dns_set_ttl (uint8_t *msg, size_t ttl_off, uint32_t ttl);

/* The (checked) name at off in msg in presentation form, into buf (FK_DNS_TEXT_NAME_MAX). */
int fk_dns_name_text (const uint8_t *msg, size_t len, size_t off, char *buf, fk_error_t *err);

/* The name at off in msg uncompressed and in lower case (its canonical form, RFC 4034), into
   wire (FK_DNS_WIRE_NAME_MAX bytes); two names are the same name when these are equal. */
int fk_dns_name_canon (const uint8_t *msg, size_t len, size_t off, uint8_t *wire, size_t *ret_len,
                       fk_error_t *err);

#endif
