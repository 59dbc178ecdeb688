/* sandbox/caps.c: the default capability set is Docker's and crun's default for containers: what
   ordinary package managers and servers need, none of the administrative ones (SYS_ADMIN,
   SYS_MODULE, SYS_PTRACE, NET_ADMIN, SYS_TIME, ...). */
#include "sandbox/caps.h"

#include <errno.h>
#include <stddef.h>
#include <sys/capability.h>
#include <sys/prctl.h>

static const cap_value_t default_caps[] = {
  CAP_CHOWN,   CAP_DAC_OVERRIDE, CAP_FSETID,           CAP_FOWNER,
  CAP_MKNOD,   CAP_NET_RAW,      CAP_SETGID,           CAP_SETUID,
  CAP_SETFCAP, CAP_SETPCAP,      CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
  CAP_KILL,    CAP_AUDIT_WRITE,
};
#define N_DEFAULT (sizeof default_caps / sizeof default_caps[0])

const char *
fk_caps_default_text (void)
{
  return "cap_chown,cap_dac_override,cap_fowner,cap_fsetid,cap_kill,cap_setgid,cap_setuid,"
         "cap_setpcap,cap_net_bind_service,cap_net_raw,cap_sys_chroot,cap_mknod,cap_audit_write,"
         "cap_setfcap=eip";
}

static int
in_default (cap_value_t c)
{
  for (size_t i = 0; i < N_DEFAULT; i++)
    if (default_caps[i] == c)
      return 1;
  return 0;
}

int
fk_caps_apply_default (fk_error_t *err)
{
  /* The bounding set first: it needs CAP_SETPCAP, which stays in the default set. */
  int max = (int)cap_max_bits ();
  for (cap_value_t c = 0; c < max; c++)
    if (!in_default (c) && cap_drop_bound (c) < 0 && errno != EINVAL)
      return fk_error_set_errno (err, "drop capability %d from the bounding set", (int)c);
  if (cap_reset_ambient () < 0 && errno != EINVAL)
    return fk_error_set_errno (err, "clear the ambient capabilities");
  cap_t caps = cap_init ();
  if (caps == NULL)
    return fk_error_set_errno (err, "cap_init");
  int ret = 0;
  if (cap_set_flag (caps, CAP_PERMITTED, N_DEFAULT, default_caps, CAP_SET) < 0
      || cap_set_flag (caps, CAP_EFFECTIVE, N_DEFAULT, default_caps, CAP_SET) < 0
      || cap_set_flag (caps, CAP_INHERITABLE, N_DEFAULT, default_caps, CAP_SET) < 0)
    ret = fk_error_set_errno (err, "cap_set_flag");
  else if (cap_set_proc (caps) < 0)
    ret = fk_error_set_errno (err, "set the default capabilities");
  cap_free (caps);
  return ret;
}
