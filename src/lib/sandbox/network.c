/* sandbox/network.c: loopback and name files for data plane `none`. */
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
fk_network_write_etc (int rootfd, const char *hostname, fk_error_t *err)
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
                       "# firkin: data plane `none' (loopback only): no resolver\n", err);
}

int
fk_data_plane_host_step (const fk_plan_t *plan, pid_t pid, fk_error_t *err)
{
  (void)pid;
  switch (plan->data_plane)
    {
    case FK_DATA_PLANE_NONE:
      return 0;
    case FK_DATA_PLANE_EGRESS:
      break;
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
      break;
    }
  return fk_error_set (err, EINVAL, "unknown data plane %d", (int)plan->data_plane);
}
