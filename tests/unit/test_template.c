/* Unit tests for template: prepare from an OCI layout, load per the contract, layers shared
   between templates unpacked once, remove and prune free only what no template uses. */
#include "testutil.h"

#include <dirent.h>
#include <sys/stat.h>

#include "base/cleanup.h"
#include "template/template.h"
#include "imagefixture.h"

static size_t
count_entries (const char *dir)
{
  DIR *d = opendir (dir);
  size_t n = 0;
  struct dirent *de;
  while (d && (de = readdir (d)) != NULL)
    n += de->d_name[0] != '.';
  if (d)
    closedir (d);
  return n;
}

static void
ids (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_template_id_validate ("base", &err), 0);
  assert_int_equal (fk_template_id_validate ("a.b_c-1", &err), 0);
  assert_true (fk_template_id_validate ("", &err) < 0);
  assert_error_contains (&err, "1 to 128");
  assert_true (fk_template_id_validate ("../x", &err) < 0);
  assert_error_contains (&err, "must not start");
  assert_true (fk_template_id_validate ("a/b", &err) < 0);
  assert_error_contains (&err, "`/'");
  char *id = fk_template_default_id ("debian:bookworm-slim");
  assert_string_equal (id, "debian-bookworm-slim");
  free (id);
  id = fk_template_default_id ("127.0.0.1:5000/test/Busy:v1@sha256:00");
  assert_string_equal (id, "busy-v1");
  free (id);
  id = fk_template_default_id ("oci:img:base");
  assert_string_equal (id, "img-base");
  free (id);
}

/* A runtime on the state dir sd (created), without the sandbox sweep. */
static fk_runtime_t *
open_runtime (const char *sd)
{
  fk_runtime_opts_t o = FK_RUNTIME_OPTIONS_INIT;
  o.state_dir = sd;
  o.skip_sweep = 1;
  fk_runtime_t *rt = NULL;
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_runtime_open (&o, &rt, &err), 0);
  return rt;
}

static void
prepare_load_remove (void **state)
{
  char *dir = test_tmpdir ();
  char *layout = xasprintf ("%s/layout", dir), *sd = xasprintf ("%s/state", dir);
  fk_mkdir_p (layout, 0755, NULL);
  const char *names1[] = { "bin/shared", "etc/one" }, *datas1[] = { "shared\n", "one\n" };
  const char *names2[] = { "bin/shared", "etc/two" }, *datas2[] = { "shared\n", "two\n" };
  fixture_image (layout, "one", names1, datas1, 2, "amd64");
  fixture_image (layout, "two", names2, datas2, 2, "amd64");

  fk_error_t err = FK_ERROR_INIT;
  char *ref1 = xasprintf ("oci:%s:one", layout), *ref2 = xasprintf ("oci:%s:two", layout);
  fk_runtime_t *rt = open_runtime (sd);
  fk_template_prepare_opts_t po = FK_TEMPLATE_PREPARE_OPTIONS_INIT;
  po.progress = 0;
  po.platform = "linux/amd64";
  char *id = NULL;
  assert_int_equal (fk_template_prepare (rt, ref1, &po, &id, &err), 0);
  assert_string_equal (id, "layout-one");
  free (id);
  po.id = "two";
  assert_int_equal (fk_template_prepare (rt, ref2, &po, &id, &err), 0);
  assert_string_equal (id, "two");
  free (id);
  /* Again: nothing changes. */
  assert_int_equal (fk_template_prepare (rt, ref2, &po, &id, &err), 0);
  free (id);

  char *layers = xasprintf ("%s/layers/sha256", sd);
  assert_int_equal (count_entries (layers), 3); /* shared, one, two */

  fk_template_t *t = NULL;
  assert_int_equal (fk_template_load (rt, "two", &t, &err), 0);
  assert_string_equal (t->id, "two");
  assert_non_null (strstr (t->source, ":two"));
  assert_int_equal (fk_strv_len (t->layers), 2);
  char *f = xasprintf ("%s/etc/two", t->layers[1]);
  struct stat st;
  assert_int_equal (stat (f, &st), 0);
  free (f);
  f = xasprintf ("%s/bin/shared", t->layers[0]);
  assert_int_equal (stat (f, &st), 0);
  free (f);
  assert_string_equal (t->env[0], "PATH=/bin");
  assert_string_equal (t->cmd[0], "/bin/sh");
  assert_null (t->entrypoint);
  assert_string_equal (t->workdir, "/w");
  assert_string_equal (t->user, "1000");
  fk_template_free (t);

  char **list = NULL;
  assert_int_equal (fk_template_list (rt, &list, &err), 0);
  assert_int_equal (fk_strv_len (list), 2);
  assert_string_equal (list[0], "layout-one");
  assert_string_equal (list[1], "two");
  fk_strv_free (list);

  char *json = NULL;
  assert_int_equal (fk_template_inspect (rt, "two", &json, &err), 0);
  assert_non_null (strstr (json, "\"manifestDigest\""));
  free (json);

  /* Removing `two' frees its own layer and blobs, not the shared ones. */
  fk_template_gc_stats_t gs;
  assert_int_equal (fk_template_remove (rt, "two", &gs, &err), 0);
  assert_int_equal (gs.layers_removed, 1);
  assert_true (gs.blobs_removed >= 3); /* manifest, config, layer */
  assert_int_equal (count_entries (layers), 2);
  assert_int_equal (fk_template_load (rt, "layout-one", &t, &err), 0);
  fk_template_free (t);
  assert_true (fk_template_load (rt, "two", &t, &err) < 0);
  assert_error_contains (&err, "no template `two'");
  assert_true (fk_template_remove (rt, "two", &gs, &err) < 0);
  assert_error_contains (&err, "no template `two'");

  /* Prune with every layer in use frees nothing; after the last rm, everything. */
  assert_int_equal (fk_template_prune (rt, &gs, &err), 0);
  assert_int_equal (gs.layers_removed + gs.blobs_removed, 0);
  assert_int_equal (fk_template_remove (rt, "layout-one", &gs, &err), 0);
  assert_int_equal (count_entries (layers), 0);
  char *blobs = xasprintf ("%s/blobs/sha256", sd);
  assert_int_equal (count_entries (blobs), 0);
  free (blobs);

  free (layers);
  free (ref1);
  free (ref2);
  free (layout);
  free (sd);
  fk_runtime_close (rt);
  test_tmpdir_free (dir);
}

static void
prepare_errors (void **state)
{
  char *dir = test_tmpdir ();
  char *layout = xasprintf ("%s/layout", dir), *sd = xasprintf ("%s/state", dir);
  fk_mkdir_p (layout, 0755, NULL);
  const char *names[] = { "f" }, *datas[] = { "x" };
  fixture_image (layout, "arm", names, datas, 1, "arm64");
  fk_error_t err = FK_ERROR_INIT;
  char *id = NULL;
  fk_runtime_t *rt = open_runtime (sd);
  fk_template_prepare_opts_t po = FK_TEMPLATE_PREPARE_OPTIONS_INIT;
  po.progress = 0;
  po.platform = "linux/amd64";
  /* Options of a version this library does not know are refused, naming the macro to use. */
  fk_template_prepare_opts_t unknown = { .version = 0 };
  assert_true (fk_template_prepare (rt, "oci:/x", &unknown, &id, &err) < 0);
  assert_int_equal (err.code, EINVAL);
  assert_error_contains (&err, "FK_TEMPLATE_PREPARE_OPTIONS_INIT");
  char *ref = xasprintf ("oci:%s:arm", layout);
  assert_true (fk_template_prepare (rt, ref, &po, &id, &err) < 0);
  assert_error_contains (&err, "wrong platform");
  free (ref);
  ref = xasprintf ("oci:%s:nope", layout);
  assert_true (fk_template_prepare (rt, ref, &po, &id, &err) < 0);
  assert_error_contains (&err, "unknown tag `nope'");
  free (ref);
  ref = xasprintf ("oci:%s/missing", dir);
  assert_true (fk_template_prepare (rt, ref, &po, &id, &err) < 0);
  assert_error_contains (&err, "open OCI layout");
  free (ref);
  assert_true (fk_template_prepare (rt, "Bad:ref", &po, &id, &err) < 0);
  assert_error_contains (&err, "lower-case");
  po.platform = "amd64";
  assert_true (fk_template_prepare (rt, "oci:/x", &po, &id, &err) < 0);
  assert_error_contains (&err, "invalid platform");
  po.platform = NULL;
  po.id = "bad/id";
  assert_true (fk_template_prepare (rt, "oci:/x", &po, &id, &err) < 0);
  assert_error_contains (&err, "invalid template id");

  /* A corrupted layer blob in the layout is caught before anything is unpacked. */
  char *blobs = xasprintf ("%s/blobs/sha256", layout);
  DIR *d = opendir (blobs);
  struct dirent *de;
  while ((de = readdir (d)) != NULL)
    {
      if (de->d_name[0] == '.')
        continue;
      char *p = xasprintf ("%s/%s", blobs, de->d_name);
      struct stat st;
      stat (p, &st);
      if (st.st_size > 1000) /* the tar layer */
        {
          FILE *f = fopen (p, "r+");
          fseek (f, 600, SEEK_SET);
          fputc ('Z', f);
          fclose (f);
        }
      free (p);
    }
  closedir (d);
  free (blobs);
  po.id = NULL;
  po.platform = "linux/arm64";
  ref = xasprintf ("oci:%s:arm", layout);
  assert_true (fk_template_prepare (rt, ref, &po, &id, &err) < 0);
  assert_error_contains (&err, "digest mismatch");
  free (ref);
  char *layers = xasprintf ("%s/layers/sha256", sd);
  assert_int_equal (count_entries (layers), 0);
  free (layers);

  free (layout);
  free (sd);
  fk_runtime_close (rt);
  test_tmpdir_free (dir);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (ids),
    cmocka_unit_test (prepare_load_remove),
    cmocka_unit_test (prepare_errors),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
