/* net/rules.c: egress rules: parse, check, format, verdicts. */
#include "net/rules.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/cleanup.h"
#include "base/xalloc.h"

/* Private (RFC 1918), shared (carrier NAT, where some clouds keep their metadata service),
   link-local (the cloud metadata address 169.254.169.254 among them), loopback, "this
   network", IETF protocol assignments, benchmarking, multicast and reserved. The documentation
   ranges are left reachable: nothing of the host's hides there, and tests play the internet on
   them. */
const char *const fk_net_default_deny4[] = {
  "0.0.0.0/8",      "10.0.0.0/8",    "100.64.0.0/10", "127.0.0.0/8",
  "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",  "192.168.0.0/16",
  "198.18.0.0/15",  "224.0.0.0/4",   "240.0.0.0/4",   NULL,
};

/* Unspecified, loopback, IPv4-mapped, NAT64 (the well-known prefix and the local-use one: a
   NAT64 gateway on the path maps them onto IPv4, private ranges included), 6to4 (the same for
   its embedded IPv4 address), discard, unique local (where a cloud's IPv6 metadata address
   lives), link-local and multicast. Each may still be allowed by a rule. */
const char *const fk_net_default_deny6[] = {
  "::/128",    "::1/128",  "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48",
  "2002::/16", "100::/64", "fc00::/7",      "fe80::/10",    "ff00::/8",
  NULL,
};

static size_t
strv_len (const char *const *v)
{
  size_t n = 0;
  while (v && v[n])
    n++;
  return n;
}

static void
clear_host_bits (uint8_t *addr, unsigned bytes, unsigned prefix)
{
  for (unsigned i = 0; i < bytes; i++)
    {
      unsigned bit = i * 8;
      if (bit >= prefix)
        addr[i] = 0;
      else if (prefix - bit < 8)
        addr[i] &= (uint8_t)(0xffu << (8 - (prefix - bit)));
    }
}

/* "1.2.3.4", "1.2.3.0/24", "2001:db8::/32", "::1". 1 when text is an address rule (parsed into
   rule), 0 when it is not one (maybe a name), -1 when it looks like one but is malformed. */
static int
parse_addr (const char *text, fk_net_rule_t *rule)
{
  char buf[INET6_ADDRSTRLEN + 8];
  size_t len = strlen (text);
  if (len >= sizeof buf)
    return strchr (text, ':') || strchr (text, '/') ? -1 : 0;
  memcpy (buf, text, len + 1);
  char *slash = strchr (buf, '/');
  if (slash)
    *slash = '\0';
  int family = strchr (buf, ':') ? AF_INET6 : AF_INET;
  unsigned max = family == AF_INET6 ? 128 : 32;
  uint8_t addr[16] = { 0 };
  if (inet_pton (family, buf, addr) != 1)
    {
      /* Digits and dots only ("1.2.3", "1.2.3.4.5") is a bad address; else maybe a name. */
      if (family == AF_INET6 || slash)
        return -1;
      for (const char *p = buf; *p; p++)
        if (!isdigit ((unsigned char)*p) && *p != '.')
          return 0;
      return -1;
    }
  unsigned prefix = max;
  if (slash)
    {
      const char *p = slash + 1;
      if (*p == '\0' || strlen (p) > 3)
        return -1;
      unsigned v = 0;
      for (; *p; p++)
        {
          if (!isdigit ((unsigned char)*p))
            return -1;
          v = v * 10 + (unsigned)(*p - '0');
        }
      if (v > max || (slash[1] == '0' && slash[2] != '\0'))
        return -1;
      prefix = v;
    }
  clear_host_bits (addr, max / 8, prefix);
  memset (rule, 0, sizeof *rule);
  rule->kind = family == AF_INET6 ? FK_NET_RULE_ADDR6 : FK_NET_RULE_ADDR4;
  memcpy (rule->addr, addr, max / 8);
  rule->prefix = prefix;
  return 1;
}

/* A DNS name: labels of 1-63 letters, digits, '-' or '_' (not starting or ending with '-'),
   at most 253 characters; lower-cased into rule. */
static int
parse_name (const char *text, fk_net_rule_t *rule)
{
  int wildcard = 0;
  if (text[0] == '*')
    {
      if (text[1] != '.')
        return -1;
      wildcard = 1;
      text += 2;
    }
  size_t len = strlen (text);
  if (len > 0 && text[len - 1] == '.')
    len--;
  if (len == 0 || len > 253)
    return -1;
  char *name = xmalloc (len + 1);
  size_t label = 0;
  int bad = 0;
  for (size_t i = 0; i < len && !bad; i++)
    {
      unsigned char c = (unsigned char)text[i];
      if (c == '.')
        {
          if (label == 0 || text[i - 1] == '-')
            bad = 1;
          label = 0;
        }
      else if (isalnum (c) || c == '_' || c == '-')
        {
          if (c == '-' && label == 0)
            bad = 1;
          if (++label > 63)
            bad = 1;
        }
      else
        bad = 1;
      name[i] = (char)tolower (c);
    }
  if (!bad && (label == 0 || text[len - 1] == '-'))
    bad = 1;
  if (bad)
    {
      free (name);
      return -1;
    }
  name[len] = '\0';
  memset (rule, 0, sizeof *rule);
  rule->kind = FK_NET_RULE_NAME;
  rule->name = name;
  rule->wildcard = wildcard;
  return 0;
}

static void
rule_clear (fk_net_rule_t *rule)
{
  free (rule->name);
  rule->name = NULL;
}

static int
parse_list (const char *const *list, const char *what, int names_ok, fk_net_rule_t **ret,
            size_t *ret_n, fk_error_t *err)
{
  size_t n = strv_len (list);
  fk_net_rule_t *rules = n ? xcalloc (n, sizeof *rules) : NULL;
  for (size_t i = 0; i < n; i++)
    {
      const char *text = list[i];
      size_t len = strnlen (text, FK_NET_RULE_TEXT_MAX);
      int r = len >= FK_NET_RULE_TEXT_MAX ? -1 : parse_addr (text, &rules[i]);
      if (r == 0)
        {
          if (!names_ok)
            {
              for (size_t j = 0; j < i; j++)
                rule_clear (&rules[j]);
              free (rules);
              return fk_error_set (err, EINVAL,
                                   "%s[%zu] `%.64s': deny rules take addresses and CIDR blocks "
                                   "(a domain name can only be allowed)",
                                   what, i, text);
            }
          r = parse_name (text, &rules[i]);
        }
      else if (r == 1)
        r = 0;
      if (r < 0)
        {
          for (size_t j = 0; j < i; j++)
            rule_clear (&rules[j]);
          free (rules);
          return fk_error_set (err, EINVAL, "%s[%zu] `%.64s'%s is not an address, a CIDR block%s",
                               what, i, text, len > 64 ? "..." : "",
                               names_ok ? " or a domain name (example.com, *.example.com)" : "");
        }
    }
  *ret = rules;
  *ret_n = n;
  return 0;
}

int
fk_net_rules_parse (const char *const *allow, const char *const *deny, fk_net_rules_t *ret,
                    fk_error_t *err)
{
  size_t total = strv_len (allow) + strv_len (deny);
  if (total > FK_NET_RULES_MAX)
    return fk_error_set (err, E2BIG, "network rules: %zu rules, more than %u", total,
                         FK_NET_RULES_MAX);
  fk_net_rules_t r;
  memset (&r, 0, sizeof r);
  if (parse_list (allow, "allow_out", 1, &r.allow, &r.n_allow, err) < 0)
    return -1;
  if (parse_list (deny, "deny_out", 0, &r.deny, &r.n_deny, err) < 0)
    {
      fk_net_rules_clear (&r);
      return -1;
    }
  for (size_t i = 0; i < r.n_deny; i++)
    if (r.deny[i].prefix == 0)
      {
        if (r.deny[i].kind == FK_NET_RULE_ADDR4)
          r.deny_all4 = r.deny_all6 = 1;
        else
          r.deny_all6 = 1;
      }
  *ret = r;
  return 0;
}

int
fk_net_rules_check (const char *const *allow, const char *const *deny, fk_error_t *err)
{
  fk_net_rules_t r;
  if (fk_net_rules_parse (allow, deny, &r, err) < 0)
    return -1;
  fk_net_rules_clear (&r);
  return 0;
}

void
fk_net_rules_clear (fk_net_rules_t *rules)
{
  for (size_t i = 0; i < rules->n_allow; i++)
    rule_clear (&rules->allow[i]);
  for (size_t i = 0; i < rules->n_deny; i++)
    rule_clear (&rules->deny[i]);
  free (rules->allow);
  free (rules->deny);
  memset (rules, 0, sizeof *rules);
}

const char *
fk_net_rule_format (const fk_net_rule_t *rule, char *buf, size_t size)
{
  if (rule->kind == FK_NET_RULE_NAME)
    {
      snprintf (buf, size, "%s%s", rule->wildcard ? "*." : "", rule->name);
      return buf;
    }
  int v6 = rule->kind == FK_NET_RULE_ADDR6;
  char a[INET6_ADDRSTRLEN];
  inet_ntop (v6 ? AF_INET6 : AF_INET, rule->addr, a, sizeof a);
  if (rule->prefix == (v6 ? 128u : 32u))
    snprintf (buf, size, "%s", a);
  else
    snprintf (buf, size, "%s/%u", a, rule->prefix);
  return buf;
}

static int
name_matches (const fk_net_rule_t *rule, const char *name, size_t len)
{
  size_t rlen = strlen (rule->name);
  if (!rule->wildcard)
    return len == rlen && strncasecmp (name, rule->name, len) == 0;
  /* Strictly below: at least one label, then a dot, then the rule's name. */
  return len > rlen + 1 && name[len - rlen - 1] == '.'
         && strncasecmp (name + len - rlen, rule->name, rlen) == 0;
}

int
fk_net_rules_name_allowed (const fk_net_rules_t *rules, const char *name)
{
  size_t len = strlen (name);
  if (len > 0 && name[len - 1] == '.')
    len--;
  if (len == 0)
    return 0;
  for (size_t i = 0; i < rules->n_allow; i++)
    if (rules->allow[i].kind == FK_NET_RULE_NAME && name_matches (&rules->allow[i], name, len))
      return 1;
  return 0;
}

int
fk_net_rules_name_resolves (const fk_net_rules_t *rules, const char *name)
{
  if (fk_net_rules_name_allowed (rules, name))
    return 1;
  return !(rules->deny_all4 && rules->deny_all6);
}

static int
addr_in (const fk_net_rule_t *rule, int family, const uint8_t *addr)
{
  if (rule->kind != (family == AF_INET6 ? FK_NET_RULE_ADDR6 : FK_NET_RULE_ADDR4))
    return 0;
  unsigned full = rule->prefix / 8, rest = rule->prefix % 8;
  if (memcmp (rule->addr, addr, full) != 0)
    return 0;
  if (rest == 0)
    return 1;
  uint8_t mask = (uint8_t)(0xffu << (8 - rest));
  return (rule->addr[full] & mask) == (addr[full] & mask);
}

static int
in_defaults (int family, const uint8_t *addr)
{
  const char *const *list = family == AF_INET6 ? fk_net_default_deny6 : fk_net_default_deny4;
  for (size_t i = 0; list[i]; i++)
    {
      fk_net_rule_t rule;
      if (parse_addr (list[i], &rule) == 1 && addr_in (&rule, family, addr))
        return 1;
    }
  return 0;
}

fk_net_verdict_t
fk_net_rules_addr_verdict (const fk_net_rules_t *rules, int family, const void *addr)
{
  const uint8_t *a = addr;
  for (size_t i = 0; i < rules->n_allow; i++)
    if (addr_in (&rules->allow[i], family, a))
      return FK_NET_VERDICT_ALLOW;
  if (family == AF_INET6 ? rules->deny_all6 : rules->deny_all4)
    return FK_NET_VERDICT_DENY;
  for (size_t i = 0; i < rules->n_deny; i++)
    if (addr_in (&rules->deny[i], family, a))
      return FK_NET_VERDICT_DENY;
  return in_defaults (family, a) ? FK_NET_VERDICT_DEFAULT_DENY : FK_NET_VERDICT_ALLOW;
}

static int
by_addr (const void *a, const void *b)
{
  const fk_net_rule_t *x = a, *y = b;
  int c = memcmp (x->addr, y->addr, 16);
  if (c)
    return c;
  return (int)x->prefix - (int)y->prefix;
}

size_t
fk_net_rules_blocks (const fk_net_rule_t *list, size_t n, fk_net_rule_kind_t kind,
                     fk_net_rule_t **ret)
{
  *ret = NULL;
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    m += list[i].kind == kind;
  if (m == 0)
    return 0;
  fk_net_rule_t *v = xcalloc (m, sizeof *v);
  m = 0;
  for (size_t i = 0; i < n; i++)
    if (list[i].kind == kind)
      v[m++] = list[i];
  qsort (v, m, sizeof *v, by_addr);
  /* Sorted so, a block inside another comes after it (same network, longer prefix, or a
     network within it), before any block beyond it. */
  int family = kind == FK_NET_RULE_ADDR6 ? AF_INET6 : AF_INET;
  size_t k = 0;
  for (size_t i = 0; i < m; i++)
    {
      if (k > 0 && v[i].prefix >= v[k - 1].prefix && addr_in (&v[k - 1], family, v[i].addr))
        continue;
      v[k] = v[i];
      v[k].name = NULL;
      k++;
    }
  *ret = v;
  return k;
}
