/* Every public options struct made with its _INIT macro, with only the public headers: the
   macros expand (NULL and all) in a user's file, and start with the version. */
#include <firkin/client.h>
#include <firkin/pool.h>
#include <firkin/runtime.h>
#include <firkin/shell.h>
#include <firkin/template.h>

unsigned fk_header_options_versions (void);

unsigned
fk_header_options_versions (void)
{
  fk_runtime_opts_t runtime = FK_RUNTIME_OPTIONS_INIT;
  fk_template_prepare_opts_t prepare = FK_TEMPLATE_PREPARE_OPTIONS_INIT;
  fk_client_opts_t client = FK_CLIENT_OPTIONS_INIT;
  fk_exec_opts_t exec = FK_EXEC_OPTIONS_INIT;
  fk_shell_opts_t shell = FK_SHELL_OPTIONS_INIT;
  fk_shell_run_opts_t run = FK_SHELL_RUN_OPTIONS_INIT;
  fk_warm_pool_opts_t pool = FK_WARM_POOL_OPTIONS_INIT;
  fk_error_t err = FK_ERROR_INIT;
  return runtime.version + prepare.version + client.version + exec.version + shell.version
         + run.version + pool.version + (unsigned)err.code;
}
