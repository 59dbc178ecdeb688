/* net/resolver.c: starting fk-resolver for a sandbox, and the files it reads (rules,
   upstreams). The resolver itself is src/lib/net/resolver_main.c. */
#include "net/resolver.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stddef.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/clock.h"
#include "base/sanitizer.h"
#include "base/fs.h"
#include "base/xalloc.h"

#ifndef FK_LIBEXECDIR
#error "FK_LIBEXECDIR: the directory fk-resolver is installed in (meson sets it)"
#endif

#define RULES_FILE_MAX (1u << 20)
#define UPSTREAMS_MAX 8u

static int
nft_name_ok (const char *s)
{
  size_t n = s ? strlen (s) : 0;
  if (n == 0 || n > 63 || !isalpha ((unsigned char)s[0]))
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!isalnum ((unsigned char)s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
      return 0;
  return 1;
}

int
fk_resolver_table_parse (const char *table, const char *set4, const char *set6, char *family,
                         char *name, fk_error_t *err)
{
  if (table == NULL)
    return fk_error_set (err, EINVAL, "resolver: no nftables table");
  const char *sp = strchr (table, ' ');
  if (sp)
    {
      size_t n = (size_t)(sp - table);
      if (!((n == 4 && strncmp (table, "inet", 4) == 0) || (n == 2 && strncmp (table, "ip", 2) == 0)
            || (n == 3 && strncmp (table, "ip6", 3) == 0)))
        return fk_error_set (err, EINVAL, "resolver: table `%s': family not inet, ip or ip6",
                             table);
      memcpy (family, table, n);
      family[n] = '\0';
      table = sp + 1;
    }
  else
    strcpy (family, "inet");
  if (!nft_name_ok (table))
    return fk_error_set (err, EINVAL, "resolver: table name `%s' is not one nftables takes", table);
  strcpy (name, table);
  if (!nft_name_ok (set4) || !nft_name_ok (set6))
    return fk_error_set (err, EINVAL, "resolver: set names `%s', `%s': not ones nftables takes",
                         set4 ? set4 : "", set6 ? set6 : "");
  return 0;
}

static int
parse_one_upstream (const char *tok, struct sockaddr_storage *ss, fk_error_t *err)
{
  char addr[INET6_ADDRSTRLEN + 8];
  unsigned port = 53;
  size_t n = strcspn (tok, "#");
  if (n >= sizeof addr)
    return fk_error_set (err, EINVAL, "resolver: upstream `%s' is not an address", tok);
  memcpy (addr, tok, n);
  addr[n] = '\0';
  if (tok[n] == '#')
    {
      char *end;
      errno = 0;
      unsigned long p = strtoul (tok + n + 1, &end, 10);
      if (errno || *end || p == 0 || p > 65535 || !isdigit ((unsigned char)tok[n + 1]))
        return fk_error_set (err, EINVAL, "resolver: upstream `%s': bad port", tok);
      port = (unsigned)p;
    }
  memset (ss, 0, sizeof *ss);
  struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
  if (inet_pton (AF_INET, addr, &s4->sin_addr) == 1)
    {
      s4->sin_family = AF_INET;
      s4->sin_port = htons ((uint16_t)port);
    }
  else if (inet_pton (AF_INET6, addr, &s6->sin6_addr) == 1)
    {
      s6->sin6_family = AF_INET6;
      s6->sin6_port = htons ((uint16_t)port);
    }
  else
    return fk_error_set (err, EINVAL, "resolver: upstream `%s' is not an IP address", tok);
  return 0;
}

int
fk_resolver_upstreams_parse (const char *text, struct sockaddr_storage *ret, size_t max,
                             fk_error_t *err)
{
  if (text == NULL)
    return fk_error_set (err, EINVAL, "resolver: no upstreams");
  /* resolv.conf text: take its nameserver lines. */
  int conf = strstr (text, "nameserver") != NULL;
  cleanup_free char *copy = xstrdup (text);
  size_t n = 0;
  char *save = NULL;
  for (char *line = strtok_r (copy, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    {
      char *save2 = NULL;
      char *tok = strtok_r (line, " \t,;", &save2);
      if (tok == NULL || tok[0] == '#')
        continue;
      if (conf)
        {
          if (strcmp (tok, "nameserver") != 0)
            continue;
          tok = strtok_r (NULL, " \t", &save2);
          if (tok == NULL)
            continue;
          /* A scoped link-local address cannot be reached by address alone: skip it. */
          if (strchr (tok, '%'))
            continue;
        }
      for (; tok; tok = conf ? NULL : strtok_r (NULL, " \t,;", &save2))
        {
          if (n == max)
            return fk_error_set (err, EINVAL, "resolver: more than %zu upstreams", max);
          if (parse_one_upstream (tok, &ret[n], err) < 0)
            return -1;
          n++;
        }
    }
  if (n == 0)
    return fk_error_set (err, EINVAL, "resolver: no upstream address in `%s'", text);
  return (int)n;
}

static int
read_small_file (const char *path, size_t max, char **ret, fk_error_t *err)
{
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return fk_error_set_errno (err, "open `%s'", path);
  cleanup_free char *buf = xmalloc (max + 1);
  size_t len = 0;
  for (;;)
    {
      ssize_t r = read (fd, buf + len, max + 1 - len);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return fk_error_set_errno (err, "read `%s'", path);
      if (r == 0)
        break;
      len += (size_t)r;
      if (len > max)
        return fk_error_set (err, EFBIG, "`%s' is larger than %zu bytes", path, max);
    }
  buf[len] = '\0';
  if (memchr (buf, '\0', len))
    return fk_error_set (err, EINVAL, "`%s' holds a NUL byte", path);
  *ret = steal_pointer (&buf);
  return 0;
}

int
fk_resolver_upstreams_read (const char *path, char **ret, fk_error_t *err)
{
  if (path == NULL)
    path = "/etc/resolv.conf";
  cleanup_free char *text = NULL;
  if (read_small_file (path, 65536, &text, err) < 0)
    return -1;
  struct sockaddr_storage ss[UPSTREAMS_MAX];
  fk_error_t perr = FK_ERROR_INIT;
  int n = strstr (text, "nameserver") ? fk_resolver_upstreams_parse (text, ss, UPSTREAMS_MAX, &perr)
                                      : -1;
  fk_error_clear (&perr);
  if (n <= 0)
    return fk_error_set (err, ENOENT, "`%s' names no nameserver", path);
  size_t cap = (size_t)n * (INET6_ADDRSTRLEN + 8) + 1, len = 0;
  char *out = xmalloc (cap);
  out[0] = '\0';
  for (int i = 0; i < n; i++)
    {
      char a[INET6_ADDRSTRLEN];
      const void *p = ss[i].ss_family == AF_INET
                          ? (const void *)&((struct sockaddr_in *)&ss[i])->sin_addr
                          : (const void *)&((struct sockaddr_in6 *)&ss[i])->sin6_addr;
      inet_ntop (ss[i].ss_family, p, a, sizeof a);
      len += (size_t)snprintf (out + len, cap - len, "%s%s", i ? " " : "", a);
    }
  *ret = out;
  return 0;
}

int
fk_resolver_rules_read (const char *path, fk_net_rules_t *ret, uint32_t *ret_gen, fk_error_t *err)
{
  uint32_t gen = 0;
  cleanup_free char *text = NULL;
  if (read_small_file (path, RULES_FILE_MAX, &text, err) < 0)
    return -1;
  size_t n_allow = 0, n_deny = 0, cap_allow = 0, cap_deny = 0;
  cleanup_free char **allow = NULL;
  cleanup_free char **deny = NULL;
  xgrow ((void **)&allow, &cap_allow, 1, sizeof *allow);
  xgrow ((void **)&deny, &cap_deny, 1, sizeof *deny);
  unsigned lineno = 0;
  char *save = NULL;
  /* strtok_r skips empty lines, so count them by hand. */
  for (char *line = text; line;)
    {
      char *nl = strchr (line, '\n');
      if (nl)
        *nl = '\0';
      lineno++;
      while (*line == ' ' || *line == '\t')
        line++;
      if (*line && *line != '#')
        {
          char *word = strtok_r (line, " \t", &save);
          char *rule = strtok_r (NULL, " \t", &save);
          char *extra = rule ? strtok_r (NULL, " \t", &save) : NULL;
          int is_allow = strcmp (word, "allow") == 0, is_deny = strcmp (word, "deny") == 0;
          if (strcmp (word, "generation") == 0 && rule != NULL && extra == NULL)
            {
              char *end = NULL;
              errno = 0;
              unsigned long v = strtoul (rule, &end, 10);
              if (gen != 0 || rule[0] < '1' || rule[0] > '9' || *end != '\0' || errno != 0
                  || v > UINT32_MAX)
                return fk_error_set (err, EINVAL, "`%s' line %u: not one `generation' of 1 to %u",
                                     path, lineno, UINT32_MAX);
              gen = (uint32_t)v;
              line = nl ? nl + 1 : NULL;
              continue;
            }
          if ((!is_allow && !is_deny) || rule == NULL || extra != NULL)
            return fk_error_set (err, EINVAL, "`%s' line %u: not `allow RULE' or `deny RULE'", path,
                                 lineno);
          if (n_allow + n_deny >= FK_NET_RULES_MAX)
            return fk_error_set (err, E2BIG, "`%s': more than %u rules", path, FK_NET_RULES_MAX);
          if (is_allow)
            {
              xgrow ((void **)&allow, &cap_allow, n_allow + 2, sizeof *allow);
              allow[n_allow++] = rule;
              allow[n_allow] = NULL;
            }
          else
            {
              xgrow ((void **)&deny, &cap_deny, n_deny + 2, sizeof *deny);
              deny[n_deny++] = rule;
              deny[n_deny] = NULL;
            }
        }
      line = nl ? nl + 1 : NULL;
    }
  allow[n_allow] = NULL;
  deny[n_deny] = NULL;
  if (fk_net_rules_parse ((const char *const *)allow, (const char *const *)deny, ret, err) < 0)
    return fk_error_wrap (err, "`%s'", path);
  if (ret_gen)
    *ret_gen = gen;
  return 0;
}

int
fk_resolver_rules_write (const char *path, uint32_t gen, const char *const *allow,
                         const char *const *deny, fk_error_t *err)
{
  if (fk_net_rules_check (allow, deny, err) < 0)
    return -1;
  cleanup_free char *tmp = xasprintf ("%s.tmp.%d", path, (int)getpid ());
  cleanup_close int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return fk_error_set_errno (err, "create `%s'", tmp);
  cleanup_file FILE *f = fdopen (steal_fd (&fd), "w");
  if (f == NULL)
    return fk_error_set_errno (err, "fdopen `%s'", tmp);
  fputs ("# fk-resolver rules: allow RULE | deny RULE\n", f);
  if (gen)
    fprintf (f, "generation %u\n", gen);
  for (size_t i = 0; allow && allow[i]; i++)
    fprintf (f, "allow %s\n", allow[i]);
  for (size_t i = 0; deny && deny[i]; i++)
    fprintf (f, "deny %s\n", deny[i]);
  int bad = fflush (f) != 0 || ferror (f);
  FILE *ff = steal_pointer (&f);
  if (fclose (ff) != 0 || bad)
    {
      int e = errno;
      unlink (tmp);
      errno = e;
      return fk_error_set_errno (err, "write `%s'", tmp);
    }
  if (fk_replace_at (AT_FDCWD, tmp, path) < 0)
    {
      int e = errno;
      unlink (tmp);
      errno = e;
      return fk_error_set_errno (err, "rename `%s' to `%s'", tmp, path);
    }
  return 0;
}

/* Moves fd to a number above the ones the child sets up (dup2 to 3-5 must not clobber). */
static int
dup_high (int fd)
{
  return fcntl (fd, F_DUPFD_CLOEXEC, 10);
}

static int
bound_socket (int type, fk_error_t *err)
{
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons (53) };
  inet_pton (AF_INET, FK_RESOLVER_ADDR, &sa.sin_addr);
  cleanup_close int fd = socket (AF_INET, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return fk_error_set_errno (err, "resolver: socket in the sandbox");
  /* TCP only: on UDP it would let a second socket in the sandbox bind the address too. */
  int one = 1;
  if (type == SOCK_STREAM)
    setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind (fd, (struct sockaddr *)&sa, sizeof sa) < 0)
    return fk_error_set_errno (err, "resolver: bind %s:53 in the sandbox", FK_RESOLVER_ADDR);
  if (type == SOCK_STREAM && listen (fd, 64) < 0)
    return fk_error_set_errno (err, "resolver: listen in the sandbox");
  return steal_fd (&fd);
}

/* The resolver's sockets, bound in the namespace netns_fd (lo up there: 127.0.0.53 binds with
   lo down, but nothing reaches it then): the calling thread enters it for their creation only
   (a socket keeps the namespace it was made in). Questions sent before the resolver reads
   them wait in the sockets' queues. */
static int
sandbox_sockets (int netns_fd, int *ret_udp, int *ret_tcp, fk_error_t *err)
{
  cleanup_close int self = open ("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0)
    return fk_error_set_errno (err, "resolver: open this thread's network namespace");
  if (setns (netns_fd, CLONE_NEWNET) < 0)
    return fk_error_set_errno (err, "resolver: enter the sandbox's network namespace");
  cleanup_close int s = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq ifr = { 0 };
  strcpy (ifr.ifr_name, "lo");
  if (s >= 0 && ioctl (s, SIOCGIFFLAGS, &ifr) == 0 && !(ifr.ifr_flags & IFF_UP))
    {
      ifr.ifr_flags |= IFF_UP;
      ioctl (s, SIOCSIFFLAGS, &ifr);
    }
  int udp = bound_socket (SOCK_DGRAM, err);
  int tcp = udp >= 0 ? bound_socket (SOCK_STREAM, err) : -1;
  if (setns (self, CLONE_NEWNET) < 0)
    abort (); /* cannot go on in the wrong namespace */
  if (tcp < 0)
    {
      if (udp >= 0)
        close (udp);
      return -1;
    }
  *ret_udp = udp;
  *ret_tcp = tcp;
  return 0;
}

struct fk_resolver_prep
{
  char *program, *rules_path, *table_arg, *set4, *set6, *gen_set, *upstreams, *log_path;
  unsigned timeout_ms;
  int pidfd, udp, tcp; /* the sandbox's pid 1; the sockets bound in its namespace */
  int hub_fd;          /* a hand-off whose answer is still to be read */
};

void
fk_resolver_prep_free (fk_resolver_prep_t *prep)
{
  if (prep == NULL)
    return;
  free (prep->program);
  free (prep->rules_path);
  free (prep->table_arg);
  free (prep->set4);
  free (prep->set6);
  free (prep->gen_set);
  free (prep->upstreams);
  free (prep->log_path);
  close_and_reset (prep->pidfd);
  close_and_reset (prep->udp);
  close_and_reset (prep->tcp);
  close_and_reset (prep->hub_fd);
  free (prep);
}

int
fk_resolver_prepare (const fk_resolver_opts_t *opts, fk_resolver_prep_t **ret, fk_error_t *err)
{
  if (opts == NULL)
    return fk_error_set (err, EINVAL, "resolver: no options");
  if (fk_options_check_version ((unsigned)opts->version, FK_RESOLVER_OPTIONS_VERSION,
                                "fk_resolver_opts_t", "FK_RESOLVER_OPTIONS_INIT", err)
      < 0)
    return -1;
  const char *program = opts->program;
  if (program == NULL || program[0] == '\0')
    program = getenv ("FIRKIN_RESOLVER");
  if (program == NULL || program[0] == '\0')
    program = FK_LIBEXECDIR "/fk-resolver";
  if (access (program, X_OK) < 0)
    return fk_error_set_errno (err, "resolver program `%s'", program);
  if (opts->netns_fd < 0)
    return fk_error_set (err, EINVAL, "resolver: no network namespace");
  if (opts->pid1 <= 0)
    return fk_error_set (err, EINVAL, "resolver: no sandbox pid 1");
  if (opts->rules_path == NULL || opts->rules_path[0] == '\0')
    return fk_error_set (err, EINVAL, "resolver: no rules file");
  char family[64], table[64];
  if (fk_resolver_table_parse (opts->table, opts->set4, opts->set6, family, table, err) < 0)
    return -1;
  if (opts->gen_set && !nft_name_ok (opts->gen_set))
    return fk_error_set (err, EINVAL, "resolver: set name `%s' is not one nftables takes",
                         opts->gen_set);
  /* The rules must read now: a typo fails the create, not every later query. */
  fk_net_rules_t rules;
  uint32_t gen = 0;
  if (fk_resolver_rules_read (opts->rules_path, &rules, &gen, err) < 0)
    return -1;
  fk_net_rules_clear (&rules);
  if (opts->gen_set && gen == 0)
    return fk_error_set (err, EINVAL, "resolver: `%s' names no generation for set `%s'",
                         opts->rules_path, opts->gen_set);
  cleanup_free char *upstreams = NULL;
  if (opts->upstreams)
    upstreams = xstrdup (opts->upstreams);
  else if (fk_resolver_upstreams_read (NULL, &upstreams, err) < 0)
    return fk_error_wrap (err, "resolver upstreams");
  struct sockaddr_storage ss[UPSTREAMS_MAX];
  if (fk_resolver_upstreams_parse (upstreams, ss, UPSTREAMS_MAX, err) < 0)
    return -1;
  /* resolv.conf text goes to the resolver as one line of addresses. */
  for (char *c = upstreams; *c; c++)
    if (*c == '\n')
      *c = ';';

  cleanup_close int pidfd = (int)syscall (SYS_pidfd_open, opts->pid1, 0);
  if (pidfd < 0)
    return fk_error_set_errno (err, "resolver: sandbox pid 1 %d", (int)opts->pid1);
  int udp = -1, tcp = -1;
  if (sandbox_sockets (opts->netns_fd, &udp, &tcp, err) < 0)
    return -1;
  fk_resolver_prep_t *p = xcalloc (1, sizeof *p);
  p->program = xstrdup (program);
  p->rules_path = xstrdup (opts->rules_path);
  p->table_arg = xasprintf ("%s %s", family, table);
  p->set4 = xstrdup (opts->set4);
  p->set6 = xstrdup (opts->set6);
  p->gen_set = opts->gen_set ? xstrdup (opts->gen_set) : NULL;
  p->upstreams = steal_pointer (&upstreams);
  p->log_path = opts->log_path && opts->log_path[0] ? xstrdup (opts->log_path) : NULL;
  p->timeout_ms = opts->timeout_ms ? opts->timeout_ms : 2000u;
  p->pidfd = steal_fd (&pidfd);
  p->udp = udp;
  p->tcp = tcp;
  p->hub_fd = -1;
  *ret = p;
  return 0;
}

/* What spawn_detached starts: the program, its argv, and the fds it gets as 0 to 5. The middle
   process writes the program's pid into pid (it shares the caller's memory). */
typedef struct spawn
{
  const char *program;
  const char *const *argv;
  int fds[6];
  char *exec_stack; /* the program's process shares the memory too, on this stack, until exec */
  int tell_fd; /* >= 0: the middle writes the pid there too (it runs on a copy of our memory) */
  pid_t pid;
  int error; /* errno of a failed clone in the middle process */
} spawn_t;

/* The resolver's own process until its exec: only async-signal-safe calls (it runs in the
   caller's memory, or a copy of it, and the caller may have threads). It starts with every
   signal blocked; the caller's handlers go before any is unblocked (none may run here), and
   SIGHUP and SIGTERM stay blocked across exec: one sent before the resolver reads its
   signalfd waits. */
static void __attribute__ ((noreturn)) spawn_exec (const spawn_t *sp)
{
  struct sigaction dfl = { .sa_handler = SIG_DFL };
  for (int sig = 1; sig < _NSIG; sig++)
    {
      struct sigaction cur;
      if (sig == SIGKILL || sig == SIGSTOP || sigaction (sig, NULL, &cur) < 0)
        continue;
      if (cur.sa_handler != SIG_DFL && (cur.sa_handler != SIG_IGN || sig == SIGPIPE))
        sigaction (sig, &dfl, NULL);
    }
  sigset_t mask;
  sigemptyset (&mask);
  sigaddset (&mask, SIGHUP);
  sigaddset (&mask, SIGTERM);
  sigprocmask (SIG_SETMASK, &mask, NULL);
  setsid ();
  /* Its name from now on: fk_resolver_reload and _stop check it before the exec is done. */
  prctl (PR_SET_NAME, "fk-resolver", 0, 0, 0);
  for (int i = 0; i < 6; i++)
    if (dup2 (sp->fds[i], i) < 0)
      _exit (127);
  syscall (SYS_close_range, 6, ~0U, 0);
  execv (sp->program, (char *const *)sp->argv);
  static const char msg[] = "fk-resolver: exec failed\n";
  if (write (2, msg, sizeof msg - 1) < 0)
    _exit (127);
  _exit (127);
}

static int
spawn_exec_main (void *data)
{
  spawn_exec (data);
}

/* The middle process: starts the program, tells its pid, and is gone. The program is then
   nobody's child (reparented to the reaper): nothing is left for the caller to reap, and it
   outlives the caller as the sandbox does. Its start shares the memory too and the middle
   waits for its exec (as posix_spawn); with exec_stack NULL it is a copy instead. */
static int
spawn_middle (void *data)
{
  spawn_t *sp = data;
  long pid;
  if (sp->exec_stack)
    pid = clone (spawn_exec_main, sp->exec_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, sp);
  else
    {
      struct clone_args ca = { .exit_signal = SIGCHLD };
      pid = syscall (SYS_clone3, &ca, sizeof ca);
      if (pid == 0)
        spawn_exec (sp);
    }
  if (pid < 0)
    sp->error = errno;
  sp->pid = (pid_t)pid;
  if (sp->tell_fd >= 0 && write (sp->tell_fd, &sp->pid, sizeof sp->pid) != sizeof sp->pid)
    _exit (1);
  _exit (0);
}

/* sp's program started as nobody's child; its pid in sp->pid. The middle process and the
   program's, until its exec, share our memory, and we are stopped until the middle is gone
   (CLONE_VM | CLONE_VFORK, twice): no copy of our page tables and no wait for a forked child to
   be scheduled, where forking twice cost two copies and that wait (several milliseconds on a
   busy machine, on a create's path). Signals stay blocked meanwhile: no handler of ours may run
   on their stacks in our memory. */
static int
spawn_detached (spawn_t *sp)
{
  sigset_t all, old;
  sigfillset (&all);
  pthread_sigmask (SIG_SETMASK, &all, &old);
  sp->pid = -1;
  sp->error = 0;
#ifdef FK_ASAN
  /* The address sanitizer cannot share its allocator with a process it does not know of: the
     middle is a fork there (a copy), and tells the pid through a pipe. */
  int p[2];
  pid_t middle = -1;
  if (pipe2 (p, O_CLOEXEC) == 0)
    {
      sp->tell_fd = p[1];
      middle = fork ();
      if (middle == 0)
        spawn_middle (sp);
      close (p[1]);
      sp->tell_fd = -1;
      if (middle > 0 && read (p[0], &sp->pid, sizeof sp->pid) != (ssize_t)sizeof sp->pid)
        sp->pid = -1;
      close (p[0]);
    }
#else
  size_t page = (size_t)sysconf (_SC_PAGESIZE), stack_size = 32u << 10;
  size_t len = 2 * (page + stack_size);
  pid_t middle = -1;
  char *map
      = mmap (NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (map != MAP_FAILED && mprotect (map, page, PROT_NONE) == 0
      && mprotect (map + page + stack_size, page, PROT_NONE) == 0)
    {
      sp->exec_stack = map + len;
      middle = clone (spawn_middle, map + page + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD, sp);
    }
  int saved = errno;
  if (map != MAP_FAILED)
    munmap (map, len);
  errno = saved;
#endif
  pthread_sigmask (SIG_SETMASK, &old, NULL);
  if (middle < 0)
    return -1;
  int status;
  while (waitpid (middle, &status, 0) < 0 && errno == EINTR)
    ;
  if (sp->pid <= 0)
    {
      errno = sp->error ? sp->error : ECHILD;
      return -1;
    }
  return 0;
}

/* The resolver's argv for prep (pointing into a and prep). */
typedef struct
{
  const char *v[16];
  char timeout[16];
} resolver_argv_t;

static void
resolver_argv (const fk_resolver_prep_t *prep, resolver_argv_t *a)
{
  snprintf (a->timeout, sizeof a->timeout, "%u", prep->timeout_ms);
  const char *v[] = { prep->program,
                      "--rules",
                      prep->rules_path,
                      "--table",
                      prep->table_arg,
                      "--set4",
                      prep->set4,
                      "--set6",
                      prep->set6,
                      "--upstreams",
                      prep->upstreams,
                      "--timeout-ms",
                      a->timeout,
                      NULL,
                      NULL,
                      NULL };
  memcpy (a->v, v, sizeof v);
  if (prep->gen_set)
    {
      a->v[13] = "--gen-set";
      a->v[14] = prep->gen_set;
    }
}

/* The resolver's log (appended to), or /dev/null without one. */
static int
open_log (const char *path, fk_error_t *err)
{
  int fd = path ? open (path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)
                : open ("/dev/null", O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return fk_error_set_errno (err, "resolver log `%s'", path ? path : "/dev/null");
  return fd;
}

int
fk_resolver_start (fk_resolver_prep_t *prep, pid_t *pid, fk_error_t *err)
{
  cleanup_close int hi_pidfd = dup_high (prep->pidfd);
  cleanup_close int hi_udp = dup_high (prep->udp);
  cleanup_close int hi_tcp = dup_high (prep->tcp);
  if (hi_pidfd < 0 || hi_udp < 0 || hi_tcp < 0)
    return fk_error_set_errno (err, "resolver: dup");
  cleanup_close int logfd = open_log (prep->log_path, err);
  if (logfd < 0)
    return -1;
  cleanup_close int keep_log = dup_high (logfd);
  cleanup_close int devnull = open ("/dev/null", O_RDWR | O_CLOEXEC);
  cleanup_close int hi_null = devnull >= 0 ? dup_high (devnull) : -1;
  if (keep_log < 0 || hi_null < 0)
    return fk_error_set_errno (err, "resolver: open its log");

  resolver_argv_t a;
  resolver_argv (prep, &a);
  spawn_t sp = { .program = prep->program,
                 .argv = a.v,
                 .fds = { hi_null, hi_null, keep_log, hi_udp, hi_pidfd, hi_tcp },
                 .tell_fd = -1,
                 .pid = -1 };
  if (spawn_detached (&sp) < 0)
    return fk_error_set_errno (err, "resolver: start `%s'", prep->program);
  *pid = sp.pid;
  return 0;
}

/* ---- the hub ---- */

/* "/proc/self/fd/DIRFD/NAME": a socket path that fits sun_path however long the directory's. */
static int
hub_addr (int dirfd, struct sockaddr_un *sa, socklen_t *len)
{
  memset (sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  int n = snprintf (sa->sun_path, sizeof sa->sun_path, "/proc/self/fd/%d/%s", dirfd,
                    FK_RESOLVER_HUB_SOCKET);
  *len = (socklen_t)(offsetof (struct sockaddr_un, sun_path) + (size_t)n + 1);
  return 0;
}

/* A connection to the hub in dirfd, or -1 with errno (ENOENT, ECONNREFUSED: none runs). */
static int
hub_connect (int dirfd)
{
  struct sockaddr_un sa;
  socklen_t len;
  hub_addr (dirfd, &sa, &len);
  cleanup_close int fd = socket (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  /* A full queue (a hub that does not accept) fails the connect after 10 s, not never. */
  struct timeval tv = { .tv_sec = 10 };
  if (fd < 0 || setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0
      || connect (fd, (struct sockaddr *)&sa, len) < 0)
    return -1;
  return steal_fd (&fd);
}

static unsigned
hub_linger_ms (void)
{
  const char *v = getenv ("FIRKIN_RESOLVER_HUB_LINGER_MS");
  char *end;
  unsigned long ms = v && *v ? strtoul (v, &end, 10) : FK_RESOLVER_HUB_LINGER_MS;
  if (v && *v && (*end || ms > 3600000ul))
    ms = FK_RESOLVER_HUB_LINGER_MS;
  return (unsigned)ms;
}

/* Starts a hub in dirfd (the caller holds the lock exclusively and found none answering): its
   socket is bound and listening before it starts, so a connection made at once waits for it. */
static int
hub_start (int dirfd, const char *program, fk_error_t *err)
{
  if (unlinkat (dirfd, FK_RESOLVER_HUB_SOCKET, 0) < 0 && errno != ENOENT)
    return fk_error_set_errno (err, "resolver hub: remove its old socket");
  struct sockaddr_un sa;
  socklen_t len;
  hub_addr (dirfd, &sa, &len);
  cleanup_close int lfd = socket (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (lfd < 0 || bind (lfd, (struct sockaddr *)&sa, len) < 0
      || fchmodat (dirfd, FK_RESOLVER_HUB_SOCKET, 0600, 0) < 0 || listen (lfd, 128) < 0)
    return fk_error_set_errno (err, "resolver hub: its socket");
  cleanup_close int logfd = openat (dirfd, FK_RESOLVER_HUB_LOG,
                                    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  cleanup_close int dir = openat (dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  cleanup_close int devnull = open ("/dev/null", O_RDWR | O_CLOEXEC);
  if (logfd < 0 || dir < 0 || devnull < 0)
    return fk_error_set_errno (err, "resolver hub: open its log");
  cleanup_close int hi_l = dup_high (lfd), hi_log = dup_high (logfd), hi_dir = dup_high (dir),
                    hi_null = dup_high (devnull);
  if (hi_l < 0 || hi_log < 0 || hi_dir < 0 || hi_null < 0)
    return fk_error_set_errno (err, "resolver hub: dup");
  char linger[16];
  snprintf (linger, sizeof linger, "%u", hub_linger_ms ());
  const char *argv[] = { program, "--hub", "--linger-ms", linger, NULL };
  spawn_t sp = { .program = program,
                 .argv = argv,
                 .fds = { hi_null, hi_null, hi_log, hi_l, hi_dir, hi_null },
                 .tell_fd = -1,
                 .pid = -1 };
  if (spawn_detached (&sp) < 0)
    return fk_error_set_errno (err, "resolver hub: start `%s'", program);
  return 0;
}

/* flock, given up after 10 s (ETIMEDOUT): a holder that is stopped cannot stop creates. */
static int
lock_wait (int fd, int how)
{
  uint64_t end = 0;
  for (unsigned wait_us = 100;; wait_us = wait_us < 20000 ? wait_us * 2 : wait_us)
    {
      if (flock (fd, how | LOCK_NB) == 0)
        return 0;
      if (errno != EWOULDBLOCK && errno != EINTR)
        return -1;
      uint64_t now = fk_now_ms ();
      if (end == 0)
        end = now + 10000;
      else if (now >= end)
        {
          errno = ETIMEDOUT;
          return -1;
        }
      usleep (wait_us);
    }
}

/* Sends one request: its strings after the operation's byte, fds with it. */
static int
hub_send (int fd, int op, const char *const *strs, const int *fds, size_t n_fds, fk_error_t *err)
{
  size_t len;
  cleanup_free char *buf = fk_resolver_hub_msg_build (op, strs, &len, err);
  if (buf == NULL)
    return -1;
  struct iovec iov = { buf, len };
  union
  {
    char buf[CMSG_SPACE (FK_RESOLVER_HUB_FDS * sizeof (int))];
    struct cmsghdr align;
  } cm;
  struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
  if (n_fds)
    {
      memset (&cm, 0, sizeof cm);
      mh.msg_control = cm.buf;
      mh.msg_controllen = CMSG_SPACE (n_fds * sizeof (int));
      struct cmsghdr *c = CMSG_FIRSTHDR (&mh);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN (n_fds * sizeof (int));
      memcpy (CMSG_DATA (c), fds, n_fds * sizeof (int));
    }
  ssize_t n;
  while ((n = sendmsg (fd, &mh, MSG_NOSIGNAL)) < 0 && errno == EINTR)
    ;
  if (n < 0)
    return fk_error_set_errno (err, "resolver hub: send");
  return 0;
}

/* The hub's answer to the request sent on fd: 0, or -1 with its errno. A connection the hub
   closed unanswered is EPIPE. */
static int
hub_answer (int fd, fk_error_t *err)
{
  ssize_t n;
  struct timeval tv = { .tv_sec = 10 };
  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  int32_t answer;
  while ((n = recv (fd, &answer, sizeof answer, 0)) < 0 && errno == EINTR)
    ;
  if (n < 0)
    return fk_error_set_errno (err, "resolver hub: its answer");
  if (n != (ssize_t)sizeof answer)
    return fk_error_set (err, EPIPE, "resolver hub: gone without an answer");
  if (answer != 0)
    return fk_error_set (err, answer > 0 ? answer : EPROTO, "resolver hub: %s",
                         strerror (answer > 0 ? answer : EPROTO));
  return 0;
}

int
fk_resolver_hand_off (fk_resolver_prep_t *prep, const char *hub_dir, fk_error_t *err)
{
  if (mkdir (hub_dir, 0700) < 0 && errno != EEXIST)
    return fk_error_set_errno (err, "resolver hub: make `%s'", hub_dir);
  cleanup_close int dirfd = open (hub_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0)
    return fk_error_set_errno (err, "resolver hub: open `%s'", hub_dir);
  cleanup_close int logfd = open_log (prep->log_path, err);
  if (logfd < 0)
    return -1;
  resolver_argv_t a;
  resolver_argv (prep, &a);
  const char *strs[sizeof a.v / sizeof a.v[0] + 1];
  strs[0] = prep->rules_path;
  memcpy (strs + 1, a.v, sizeof a.v);
  const int fds[FK_RESOLVER_HUB_FDS] = { logfd, prep->udp, prep->pidfd, prep->tcp };
  /* Held shared from before the connect until it is done: the hub leaves only when it can hold
     the lock alone and its queue is empty, so a connection made is always served, and no
     request is left in the queue of a hub that is gone. */
  cleanup_close int lockfd
      = openat (dirfd, FK_RESOLVER_HUB_LOCK, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (lockfd < 0 || lock_wait (lockfd, LOCK_SH) < 0)
    return fk_error_set_errno (err, "resolver hub: its lock in `%s'", hub_dir);
  cleanup_close int fd = hub_connect (dirfd);
  if (fd < 0 && (errno == ENOENT || errno == ECONNREFUSED))
    {
      if (lock_wait (lockfd, LOCK_EX) < 0)
        return fk_error_set_errno (err, "resolver hub: its lock in `%s'", hub_dir);
      fd = hub_connect (dirfd);
      if (fd < 0 && (errno == ENOENT || errno == ECONNREFUSED))
        {
          if (hub_start (dirfd, prep->program, err) < 0)
            return -1;
          fd = hub_connect (dirfd);
        }
    }
  if (fd < 0)
    return fk_error_set_errno (err, "resolver hub: connect in `%s'", hub_dir);
  if (hub_send (fd, FK_RESOLVER_HUB_TAKE, strs, fds, FK_RESOLVER_HUB_FDS, err) < 0)
    return fk_error_wrap (err, "hand the sandbox's resolver over");
  /* The answer is read later (fk_resolver_hand_off_wait). */
  close_and_reset (prep->hub_fd);
  prep->hub_fd = steal_fd (&fd);
  return 0;
}

int
fk_resolver_hand_off_wait (fk_resolver_prep_t *prep, fk_error_t *err)
{
  if (prep == NULL || prep->hub_fd < 0)
    return 0;
  int r = hub_answer (prep->hub_fd, err);
  prep->hub_fd = close_and_reset (prep->hub_fd);
  return r < 0 ? fk_error_wrap (err, "hand the sandbox's resolver over") : 0;
}

static int
hub_signal (const char *hub_dir, int op, const char *rules_path, fk_error_t *err)
{
  cleanup_close int dirfd = open (hub_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0 && errno != ENOENT)
    return fk_error_set_errno (err, "resolver hub: open `%s'", hub_dir);
  cleanup_close int fd = dirfd < 0 ? -1 : hub_connect (dirfd);
  if (fd < 0 && (dirfd < 0 || errno == ENOENT || errno == ECONNREFUSED))
    return fk_error_set (err, ESRCH, "no resolver hub runs in `%s'", hub_dir);
  if (fd < 0)
    return fk_error_set_errno (err, "resolver hub: connect in `%s'", hub_dir);
  const char *strs[] = { rules_path, NULL };
  if (hub_send (fd, op, strs, NULL, 0, err) < 0)
    return -1;
  return hub_answer (fd, err);
}

int
fk_resolver_hub_reload (const char *hub_dir, const char *rules_path, fk_error_t *err)
{
  return hub_signal (hub_dir, FK_RESOLVER_HUB_RELOAD, rules_path, err);
}

int
fk_resolver_hub_stop (const char *hub_dir, const char *rules_path, fk_error_t *err)
{
  return hub_signal (hub_dir, FK_RESOLVER_HUB_STOP, rules_path, err);
}

int
fk_resolver_spawn (const fk_resolver_opts_t *opts, pid_t *pid, fk_error_t *err)
{
  fk_resolver_prep_t *prep = NULL;
  if (fk_resolver_prepare (opts, &prep, err) < 0)
    return -1;
  int r = fk_resolver_start (prep, pid, err);
  fk_resolver_prep_free (prep);
  return r;
}

/* Signals pid only when it is still an fk-resolver (a pid the caller kept may have been reused
   since). */
static int
signal_resolver (pid_t pid, int sig, fk_error_t *err)
{
  cleanup_close int pidfd = (int)syscall (SYS_pidfd_open, pid, 0);
  if (pidfd < 0)
    return fk_error_set_errno (err, "resolver %d", (int)pid);
  char path[64], comm[32] = "";
  snprintf (path, sizeof path, "/proc/%d/comm", (int)pid);
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  ssize_t n = fd >= 0 ? read (fd, comm, sizeof comm - 1) : -1;
  if (n > 0)
    comm[n] = '\0';
  if (strcmp (comm, "fk-resolver\n") != 0)
    return fk_error_set (err, ESRCH, "resolver %d: not running", (int)pid);
  if (syscall (SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0)
    return fk_error_set_errno (err, "signal resolver %d", (int)pid);
  return 0;
}

int
fk_resolver_reload (pid_t pid, fk_error_t *err)
{
  return signal_resolver (pid, SIGHUP, err);
}

int
fk_resolver_stop (pid_t pid, fk_error_t *err)
{
  return signal_resolver (pid, SIGTERM, err);
}
