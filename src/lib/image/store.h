/* image/store.h: the content store under the state dir (docs/contracts.md): verified blobs by
   digest, unpacked layers by diff-id, template records, locks and a tmp/ for work in progress.
   Everything becomes visible by rename after it is complete and verified, so an interrupted
   pull or unpack leaves nothing a later one trusts. */
#ifndef FK_IMAGE_STORE_H
#define FK_IMAGE_STORE_H

#include <stdint.h>

#include "base/cleanup.h"
#include "base/digest.h"
#include "base/error.h"

typedef struct fk_store
{
  char *dir; /* the state dir, absolute */
  int dirfd;
  int lockfd; /* locks/store: shared while preparing, exclusive while collecting garbage */
} fk_store_t;

/* Opens (creating the layout of) the store in state_dir and takes the store lock shared.
   Free with fk_store_close. */
int fk_store_open (const char *state_dir, fk_store_t **ret, fk_error_t *err);
void fk_store_close (fk_store_t *s);
FK_DEFINE_CLEANUP (fk_store_t *, fk_store_close)
#define cleanup_store FK_CLEANUP (fk_store_close)

/* 1 when the blob is in the store with the given size (-1: any size), 0 when not. */
int fk_store_blob_has (fk_store_t *s, const char *digest, int64_t size);
/* Opens a stored blob read-only. */
int fk_store_blob_open (fk_store_t *s, const char *digest, fk_error_t *err);
/* Reads a stored blob of at most max bytes (caller frees). */
int fk_store_blob_read (fk_store_t *s, const char *digest, size_t max, char **ret_buf,
                        size_t *ret_len, fk_error_t *err);
/* Creates an empty file under tmp/ for a blob being fetched; *ret_name is its path relative
   to the state dir (caller frees). */
int fk_store_tmp_file (fk_store_t *s, char **ret_name, fk_error_t *err);
/* Moves the finished tmp file tmp_name into blobs/ as digest after checking that its content
   hashes to digest and has size bytes (-1: any), unless the caller hashed it while writing
   (verified != 0). A mismatch removes the tmp file and says so. */
int fk_store_blob_commit (fk_store_t *s, const char *tmp_name, const char *digest, int64_t size,
                          int verified, fk_error_t *err);
/* Stores a buffer as a blob (verified against digest when digest is non-NULL); the digest is
   written to ret_digest. */
int fk_store_blob_put (fk_store_t *s, const void *buf, size_t len, const char *digest,
                       char ret_digest[FK_DIGEST_STR_LEN], fk_error_t *err);
/* Copies everything readable from fd into the store, verifying digest and size (-1: any). */
int fk_store_blob_import_fd (fk_store_t *s, int fd, const char *digest, int64_t size,
                             fk_error_t *err);

/* 1 when the layer with this diff-id is unpacked in the store. */
int fk_store_layer_has (fk_store_t *s, const char *diff_id);
/* Unpacks the stored blob blob_digest as the layer diff_id, once: under the layer's lock, into
   tmp/ then renamed to layers/sha256/<hex>; the diff-id of the tar stream must match. */
int fk_store_layer_unpack (fk_store_t *s, const char *blob_digest, const char *diff_id,
                           fk_error_t *err);
/* A layer unpacked by the caller rather than from a blob: an empty directory tmp/layer-XXXXXX/fs
   (*ret_rootfd, O_PATH, the caller closes it) to unpack into; *ret_tmp names tmp/layer-XXXXXX
   relative to the state dir (caller frees). Then fk_store_layer_commit or fk_store_layer_abort. */
int fk_store_layer_begin (fk_store_t *s, char **ret_tmp, int *ret_rootfd, fk_error_t *err);
/* Makes the finished tree tmp the layer diff_id, stored as the blob blob_digest (its
   layer.json keeps unpacked_size and entries), under the layer's lock; when that layer is
   already in the store, tmp goes instead. The caller vouches that the tree is what the blob
   unpacks to. tmp is gone afterwards, on success or failure. */
int fk_store_layer_commit (fk_store_t *s, const char *tmp, const char *blob_digest,
                           const char *diff_id, uint64_t unpacked_size, uint64_t entries,
                           fk_error_t *err);
/* Removes the unfinished tree tmp. */
void fk_store_layer_abort (fk_store_t *s, const char *tmp);
/* Absolute path of layers/sha256/<hex>/fs for a diff-id (caller frees). */
char *fk_store_layer_path (const fk_store_t *s, const char *diff_id);

/* Takes an exclusive flock on locks/<name>; returns the fd that holds it. */
int fk_store_lock (fk_store_t *s, const char *name, fk_error_t *err);

typedef struct fk_store_gc_stats
{
  unsigned blobs_removed, layers_removed;
  uint64_t bytes_freed;
} fk_store_gc_stats_t;

/* Removes every blob and layer no template record refers to, and the store's own leftovers in
   tmp/ (blob-*, layer-*, archive-*: interrupted work).
   Waits for running prepares (the store lock, exclusive) and takes it back shared after. */
int fk_store_gc (fk_store_t *s, fk_store_gc_stats_t *ret_stats, fk_error_t *err);

#endif
