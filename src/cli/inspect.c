/* cli/inspect.c: fk inspect ID: a sandbox's state as JSON. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "cli/verbs.h"
#include "cli/open.h"
#include "cli/remote.h"
#include "firkin/sandbox.h"

static json_t *
strv_json (char **v)
{
  json_t *a = json_array ();
  for (size_t i = 0; v && v[i]; i++)
    json_array_append_new (a, json_string (v[i]));
  return a;
}

static json_t *
opt_string (const char *s)
{
  return s ? json_string (s) : json_null ();
}

/* The network: the plane; for egress its addresses, rules, limits and counters. */
static json_t *
network_json (const fk_sandbox_network_t *n)
{
  json_t *o = json_pack ("{s:s}", "plane", n->kind == FK_DATA_PLANE_EGRESS ? "egress" : "none");
  if (n->kind != FK_DATA_PLANE_EGRESS)
    return o;
  json_object_set_new (o, "interface", opt_string (n->interface));
  json_object_set_new (o, "address4", opt_string (n->addr4));
  json_object_set_new (o, "address6", opt_string (n->addr6));
  json_object_set_new (o, "gateway4", opt_string (n->gateway4));
  json_object_set_new (o, "gateway6", opt_string (n->gateway6));
  json_object_set_new (o, "resolver", opt_string (n->resolver));
  json_object_set_new (o, "allow_out", strv_json (n->allow_out));
  json_object_set_new (o, "deny_out", strv_json (n->deny_out));
  json_object_set_new (o, "egress_bytes_per_sec",
                       json_integer ((json_int_t)n->egress_bytes_per_sec));
  json_object_set_new (o, "max_connections", json_integer ((json_int_t)n->max_connections));
  json_object_set_new (
      o, "counters",
      json_pack ("{s:I, s:I, s:I, s:I, s:I, s:I}", "out_packets", (json_int_t)n->out_packets,
                 "out_bytes", (json_int_t)n->out_bytes, "in_packets", (json_int_t)n->in_packets,
                 "in_bytes", (json_int_t)n->in_bytes, "denied_packets",
                 (json_int_t)n->denied_packets, "limited_packets", (json_int_t)n->limited_packets));
  return o;
}

int
fk_verb_inspect (const fk_cli_globals_t *g, int argc, char **argv)
{
  if (argc != 2 || argv[1][0] == '-')
    {
      fprintf (argc == 2 && strcmp (argv[1], "-h") == 0 ? stdout : stderr,
               "usage: fk inspect ID\n");
      return argc == 2 && strcmp (argv[1], "-h") == 0 ? 0 : 2;
    }
  fk_error_t err = FK_ERROR_INIT;
  fk_runtime_t *rt = NULL;
  fk_sandbox_t *sb = NULL;
  fk_remote_t *r = NULL;
  fk_sandbox_info_t *info = NULL;
  int rc = 0;
  if (g->remote
          ? fk_cli_remote_open (g, &r, &err) < 0 || g->remote->inspect (r, argv[1], &info, &err) < 0
          : fk_cli_runtime_open (g, 0, NULL, &rt, &err) < 0
                || fk_sandbox_open (rt, argv[1], &sb, &err) < 0
                || fk_sandbox_inspect (sb, &info, &err) < 0)
    rc = fk_cli_fail (&err, 1);
  else
    {
      cleanup_json json_t *meta = json_object ();
      for (size_t i = 0; info->metadata[i]; i++)
        {
          char *eq = strchr (info->metadata[i], '=');
          *eq = '\0';
          json_object_set_new (meta, info->metadata[i], json_string (eq + 1));
          *eq = '=';
        }
      /* What fkd's API does not carry (the host's pid, socket and cgroup, the pids limit) is
         null with --remote. */
      int remote = g->remote != NULL;
      cleanup_json json_t *j = json_pack (
          "{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:{s:f, s:I, s:I, s:o}, s:I, s:o, s:O}", "id",
          info->id, "status", fk_sandbox_status_name (info->status), "template",
          info->template_id ? json_string (info->template_id) : json_null (), "pid",
          remote ? json_null () : json_integer (info->pid), "start_time",
          remote ? json_null () : json_integer ((json_int_t)info->start_time), "socket",
          info->socket_path ? json_string (info->socket_path) : json_null (), "cgroup",
          info->cgroup ? json_string (info->cgroup) : json_null (), "limits", "vcpus",
          info->resources.vcpus, "memory", (json_int_t)info->resources.memory_bytes, "disk",
          (json_int_t)info->resources.disk_bytes, "pids",
          remote ? json_null () : json_integer ((json_int_t)info->resources.pids), "created",
          (json_int_t)info->created, "expires",
          info->expires ? json_integer (info->expires) : json_null (), "metadata", meta);
      if (!remote)
        {
          fk_sandbox_network_t *net = NULL;
          if (fk_sandbox_network (sb, &net, &err) < 0)
            {
              rc = fk_cli_fail (&err, 1);
              goto out;
            }
          json_object_set_new (j, "network", network_json (net));
          fk_sandbox_network_free (net);
        }
      char *text = json_dumps (j, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
      printf ("%s\n", text);
      free (text);
    }
out:
  fk_sandbox_info_free (info);
  if (r)
    g->remote->close (r);
  fk_sandbox_free (sb);
  fk_runtime_close (rt);
  return rc;
}
