/* image/registry.h: a Distribution API v2 client (libcurl) that pulls an image into the store.

   HTTPS always, except plain HTTP for loopback registries (localhost, 127.0.0.0/8, [::1]) and for
   registries listed as insecure: host[:port] entries in $FIRKIN_INSECURE_REGISTRIES (separated
   by commas or spaces) or one a line in /etc/firkin/insecure-registries (or the file named by
   $FIRKIN_INSECURE_REGISTRIES_FILE). Credentials come from $REGISTRY_AUTH_FILE, else
   $DOCKER_CONFIG/config.json, else ~/.docker/config.json ("auths": {host: {"auth": base64}}),
   and go only to the registry host and its token realm: libcurl drops the Authorization header
   when a redirect leads to another host, port or scheme (the blob store a registry redirects to).
   $FIRKIN_REGISTRY_TIMEOUT (seconds, default 30) bounds connecting and any stall. */
#ifndef FK_IMAGE_REGISTRY_H
#define FK_IMAGE_REGISTRY_H

#include "base/error.h"
#include "image/manifest.h"
#include "image/reference.h"
#include "image/store.h"

typedef struct fk_pull_opts
{
  const fk_platform_t *platform; /* NULL: the host's */
  int progress;                  /* -1: a bar per layer when stderr is a TTY; 0 never; 1 always */
  int parallel;                  /* concurrent blob downloads; 0: 4 */
  /* Layers whose diff-id the store has unpacked are not downloaded again when true. */
  int skip_unpacked;
} fk_pull_opts_t;

/* Pulls ref (FK_REF_REGISTRY) into the store: manifest (index resolved to the platform), config
   and every layer blob, each verified against its digest and size and renamed into blobs/ only
   then. Errors say which of: unknown repository, unknown tag, unauthorised, wrong platform,
   digest mismatch, unreachable, timeout (err->code ENOENT, EACCES, ENOEXEC, EBADMSG,
   EHOSTUNREACH, ETIMEDOUT). Free *ret with fk_image_free. */
int fk_registry_pull (fk_store_t *store, const fk_reference_t *ref, const fk_pull_opts_t *opts,
                      fk_image_t **ret, fk_error_t *err);

/* True when host[:port] is spoken to over plain HTTP (loopback or listed insecure). */
int fk_registry_is_insecure (const char *host);

#endif
