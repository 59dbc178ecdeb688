/* Fuzz target: an OCI bundle's config.json (untrusted: written by whoever calls the runtime),
   its process object (exec --process) and resources (update --resources). What converts is a
   valid plan, whose JSON form decodes again; nothing touches the host (host_checks off). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/ociconfig.h"
#include "sandbox/plan.h"
#include "sandbox/seccomp_oci.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *text = (const char *)data;
  static const char *const v1[] = { "cpu,cpuacct", "memory", "pids", "systemd", NULL };
  for (int variant = 0; variant < 2; variant++)
    {
      fk_error_t err = FK_ERROR_INIT;
      fk_oci_opts_t opts = { .id = "fuzz",
                             .bundle = "/bundle",
                             .systemd_cgroup = variant,
                             .cgroup_v2 = variant,
                             .cgroup_v1 = v1,
                             .cgroup_root = "/sys/fs/cgroup" };
      fk_plan_t plan;
      fk_oci_info_t info;
      if (fk_oci_config_to_plan (text, size, &opts, &plan, &info, &err) == 0)
        {
          char *json = NULL;
          if (fk_plan_to_json (&plan, &json, &err) < 0)
            abort ();
          fk_plan_t again;
          if (fk_plan_from_json (json, strlen (json), &again, &err) < 0)
            {
              fprintf (stderr, "the plan's JSON does not decode: %s\n%s\n", fk_error_message (&err),
                       json);
              abort ();
            }
          if (plan.seccomp_oci)
            {
              struct sock_filter *prog = NULL;
              size_t len = 0;
              if (fk_seccomp_oci_compile (plan.seccomp_oci, &prog, &len, &err) == 0)
                free (prog);
              fk_error_clear (&err);
            }
          fk_plan_clear (&again);
          free (json);
          fk_plan_clear (&plan);
          fk_oci_info_clear (&info);
        }
      fk_error_clear (&err);
    }
  fk_error_t err = FK_ERROR_INIT;
  fk_plan_process_t p = { 0 };
  int terminal = 0;
  if (fk_oci_process (text, size, &p, &terminal, &err) == 0)
    {
      fk_plan_t holder;
      fk_plan_init (&holder);
      holder.process = p;
      fk_plan_clear (&holder);
    }
  fk_error_clear (&err);
  fk_cgroup_limits_t lim;
  fk_oci_resources (text, size, &lim, &err);
  fk_error_clear (&err);
  return 0;
}
