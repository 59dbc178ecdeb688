/* trace/artifact.h: benchmark artifacts {"kind": ..., "samples": [...], "traces": []}: the
   writer (pretty JSON, atomic, parent directories created) and a validating reader. */
#ifndef FK_TRACE_ARTIFACT_H
#define FK_TRACE_ARTIFACT_H

#include <stddef.h>

#include "trace/density.h"
#include "trace/sample.h"

/* Artifacts larger than this are refused by the reader. */
#define FK_TRACE_ARTIFACT_MAX_BYTES (64u << 20)

typedef struct fk_trace_artifact
{
  char *kind;                 /* owned */
  fk_trace_samples_t samples; /* owned */
  size_t n_traces;            /* traces are kept as a count: nothing writes any yet */
} fk_trace_artifact_t;

/* The artifact as text: 2-space indented JSON in the reference's (serde_json pretty) shape,
   numbers in their shortest round-trip form ("0.5", "2.0"), a newline at the end. Caller
   frees. A value that is not finite is an error. */
int fk_trace_artifact_format (const char *kind, const fk_trace_samples_t *samples, char **ret_text,
                              fk_error_t *err);

/* Writes the artifact to path: its parent directories are created, then a temp file in the
   same directory is renamed over path, so a reader sees the old artifact or the new one. */
int fk_trace_artifact_write (const char *path, const char *kind, const fk_trace_samples_t *samples,
                             fk_error_t *err);

/* The reference's density artifact: appends the breakpoint sample (when there is one) to
   samples, tags every sample with its metric's confidence, and writes it with the spec's
   kind. samples is modified in place. */
int fk_trace_density_artifact_write (const fk_trace_density_spec_t *spec, const char *path,
                                     fk_trace_samples_t *samples, fk_error_t *err);

/* Parses and validates an artifact held in memory: err says what is wrong (invalid or
   truncated JSON with its line and column, missing kind, a sample without metric, an unknown
   kind or unit, a wrong type, too many tags ...), naming the sample by index. Free the result
   with fk_trace_artifact_free. */
int fk_trace_artifact_parse (const char *buf, size_t len, fk_trace_artifact_t **ret_artifact,
                             fk_error_t *err);

/* Reads path (at most FK_TRACE_ARTIFACT_MAX_BYTES) and parses it as above. */
int fk_trace_artifact_read (const char *path, fk_trace_artifact_t **ret_artifact, fk_error_t *err);

void fk_trace_artifact_free (fk_trace_artifact_t *artifact);

#endif
