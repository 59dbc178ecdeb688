/* firkin/trace.h: the benchmark model. A sample is {metric, kind, unit, value, tags} with an
   ordered tag map (at most 16 tags, keys <= 64 bytes, values <= 256 bytes); nearest-rank
   percentiles and summaries; the density breakpoint (highest concurrency level whose p95 is at
   most twice level 1's); confidence bands by sample count; artifacts
   {"kind", "samples", "traces"} written atomically and read back with validation; the
   environment rules for repeat counts and level lists. Each part has its own header below. */
#ifndef FIRKIN_TRACE_H
#define FIRKIN_TRACE_H

#include "trace/artifact.h"
#include "trace/confidence.h"
#include "trace/density.h"
#include "trace/envparse.h"
#include "trace/hostspawn.h"
#include "trace/report.h"
#include "trace/sample.h"
#include "trace/stats.h"

#endif
