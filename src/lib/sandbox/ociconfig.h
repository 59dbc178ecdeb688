/* sandbox/ociconfig.h: an OCI bundle's config.json (runtime-spec 1.x) turned into a sandbox
   plan (sandbox/plan.h), for fk-oci: the same plan, and so the same start, as `fk create'. What
   the plan cannot honour is an error naming the field, never silently dropped. The input is
   untrusted (fuzz_oci_config). */
#ifndef FK_SANDBOX_OCICONFIG_H
#define FK_SANDBOX_OCICONFIG_H

#include <stddef.h>

#include "base/error.h"
#include "sandbox/plan.h"

#define FK_OCI_CONFIG_MAX (4u << 20)

typedef struct fk_oci_opts
{
  const char *id;               /* the container's id: the plan's id */
  const char *bundle;           /* absolute: relative root and bind paths resolve against it */
  int systemd_cgroup;           /* cgroupsPath is "slice:prefix:name" */
  int cgroup_v2;                /* a cgroup mount is cgroup2; else one cgroup mount per entry of
                                   cgroup_v1 below a tmpfs */
  const char *const *cgroup_v1; /* v1 hierarchies by their directory names ("cpu,cpuacct",
                                   "memory", "systemd" for name=systemd) */
  const char *cgroup_root;      /* the hierarchies' root (/sys/fs/cgroup): without a cgroup
                                   namespace a cgroup mount binds the container's own cgroups */
  int host_checks;              /* stat device nodes on the host (not in the fuzzer) */
} fk_oci_opts_t;

/* What config.json says that is not the plan's: for the front end's state. */
typedef struct fk_oci_info
{
  char *oci_version;
  char *annotations; /* JSON object text, "{}" when none */
  int terminal;
  int has_oom_score_adj;
  int oom_score_adj;
  int no_agent; /* annotation run.firkin.agent=false: the process is the container's init */
} fk_oci_info_t;

void fk_oci_info_clear (fk_oci_info_t *info);

/* Parses text (len bytes) into ret_plan (fk_plan_clear it) and ret_info; the plan is validated
   (fk_plan_validate) but has no start fifo yet. */
int fk_oci_config_to_plan (const char *text, size_t len, const fk_oci_opts_t *opts,
                           fk_plan_t *ret_plan, fk_oci_info_t *ret_info, fk_error_t *err);

/* The cgroup (relative to the hierarchy's root) for a config's cgroupsPath: cgroupfs paths lose
   their leading `/'; with systemd "slice:prefix:name" becomes the slice's path and
   "prefix-name.scope" ("machine-a.slice:libpod:x" ->
   "machine.slice/machine-a.slice/libpod-x.scope"); none is "fk-oci/<id>". */
int fk_oci_cgroup_path (const char *cgroups_path, int systemd, const char *id, char **ret,
                        fk_error_t *err);

/* An OCI process object (exec's --process file) as a plan process, in ret_process (which
   holds the container's process: what the object sets replaces it). */
int fk_oci_process (const char *text, size_t len, fk_plan_process_t *ret_process, int *ret_terminal,
                    fk_error_t *err);

/* fk-agent's program for a container's init: $FIRKIN_AGENT, else beside the running program,
   else the installed one. Caller frees. */
char *fk_oci_agent_program (void);

/* Makes fk-agent the plan's process (exec'd from an fd, its socket fd 3: fk_plan_io_t), with
   the container's process as its workload: the agent runs with the process's ids, env, cwd,
   capabilities, rlimits, no_new_privs and seccomp filter, starts it as its child, passes signals
   on and exits with its status. */
void fk_oci_plan_agent (fk_plan_t *plan);

/* Resources of `update --resources' (or linux.resources) as cgroup limits. */
int fk_oci_resources (const char *text, size_t len, fk_cgroup_limits_t *ret, fk_error_t *err);

#endif
