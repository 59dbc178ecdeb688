/* daemon/server.h: fkd's HTTP plumbing on libmicrohttpd: one event-loop thread per listener
   (epoll), request bodies read into memory up to a cap, and the calls into the library, which
   block, run on job threads while their connection is suspended, so a slow create or a long
   command never holds up other clients. */
#ifndef FKD_SERVER_H
#define FKD_SERVER_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stddef.h>

#include "firkin/runtime.h"
#include "firkin/sandbox.h"

/* Request bodies: control JSON and Connect envelopes; file uploads (held in memory). */
#define FKD_BODY_MAX (1u << 20)
#define FKD_UPLOAD_MAX (64u << 20)
/* A client-streaming request (process.Process/StreamInput), read as it arrives. */
#define FKD_STREAM_INPUT_MAX (64u << 20)
/* Library calls running at once (job threads); more get 503. */
#define FKD_MAX_JOBS 512
/* The envd version fkd reports, the lowest at which the SDK uses everything fkd serves: 0.1.4
   recursive watchDir, 0.3.0 stdin: false, 0.4.0 no basic auth by default, 0.5.2 CloseStdin,
   0.5.7 octet-stream (and so gzip) uploads. Below what fkd lacks: 0.6.2 file metadata
   (X-Metadata-* headers), 0.6.3 includeEntry in watch events, 0.6.4 watches on network
   mounts, so the SDK refuses those itself. docs/fkd.md lists them. */
#define FKD_ENVD_VERSION "0.5.7"

typedef struct fkd_server
{
  fk_runtime_t *rt;
  struct fk_warm_pool *pool; /* NULL: every create is cold */
  const char *api_key;       /* NULL: no key asked */
  const char *domain;        /* NULL: none reported */
  int network_egress;        /* --network egress: sandboxes get the egress plane */
  const char *oci_root;      /* envd also serves the fk-oci containers below it (the API key
                                as their access token); NULL: not */
  pthread_mutex_t lock;
  pthread_cond_t idle;
  unsigned jobs;
  int stopping; /* read with __atomic_load_n */
} fkd_server_t;

typedef enum
{
  FKD_PLANE_CONTROL,
  FKD_PLANE_ENVD,
} fkd_plane_t;

typedef enum
{
  FKD_REQ_RECEIVING,
  FKD_REQ_RUNNING,
  FKD_REQ_DONE,
} fkd_req_state_t;

typedef struct fkd_req
{
  fkd_server_t *srv;
  fkd_plane_t plane;
  struct MHD_Connection *conn;
  fkd_req_state_t state;
  char *body;
  size_t len, max;
  int too_big, queued;
  struct fkd_job *job; /* while a job runs for it */
  unsigned status;
  struct MHD_Response *resp;
  /* A route that takes its body as it arrives instead of whole (set by fkd_envd_body_sink):
     sink gets each piece; sink_free (sink_data) runs when the request is done. */
  void (*sink) (struct fkd_req *r, const char *data, size_t len);
  void *sink_data;
  void (*sink_free) (void *sink_data);

  char *raw_uri;       /* the request target as sent (fkd_uri_log) */
  int fresh;           /* made by fkd_uri_log; the handler has not seen it yet */
  struct proxy *proxy; /* a request of the port proxy (proxy.c) */
} fkd_req_t;

/* The MHD access handler and completion callback of a listener; cls is the plane's
   fkd_listener_t. */
typedef struct fkd_listener
{
  fkd_server_t *srv;
  fkd_plane_t plane;
} fkd_listener_t;

enum MHD_Result fkd_handle (void *cls, struct MHD_Connection *conn, const char *url,
                            const char *method, const char *version, const char *upload_data,
                            size_t *upload_data_size, void **con_cls);
void fkd_completed (void *cls, struct MHD_Connection *conn, void **con_cls,
                    enum MHD_RequestTerminationCode toe);
/* MHD's URI log callback: makes the request's fkd_req_t with the target as the client sent it
   (the handler's url is decoded and without the query), for the port proxy. */
void *fkd_uri_log (void *cls, const char *uri, struct MHD_Connection *conn);
/* Queues r's reply (once). */
enum MHD_Result fkd_queue (fkd_req_t *r);

/* Replies (once) from the handler or a job: resp is taken. */
void fkd_reply (fkd_req_t *r, unsigned status, struct MHD_Response *resp);
/* A JSON reply; j is taken (NULL, a reply json_pack could not build: a 500 error). */
void fkd_reply_json (fkd_req_t *r, unsigned status, json_t *j);
/* Turns each byte of s that does not start a valid UTF-8 sequence into '?': messages quote what
   clients and sandboxes sent, and JSON strings must be UTF-8. */
void fkd_utf8_sanitize (char *s);
/* An error reply {"code": status, "message": ...} (the message made UTF-8). */
void fkd_reply_error (fkd_req_t *r, unsigned status, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
void fkd_reply_empty (fkd_req_t *r, unsigned status);

typedef void (*fkd_job_fn) (fkd_req_t *r, void *data);
/* Runs fn (r, data) on a job thread with r's connection suspended; fn replies, and the
   connection is resumed when it returns (or earlier, by fkd_job_resume). data_free (data) runs
   after. Replies 503 itself when FKD_MAX_JOBS run or fkd is stopping. */
void fkd_run_job (fkd_req_t *r, fkd_job_fn fn, void *data, void (*data_free) (void *));
/* From a job that has replied and goes on working (a stream): resumes the connection now. r is
   not to be touched after. */
void fkd_job_resume (fkd_req_t *r);

/* A copy of a request header (NULL when absent); caller frees. */
char *fkd_header (fkd_req_t *r, const char *name);
/* A copy of a query argument (NULL when absent); caller frees. */
char *fkd_arg (fkd_req_t *r, const char *name);

int fkd_stopping (fkd_server_t *srv);
/* Counts a background thread as a job (shutdown waits for it); 0, or -1 when over the limit
   or stopping. */
int fkd_jobs_enter (fkd_server_t *srv);
void fkd_jobs_leave (fkd_server_t *srv);
/* Counts a stream's response as a job until MHD has sent it whole and dropped it (then
   fkd_jobs_leave): shutdown waits for it, so an end-of-stream message queued at SIGTERM reaches
   its client before the listener stops. Taken from within a job (never refused). */
void fkd_jobs_hold (fkd_server_t *srv);

/* The planes' routers: reply, or start a job. */
void fkd_control_route (fkd_req_t *r, const char *method, const char *url);
/* 1 when sb waits in fkd's warm pool (FKD_META_POOL): no call may reach it. */
int fkd_pool_member (fk_sandbox_t *sb);
/* 1 when the request's body is application/json, else answers 415 and returns 0. */
int fkd_json_body (fkd_req_t *r);
/* A sandbox's envd access token: 192 random bits in hex. */
#define FKD_TOKEN_LEN 48
int fkd_new_token (char out[FKD_TOKEN_LEN + 1]);
/* The E2B Sandbox object (create's answer) of info, with its token. */
json_t *fkd_sandbox_object (fkd_req_t *r, const fk_sandbox_info_t *info);
/* Snapshots and forks (daemon/snapshots.c): POST /sandboxes/{id}/snapshots and /fork (1 when it
   took the request), GET /snapshots, DELETE /templates/{id} of a snapshot. */
int fkd_snapshot_route (fkd_req_t *r, const char *method, const char *id, const char *sub);
void fkd_snapshots_list_route (fkd_req_t *r);
void fkd_template_delete_route (fkd_req_t *r, const char *id);
void fkd_envd_route (fkd_req_t *r, const char *method, const char *url);
/* The body cap of a request, from its route. */
size_t fkd_envd_body_max (const char *method, const char *url);
/* Sets r's sink when its route takes its body as it arrives (with the headers in). */
void fkd_envd_body_sink (fkd_req_t *r, const char *method, const char *url);

#endif
