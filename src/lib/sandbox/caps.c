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

uint64_t
fk_caps_default_mask (void)
{
  uint64_t mask = 0;
  for (size_t i = 0; i < N_DEFAULT; i++)
    mask |= 1ULL << default_caps[i];
  return mask;
}

int
fk_caps_apply (uint64_t mask, fk_error_t *err)
{
  /* The bounding set first: dropping needs CAP_SETPCAP, effective until cap_set_proc below. */
  int max = (int)cap_max_bits ();
  for (cap_value_t c = 0; c < max; c++)
    if (!(c < 64 && (mask & (1ULL << c))) && cap_drop_bound (c) < 0 && errno != EINVAL)
      return fk_error_set_errno (err, "drop capability %d from the bounding set", (int)c);
  if (cap_reset_ambient () < 0 && errno != EINVAL)
    return fk_error_set_errno (err, "clear the ambient capabilities");
  return fk_caps_set (mask, err);
}

int
fk_caps_set (uint64_t mask, fk_error_t *err)
{
  int max = (int)cap_max_bits ();
  cap_value_t keep[64];
  int n = 0;
  for (cap_value_t c = 0; c < max && c < 64; c++)
    if (mask & (1ULL << c))
      keep[n++] = c;
  cap_t caps = cap_init ();
  if (caps == NULL)
    return fk_error_set_errno (err, "cap_init");
  int ret = 0;
  if (n
      && (cap_set_flag (caps, CAP_PERMITTED, n, keep, CAP_SET) < 0
          || cap_set_flag (caps, CAP_EFFECTIVE, n, keep, CAP_SET) < 0
          || cap_set_flag (caps, CAP_INHERITABLE, n, keep, CAP_SET) < 0))
    ret = fk_error_set_errno (err, "cap_set_flag");
  else if (cap_set_proc (caps) < 0)
    ret = fk_error_set_errno (err, "set the capabilities");
  cap_free (caps);
  return ret;
}

int
fk_caps_raise_effective (fk_error_t *err)
{
  cap_t caps = cap_get_proc ();
  if (caps == NULL)
    return fk_error_set_errno (err, "cap_get_proc");
  int ret = 0;
  int max = (int)cap_max_bits ();
  for (cap_value_t c = 0; c < max && ret == 0; c++)
    {
      cap_flag_value_t v;
      if (cap_get_flag (caps, c, CAP_PERMITTED, &v) == 0 && v == CAP_SET
          && cap_set_flag (caps, CAP_EFFECTIVE, 1, &c, CAP_SET) < 0)
        ret = fk_error_set_errno (err, "cap_set_flag");
    }
  if (ret == 0 && cap_set_proc (caps) < 0)
    ret = fk_error_set_errno (err, "raise the effective capabilities");
  cap_free (caps);
  return ret;
}

int
fk_caps_raise_ambient (uint64_t mask, fk_error_t *err)
{
  int max = (int)cap_max_bits ();
  for (int c = 0; c < max && c < 64; c++)
    if ((mask & (1ULL << c)) && prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
      return fk_error_set_errno (err, "raise ambient capability %d", c);
  return 0;
}
