/* cli/connect.c: sandbox id -> agent connection. */
#include "cli/connect.h"

#include <errno.h>

#include "base/cleanup.h"

#include "cli/open.h"

int
fk_cli_connect (const fk_cli_globals_t *g, const char *id, fk_runtime_t **ret_rt,
                fk_sandbox_t **ret_sb, fk_client_t **ret_client, fk_error_t *err)
{
  *ret_rt = NULL;
  *ret_sb = NULL;
  *ret_client = NULL;
  if (fk_cli_runtime_open (g, 0, NULL, ret_rt, err) < 0)
    return -1;
  if (fk_sandbox_open (*ret_rt, id, ret_sb, err) < 0)
    {
      if (err->code != ENOENT)
        return -1;
      /* Not a sandbox of fk's: a container fk-oci made (an engine's), by its OCI id. */
      fk_error_t oci_err = FK_ERROR_INIT;
      cleanup_free char *oci_sock = NULL;
      if (fk_oci_agent_socket (g->oci_root, id, &oci_sock, &oci_err) < 0)
        {
          if (oci_err.code == ENOENT)
            fk_error_clear (&oci_err);
          else
            {
              fk_error_clear (err);
              *err = oci_err;
            }
          return -1;
        }
      fk_error_clear (err);
      if (fk_client_connect (oci_sock, ret_client, err) < 0)
        return fk_error_wrap (err, "container `%s'", id);
      return 0;
    }
  const char *sock = fk_sandbox_socket_path (*ret_sb);
  if (sock == NULL)
    return fk_error_set (err, ENOTSUP, "sandbox `%s' runs a command as PID 1, not an agent", id);
  fk_sandbox_info_t *info = NULL;
  if (fk_sandbox_inspect (*ret_sb, &info, err) < 0)
    return -1;
  fk_sandbox_status_t status = info->status;
  fk_sandbox_info_free (info);
  if (status == FK_SANDBOX_STOPPED)
    return fk_error_set (err, ESRCH, "sandbox `%s' is stopped", id);
  if (status == FK_SANDBOX_PAUSED || status == FK_SANDBOX_PAUSED_TO_DISK)
    return fk_error_set (err, EAGAIN, "sandbox `%s' is %s: resume it first", id,
                         fk_sandbox_status_name (status));
  if (fk_client_connect (sock, ret_client, err) < 0)
    return fk_error_wrap (err, "sandbox `%s'", id);
  return 0;
}

void
fk_cli_disconnect (fk_runtime_t *rt, fk_sandbox_t *sb, fk_client_t *client)
{
  fk_client_close (client);
  fk_sandbox_free (sb);
  fk_runtime_close (rt);
}
