/* sandbox/netstate.c: fk_sandbox_set_network, fk_sandbox_network, and the egress plane's
   release and sweep. */
#include "sandbox/netstate.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "net/egress.h"
#include "net/resolver.h"
#include "net/rules.h"
#include "net/slots.h"
#include "sandbox/events.h"
#include "sandbox/network.h"
#include "sandbox/sandbox.h"

/* The sandbox's resolver: stopped (SIGTERM) or told to re-read its rules (SIGHUP), by its pid
   when it was started with the sandbox, else through the resolver hub that holds it. Either
   way it ends with PID 1 by itself: this is only sooner. */
static int
resolver_signal (fk_runtime_t *rt, fk_sandbox_state_t *st, int reload, fk_error_t *err)
{
  if (st->net_resolver > 0)
    return reload ? fk_resolver_reload (st->net_resolver, err)
                  : fk_resolver_stop (st->net_resolver, err);
  cleanup_free char *hub = xasprintf ("%s/net", rt->state_dir);
  cleanup_free char *rules = xasprintf ("%s/sandboxes/%s/net.rules", rt->state_dir, st->id);
  return reload ? fk_resolver_hub_reload (hub, rules, err) : fk_resolver_hub_stop (hub, rules, err);
}

int
fk_netstate_release (fk_runtime_t *rt, fk_sandbox_state_t *st, fk_error_t *err)
{
  if (st->net_slot != 0 || st->net_resolver > 0)
    {
      /* Not one any more: fine. */
      fk_error_t ignored = FK_ERROR_INIT;
      resolver_signal (rt, st, 0, &ignored);
      fk_error_clear (&ignored);
      st->net_resolver = 0;
    }
  if (st->net_slot == 0)
    return 0;
  if (fk_egress_teardown (st->net_slot, err) < 0
      || fk_net_slot_free (rt->state_fd, st->net_slot, st->id, err) < 0)
    return fk_error_wrap (err, "network of sandbox `%s'", st->id);
  st->net_slot = 0;
  return 0;
}

static int
sweep_slot (unsigned slot, void *data)
{
  (void)data;
  fk_error_t local = FK_ERROR_INIT;
  int r = fk_egress_teardown (slot, &local);
  fk_error_clear (&local);
  return r;
}

int
fk_netstate_sweep (fk_runtime_t *rt, fk_error_t *err)
{
  return fk_net_slot_sweep (rt->state_fd, rt->sandboxes_fd, 60, sweep_slot, NULL, err);
}

static char **
strv_or_empty (const char *const *v)
{
  return v ? xstrvdup (v) : xcalloc (1, sizeof (char *));
}

int
fk_sandbox_set_network (fk_sandbox_t *sb, const char *const *allow_out, const char *const *deny_out,
                        fk_error_t *err)
{
  /* Bad rules are refused before anything changes. */
  if (fk_net_rules_check (allow_out, deny_out, err) < 0)
    return -1;
  cleanup_close int held = fk_sandbox_lock (sb, 1, err);
  if (held < 0)
    return -1;
  fk_sandbox_state_t *st = sb->state;
  const char *id = st->id;
  if (st->spec == NULL || st->spec->data_plane.kind != FK_DATA_PLANE_EGRESS)
    return fk_error_set (err, EINVAL,
                         "sandbox `%s' has data plane none: rules need the data plane egress", id);
  if (st->net_slot == 0 || !fk_state_alive (st))
    return fk_error_set (err, ESRCH, "sandbox `%s' is not running", id);
  fk_net_config_t cfg;
  if (fk_net_config_load (&cfg, err) < 0)
    return -1;
  fk_egress_t eg = { .slot = st->net_slot,
                     .allow_out = allow_out,
                     .deny_out = deny_out,
                     .bytes_per_sec = st->spec->data_plane.egress_bytes_per_sec,
                     .max_connections = st->spec->data_plane.max_connections,
                     .gen = fk_egress_new_generation () };
  if (fk_egress_replace (&cfg, &eg, err) < 0)
    return fk_error_wrap (err, "replace the rules of sandbox `%s'", id);
  /* Enforced from here; the state and the resolver's file follow. */
  fk_data_plane_spec_t *dp = &st->spec->data_plane;
  fk_strv_free ((char **)dp->allow_out);
  fk_strv_free ((char **)dp->deny_out);
  dp->allow_out = (const char *const *)strv_or_empty (allow_out);
  dp->deny_out = (const char *const *)strv_or_empty (deny_out);
  cleanup_close int dir = openat (sb->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0)
    return fk_error_set_errno (err, "open sandbox `%s'", id);
  cleanup_free char *rules = xasprintf ("%s/sandboxes/%s/net.rules", sb->rt->state_dir, id);
  if (fk_resolver_rules_write (rules, eg.gen, allow_out, deny_out, err) < 0
      || fk_state_save (dir, st, err) < 0)
    return -1;
  /* The resolver answers by the new file from now on (its sets were emptied with the change);
     one the hub has not started yet reads it when it starts. */
  fk_error_t local = FK_ERROR_INIT;
  if (resolver_signal (sb->rt, st, 1, &local) < 0)
    fk_events_append (sb->dirfd, "network", "the resolver did not reload: %s",
                      fk_error_message (&local));
  fk_error_clear (&local);
  size_t na = 0, nd = 0;
  while (allow_out && allow_out[na])
    na++;
  while (deny_out && deny_out[nd])
    nd++;
  fk_events_append (sb->dirfd, "network", "rules replaced: %zu allow, %zu deny", na, nd);
  return 0;
}

void
fk_sandbox_network_free (fk_sandbox_network_t *net)
{
  if (net == NULL)
    return;
  free (net->interface);
  free (net->addr4);
  free (net->addr6);
  free (net->gateway4);
  free (net->gateway6);
  free (net->resolver);
  fk_strv_free (net->allow_out);
  fk_strv_free (net->deny_out);
  free (net);
}

int
fk_sandbox_network (fk_sandbox_t *sb, fk_sandbox_network_t **ret_net, fk_error_t *err)
{
  const fk_sandbox_state_t *st = sb->state;
  fk_sandbox_network_t *net = xcalloc (1, sizeof *net);
  const fk_data_plane_spec_t *dp = st->spec ? &st->spec->data_plane : NULL;
  net->kind = dp ? dp->kind : FK_DATA_PLANE_NONE;
  net->allow_out = strv_or_empty (dp ? dp->allow_out : NULL);
  net->deny_out = strv_or_empty (dp ? dp->deny_out : NULL);
  if (net->kind == FK_DATA_PLANE_EGRESS)
    {
      net->egress_bytes_per_sec = dp->egress_bytes_per_sec;
      net->max_connections = fk_egress_max_connections (dp->max_connections);
      net->resolver = xstrdup (FK_NETWORK_RESOLVER);
    }
  if (net->kind == FK_DATA_PLANE_EGRESS && st->net_slot)
    {
      fk_net_config_t cfg;
      if (fk_net_config_load (&cfg, err) < 0)
        {
          fk_sandbox_network_free (net);
          return -1;
        }
      char a4[64], a6[64], g4[64], g6[64];
      fk_net_slot_addrs (&cfg, st->net_slot, a4, a6, g4, g6);
      net->interface = xasprintf ("fkv%u", st->net_slot);
      net->addr4 = xstrdup (a4);
      net->addr6 = xstrdup (a6);
      net->gateway4 = xstrdup (g4);
      net->gateway6 = xstrdup (g6);
      fk_egress_counters_t c;
      fk_error_t local = FK_ERROR_INIT;
      /* Counters of a sandbox whose rules are gone (it stopped) read as 0. */
      if (fk_egress_counters (st->net_slot, &c, &local) == 0)
        {
          net->out_packets = c.out_packets;
          net->out_bytes = c.out_bytes;
          net->in_packets = c.in_packets;
          net->in_bytes = c.in_bytes;
          net->denied_packets = c.denied_packets;
          net->limited_packets = c.limited_packets;
        }
      fk_error_clear (&local);
    }
  *ret_net = net;
  return 0;
}

_Static_assert(FK_NET_MAX_CONNECTIONS == FK_NETWORK_MAX_CONNECTIONS,
               "the public default connection limit is the egress plane's");
