/* sandbox/network.c: the data planes' steps: loopback for `none', the egress plane's host side
   (net/egress.h) for `egress', and the name files. */
#include "sandbox/network.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/xalloc.h"
#include "net/egress.h"
#include "net/resolver.h"

int
fk_network_loopback_up (fk_error_t *err)
{
  cleanup_close int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return fk_error_set_errno (err, "socket for loopback");
  struct ifreq ifr;
  memset (&ifr, 0, sizeof ifr);
  strcpy (ifr.ifr_name, "lo");
  if (ioctl (fd, SIOCGIFFLAGS, &ifr) < 0)
    return fk_error_set_errno (err, "get flags of `lo'");
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl (fd, SIOCSIFFLAGS, &ifr) < 0)
    return fk_error_set_errno (err, "bring `lo' up");
  return 0;
}

static int
replace_file (int dirfd, const char *name, const char *content, fk_error_t *err)
{
  /* Unlink first: the image's file may be a symlink (resolv.conf often is). */
  if (unlinkat (dirfd, name, 0) < 0 && errno != ENOENT)
    return fk_error_set_errno (err, "remove /etc/%s", name);
  cleanup_close int fd
      = openat (dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0)
    return fk_error_set_errno (err, "create /etc/%s", name);
  return fk_write_all (fd, content, strlen (content), err);
}

int
fk_network_write_etc (int rootfd, const char *hostname, fk_data_plane_kind_t plane, fk_error_t *err)
{
  if (fk_mkdir_p_in_root (rootfd, "etc", 0755, err) < 0)
    return -1;
  cleanup_close int etc = fk_open_in_root (rootfd, "etc", O_PATH | O_DIRECTORY, 0, err);
  if (etc < 0)
    return -1;
  /* On the stack: a process sharing its caller's memory writes these (sandbox/reroot.c). */
  char hosts[512];
  int n = snprintf (hosts, sizeof hosts,
                    "127.0.0.1\tlocalhost\n"
                    "::1\tlocalhost ip6-localhost ip6-loopback\n"
                    "127.0.1.1\t%s\n",
                    hostname);
  if (n < 0 || (size_t)n >= sizeof hosts)
    return fk_error_set (err, ENAMETOOLONG, "hostname `%s' is too long", hostname);
  if (replace_file (etc, "hosts", hosts, err) < 0)
    return -1;
  return replace_file (etc, "resolv.conf",
                       plane == FK_DATA_PLANE_EGRESS
                           ? "# firkin: data plane `egress': the sandbox's own resolver\n"
                             "nameserver " FK_NETWORK_RESOLVER "\n"
                             "options edns0 timeout:2 attempts:2\n"
                           : "# firkin: data plane `none' (loopback only): no resolver\n",
                       err);
}

fk_egress_t
fk_network_egress_of (const fk_plan_t *plan)
{
  return (fk_egress_t){ .slot = plan->net_slot,
                        .allow_out = (const char *const *)plan->net_allow,
                        .deny_out = (const char *const *)plan->net_deny,
                        .bytes_per_sec = plan->net_bytes_per_sec,
                        .max_connections = plan->net_max_connections,
                        .gen = plan->net_gen };
}

const char *
fk_network_upstreams (void)
{
  const char *v = getenv ("FIRKIN_NET_DNS");
  return v && v[0] ? v : NULL;
}

/* The egress plane: the sandbox's rules, veth pair, addresses and routes; then its resolver's
   sockets (net/resolver.h) in its namespace (the resolver, filling its sets, starts later). */
static int
egress_host_step (const fk_plan_t *plan, pid_t pid, fk_resolver_prep_t **ret_prep, fk_error_t *err)
{
  if (plan->net_slot == 0)
    return fk_error_set (err, EINVAL, "data plane egress: the plan has no network slot");
  if (plan->ns[FK_PLAN_NS_NET].join)
    return fk_error_set (err, EINVAL, "data plane egress needs a network namespace of its own");
  fk_net_config_t cfg;
  if (fk_net_config_load (&cfg, err) < 0)
    return -1;
  char path[64];
  snprintf (path, sizeof path, "/proc/%d/ns/net", (int)pid);
  cleanup_close int netns = open (path, O_RDONLY | O_CLOEXEC);
  if (netns < 0)
    return fk_error_set_errno (err, "open `%s'", path);
  fk_egress_t eg = fk_network_egress_of (plan);
  if (fk_egress_setup (&cfg, &eg, netns, err) < 0)
    return fk_error_wrap (err, "data plane egress");
  if (plan->net_resolver == NULL)
    return 0;
  char set4[32], set6[32], gen_set[32];
  snprintf (set4, sizeof set4, "sb_%u_dns4", plan->net_slot);
  snprintf (set6, sizeof set6, "sb_%u_dns6", plan->net_slot);
  snprintf (gen_set, sizeof gen_set, "sb_%u_gen", plan->net_slot);
  fk_resolver_opts_t ro = FK_RESOLVER_OPTIONS_INIT;
  ro.program = plan->net_resolver;
  ro.netns_fd = netns;
  ro.pid1 = pid;
  ro.rules_path = plan->net_rules_path;
  ro.set4 = set4;
  ro.set6 = set6;
  ro.gen_set = gen_set;
  ro.upstreams = fk_network_upstreams ();
  ro.log_path = plan->net_resolver_log;
  if (fk_resolver_prepare (&ro, ret_prep, err) < 0)
    {
      fk_error_wrap (err, "data plane egress: the sandbox's resolver");
      fk_error_t ignored = FK_ERROR_INIT;
      fk_egress_teardown (plan->net_slot, &ignored);
      fk_error_clear (&ignored);
      return -1;
    }
  return 0;
}

int
fk_data_plane_host_late (const fk_plan_t *plan, fk_resolver_prep_t *prep, pid_t *ret_helper,
                         fk_error_t *err)
{
  if (prep == NULL)
    return 0;
  /* Handed to the hub, no process starts here: the resolver does at the first question. */
  if (plan->net_resolver_hub ? fk_resolver_hand_off (prep, plan->net_resolver_hub, err)
                             : fk_resolver_start (prep, ret_helper, err))
    return fk_error_wrap (err, "data plane egress: the sandbox's resolver");
  return 0;
}

int
fk_data_plane_host_done (fk_resolver_prep_t *prep, fk_error_t *err)
{
  if (fk_resolver_hand_off_wait (prep, err) < 0)
    return fk_error_wrap (err, "data plane egress: the sandbox's resolver");
  return 0;
}

void
fk_data_plane_undo (const fk_plan_t *plan, pid_t helper)
{
  if (plan->data_plane != FK_DATA_PLANE_EGRESS || plan->net_slot == 0)
    return;
  fk_error_t ignored = FK_ERROR_INIT;
  if (helper > 0)
    fk_resolver_stop (helper, &ignored);
  else if (plan->net_resolver_hub && plan->net_rules_path)
    fk_resolver_hub_stop (plan->net_resolver_hub, plan->net_rules_path, &ignored);
  fk_error_clear (&ignored);
  fk_egress_teardown (plan->net_slot, &ignored);
  fk_error_clear (&ignored);
}

int
fk_data_plane_host_step (const fk_plan_t *plan, pid_t pid, fk_resolver_prep_t **ret_prep,
                         fk_error_t *err)
{
  *ret_prep = NULL;
  switch (plan->data_plane)
    {
    case FK_DATA_PLANE_NONE:
      return 0;
    case FK_DATA_PLANE_EGRESS:
      return egress_host_step (plan, pid, ret_prep, err);
    }
  return fk_error_set (err, EINVAL, "unknown data plane %d", (int)plan->data_plane);
}

int
fk_data_plane_child_step (const fk_plan_t *plan, fk_error_t *err)
{
  switch (plan->data_plane)
    {
    case FK_DATA_PLANE_NONE:
      return plan->ns[FK_PLAN_NS_NET].join ? 0 : fk_network_loopback_up (err);
    case FK_DATA_PLANE_EGRESS:
      return 0; /* the host step set up lo and eth0 */
    }
  return fk_error_set (err, EINVAL, "unknown data plane %d", (int)plan->data_plane);
}
