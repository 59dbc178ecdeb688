/* sandbox/seccomp_oci.c: OCI seccomp profiles through libseccomp. One walk of the profile
   serves the check (ctx NULL) and the compile. */
#include "sandbox/seccomp_oci.h"

#include <errno.h>
#include <jansson.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"

#define MAX_SYSCALL_RULES 4096
#define MAX_NAMES 4096

static const struct
{
  const char *name;
  uint32_t arch;
} arches[] = {
  { "SCMP_ARCH_X86", SCMP_ARCH_X86 },
  { "SCMP_ARCH_X86_64", SCMP_ARCH_X86_64 },
  { "SCMP_ARCH_X32", SCMP_ARCH_X32 },
  { "SCMP_ARCH_ARM", SCMP_ARCH_ARM },
  { "SCMP_ARCH_AARCH64", SCMP_ARCH_AARCH64 },
  { "SCMP_ARCH_MIPS", SCMP_ARCH_MIPS },
  { "SCMP_ARCH_MIPS64", SCMP_ARCH_MIPS64 },
  { "SCMP_ARCH_MIPS64N32", SCMP_ARCH_MIPS64N32 },
  { "SCMP_ARCH_MIPSEL", SCMP_ARCH_MIPSEL },
  { "SCMP_ARCH_MIPSEL64", SCMP_ARCH_MIPSEL64 },
  { "SCMP_ARCH_MIPSEL64N32", SCMP_ARCH_MIPSEL64N32 },
  { "SCMP_ARCH_PPC", SCMP_ARCH_PPC },
  { "SCMP_ARCH_PPC64", SCMP_ARCH_PPC64 },
  { "SCMP_ARCH_PPC64LE", SCMP_ARCH_PPC64LE },
  { "SCMP_ARCH_S390", SCMP_ARCH_S390 },
  { "SCMP_ARCH_S390X", SCMP_ARCH_S390X },
  { "SCMP_ARCH_RISCV64", SCMP_ARCH_RISCV64 },
};

static const struct
{
  const char *name;
  enum scmp_compare op;
} ops[] = {
  { "SCMP_CMP_NE", SCMP_CMP_NE },
  { "SCMP_CMP_LT", SCMP_CMP_LT },
  { "SCMP_CMP_LE", SCMP_CMP_LE },
  { "SCMP_CMP_EQ", SCMP_CMP_EQ },
  { "SCMP_CMP_GE", SCMP_CMP_GE },
  { "SCMP_CMP_GT", SCMP_CMP_GT },
  { "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ },
};

/* The action named, errno_ret for SCMP_ACT_ERRNO (-1: EPERM, the usual default). */
static int
action (const char *name, long long errno_ret, uint32_t *ret, fk_error_t *err)
{
  uint32_t e = errno_ret < 0 ? EPERM : (uint32_t)errno_ret;
  if (strcmp (name, "SCMP_ACT_ALLOW") == 0)
    *ret = SCMP_ACT_ALLOW;
  else if (strcmp (name, "SCMP_ACT_ERRNO") == 0)
    *ret = SCMP_ACT_ERRNO (e);
  else if (strcmp (name, "SCMP_ACT_KILL") == 0 || strcmp (name, "SCMP_ACT_KILL_THREAD") == 0)
    *ret = SCMP_ACT_KILL_THREAD;
  else if (strcmp (name, "SCMP_ACT_KILL_PROCESS") == 0)
    *ret = SCMP_ACT_KILL_PROCESS;
  else if (strcmp (name, "SCMP_ACT_TRAP") == 0)
    *ret = SCMP_ACT_TRAP;
  else if (strcmp (name, "SCMP_ACT_TRACE") == 0)
    *ret = SCMP_ACT_TRACE (e);
  else if (strcmp (name, "SCMP_ACT_LOG") == 0)
    *ret = SCMP_ACT_LOG;
  else if (strcmp (name, "SCMP_ACT_NOTIFY") == 0)
    return fk_error_set (err, ENOTSUP, "seccomp: action SCMP_ACT_NOTIFY is not supported");
  else
    return fk_error_set (err, EINVAL, "seccomp: unknown action `%s'", name);
  if (errno_ret > 4095)
    return fk_error_set (err, ERANGE, "seccomp: errnoRet %lld is out of range", errno_ret);
  return 0;
}

static int
get_action (json_t *o, const char *key, const char *errkey, uint32_t *ret, fk_error_t *err)
{
  const char *name;
  long long e = -1;
  if (fk_json_get_string (o, key, 1, &name, err) < 0 || fk_json_get_int (o, errkey, 0, &e, err) < 0)
    return fk_error_wrap (err, "seccomp");
  return action (name, e, ret, err);
}

static int
args_of (json_t *rule, struct scmp_arg_cmp *cmp, size_t *ret_n, int *ret_repeat, fk_error_t *err)
{
  json_t *args = NULL;
  if (fk_json_get_array (rule, "args", 0, &args, err) < 0)
    return fk_error_wrap (err, "seccomp");
  size_t n = args ? json_array_size (args) : 0;
  if (n > 6)
    return fk_error_set (err, E2BIG, "seccomp: a rule with more than 6 argument conditions");
  unsigned seen = 0;
  *ret_repeat = 0;
  for (size_t i = 0; i < n; i++)
    {
      json_t *a = json_array_get (args, i);
      long long index, value = 0, two = 0;
      const char *op;
      if (!json_is_object (a) || fk_json_get_int (a, "index", 1, &index, err) < 0
          || fk_json_get_int (a, "value", 0, &value, err) < 0
          || fk_json_get_int (a, "valueTwo", 0, &two, err) < 0
          || fk_json_get_string (a, "op", 1, &op, err) < 0)
        return err->code ? fk_error_wrap (err, "seccomp argument")
                         : fk_error_set (err, EINVAL, "seccomp: an argument is not an object");
      if (index < 0 || index > 5)
        return fk_error_set (err, EINVAL, "seccomp: argument index %lld is out of range", index);
      size_t k;
      for (k = 0; k < sizeof ops / sizeof ops[0]; k++)
        if (strcmp (ops[k].name, op) == 0)
          break;
      if (k == sizeof ops / sizeof ops[0])
        return fk_error_set (err, EINVAL, "seccomp: unknown operator `%s'", op);
      if (seen & (1u << index))
        *ret_repeat = 1;
      seen |= 1u << index;
      cmp[i] = (struct scmp_arg_cmp){ .arg = (unsigned)index,
                                      .op = ops[k].op,
                                      .datum_a = (scmp_datum_t)value,
                                      .datum_b = (scmp_datum_t)two };
    }
  *ret_n = n;
  return 0;
}

/* Walks the profile; adds to ctx when ctx is not NULL. */
static int
walk (json_t *o, scmp_filter_ctx ctx, uint32_t *ret_default, fk_error_t *err)
{
  if (!json_is_object (o))
    return fk_error_set (err, EINVAL, "seccomp: the profile is not an object");
  static const char *const known[]
      = { "defaultAction", "defaultErrnoRet", "architectures", "syscalls", "flags", NULL };
  const char *k;
  json_t *v;
  json_object_foreach (o, k, v)
  {
    size_t i;
    for (i = 0; known[i]; i++)
      if (strcmp (known[i], k) == 0)
        break;
    if (known[i] == NULL)
      return fk_error_set (err, ENOTSUP, "seccomp: `%s' is not supported", k);
  }
  uint32_t def;
  if (get_action (o, "defaultAction", "defaultErrnoRet", &def, err) < 0)
    return -1;
  *ret_default = def;
  json_t *a = NULL, *e;
  size_t i;
  if (fk_json_get_array (o, "flags", 0, &a, err) < 0)
    return fk_error_wrap (err, "seccomp");
  json_array_foreach (a, i, e)
  {
    const char *f = json_string_value (e);
    /* SPEC_ALLOW and LOG change only what the kernel does besides filtering. */
    if (f == NULL
        || (strcmp (f, "SECCOMP_FILTER_FLAG_SPEC_ALLOW") != 0
            && strcmp (f, "SECCOMP_FILTER_FLAG_LOG") != 0))
      return fk_error_set (err, ENOTSUP, "seccomp: flag `%s' is not supported", f ? f : "?");
  }
  if (fk_json_get_array (o, "architectures", 0, &a, err) < 0)
    return fk_error_wrap (err, "seccomp");
  if (a && json_array_size (a) > 32)
    return fk_error_set (err, E2BIG, "seccomp: too many architectures");
  json_array_foreach (a, i, e)
  {
    const char *name = json_string_value (e);
    size_t ak;
    for (ak = 0; name && ak < sizeof arches / sizeof arches[0]; ak++)
      if (strcmp (arches[ak].name, name) == 0)
        break;
    if (name == NULL || ak == sizeof arches / sizeof arches[0])
      return fk_error_set (err, EINVAL, "seccomp: unknown architecture `%s'", name ? name : "?");
    if (ctx)
      {
        int r = seccomp_arch_add (ctx, arches[ak].arch);
        if (r < 0 && r != -EEXIST)
          return fk_error_set (err, -r, "seccomp: add architecture `%s'", name);
      }
  }
  if (fk_json_get_array (o, "syscalls", 0, &a, err) < 0)
    return fk_error_wrap (err, "seccomp");
  if (a && json_array_size (a) > MAX_SYSCALL_RULES)
    return fk_error_set (err, E2BIG, "seccomp: more than %d syscall rules", MAX_SYSCALL_RULES);
  json_array_foreach (a, i, e)
  {
    json_t *names = NULL;
    uint32_t act;
    struct scmp_arg_cmp cmp[6];
    size_t n_cmp = 0;
    int repeat = 0;
    if (!json_is_object (e))
      return fk_error_set (err, EINVAL, "seccomp: syscalls[%zu] is not an object", i);
    if (fk_json_get_array (e, "names", 1, &names, err) < 0)
      return fk_error_wrap (err, "seccomp: syscalls[%zu]", i);
    if (json_array_size (names) > MAX_NAMES)
      return fk_error_set (err, E2BIG, "seccomp: syscalls[%zu] has too many names", i);
    if (get_action (e, "action", "errnoRet", &act, err) < 0
        || args_of (e, cmp, &n_cmp, &repeat, err) < 0)
      return -1;
    size_t j;
    json_t *nm;
    json_array_foreach (names, j, nm)
    {
      const char *name = json_string_value (nm);
      if (name == NULL || name[0] == '\0')
        return fk_error_set (err, EINVAL, "seccomp: syscalls[%zu] has a name that is no string", i);
      if (ctx == NULL || act == def)
        continue;
      int nr = seccomp_syscall_resolve_name (name);
      if (nr == __NR_SCMP_ERROR)
        continue; /* not a syscall of these architectures */
      int r;
      if (!repeat)
        r = seccomp_rule_add_array (ctx, act, nr, (unsigned)n_cmp, cmp);
      else /* libseccomp takes one condition per argument in a rule: one rule each */
        {
          r = 0;
          for (size_t c = 0; c < n_cmp && r >= 0; c++)
            r = seccomp_rule_add_array (ctx, act, nr, 1, &cmp[c]);
        }
      if (r < 0)
        return fk_error_set (err, -r, "seccomp: rule for `%s': %s", name, strerror (-r));
    }
  }
  return 0;
}

static int
parse (const char *text, json_t **ret, fk_error_t *err)
{
  if (fk_json_parse (text, strlen (text), ret, err) < 0)
    return fk_error_wrap (err, "seccomp profile");
  return 0;
}

int
fk_seccomp_oci_check (const char *json_text, fk_error_t *err)
{
  cleanup_json json_t *o = NULL;
  uint32_t def;
  if (parse (json_text, &o, err) < 0)
    return -1;
  return walk (o, NULL, &def, err);
}

int
fk_seccomp_oci_compile (const char *json_text, struct sock_filter **ret_prog, size_t *ret_len,
                        fk_error_t *err)
{
  cleanup_json json_t *o = NULL;
  uint32_t def;
  if (parse (json_text, &o, err) < 0 || walk (o, NULL, &def, err) < 0)
    return -1;
  scmp_filter_ctx ctx = seccomp_init (def);
  if (ctx == NULL)
    return fk_error_set (err, EINVAL, "seccomp: cannot make a filter");
  int ret = -1;
  cleanup_close int mfd = -1;
  /* The sandbox sets no_new_privs itself (or loads while it holds CAP_SYS_ADMIN). */
  if (seccomp_attr_set (ctx, SCMP_FLTATR_CTL_NNP, 0) < 0)
    {
      fk_error_set (err, EINVAL, "seccomp: cannot set the filter's attributes");
      goto out;
    }
  if (walk (o, ctx, &def, err) < 0)
    goto out;
  mfd = memfd_create ("seccomp", MFD_CLOEXEC);
  int r = mfd < 0 ? -errno : seccomp_export_bpf (ctx, mfd);
  if (r < 0)
    {
      fk_error_set (err, -r, "seccomp: export the filter");
      goto out;
    }
  off_t size = lseek (mfd, 0, SEEK_END);
  if (size <= 0 || size % (off_t)sizeof (struct sock_filter) != 0 || size > 1 << 20)
    {
      fk_error_set (err, EINVAL, "seccomp: the exported filter has %lld bytes", (long long)size);
      goto out;
    }
  struct sock_filter *prog = xmalloc ((size_t)size);
  if (pread (mfd, prog, (size_t)size, 0) != size)
    {
      free (prog);
      fk_error_set_errno (err, "seccomp: read the filter back");
      goto out;
    }
  *ret_prog = prog;
  *ret_len = (size_t)size / sizeof (struct sock_filter);
  ret = 0;
out:
  seccomp_release (ctx);
  return ret;
}
