/* net/netconfig.c: the egress plane's subnets (FIRKIN_NET_SUBNET4/6) and the addresses of
   each slot: apart from egress.c so that fk-resolver, which needs the subnets only, does not
   link the nftables text path (libnftables). */
#include "net/egress.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "net/slots.h"

static int
parse_subnet (const char *var, const char *text, int family, uint8_t *addr, unsigned *prefix,
              unsigned min, unsigned max, fk_error_t *err)
{
  char buf[64];
  const char *slash = strchr (text, '/');
  size_t n = slash ? (size_t)(slash - text) : 0;
  char *end = NULL;
  unsigned long p = slash ? strtoul (slash + 1, &end, 10) : 0;
  if (!slash || n >= sizeof buf || !slash[1] || *end || p < min || p > max)
    return fk_error_set (err, EINVAL, "%s `%s': expected an %s subnet with a prefix of %u to %u",
                         var, text, family == AF_INET ? "IPv4" : "IPv6", min, max);
  memcpy (buf, text, n);
  buf[n] = '\0';
  if (inet_pton (family, buf, addr) != 1)
    return fk_error_set (err, EINVAL, "%s `%s': `%s' is not an address", var, text, buf);
  unsigned bytes = family == AF_INET ? 4 : 16;
  for (unsigned i = 0; i < bytes; i++)
    {
      unsigned bit = i * 8;
      if (bit >= p)
        addr[i] = 0;
      else if (p - bit < 8)
        addr[i] &= (uint8_t)(0xffu << (8 - (p - bit)));
    }
  *prefix = (unsigned)p;
  return 0;
}

int
fk_net_config_load (fk_net_config_t *ret, fk_error_t *err)
{
  fk_net_config_t c;
  const char *s4 = getenv ("FIRKIN_NET_SUBNET4");
  const char *s6 = getenv ("FIRKIN_NET_SUBNET6");
  if (parse_subnet ("FIRKIN_NET_SUBNET4", s4 && *s4 ? s4 : "10.88.0.0/16", AF_INET, c.net4,
                    &c.prefix4, 8, 30, err)
          < 0
      || parse_subnet ("FIRKIN_NET_SUBNET6", s6 && *s6 ? s6 : "fd7f:6b1e:6e00::/64", AF_INET6,
                       c.net6, &c.prefix6, 64, 120, err)
             < 0)
    return -1;
  *ret = c;
  return 0;
}

unsigned
fk_net_config_slots (const fk_net_config_t *cfg)
{
  /* Less the network, the gateway and the broadcast address. */
  uint64_t n4 = (1ull << (32 - cfg->prefix4)) - 3;
  unsigned b6 = 128 - cfg->prefix6;
  uint64_t n6 = b6 >= 32 ? UINT32_MAX : (1ull << b6) - 2;
  uint64_t n = n4 < n6 ? n4 : n6;
  return n > FK_NET_SLOTS_MAX ? FK_NET_SLOTS_MAX : (unsigned)n;
}

static void
host_addr4 (const fk_net_config_t *cfg, uint32_t index, uint8_t out[4])
{
  uint32_t v = ((uint32_t)cfg->net4[0] << 24 | (uint32_t)cfg->net4[1] << 16
                | (uint32_t)cfg->net4[2] << 8 | cfg->net4[3])
               + index;
  out[0] = (uint8_t)(v >> 24);
  out[1] = (uint8_t)(v >> 16);
  out[2] = (uint8_t)(v >> 8);
  out[3] = (uint8_t)v;
}

static void
host_addr6 (const fk_net_config_t *cfg, uint32_t index, uint8_t out[16])
{
  memcpy (out, cfg->net6, 16);
  uint32_t v
      = ((uint32_t)out[12] << 24 | (uint32_t)out[13] << 16 | (uint32_t)out[14] << 8 | out[15])
        + index;
  out[12] = (uint8_t)(v >> 24);
  out[13] = (uint8_t)(v >> 16);
  out[14] = (uint8_t)(v >> 8);
  out[15] = (uint8_t)v;
}

void
fk_net_slot_addrs (const fk_net_config_t *cfg, unsigned slot, char *addr4, char *addr6, char *gw4,
                   char *gw6)
{
  uint8_t a[16];
  if (addr4)
    host_addr4 (cfg, slot + 1, a), inet_ntop (AF_INET, a, addr4, INET6_ADDRSTRLEN);
  if (addr6)
    host_addr6 (cfg, slot + 1, a), inet_ntop (AF_INET6, a, addr6, INET6_ADDRSTRLEN);
  if (gw4)
    host_addr4 (cfg, 1, a), inet_ntop (AF_INET, a, gw4, INET6_ADDRSTRLEN);
  if (gw6)
    host_addr6 (cfg, 1, a), inet_ntop (AF_INET6, a, gw6, INET6_ADDRSTRLEN);
}

void
fk_net_slot_addr_bytes (const fk_net_config_t *cfg, unsigned slot, uint8_t addr4[4],
                        uint8_t addr6[16])
{
  host_addr4 (cfg, slot + 1, addr4);
  host_addr6 (cfg, slot + 1, addr6);
}
