/* plan_run: starts a plan given as JSON, the way another front end would: its process's stdout
   and stderr are relayed to ours, its exit becomes ours, and its cgroup goes with it.
   usage: plan_run FILE          start, relay, wait
          plan_run --release FIFO  let a plan stopped at its start fifo go on */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "sandbox/cgroup.h"
#include "sandbox/plan.h"

static int
die (fk_error_t *err)
{
  fprintf (stderr, "plan_run: %s\n", fk_error_message (err));
  fk_error_clear (err);
  return 125;
}

int
main (int argc, char **argv)
{
  fk_error_t err = FK_ERROR_INIT;
  if (argc == 3 && strcmp (argv[1], "--release") == 0)
    return fk_plan_release_start (argv[2], &err) < 0 ? die (&err) : 0;
  if (argc != 2)
    {
      fprintf (stderr, "usage: plan_run FILE | --release FIFO\n");
      return 2;
    }
  cleanup_free char *text = NULL;
  size_t len;
  fk_plan_t plan;
  fk_cgroup_layout_t cg = { 0 };
  if (fk_read_file_at (AT_FDCWD, argv[1], 1 << 20, &text, &len, &err) < 0
      || fk_plan_from_json (text, len, &plan, &err) < 0)
    return die (&err);
  fk_plan_io_t io = { .cgroups = &cg, .exec_fd = -1, .listen_fd = -1 };
  fk_plan_started_t s;
  if (fk_cgroup_detect (NULL, &cg, &err) < 0 || fk_plan_start (&plan, &io, &s, &err) < 0)
    {
      fk_plan_clear (&plan);
      fk_cgroup_layout_free (&cg);
      return die (&err);
    }
  printf ("started %d\n", (int)s.pid);
  fflush (stdout);
  if (s.stdio_fds[0] >= 0)
    close (s.stdio_fds[0]);
  s.stdio_fds[0] = -1;
  struct pollfd p[2] = { { s.stdio_fds[1], POLLIN, 0 }, { s.stdio_fds[2], POLLIN, 0 } };
  int open_n = (p[0].fd >= 0) + (p[1].fd >= 0);
  while (open_n > 0)
    {
      if (poll (p, 2, -1) < 0 && errno != EINTR)
        break;
      for (int i = 0; i < 2; i++)
        if (p[i].fd >= 0 && p[i].revents)
          {
            char buf[4096];
            ssize_t n = read (p[i].fd, buf, sizeof buf);
            if (n <= 0)
              {
                p[i].fd = -1;
                open_n--;
                continue;
              }
            fk_write_all (i == 0 ? 1 : 2, buf, (size_t)n, &err);
          }
    }
  int status = 0;
  while (waitpid (s.pid, &status, 0) < 0 && errno == EINTR)
    ;
  s.pid = 0;
  fk_plan_undo (&plan, &cg, &s);
  fk_plan_clear (&plan);
  fk_cgroup_layout_free (&cg);
  return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}
