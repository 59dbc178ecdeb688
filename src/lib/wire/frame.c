/* wire/frame.c: see frame.h. */
#include "wire/frame.h"

#include <errno.h>
#include <string.h>

static uint32_t
get_u32 (const uint8_t *p)
{
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t
get_u16 (const uint8_t *p)
{
  return (uint16_t)(p[0] | p[1] << 8);
}

static void
put_u32 (uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

int
fk_wire_type_is_data (uint16_t type)
{
  return type == FK_WIRE_STDIN || type == FK_WIRE_DATA || type == FK_WIRE_R_STDOUT
         || type == FK_WIRE_R_STDERR;
}

/* The type's name, NULL when the number is not a type (the numbering has gaps). */
static const char *
type_name (uint16_t type)
{
  static const char *const req[] = {
    [FK_WIRE_HELLO] = "hello",
    [FK_WIRE_EXEC] = "exec",
    [FK_WIRE_STDIN] = "stdin",
    [FK_WIRE_SIGNAL] = "signal",
    [FK_WIRE_RESIZE] = "resize",
    [FK_WIRE_PS] = "ps",
    [FK_WIRE_ATTACH] = "attach",
    [FK_WIRE_FILE_READ] = "file-read",
    [FK_WIRE_FILE_WRITE] = "file-write",
    [FK_WIRE_FILE_STAT] = "file-stat",
    [FK_WIRE_FILE_LIST] = "file-list",
    [FK_WIRE_FILE_MKDIR] = "file-mkdir",
    [FK_WIRE_FILE_RENAME] = "file-rename",
    [FK_WIRE_FILE_REMOVE] = "file-remove",
    [FK_WIRE_FILE_CHMOD] = "file-chmod",
    [FK_WIRE_DATA] = "data",
    [FK_WIRE_CANCEL] = "cancel",
    [FK_WIRE_SET_ENV] = "set-env",
    [FK_WIRE_GET_ENV] = "get-env",
    [FK_WIRE_REROOT] = "reroot",
    [FK_WIRE_SHELL_OPEN] = "shell-open",
    [FK_WIRE_SHELL_RUN] = "shell-run",
    [FK_WIRE_SHELL_CLOSE] = "shell-close",
    [FK_WIRE_WATCH] = "watch",
    [FK_WIRE_WATCH_STOP] = "watch-stop",
    [FK_WIRE_USER_LOOKUP] = "user-lookup",
    [FK_WIRE_PORT_CONNECT] = "port-connect",
    [FK_WIRE_PROC_INPUT] = "proc-input",
  };
  static const char *const rep[FK_WIRE_REPLY_MAX - FK_WIRE_R_HELLO + 1] = {
    [FK_WIRE_R_HELLO - FK_WIRE_R_HELLO] = "hello",
    [FK_WIRE_R_OK - FK_WIRE_R_HELLO] = "ok",
    [FK_WIRE_R_ERROR - FK_WIRE_R_HELLO] = "error",
    [FK_WIRE_R_STARTED - FK_WIRE_R_HELLO] = "started",
    [FK_WIRE_R_STDOUT - FK_WIRE_R_HELLO] = "stdout",
    [FK_WIRE_R_STDERR - FK_WIRE_R_HELLO] = "stderr",
    [FK_WIRE_R_EXIT - FK_WIRE_R_HELLO] = "exit",
    [FK_WIRE_R_WATCHING - FK_WIRE_R_HELLO] = "watching",
    [FK_WIRE_R_EVENTS - FK_WIRE_R_HELLO] = "events",
    [FK_WIRE_R_PORT - FK_WIRE_R_HELLO] = "port",
  };
  if (type >= 1 && type <= FK_WIRE_REQUEST_MAX && req[type] != NULL)
    return req[type];
  if (type >= FK_WIRE_R_HELLO && type <= FK_WIRE_REPLY_MAX && rep[type - FK_WIRE_R_HELLO] != NULL)
    return rep[type - FK_WIRE_R_HELLO];
  return NULL;
}

const char *
fk_wire_type_name (uint16_t type)
{
  const char *name = type_name (type);
  return name ? name : "unknown";
}

static int
type_known (uint16_t type)
{
  return type_name (type) != NULL;
}

int
fk_wire_header_parse (const uint8_t *buf, size_t len, fk_wire_frame_t *ret, fk_error_t *err)
{
  if (len < FK_WIRE_HEADER_LEN)
    return 0;
  uint32_t plen = get_u32 (buf);
  uint16_t type = get_u16 (buf + 4);
  uint16_t flags = get_u16 (buf + 6);
  uint32_t id = get_u32 (buf + 8);
  if (plen > FK_WIRE_MAX_PAYLOAD)
    return fk_error_set (err, EMSGSIZE, "frame payload of %u bytes is over the limit of %u", plen,
                         FK_WIRE_MAX_PAYLOAD);
  if (!type_known (type))
    return fk_error_set (err, EPROTO, "unknown frame type %u", type);
  if (flags & ~FK_WIRE_F_ALL)
    return fk_error_set (err, EPROTO, "unknown frame flags 0x%x", flags);
  ret->type = type;
  ret->flags = flags;
  ret->id = id;
  ret->len = plen;
  ret->payload = NULL;
  return 1;
}

long
fk_wire_frame_parse (const uint8_t *buf, size_t len, fk_wire_frame_t *ret, fk_error_t *err)
{
  fk_wire_frame_t f;
  int r = fk_wire_header_parse (buf, len, &f, err);
  if (r <= 0)
    return r;
  if (len - FK_WIRE_HEADER_LEN < f.len)
    return 0;
  f.payload = buf + FK_WIRE_HEADER_LEN;
  *ret = f;
  return (long)(FK_WIRE_HEADER_LEN + f.len);
}

void
fk_wire_header_write (uint8_t *out, uint16_t type, uint16_t flags, uint32_t id,
                      uint32_t payload_len)
{
  put_u32 (out, payload_len);
  out[4] = (uint8_t)type;
  out[5] = (uint8_t)(type >> 8);
  out[6] = (uint8_t)flags;
  out[7] = (uint8_t)(flags >> 8);
  put_u32 (out + 8, id);
}
