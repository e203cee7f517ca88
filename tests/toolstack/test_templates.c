/* Every shipped template loads and is consistent; a bad template is
 * refused with an error naming the file and what is wrong. */
#include "template.h"

#include <glib/gstdio.h>
#include <string.h>

static const char *src_templates;

static void test_shipped(void)
{
    g_autoptr(GDir) d = g_dir_open(src_templates, 0, NULL);
    g_assert_nonnull(d);
    const char *f;
    unsigned n = 0;
    g_autoptr(GHashTable) ids = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    while ((f = g_dir_read_name(d))) {
        if (!g_str_has_suffix(f, ".template"))
            continue;
        g_autofree char *path = g_build_filename(src_templates, f, NULL);
        g_autoptr(GError) err = NULL;
        g_autoptr(struct_vm_template) t = vm_template_load(path, &err);
        g_assert_no_error(err);
        g_assert_false(g_hash_table_contains(ids, t->id));
        g_hash_table_add(ids, g_strdup(t->id));
        g_assert_true(t->memory >= (64ULL << 20));
        g_assert_true(t->cpus >= 1);
        /* Templates start only what domus-vmm can boot; the others say what they need. */
        g_assert_true(vm_firmware_startable(t->firmware) || (t->needs && *t->needs));
        if (!strcmp(t->os_family, "windows"))
            g_assert_cmpstr(t->clock, ==, "localtime");
        n++;
    }
    static const char *const required[] = { "demo-linux", "debian-desktop", "ubuntu-desktop", "fedora-desktop",
                                            "freebsd", "openbsd", "netbsd", "windows-10", "windows-11" };
    for (unsigned i = 0; i < G_N_ELEMENTS(required); i++)
        g_assert_true(g_hash_table_contains(ids, required[i]));
    g_autofree char *demo_path = g_build_filename(src_templates, "demo-linux.template", NULL);
    g_autoptr(struct_vm_template) demo = vm_template_load(demo_path, NULL);
    g_assert_true(vm_firmware_startable(demo->firmware));
    g_assert_cmpstr(demo->kernel, ==, "host");
    g_assert_cmpuint(n, >=, G_N_ELEMENTS(required));
}

static const char *good =
    "[template]\nid=t\nname=T\nos-family=linux\nfirmware=direct\nkernel=host\n"
    "memory=256M\ncpus=1\ndisk-size=0\ndevices=virtio\nclock=utc\n";

/* Loads @text as DIR/@file; returns the error message (or NULL if it loaded). */
static char *load_error(const char *file, const char *text)
{
    g_autofree char *dir = g_dir_make_tmp("domus-tmpl-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, file, NULL);
    g_assert_true(g_file_set_contents(path, text, -1, NULL));
    GError *err = NULL;
    struct vm_template *t = vm_template_load(path, &err);
    g_unlink(path);
    g_rmdir(dir);
    if (t) {
        vm_template_free(t);
        return NULL;
    }
    g_assert_true(strstr(err->message, file) != NULL);   /* the file is named */
    char *msg = g_strdup(err->message);
    g_error_free(err);
    return msg;
}

static void expect_bad(const char *text, const char *what)
{
    g_autofree char *msg = load_error("t.template", text);
    g_assert_nonnull(msg);
    if (!strstr(msg, what))
        g_error("error '%s' does not mention '%s'", msg, what);
}

static char *with(const char *key, const char *value)
{
    /* @good with @key's line replaced (value NULL: removed). */
    g_auto(GStrv) lines = g_strsplit(good, "\n", -1);
    GString *s = g_string_new(NULL);
    g_autofree char *prefix = g_strconcat(key, "=", NULL);
    bool found = false;
    for (char **l = lines; *l; l++) {
        if (g_str_has_prefix(*l, prefix)) {
            found = true;
            if (value)
                g_string_append_printf(s, "%s=%s\n", key, value);
        } else if (**l) {
            g_string_append_printf(s, "%s\n", *l);
        }
    }
    if (!found && value)
        g_string_append_printf(s, "%s=%s\n", key, value);
    return g_string_free(s, FALSE);
}

static void test_bad(void)
{
    g_autofree char *ok = load_error("t.template", good);
    g_assert_null(ok);
    expect_bad("not a key file", "t.template");
    expect_bad("[other]\nid=t\n", "no [template] group");
    struct { const char *key, *value, *what; } cases[] = {
        { "memory", NULL, "missing key 'memory'" },
        { "memory", "lots", "memory=lots is not a size" },
        { "memory", "1M", "memory=1M is not a size of at least 16M" },
        { "cpus", "0", "cpus=0 is not a number" },
        { "cpus", "many", "cpus=many" },
        { "firmware", "coreboot", "firmware=coreboot is not one of" },
        { "os-family", "plan9", "os-family=plan9" },
        { "clock", "mars", "clock=mars" },
        { "devices", "magic", "devices=magic" },
        { "id", "other", "not named other.template" },
        { "kernel", NULL, "missing key 'kernel'" },
        { "colour", "blue", "unknown key 'colour'" },
        { "firmware", "uefi-secure", "needs a 'needs' key" },
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *text = with(cases[i].key, cases[i].value);
        expect_bad(text, cases[i].what);
    }
}

static void test_user_overrides(void)
{
    g_autofree char *user = g_dir_make_tmp("domus-user-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(user, "demo-linux.template", NULL);
    g_autofree char *text = with("id", "demo-linux");
    g_autofree char *text2 = g_strconcat(text, "", NULL);
    g_assert_true(g_file_set_contents(path, text2, -1, NULL));
    g_autofree char *broken = g_build_filename(user, "broken.template", NULL);
    g_assert_true(g_file_set_contents(broken, "[template]\nid=broken\n", -1, NULL));
    const char *dirs[] = { user, src_templates, NULL };
    g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) all = vm_template_load_all(dirs, warnings);
    const struct vm_template *t = vm_template_find(all, "demo-linux");
    g_assert_nonnull(t);
    g_assert_cmpstr(t->name, ==, "T");                  /* the user's wins */
    g_assert_null(vm_template_find(all, "broken"));
    g_assert_cmpuint(warnings->len, ==, 1);             /* and the bad one is reported */
    g_assert_nonnull(strstr(warnings->pdata[0], "broken.template"));
    g_unlink(path);
    g_unlink(broken);
    g_rmdir(user);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    src_templates = g_getenv("DOMUS_TEMPLATE_DIR");
    g_assert_nonnull(src_templates);
    g_test_add_func("/templates/shipped", test_shipped);
    g_test_add_func("/templates/bad", test_bad);
    g_test_add_func("/templates/user-overrides", test_user_overrides);
    return g_test_run();
}
