/* oci/exec.c: exec, a new process in a running container. */
#include "oci/oci.h"

int
oci_exec (int argc, char **argv)
{
  (void)argc;
  (void)argv;
  return oci_failf ("exec: not supported yet");
}
