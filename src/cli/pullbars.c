/* cli/pullbars.c: see pullbars.h. */
#include "cli/pullbars.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

#define BAR_WIDTH 30

struct fk_cli_pullbar
{
  char *digest;
  uint64_t bytes, total;
  int done;
};

/* Draws one bar from the start of the cursor's line; leaves the cursor on the next line. */
static void
draw (const fk_cli_pullbar_t *bar)
{
  double total = (double)bar->total, got = (double)bar->bytes;
  int fill = total > 0 ? (int)(BAR_WIDTH * got / total) : BAR_WIDTH;
  if (fill > BAR_WIDTH)
    fill = BAR_WIDTH;
  char line[BAR_WIDTH + 1];
  memset (line, '#', (size_t)fill);
  memset (line + fill, ' ', (size_t)(BAR_WIDTH - fill));
  line[BAR_WIDTH] = '\0';
  /* "sha256:" and 12 hex digits name the blob. */
  fprintf (stderr, "\r\033[K%.19s [%s] %7.1f/%.1f MB%s\n", bar->digest, line, got / 1e6,
           total / 1e6, bar->done ? " done" : "");
}

void
fk_cli_pullbars_report (const fk_pull_progress_t *p, void *user_data)
{
  fk_cli_pullbars_t *b = user_data;
  size_t i;
  for (i = 0; i < b->n; i++)
    if (strcmp (b->bars[i].digest, p->digest) == 0)
      break;
  /* The cursor rests under the last line. A new blob's line goes there; another's is redrawn
     in place, and the cursor comes back under the last line. */
  size_t up = b->n - i;
  if (i == b->n)
    {
      xgrow ((void **)&b->bars, &b->cap, b->n + 1, sizeof *b->bars);
      b->bars[i] = (fk_cli_pullbar_t){ .digest = xstrdup (p->digest) };
      b->n++;
    }
  fk_cli_pullbar_t *bar = &b->bars[i];
  bar->bytes = p->bytes;
  bar->total = p->total;
  bar->done = p->done;
  if (up > 0)
    fprintf (stderr, "\033[%zuA", up);
  draw (bar);
  if (up > 1)
    fprintf (stderr, "\033[%zuB", up - 1);
  fflush (stderr);
}

void
fk_cli_pullbars_clear (fk_cli_pullbars_t *b)
{
  for (size_t i = 0; i < b->n; i++)
    free (b->bars[i].digest);
  free (b->bars);
  memset (b, 0, sizeof *b);
}
