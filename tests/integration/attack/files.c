/* fk-attack-files DIR N: makes up to N empty files in DIR, as code that wants to spend the
   host's kernel memory on inodes without using a byte of disk would. Prints how many it made
   and why it stopped. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
main (int argc, char **argv)
{
  if (argc != 3)
    return 2;
  long n = atol (argv[2]), made = 0;
  int dir = open (argv[1], O_RDONLY | O_DIRECTORY);
  if (dir < 0)
    {
      printf ("open %s: %s\n", argv[1], strerror (errno));
      return 1;
    }
  const char *why = "done";
  for (; made < n; made++)
    {
      char name[32];
      snprintf (name, sizeof name, "f%ld", made);
      int fd = openat (dir, name, O_WRONLY | O_CREAT | O_EXCL, 0644);
      if (fd < 0)
        {
          why = strerror (errno);
          break;
        }
      close (fd);
    }
  printf ("made %ld files: %s\n", made, why);
  return made == n ? 0 : 1;
}
