/* daemon/proxy.h: the port proxy (proxy.c): HTTP requests and WebSocket upgrades whose Host is
   `{port}-{id}.{domain}' go to that port inside the sandbox. */
#ifndef FKD_PROXY_H
#define FKD_PROXY_H

#include "daemon/server.h"

/* envd's own port: a Host naming it routes to envd, as E2b-Sandbox-Id does. */
#define FKD_ENVD_PORT 49983

/* 1 when r's Host is `{port}-{id}.{domain}' for fkd's --domain, with *ret_port and *ret_id
   (caller frees); 0 otherwise. */
int fkd_proxy_match (fkd_req_t *r, unsigned *ret_port, char **ret_id);
/* Starts proxying r (its first call: headers only) to port of sandbox id (taken). Replies
   (503, or through a job 502) and returns -1 when it cannot. raw_uri is the request target as
   the client sent it. */
int fkd_proxy_begin (fkd_req_t *r, const char *method, const char *raw_uri, unsigned port,
                     char *id);
/* The handler's later calls for a proxied request. */
enum MHD_Result fkd_proxy_handle (fkd_req_t *r, const char *upload_data, size_t *upload_data_size);
/* The request is over (MHD's completion): drops its hold on the proxy. */
void fkd_proxy_release (fkd_req_t *r);
/* At shutdown: ends every proxied connection (relays closed, waiting requests failed) and
   waits up to wait_ms for them to be gone; 0, or -1 when some are left. */
int fkd_proxy_stop (unsigned wait_ms);

#endif
