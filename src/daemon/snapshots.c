/* daemon/snapshots.c: the E2B control plane's snapshots and forks, on the library's
   (docs/snapshots.md): POST /sandboxes/{id}/snapshots, POST /sandboxes/{id}/fork, GET /snapshots,
   DELETE /templates/{id} (of a snapshot). A snapshot is a template whose source is
   "snapshot:<sandbox id>" (or "fork:<sandbox id>"); it holds what the sandbox's code wrote, so
   fkd lets clients delete snapshots, never the templates the host prepared. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "daemon/controlreq.h"
#include "daemon/server.h"
#include "firkin/pool.h"
#include "firkin/strv.h"
#include "firkin/template.h"

/* The sandbox a snapshot template was taken from, or NULL when it is not a snapshot's. */
static const char *
snapshot_source (const fk_template_t *t)
{
  static const char *const kinds[] = { "snapshot:", "fork:" };
  for (size_t i = 0; t->source && i < sizeof kinds / sizeof kinds[0]; i++)
    if (strncmp (t->source, kinds[i], strlen (kinds[i])) == 0)
      return t->source + strlen (kinds[i]);
  return NULL;
}

static json_t *
snapshot_json (const char *id)
{
  return json_pack ("{s:s, s:[s]}", "snapshotID", id, "names", id);
}

/* ---- POST /sandboxes/{id}/snapshots ---- */

typedef struct snap_req
{
  char *id, *name;
  uint64_t timeout_sec;
  unsigned count;
} snap_req_t;

static void
snap_req_free (void *p)
{
  snap_req_t *s = p;
  free (s->id);
  free (s->name);
  free (s);
}

/* Opens the sandbox the request names, answering 404 for an unknown one or one waiting in the
   warm pool. */
static fk_sandbox_t *
open_sandbox (fkd_req_t *r, const char *id)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_sandbox_t *sb = NULL;
  if (fk_sandbox_open (r->srv->rt, id, &sb, &err) < 0 || fkd_pool_member (sb))
    {
      if (sb == NULL && err.code != ENOENT)
        fkd_reply_error (r, MHD_HTTP_INTERNAL_SERVER_ERROR, "sandbox %s: %s", id,
                         fk_error_message (&err));
      else
        fkd_reply_error (r, MHD_HTTP_NOT_FOUND, "sandbox %s not found", id);
      fk_error_clear (&err);
      fk_sandbox_free (sb);
      return NULL;
    }
  return sb;
}

static unsigned
status_of (int code)
{
  switch (code)
    {
    case ENOENT:
    case ESRCH:
      return MHD_HTTP_NOT_FOUND;
    case EEXIST:
    case EBUSY:
      return MHD_HTTP_CONFLICT;
    case EINVAL:
      return MHD_HTTP_BAD_REQUEST;
    case EFBIG:
    case ENOSPC:
      return MHD_HTTP_CONTENT_TOO_LARGE;
    default:
      return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
}

static void
snapshot_job (fkd_req_t *r, void *data)
{
  snap_req_t *s = data;
  fk_sandbox_t *sb = open_sandbox (r, s->id);
  if (sb == NULL)
    return;
  fk_snapshot_opts_t o = FK_SNAPSHOT_OPTIONS_INIT;
  o.id = s->name;
  fk_error_t err = FK_ERROR_INIT;
  cleanup_free char *tid = NULL;
  if (fk_sandbox_snapshot (sb, &o, &tid, &err) < 0)
    {
      fkd_reply_error (r, status_of (err.code), "snapshot of sandbox %s: %s", s->id,
                       fk_error_message (&err));
      fk_error_clear (&err);
    }
  else
    {
      log_info ("snapshot %s of sandbox %s", tid, s->id);
      fkd_reply_json (r, MHD_HTTP_CREATED, snapshot_json (tid));
    }
  fk_sandbox_free (sb);
}

/* ---- POST /sandboxes/{id}/fork ---- */

/* A fork is a new sandbox of its own: it gets a token of its own (the parent's would open the
   parent's envd to whoever the fork is handed to) and the requested timeout. */
static json_t *
fork_one (fkd_req_t *r, const char *id, uint64_t timeout_sec)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_sandbox_t *sb = NULL;
  fk_sandbox_info_t *info = NULL;
  json_t *res = NULL;
  cleanup_strv char **meta = NULL;
  char token[FKD_TOKEN_LEN + 1];
  if (fkd_new_token (token) < 0)
    {
      fk_error_set (&err, EIO, "no random bytes for the token");
      goto out;
    }
  if (fk_sandbox_open (r->srv->rt, id, &sb, &err) < 0 || fk_sandbox_inspect (sb, &info, &err) < 0)
    goto out;
  size_t n = fk_strv_len (info->metadata);
  meta = xcalloc (n + 2, sizeof *meta);
  size_t k = 0;
  int had_token = 0;
  for (size_t i = 0; i < n; i++)
    if (strncmp (info->metadata[i], FKD_META_TOKEN "=", strlen (FKD_META_TOKEN) + 1) == 0)
      had_token = 1;
    else
      meta[k++] = xstrdup (info->metadata[i]);
  if (had_token)
    meta[k++] = xasprintf ("%s=%s", FKD_META_TOKEN, token);
  if (fk_sandbox_set_metadata (sb, (const char *const *)meta, &err) < 0
      || fk_sandbox_extend (sb, timeout_sec, &err) < 0)
    goto out;
  fk_sandbox_info_free (info);
  info = NULL;
  if (fk_sandbox_inspect (sb, &info, &err) < 0)
    goto out;
  res = json_pack ("{s:o}", "sandbox", fkd_sandbox_object (r, info));
out:
  if (res == NULL)
    {
      /* A fork that cannot be made its own is not handed out with the parent's token. */
      if (sb)
        {
          fk_error_t e2 = FK_ERROR_INIT;
          if (fk_sandbox_delete (sb, 1, &e2) < 0)
            fk_error_clear (&e2);
        }
      res = json_pack ("{s:{s:i, s:s}}", "error", "code", 500, "message", fk_error_message (&err));
    }
  fk_error_clear (&err);
  fk_sandbox_info_free (info);
  fk_sandbox_free (sb);
  return res;
}

static void
fork_job (fkd_req_t *r, void *data)
{
  snap_req_t *s = data;
  fk_sandbox_t *sb = open_sandbox (r, s->id);
  if (sb == NULL)
    return;
  fk_error_t err = FK_ERROR_INIT;
  char **ids = NULL;
  /* With a warm pool of the parent's template, the forks are its ready sandboxes moved onto
     the snapshot (as many as it holds; the rest are created). */
  unsigned pooled = 0;
  int failed = r->srv->pool != NULL
                   ? fk_warm_pool_fork (r->srv->pool, sb, s->count, &ids, &pooled, &err) < 0
                   : fk_sandbox_fork (sb, s->count, &ids, &err) < 0;
  if (failed)
    {
      fkd_reply_error (r, status_of (err.code), "fork of sandbox %s: %s", s->id,
                       fk_error_message (&err));
      fk_error_clear (&err);
      fk_sandbox_free (sb);
      return;
    }
  json_t *arr = json_array ();
  for (size_t i = 0; ids[i]; i++)
    json_array_append_new (arr, fork_one (r, ids[i], s->timeout_sec));
  log_info ("forked sandbox %s %u times (%u from the warm pool)", s->id, s->count, pooled);
  fk_strv_free (ids);
  fk_sandbox_free (sb);
  fkd_reply_json (r, MHD_HTTP_CREATED, arr);
}

/* ---- GET /snapshots, DELETE /templates/{id} ---- */

typedef struct list_req
{
  char *sandbox_id, *name;
  size_t limit, offset;
} snap_list_t;

static void
snap_list_free (void *p)
{
  snap_list_t *l = p;
  free (l->sandbox_id);
  free (l->name);
  free (l);
}

static void
list_job (fkd_req_t *r, void *data)
{
  snap_list_t *l = data;
  fk_error_t err = FK_ERROR_INIT;
  char **ids = NULL;
  if (fk_template_list (r->srv->rt, &ids, &err) < 0)
    {
      fkd_reply_error (r, MHD_HTTP_INTERNAL_SERVER_ERROR, "list templates: %s",
                       fk_error_message (&err));
      fk_error_clear (&err);
      return;
    }
  json_t *arr = json_array ();
  size_t matched = 0, next = 0;
  for (size_t i = 0; ids[i]; i++)
    {
      fk_template_t *t = NULL;
      if (fk_template_load (r->srv->rt, ids[i], &t, &err) < 0)
        {
          fk_error_clear (&err);
          continue;
        }
      const char *from = snapshot_source (t);
      int keep = from && (!l->sandbox_id || strcmp (from, l->sandbox_id) == 0)
                 && (!l->name || strcmp (t->id, l->name) == 0);
      fk_template_free (t);
      if (!keep || matched++ < l->offset)
        continue;
      if (json_array_size (arr) == l->limit)
        {
          next = matched - 1;
          break;
        }
      json_array_append_new (arr, snapshot_json (ids[i]));
    }
  fk_strv_free (ids);
  char *text = json_dumps (arr, JSON_COMPACT);
  json_decref (arr);
  if (text == NULL)
    fk_oom (0);
  struct MHD_Response *resp
      = MHD_create_response_from_buffer (strlen (text), text, MHD_RESPMEM_MUST_FREE);
  MHD_add_response_header (resp, "Content-Type", "application/json");
  if (next)
    {
      char tok[32];
      snprintf (tok, sizeof tok, "%zu", next);
      MHD_add_response_header (resp, "X-Next-Token", tok);
    }
  fkd_reply (r, MHD_HTTP_OK, resp);
}

static void
delete_job (fkd_req_t *r, void *data)
{
  snap_req_t *s = data;
  fk_error_t err = FK_ERROR_INIT;
  fk_template_t *t = NULL;
  if (fk_template_load (r->srv->rt, s->id, &t, &err) < 0 || !snapshot_source (t))
    {
      fkd_reply_error (r, MHD_HTTP_NOT_FOUND, "no snapshot %s", s->id);
      fk_error_clear (&err);
      fk_template_free (t);
      return;
    }
  fk_template_free (t);
  fk_template_gc_stats_t st;
  if (fk_template_remove (r->srv->rt, s->id, &st, &err) < 0)
    {
      fkd_reply_error (r, status_of (err.code), "remove snapshot %s: %s", s->id,
                       fk_error_message (&err));
      fk_error_clear (&err);
      return;
    }
  log_info ("removed snapshot %s", s->id);
  fkd_reply_empty (r, MHD_HTTP_NO_CONTENT);
}

/* ---- routing ---- */

int
fkd_snapshot_route (fkd_req_t *r, const char *method, const char *id, const char *sub)
{
  int post = strcmp (method, "POST") == 0;
  if (!post || (strcmp (sub, "/snapshots") != 0 && strcmp (sub, "/fork") != 0))
    return 0;
  if (r->len && !fkd_json_body (r))
    return 1;
  snap_req_t *s = xcalloc (1, sizeof *s);
  s->id = xstrdup (id);
  fk_error_t err = FK_ERROR_INIT;
  int fork = strcmp (sub, "/fork") == 0;
  int bad
      = fork ? fkd_fork_req_parse (r->body ? r->body : "", r->len, &s->timeout_sec, &s->count, &err)
             : fkd_snapshot_req_parse (r->body ? r->body : "", r->len, &s->name, &err);
  if (bad < 0)
    {
      fkd_reply_error (r, MHD_HTTP_BAD_REQUEST, "%s", fk_error_message (&err));
      fk_error_clear (&err);
      snap_req_free (s);
      return 1;
    }
  fkd_run_job (r, fork ? fork_job : snapshot_job, s, snap_req_free);
  return 1;
}

void
fkd_snapshots_list_route (fkd_req_t *r)
{
  snap_list_t *l = xcalloc (1, sizeof *l);
  l->limit = 100;
  l->sandbox_id = fkd_arg (r, "sandboxID");
  l->name = fkd_arg (r, "name");
  if (l->sandbox_id && !l->sandbox_id[0])
    {
      free (l->sandbox_id);
      l->sandbox_id = NULL;
    }
  if (l->name && !l->name[0])
    {
      free (l->name);
      l->name = NULL;
    }
  cleanup_free char *limit = fkd_arg (r, "limit");
  cleanup_free char *next = fkd_arg (r, "nextToken");
  char *end;
  if (limit && limit[0])
    {
      errno = 0;
      unsigned long v = strtoul (limit, &end, 10);
      if (errno || *end || v == 0 || v > 100 || limit[0] == '-')
        {
          snap_list_free (l);
          fkd_reply_error (r, MHD_HTTP_BAD_REQUEST, "limit is 1 to 100");
          return;
        }
      l->limit = v;
    }
  if (next && next[0])
    {
      errno = 0;
      unsigned long v = strtoul (next, &end, 10);
      if (errno || *end || next[0] == '-' || v > (1ul << 30))
        {
          snap_list_free (l);
          fkd_reply_error (r, MHD_HTTP_BAD_REQUEST, "nextToken is a token of a previous page");
          return;
        }
      l->offset = v;
    }
  fkd_run_job (r, list_job, l, snap_list_free);
}

void
fkd_template_delete_route (fkd_req_t *r, const char *id)
{
  snap_req_t *s = xcalloc (1, sizeof *s);
  s->id = xstrdup (id);
  fkd_run_job (r, delete_job, s, snap_req_free);
}
