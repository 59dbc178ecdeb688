/* Unit tests for image/manifest: index, manifest and config parsing, platform selection, and
   the malformed documents rejected with an error naming what is wrong. */
#include "testutil.h"

#include "image/manifest.h"

#define D(c) "sha256:" c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c \
             c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c

static const char *index_doc
    = "{\"schemaVersion\":2,\"mediaType\":\"" FK_MT_OCI_INDEX "\",\"manifests\":["
      "{\"mediaType\":\"" FK_MT_OCI_MANIFEST "\",\"digest\":\"" D ("a") "\",\"size\":10,"
      "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v7\"}},"
      "{\"mediaType\":\"" FK_MT_OCI_MANIFEST "\",\"digest\":\"" D ("b") "\",\"size\":11,"
      "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}},"
      "{\"mediaType\":\"" FK_MT_OCI_MANIFEST "\",\"digest\":\"" D ("c") "\",\"size\":12,"
      "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"},"
      "\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1\"}},"
      "{\"mediaType\":\"" FK_MT_OCI_MANIFEST "\",\"digest\":\"" D ("d") "\",\"size\":13,"
      "\"platform\":{\"os\":\"unknown\",\"architecture\":\"unknown\"}}]}";

static void
index_and_platforms (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_index_t *idx = NULL;
  assert_int_equal (fk_manifest_doc_kind (index_doc, strlen (index_doc), NULL, &err), FK_DOC_INDEX);
  assert_int_equal (fk_index_parse (index_doc, strlen (index_doc), &idx, &err), 0);
  assert_int_equal (idx->n_manifests, 4);
  assert_string_equal (idx->manifests[2].ref_name, "v1");
  assert_int_equal (idx->manifests[1].size, 11);

  fk_platform_t p = {0};
  assert_int_equal (fk_platform_parse ("linux/amd64", &p, &err), 0);
  assert_int_equal (fk_index_select (idx, &p, &err), 2);
  fk_platform_clear (&p);
  assert_int_equal (fk_platform_parse ("linux/arm64", &p, &err), 0);
  assert_int_equal (fk_index_select (idx, &p, &err), 1);
  fk_platform_clear (&p);
  assert_int_equal (fk_platform_parse ("linux/arm/v7", &p, &err), 0);
  assert_int_equal (fk_index_select (idx, &p, &err), 0);
  fk_platform_clear (&p);
  assert_int_equal (fk_platform_parse ("linux/arm/v6", &p, &err), 0);
  assert_true (fk_index_select (idx, &p, &err) < 0);
  assert_error_contains (&err, "no image for platform linux/arm/v6");
  fk_platform_clear (&p);
  assert_int_equal (fk_platform_parse ("linux/s390x", &p, &err), 0);
  assert_true (fk_index_select (idx, &p, &err) < 0);
  assert_error_contains (&err, "linux/arm/v7, linux/arm64/v8, linux/amd64");
  fk_platform_clear (&p);

  assert_true (fk_platform_parse ("linux", &p, &err) < 0);
  assert_error_contains (&err, "OS/ARCH");
  assert_true (fk_platform_parse ("linux//v7", &p, &err) < 0);
  assert_error_contains (&err, "OS/ARCH");
  assert_true (fk_platform_parse ("linux/arm/v7/x", &p, &err) < 0);
  assert_error_contains (&err, "OS/ARCH");

  fk_platform_host (&p);
  assert_string_equal (p.os, "linux");
  fk_platform_clear (&p);
  fk_index_free (idx);
}

static const char *manifest_doc
    = "{\"schemaVersion\":2,\"mediaType\":\"" FK_MT_DOCKER_MANIFEST "\","
      "\"config\":{\"mediaType\":\"" FK_MT_DOCKER_CONFIG "\",\"digest\":\"" D ("e") "\",\"size\":99},"
      "\"layers\":[{\"mediaType\":\"" FK_MT_DOCKER_LAYER "\",\"digest\":\"" D ("f") "\",\"size\":5},"
      "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+zstd\",\"digest\":\"" D ("0")
      "\",\"size\":6}]}";

static void
manifest (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_manifest_t *m = NULL;
  assert_int_equal (fk_manifest_doc_kind (manifest_doc, strlen (manifest_doc), NULL, &err),
                    FK_DOC_MANIFEST);
  assert_int_equal (
      fk_manifest_doc_kind ("", 0, FK_MT_OCI_MANIFEST "; charset=utf-8", &err), FK_DOC_MANIFEST);
  assert_int_equal (fk_manifest_parse (manifest_doc, strlen (manifest_doc), &m, &err), 0);
  assert_int_equal (m->n_layers, 2);
  assert_string_equal (m->config.digest, D ("e"));
  assert_int_equal (m->layers[1].size, 6);
  fk_manifest_free (m);
}

static void
expect_bad_manifest (const char *doc, const char *needle)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_manifest_t *m = NULL;
  if (fk_manifest_parse (doc, strlen (doc), &m, &err) == 0)
    fail_msg ("accepted: %s", doc);
  assert_null (m);
  assert_error_contains (&err, needle);
}

static void
bad_manifests (void **state)
{
  expect_bad_manifest ("", "invalid JSON");
  expect_bad_manifest ("[]", "not a JSON object");
  expect_bad_manifest ("{\"schemaVersion\":1}", "schemaVersion 1");
  expect_bad_manifest ("{\"schemaVersion\":\"2\"}", "schemaVersion");
  expect_bad_manifest ("{\"schemaVersion\":2,\"layers\":[]}", "config");
  expect_bad_manifest ("{\"schemaVersion\":2,\"mediaType\":\"text/plain\"}", "text/plain");
  expect_bad_manifest ("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" FK_MT_OCI_CONFIG
                       "\",\"digest\":\"sha256:12\",\"size\":1},\"layers\":[]}",
                       "config");
  expect_bad_manifest ("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" FK_MT_OCI_CONFIG
                       "\",\"digest\":\"" D ("1") "\",\"size\":-1},\"layers\":[]}",
                       "negative size");
  expect_bad_manifest ("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/x-helm\","
                       "\"digest\":\"" D ("1") "\",\"size\":1},\"layers\":[]}",
                       "not an image config");
  expect_bad_manifest ("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" FK_MT_OCI_CONFIG
                       "\",\"digest\":\"" D ("1") "\",\"size\":1},\"layers\":[{\"mediaType\":"
                       "\"text/plain\",\"digest\":\"" D ("2") "\",\"size\":1}]}",
                       "layers[0] has media type `text/plain'");
  expect_bad_manifest ("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" FK_MT_OCI_CONFIG
                       "\",\"digest\":\"" D ("1") "\",\"size\":1},\"layers\":[7]}",
                       "layers[0]");

  fk_error_t err = FK_ERROR_INIT;
  fk_index_t *idx = NULL;
  const char *bad_index = "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"x\"}]}";
  assert_true (fk_index_parse (bad_index, strlen (bad_index), &idx, &err) < 0);
  assert_error_contains (&err, "manifests[0]");
  assert_true (fk_manifest_doc_kind ("{}", 2, NULL, &err) < 0);
  assert_error_contains (&err, "neither");
}

static void
config (void **state)
{
  const char *doc
      = "{\"os\":\"linux\",\"architecture\":\"amd64\",\"config\":{\"Env\":[\"PATH=/bin\",\"A=b\"],"
        "\"Cmd\":[\"sh\"],\"Entrypoint\":null,\"WorkingDir\":\"/w\",\"User\":\"1000:1000\"},"
        "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D ("a") "\"]}}";
  fk_error_t err = FK_ERROR_INIT;
  fk_image_config_t *c = NULL;
  assert_int_equal (fk_image_config_parse (doc, strlen (doc), &c, &err), 0);
  assert_string_equal (c->env[1], "A=b");
  assert_null (c->env[2]);
  assert_string_equal (c->cmd[0], "sh");
  assert_null (c->entrypoint);
  assert_string_equal (c->workdir, "/w");
  assert_string_equal (c->user, "1000:1000");
  assert_int_equal (c->n_diff_ids, 1);
  fk_image_config_free (c);

  const char *bad[][2] = {
    {"{\"architecture\":\"amd64\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}", "os"},
    {"{\"os\":\"linux\",\"architecture\":\"amd64\"}", "rootfs"},
    {"{\"os\":\"linux\",\"architecture\":\"amd64\",\"rootfs\":{\"type\":\"x\",\"diff_ids\":[]}}",
     "rootfs type `x'"},
    {"{\"os\":\"linux\",\"architecture\":\"amd64\",\"rootfs\":{\"type\":\"layers\","
     "\"diff_ids\":[\"sha256:00\"]}}",
     "diff_ids[0]"},
    {"{\"os\":\"linux\",\"architecture\":\"amd64\",\"config\":{\"Env\":[\"NOEQ\"]},"
     "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
     "Env entry `NOEQ'"},
    {"{\"os\":\"linux\",\"architecture\":\"amd64\",\"config\":{\"Cmd\":[1]},"
     "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
     "`Cmd'[0] is not a string"},
    {"{\"os\":\"linux\",\"architecture\":\"amd64\",\"config\":{\"Cmd\":[\"a\\u0000b\"]},"
     "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
     "NUL"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      c = NULL;
      if (fk_image_config_parse (bad[i][0], strlen (bad[i][0]), &c, &err) == 0)
        fail_msg ("accepted: %s", bad[i][0]);
      assert_error_contains (&err, bad[i][1]);
    }
}

static void
image_check (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_image_t img = {.manifest_digest = (char *) D ("9")};
  assert_int_equal (fk_manifest_parse (manifest_doc, strlen (manifest_doc), &img.manifest, &err), 0);
  const char *doc = "{\"os\":\"linux\",\"architecture\":\"arm64\",\"rootfs\":{\"type\":\"layers\","
                    "\"diff_ids\":[\"" D ("a") "\"]}}";
  assert_int_equal (fk_image_config_parse (doc, strlen (doc), &img.config, &err), 0);
  assert_true (fk_image_check (&img, NULL, &err) < 0);
  assert_error_contains (&err, "2 layers but the config 1 diff-ids");
  fk_image_config_free (img.config);
  doc = "{\"os\":\"linux\",\"architecture\":\"arm64\",\"rootfs\":{\"type\":\"layers\","
        "\"diff_ids\":[\"" D ("a") "\",\"" D ("b") "\"]}}";
  assert_int_equal (fk_image_config_parse (doc, strlen (doc), &img.config, &err), 0);
  fk_platform_t p = {(char *) "linux", (char *) "amd64", NULL};
  assert_true (fk_image_check (&img, &p, &err) < 0);
  assert_error_contains (&err, "wrong platform");
  p.architecture = (char *) "arm64";
  assert_int_equal (fk_image_check (&img, &p, &err), 0);
  fk_image_config_free (img.config);
  fk_manifest_free (img.manifest);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (index_and_platforms), cmocka_unit_test (manifest),
    cmocka_unit_test (bad_manifests),       cmocka_unit_test (config),
    cmocka_unit_test (image_check),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
