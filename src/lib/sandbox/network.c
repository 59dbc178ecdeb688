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
  cleanup_free char *hosts = xasprintf ("127.0.0.1\tlocalhost\n"
                                        "::1\tlocalhost ip6-localhost ip6-loopback\n"
                                        "127.0.1.1\t%s\n",
                                        hostname);
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
                        .max_connections = plan->net_max_connections };
}

/* The egress plane: the sandbox's rules, veth pair, addresses and routes; then its resolver
   (net/resolver.h) would start here, with the namespace's fd and the plan's rules file. */
static int
egress_host_step (const fk_plan_t *plan, pid_t pid, fk_error_t *err)
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
  return 0;
}

void
fk_data_plane_undo (const fk_plan_t *plan)
{
  if (plan->data_plane != FK_DATA_PLANE_EGRESS || plan->net_slot == 0)
    return;
  fk_error_t ignored = FK_ERROR_INIT;
  fk_egress_teardown (plan->net_slot, &ignored);
  fk_error_clear (&ignored);
}

int
fk_data_plane_host_step (const fk_plan_t *plan, pid_t pid, fk_error_t *err)
{
  switch (plan->data_plane)
    {
    case FK_DATA_PLANE_NONE:
      return 0;
    case FK_DATA_PLANE_EGRESS:
      return egress_host_step (plan, pid, err);
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

int
fk_network_write_rules (const char *path, const char *const *allow, const char *const *deny,
                        fk_error_t *err)
{
  cleanup_free char *tmp = xasprintf ("%s.tmp", path);
  cleanup_close int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return fk_error_set_errno (err, "create `%s'", tmp);
  const char *const *lists[] = { allow, deny };
  for (int l = 0; l < 2; l++)
    for (size_t i = 0; lists[l] && lists[l][i]; i++)
      {
        cleanup_free char *line = xasprintf ("%s %s\n", l ? "deny" : "allow", lists[l][i]);
        if (fk_write_all (fd, line, strlen (line), err) < 0)
          return -1;
      }
  if (rename (tmp, path) < 0)
    return fk_error_set_errno (err, "rename `%s'", tmp);
  return 0;
}
