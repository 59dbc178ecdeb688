/* bench/compare.h: the comparison samples of a benchmark that measures firkin beside a peer:
   the ratio of firkin's p50 to the peer's (FirkinOverhead, Ratio) with both sides' counts and
   percentiles and the goal as tags, and confidence tags that follow what a ratio rests on. */
#ifndef FK_BENCH_COMPARE_H
#define FK_BENCH_COMPARE_H

#include "base/error.h"
#include "trace/sample.h"

/* Appends the sample `metric' = p50(firkin_metric) / p50(peer_metric) over the samples of
   those metrics in samples, tagged with firkin_metric, peer_metric, firkin_n, peer_n,
   firkin_p50, peer_p50, firkin_p95, peer_p95 ("%.6f", in the metrics' unit), and when
   goal_max_ratio > 0 (0: no goal) goal_max_ratio and goal_met ("true"/"false"). Returns 1 when
   appended, 0 when a side has no sample (a peer that was not measured), < 0 on error. */
int fk_bench_ratio_push (fk_trace_samples_t *samples, const char *metric, const char *firkin_metric,
                         const char *peer_metric, double goal_max_ratio, fk_error_t *err);

/* Tags every sample with its confidence (fk_trace_confidence_tag_samples), except that a ratio
   sample gets the band of the smaller of its firkin_n and peer_n: one ratio summarises that
   many runs of each side. */
int fk_bench_confidence_tag (fk_trace_samples_t *samples, fk_error_t *err);

/* The values of metric among samples (caller frees; *ret_n may be 0). */
double *fk_bench_values (const fk_trace_samples_t *samples, const char *metric, size_t *ret_n);

#endif
