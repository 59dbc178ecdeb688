/* Unit tests for image/ocilayout: importing from an OCI layout (tag selection, verification of
   every blob, platforms) into the store. Archives are covered by image_archive.sh. */
#include "testutil.h"

#include <dirent.h>
#include <sys/stat.h>

#include "image/ocilayout.h"
#include "imagefixture.h"

typedef struct ctx
{
  char *dir, *layout;
  fk_store_t *store;
} ctx_t;

static int
setup (void **state)
{
  ctx_t *c = xcalloc (1, sizeof *c);
  c->dir = test_tmpdir ();
  c->layout = xasprintf ("%s/layout", c->dir);
  fk_mkdir_p (c->layout, 0755, NULL);
  const char *n1[] = { "a", "b" }, *d1[] = { "one\n", "two\n" };
  fixture_image (c->layout, "two-layers", n1, d1, 2, "amd64");
  const char *n2[] = { "arm" }, *d2[] = { "arm\n" };
  fixture_image (c->layout, "arm", n2, d2, 1, "arm64");
  char *sd = xasprintf ("%s/state", c->dir);
  fk_error_t err = FK_ERROR_INIT;
  if (fk_store_open (sd, &c->store, &err) < 0)
    return -1;
  free (sd);
  *state = c;
  return 0;
}

static int
teardown (void **state)
{
  ctx_t *c = *state;
  fk_store_close (c->store);
  free (c->layout);
  test_tmpdir_free (c->dir);
  free (c);
  return 0;
}

static fk_reference_t *
ref_of (const char *layout, const char *tag)
{
  char *s = xasprintf ("oci:%s%s%s", layout, tag ? ":" : "", tag ? tag : "");
  fk_reference_t *r = NULL;
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_reference_parse (s, &r, &err), 0);
  free (s);
  return r;
}

static void
import_by_tag (void **state)
{
  ctx_t *c = *state;
  fk_error_t err = FK_ERROR_INIT;
  fk_platform_t amd = { (char *)"linux", (char *)"amd64", NULL };
  fk_reference_t *r = ref_of (c->layout, "two-layers");
  fk_image_t *img = NULL;
  assert_int_equal (fk_oci_import (c->store, r, &amd, 0, &img, &err), 0);
  assert_int_equal (img->manifest->n_layers, 2);
  assert_null (img->index_digest);
  assert_string_equal (img->config->architecture, "amd64");
  assert_true (fk_store_blob_has (c->store, img->manifest_digest, -1));
  assert_true (
      fk_store_blob_has (c->store, img->manifest->config.digest, img->manifest->config.size));
  for (size_t i = 0; i < 2; i++)
    assert_true (fk_store_blob_has (c->store, img->manifest->layers[i].digest,
                                    img->manifest->layers[i].size));
  fk_image_free (img);
  fk_reference_free (r);

  /* Two images and no tag: the error says how to name one. Unknown tag, wrong platform. */
  r = ref_of (c->layout, NULL);
  assert_true (fk_oci_import (c->store, r, &amd, 0, &img, &err) < 0);
  assert_error_contains (&err, "has 2 images: name one");
  fk_reference_free (r);
  r = ref_of (c->layout, "nope");
  assert_true (fk_oci_import (c->store, r, &amd, 0, &img, &err) < 0);
  assert_error_contains (&err, "unknown tag `nope'");
  fk_reference_free (r);
  r = ref_of (c->layout, "arm");
  assert_true (fk_oci_import (c->store, r, &amd, 0, &img, &err) < 0);
  assert_error_contains (&err, "wrong platform");
  fk_reference_free (r);
}

static void
corrupted_blob_not_stored (void **state)
{
  ctx_t *c = *state;
  fk_error_t err = FK_ERROR_INIT;
  fk_platform_t arm = { (char *)"linux", (char *)"arm64", NULL };
  fk_reference_t *r = ref_of (c->layout, "arm");
  /* Find the arm image's layer through a first import into a scratch store, then corrupt it. */
  char *sd = xasprintf ("%s/scratch", c->dir);
  fk_store_t *scratch = NULL;
  assert_int_equal (fk_store_open (sd, &scratch, &err), 0);
  fk_image_t *img = NULL;
  assert_int_equal (fk_oci_import (scratch, r, &arm, 0, &img, &err), 0);
  char *layer = xstrdup (img->manifest->layers[0].digest);
  fk_image_free (img);
  fk_store_close (scratch);
  free (sd);
  char *p = xasprintf ("%s/blobs/sha256/%s", c->layout, fk_digest_hex (layer));
  FILE *f = fopen (p, "r+");
  assert_non_null (f);
  fseek (f, 520, SEEK_SET);
  fputc ('!', f);
  fclose (f);
  free (p);

  assert_true (fk_oci_import (c->store, r, &arm, 0, &img, &err) < 0);
  assert_error_contains (&err, "digest mismatch");
  assert_false (fk_store_blob_has (c->store, layer, -1));
  char *tmp = xasprintf ("%s/tmp", c->store->dir);
  DIR *d = opendir (tmp);
  struct dirent *de;
  int n = 0;
  while ((de = readdir (d)) != NULL)
    n += de->d_name[0] != '.';
  closedir (d);
  assert_int_equal (n, 0);
  free (tmp);
  free (layer);
  fk_reference_free (r);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (import_by_tag, setup, teardown),
    cmocka_unit_test_setup_teardown (corrupted_blob_not_stored, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
