/* cli/remote.c: fk-remote's table of the remote client's calls (cli/remote.h). */
#include "cli/remote.h"

#include <stdlib.h>

const fk_cli_remote_api_t fk_cli_remote_api = {
  .open = fk_remote_open,
  .close = fk_remote_close,
  .create = fk_remote_sandbox_create,
  .list = fk_remote_sandbox_list,
  .inspect = fk_remote_sandbox_inspect,
  .delete = fk_remote_sandbox_delete,
  .extend = fk_remote_sandbox_extend,
  .pause = fk_remote_sandbox_pause,
  .resume = fk_remote_sandbox_resume,
  .attach = fk_remote_sandbox_attach,
  .exec_start = fk_remote_exec_start,
  .proc_next = fk_remote_proc_next,
  .write_stdin = fk_remote_proc_write_stdin,
  .close_stdin = fk_remote_proc_close_stdin,
  .proc_free = fk_remote_proc_free,
  .file_stat = fk_remote_file_stat,
  .file_read_fd = fk_remote_file_read_fd,
  .file_write_fd = fk_remote_file_write_fd,
};
