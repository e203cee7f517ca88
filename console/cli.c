/* domus VERB [ARGS]: each verb is a D-Bus call to domusd (started by D-Bus
 * activation when needed). Errors are one line on stderr: bad usage exits
 * 2, a refusal from domusd exits 1. */
#include "cli.h"
#include "core/config.h"
#include "core/size.h"

#include <json-glib/json-glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LONG_CALL_MS (10 * 60 * 1000)   /* create builds a guest, stop waits for the guest */

static const char *usage_text =
    "Usage: domus VERB [ARGS]\n"
    "  templates                          list VM templates\n"
    "  create NAME --template ID [--memory SIZE] [--cpus N] [--disk-size SIZE] [--iso FILE]\n"
    "  list [--json]                      list VMs\n"
    "  info NAME [--json]                 show a VM\n"
    "  start NAME [--display none|vnc|sdl]\n"
    "  stop NAME [--force] [--timeout SECONDS]   ACPI power button, killed after the timeout\n"
    "  stop NAME --save                   save the running VM to disk; start resumes it\n"
    "  pause|resume|reset NAME\n"
    "  console NAME                       the serial console (Ctrl-] detaches; a pipe on stdin is sent, then detaches)\n"
    "  view NAME                          a window on the VM's display\n"
    "  vnc NAME [--listen ADDR:PORT] [--password-file F]\n"
    "  set NAME KEY=VALUE...              change a stopped VM: memory=SIZE cpus=N disk-size=SIZE (grow)\n"
    "                                     net=none|user[,model=virtio|e1000] sound=none|hda|virtio\n"
    "  net NAME link up|down              plug the network cable in or pull it (running VM)\n"
    "  snapshot NAME create|list|revert|delete [SNAP]   of a running VM: RAM and devices too;\n"
    "                                     list shows the tree\n"
    "  clone SRC DST [--linked|--full]\n"
    "  top [--once]                       live CPU, memory and I/O of every VM\n"
    "  delete NAME\n";

int cli_usage_error(const char *verb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fprintf(stderr, "domus%s%s: %s (see domus --help)\n", verb ? " " : "", verb ? verb : "", msg);
    return CLI_USAGE;
}

int cli_fail(GError *err)
{
    if (g_dbus_error_is_remote_error(err))
        g_dbus_error_strip_remote_error(err);
    fprintf(stderr, "domus: %s\n", err->message);
    g_error_free(err);
    return CLI_FAILED;
}

char *cli_format_size(guint64 b)
{
    if (b >= (1ULL << 30) && b % (1ULL << 30) == 0)
        return g_strdup_printf("%" G_GUINT64_FORMAT "G", b >> 30);
    if (b >= (1ULL << 30))
        return g_strdup_printf("%.1fG", (double)b / (1ULL << 30));
    if (b >= (1ULL << 20))
        return g_strdup_printf("%" G_GUINT64_FORMAT "M", b >> 20);
    if (b >= 1024)
        return g_strdup_printf("%" G_GUINT64_FORMAT "K", b >> 10);
    return g_strdup_printf("%" G_GUINT64_FORMAT, b);
}

char *cli_format_duration(guint64 s)
{
    if (s >= 86400)
        return g_strdup_printf("%" G_GUINT64_FORMAT "d%02" G_GUINT64_FORMAT "h", s / 86400, s % 86400 / 3600);
    return g_strdup_printf("%" G_GUINT64_FORMAT ":%02" G_GUINT64_FORMAT ":%02" G_GUINT64_FORMAT,
                           s / 3600, s % 3600 / 60, s % 60);
}

/* D-Bus activation, once, so that every later proxy finds domusd there. */
static GDBusConnection *bus_with_domusd(GError **error)
{
    static GDBusConnection *bus;
    if (bus)
        return bus;
    g_autoptr(GDBusConnection) c = g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, error);
    if (!c)
        return NULL;
    g_autoptr(GVariant) r = g_dbus_connection_call_sync(c, "org.freedesktop.DBus", "/org/freedesktop/DBus",
        "org.freedesktop.DBus", "StartServiceByName", g_variant_new("(su)", DOMUS_BUS_NAME, 0u),
        NULL, G_DBUS_CALL_FLAGS_NONE, 30000, NULL, error);
    if (!r) {
        /* The bus refuses to start what it has no .service file for, even
         * when it runs already (started by hand, or by a systemd unit). */
        g_autoptr(GVariant) has = g_dbus_connection_call_sync(c, "org.freedesktop.DBus", "/org/freedesktop/DBus",
            "org.freedesktop.DBus", "NameHasOwner", g_variant_new("(s)", DOMUS_BUS_NAME), G_VARIANT_TYPE("(b)"),
            G_DBUS_CALL_FLAGS_NONE, 30000, NULL, NULL);
        gboolean running = FALSE;
        if (has)
            g_variant_get(has, "(b)", &running);
        if (!running) {
            g_prefix_error(error, "cannot start domusd: ");
            return NULL;
        }
        g_clear_error(error);
    }
    bus = g_steal_pointer(&c);
    return bus;
}

DomusManager *cli_manager(GError **error)
{
    GDBusConnection *bus = bus_with_domusd(error);
    if (!bus)
        return NULL;
    DomusManager *m = domus_manager_proxy_new_sync(bus, G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START, DOMUS_BUS_NAME,
                                                   DOMUS_MANAGER_PATH, NULL, error);
    if (m)
        g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(m), LONG_CALL_MS);
    return m;
}

DomusVM *cli_vm(const char *name, GError **error)
{
    GDBusConnection *bus = bus_with_domusd(error);
    if (!bus)
        return NULL;
    g_autofree char *path = domus_vm_object_path(name);
    g_autoptr(DomusVM) vm = domus_vm_proxy_new_sync(bus, G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START, DOMUS_BUS_NAME,
                                                    path, NULL, error);
    if (!vm)
        return NULL;
    /* A proxy for a path nobody exports has no properties. */
    if (!domus_vm_get_name(vm)) {
        g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_NOT_FOUND, "no VM named '%s' (domus list shows them)", name);
        return NULL;
    }
    g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(vm), LONG_CALL_MS);
    return g_steal_pointer(&vm);
}

/* Parses a verb's options; @args gets the positional arguments. */
static int parse_opts(const char *verb, GOptionEntry *entries, int *argc, char ***argv,
                      int min_args, int max_args, const char *args_text)
{
    g_autoptr(GOptionContext) ctx = g_option_context_new(args_text);
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_autoptr(GError) err = NULL;
    if (!g_option_context_parse(ctx, argc, argv, &err))
        return cli_usage_error(verb, "%s", err->message);
    int n = *argc - 1;
    if (n < min_args)
        return cli_usage_error(verb, "expected %s", args_text);
    if (n > max_args)
        return cli_usage_error(verb, "unexpected argument '%s'", (*argv)[1 + max_args]);
    return CLI_OK;
}

/* A size option: "512M", "2G"; a bare number is MiB. */
static int size_opt(const char *verb, const char *opt, const char *v, guint64 *out)
{
    if (parse_memory_size(v, out) < 0)
        return cli_usage_error(verb, "%s: '%s' is not a size (use e.g. 512M or 2G)", opt, v);
    return CLI_OK;
}

/* Guest RAM as domus create and domus set take it. */
static int memory_opt(const char *verb, const char *opt, const char *v, guint64 *out)
{
    int r = size_opt(verb, opt, v, out);
    if (!r && (*out < VM_MIN_MEMORY || *out > VM_MAX_MEMORY))
        return cli_usage_error(verb, "%s: %s is out of range (16M to 1T)", opt, v);
    return r;
}

static int cpus_opt(const char *verb, const char *opt, int cpus)
{
    if (cpus < 1 || cpus > VM_MAX_CPUS)
        return cli_usage_error(verb, "%s: %d is not from 1 to %d", opt, cpus, VM_MAX_CPUS);
    return CLI_OK;
}

/* ---- verbs ---- */

static int verb_templates(int argc, char **argv)
{
    gboolean json = FALSE;
    GOptionEntry e[] = { { "json", 0, 0, G_OPTION_ARG_NONE, &json, "JSON output", NULL }, { NULL } };
    int r = parse_opts("templates", e, &argc, &argv, 0, 0, "");
    if (r)
        return r;
    GError *err = NULL;
    g_autoptr(DomusManager) m = cli_manager(&err);
    g_autoptr(GVariant) list = NULL;
    if (!m || !domus_manager_call_list_templates_sync(m, &list, NULL, &err))
        return cli_fail(err);
    if (json) {
        g_autoptr(JsonNode) n = json_gvariant_serialize(list);
        g_autofree char *text = json_to_string(n, TRUE);
        puts(text);
        return CLI_OK;
    }
    printf("%-16s %-7s %-4s %-6s %-40s %s\n", "ID", "MEMORY", "CPUS", "DISK", "NAME", "STATUS");
    GVariantIter it;
    GVariant *t;
    g_variant_iter_init(&it, list);
    while ((t = g_variant_iter_next_value(&it))) {
        const char *id = "", *name = "", *needs = NULL;
        guint64 mem = 0, disk = 0;
        guint32 cpus = 0;
        gboolean ok = FALSE;
        g_variant_lookup(t, "id", "&s", &id);
        g_variant_lookup(t, "name", "&s", &name);
        g_variant_lookup(t, "needs", "&s", &needs);
        g_variant_lookup(t, "memory", "t", &mem);
        g_variant_lookup(t, "disk-size", "t", &disk);
        g_variant_lookup(t, "cpus", "u", &cpus);
        g_variant_lookup(t, "startable", "b", &ok);
        g_autofree char *ms = cli_format_size(mem), *ds = cli_format_size(disk);
        g_autofree char *status = ok ? g_strdup("ready") : g_strdup_printf("needs %s", needs ? needs : "firmware boot");
        printf("%-16s %-7s %-4u %-6s %-40s %s\n", id, ms, cpus, ds, name, status);
        g_variant_unref(t);
    }
    return CLI_OK;
}

static int verb_create(int argc, char **argv)
{
    char *tmpl = NULL, *mem = NULL, *disk = NULL, *iso = NULL;
    int cpus = 0;
    GOptionEntry e[] = {
        { "template", 't', 0, G_OPTION_ARG_STRING, &tmpl, "template ID", "ID" },
        { "memory", 'm', 0, G_OPTION_ARG_STRING, &mem, "guest RAM", "SIZE" },
        { "cpus", 'c', 0, G_OPTION_ARG_INT, &cpus, "virtual CPUs", "N" },
        { "disk-size", 0, 0, G_OPTION_ARG_STRING, &disk, "disk size", "SIZE" },
        { "iso", 0, 0, G_OPTION_ARG_FILENAME, &iso, "installer ISO", "FILE" },
        { NULL } };
    int r = parse_opts("create", e, &argc, &argv, 1, 1, "NAME");
    if (r)
        return r;
    if (!tmpl)
        return cli_usage_error("create", "--template ID is required (domus templates lists them)");
    GVariantBuilder b;
    g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
    guint64 size;
    if (mem) {
        if ((r = memory_opt("create", "--memory", mem, &size)))
            return r;
        g_variant_builder_add(&b, "{sv}", "memory", g_variant_new_uint64(size));
    }
    if (disk) {
        if ((r = size_opt("create", "--disk-size", disk, &size)))
            return r;
        g_variant_builder_add(&b, "{sv}", "disk-size", g_variant_new_uint64(size));
    }
    if (cpus) {
        if ((r = cpus_opt("create", "--cpus", cpus)))
            return r;
        g_variant_builder_add(&b, "{sv}", "cpus", g_variant_new_uint32((guint32)cpus));
    }
    if (iso) {
        g_autofree char *abs = g_canonicalize_filename(iso, NULL);
        g_variant_builder_add(&b, "{sv}", "iso", g_variant_new_string(abs));
    }
    GError *err = NULL;
    g_autoptr(DomusManager) m = cli_manager(&err);
    g_autofree char *path = NULL;
    if (!m || !domus_manager_call_create_sync(m, argv[1], tmpl, g_variant_builder_end(&b), &path, NULL, &err))
        return cli_fail(err);
    printf("created VM '%s' from template '%s'\n", argv[1], tmpl);
    return CLI_OK;
}

static const char *const list_props[] = { "Name", "State", "Memory", "Cpus", "Template", "Uptime", "Pid" };
/* How to reach a running VM's display, as info shows it. */
static const char *const list_info_keys[] = { "vnc", "display-socket" };

static int verb_list(int argc, char **argv)
{
    gboolean json = FALSE;
    GOptionEntry e[] = { { "json", 0, 0, G_OPTION_ARG_NONE, &json, "JSON output", NULL }, { NULL } };
    int r = parse_opts("list", e, &argc, &argv, 0, 0, "");
    if (r)
        return r;
    GError *err = NULL;
    g_autoptr(DomusManager) m = cli_manager(&err);
    if (!m)
        return cli_fail(err);
    /* GetStats lists every VM by name, in order; properties come from each VM. */
    g_autoptr(GVariant) stats = NULL;
    if (!domus_manager_call_get_stats_sync(m, &stats, NULL, &err))
        return cli_fail(err);
    g_autoptr(JsonBuilder) jb = json_builder_new();
    json_builder_begin_array(jb);
    if (!json)
        printf("%-20s %-9s %-7s %-4s %-16s %s\n", "NAME", "STATE", "MEMORY", "CPUS", "TEMPLATE", "UPTIME");
    GVariantIter it;
    GVariant *s;
    g_variant_iter_init(&it, stats);
    while ((s = g_variant_iter_next_value(&it))) {
        const char *name = NULL;
        g_variant_lookup(s, "name", "&s", &name);
        g_autoptr(DomusVM) vm = name ? cli_vm(name, NULL) : NULL;
        g_variant_unref(s);
        if (!vm)
            continue;                /* deleted meanwhile */
        if (json) {
            json_builder_begin_object(jb);
            for (unsigned i = 0; i < G_N_ELEMENTS(list_props); i++) {
                g_autoptr(GVariant) v = g_dbus_proxy_get_cached_property(G_DBUS_PROXY(vm), list_props[i]);
                g_autofree char *key = g_ascii_strdown(list_props[i], -1);
                json_builder_set_member_name(jb, key);
                json_builder_add_value(jb, json_gvariant_serialize(v));
            }
            g_autoptr(GVariant) info = NULL;
            for (unsigned i = 0; i < G_N_ELEMENTS(list_info_keys); i++) {
                const char *v;
                if (!info && !domus_vm_call_get_info_sync(vm, &info, NULL, NULL))
                    break;           /* deleted meanwhile */
                if (!g_variant_lookup(info, list_info_keys[i], "&s", &v))
                    continue;
                json_builder_set_member_name(jb, list_info_keys[i]);
                json_builder_add_string_value(jb, v);
            }
            json_builder_end_object(jb);
            continue;
        }
        g_autofree char *ms = cli_format_size(domus_vm_get_memory(vm));
        const char *st = domus_vm_get_state(vm);
        g_autofree char *up = !strcmp(st, "running") || !strcmp(st, "paused")
                                  ? cli_format_duration(domus_vm_get_uptime(vm)) : g_strdup("-");
        printf("%-20s %-9s %-7s %-4u %-16s %s\n", domus_vm_get_name(vm), st, ms, domus_vm_get_cpus(vm),
               domus_vm_get_template(vm), up);
    }
    json_builder_end_array(jb);
    if (json) {
        g_autoptr(JsonNode) root = json_builder_get_root(jb);
        g_autofree char *text = json_to_string(root, TRUE);
        puts(text);
    }
    return CLI_OK;
}

static int verb_info(int argc, char **argv)
{
    gboolean json = FALSE;
    GOptionEntry e[] = { { "json", 0, 0, G_OPTION_ARG_NONE, &json, "JSON output", NULL }, { NULL } };
    int r = parse_opts("info", e, &argc, &argv, 1, 1, "NAME");
    if (r)
        return r;
    GError *err = NULL;
    g_autoptr(DomusVM) vm = cli_vm(argv[1], &err);
    g_autoptr(GVariant) info = NULL;
    if (!vm || !domus_vm_call_get_info_sync(vm, &info, NULL, &err))
        return cli_fail(err);
    if (json) {
        g_autoptr(JsonNode) n = json_gvariant_serialize(info);
        g_autofree char *text = json_to_string(n, TRUE);
        puts(text);
        return CLI_OK;
    }
    GVariantIter it;
    const char *key;
    GVariant *v;
    g_variant_iter_init(&it, info);
    while (g_variant_iter_next(&it, "{&sv}", &key, &v)) {
        g_autofree char *text = NULL;
        if (g_variant_is_of_type(v, G_VARIANT_TYPE_STRING))
            text = g_variant_dup_string(v, NULL);
        else if (g_variant_is_of_type(v, G_VARIANT_TYPE_STRING_ARRAY)) {
            g_autofree const char **sv = g_variant_get_strv(v, NULL);
            text = g_strjoinv(", ", (char **)sv);
        } else if (!strcmp(key, "memory") || !strcmp(key, "memory-limit") || !strcmp(key, "disk-size"))
            text = cli_format_size(g_variant_get_uint64(v));
        else if (!strcmp(key, "uptime"))
            text = cli_format_duration(g_variant_get_uint64(v));
        else
            text = g_variant_print(v, FALSE);
        printf("%-13s %s\n", key, text);
        g_variant_unref(v);
    }
    return CLI_OK;
}

static int verb_start(int argc, char **argv)
{
    char *display = NULL;
    GOptionEntry e[] = { { "display", 0, 0, G_OPTION_ARG_STRING, &display, "none, vnc or sdl", "KIND" }, { NULL } };
    int r = parse_opts("start", e, &argc, &argv, 1, 1, "NAME");
    if (r)
        return r;
    if (display && strcmp(display, "none") && strcmp(display, "vnc") && strcmp(display, "sdl"))
        return cli_usage_error("start", "--display: expected none, vnc or sdl, got '%s'", display);
    GVariantBuilder b;
    g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
    if (display)
        g_variant_builder_add(&b, "{sv}", "display", g_variant_new_string(display));
    GError *err = NULL;
    g_autoptr(DomusVM) vm = cli_vm(argv[1], &err);
    if (!vm || !domus_vm_call_start_sync(vm, g_variant_builder_end(&b), NULL, &err))
        return cli_fail(err);
    return CLI_OK;
}

static int verb_stop(int argc, char **argv)
{
    gboolean force = FALSE, save = FALSE;
    int timeout = 0;
    GOptionEntry e[] = {
        { "force", 'f', 0, G_OPTION_ARG_NONE, &force, "kill at once", NULL },
        { "save", 's', 0, G_OPTION_ARG_NONE, &save, "save the running state; start resumes it", NULL },
        { "timeout", 0, 0, G_OPTION_ARG_INT, &timeout, "seconds before the VM is killed (default 30)", "S" },
        { NULL } };
    int r = parse_opts("stop", e, &argc, &argv, 1, 1, "NAME");
    if (r)
        return r;
    if (timeout < 0 || timeout > 3600)
        return cli_usage_error("stop", "--timeout: %d is not from 0 to 3600 seconds", timeout);
    if (save && force)
        return cli_usage_error("stop", "--save and --force exclude each other");
    GError *err = NULL;
    g_autoptr(DomusVM) vm = cli_vm(argv[1], &err);
    if (!vm || !(save ? domus_vm_call_suspend_sync(vm, NULL, &err)
                      : domus_vm_call_stop_sync(vm, force, (guint)timeout, NULL, &err)))
        return cli_fail(err);
    if (save)
        printf("saved VM '%s'; 'domus start %s' resumes it\n", argv[1], argv[1]);
    return CLI_OK;
}

static int verb_simple(const char *verb, int argc, char **argv)
{
    GOptionEntry e[] = { { NULL } };
    int r = parse_opts(verb, e, &argc, &argv, 1, 1, "NAME");
    if (r)
        return r;
    GError *err = NULL;
    g_autoptr(DomusVM) vm = cli_vm(argv[1], &err);
    if (!vm)
        return cli_fail(err);
    bool ok = !strcmp(verb, "pause") ? domus_vm_call_pause_sync(vm, NULL, &err)
            : !strcmp(verb, "resume") ? domus_vm_call_resume_sync(vm, NULL, &err)
            : domus_vm_call_reset_sync(vm, NULL, &err);
    return ok ? CLI_OK : cli_fail(err);
}

static int verb_pause(int argc, char **argv) { return verb_simple("pause", argc, argv); }
static int verb_resume(int argc, char **argv) { return verb_simple("resume", argc, argv); }
static int verb_reset(int argc, char **argv) { return verb_simple("reset", argc, argv); }

static int verb_console(int argc, char **argv)
{
    GOptionEntry e[] = { { NULL } };
    int r = parse_opts("console", e, &argc, &argv, 1, 1, "NAME");
    if (r)
        return r;
    GError *err = NULL;
    g_autoptr(DomusVM) vm = cli_vm(argv[1], &err);
    if (!vm)
        return cli_fail(err);
    return cli_console(argv[1], vm);
}

/* $ENV, else next to this program (installed), else in the build tree's
 * vdisplay/, else from PATH. */
static char *display_client_path(const char *prog, const char *env)
{
    const char *e = getenv(env);
    if (e && *e)
        return g_strdup(e);
    g_autofree char *self = g_file_read_link("/proc/self/exe", NULL);
    g_autofree char *dir = self ? g_path_get_dirname(self) : NULL;
    const char *const near[] = { "", "/../vdisplay" };
    for (unsigned i = 0; dir && i < G_N_ELEMENTS(near); i++) {
        char *p = g_strdup_printf("%s%s/%s", dir, near[i], prog);
        if (access(p, X_OK) == 0)
            return p;
        g_free(p);
    }
    return g_strdup(prog);
}

static int verb_display(const char *verb, int argc, char **argv)
{
    char *listen = NULL, *pwfile = NULL;
    GOptionEntry vnc_e[] = {
        { "listen", 0, 0, G_OPTION_ARG_STRING, &listen, "address and port", "ADDR:PORT" },
        { "password-file", 0, 0, G_OPTION_ARG_FILENAME, &pwfile, "VNC password file", "FILE" },
        { NULL } };
    GOptionEntry none[] = { { NULL } };
    int r = parse_opts(verb, !strcmp(verb, "vnc") ? vnc_e : none, &argc, &argv, 1, 1, "NAME");
    if (r)
        return r;
    GError *err = NULL;
    g_autoptr(DomusVM) vm = cli_vm(argv[1], &err);
    g_autoptr(GVariant) info = NULL;
    if (!vm || !domus_vm_call_get_info_sync(vm, &info, NULL, &err))
        return cli_fail(err);
    const char *sock = NULL;
    if (!g_variant_lookup(info, "display-socket", "&s", &sock)) {
        fprintf(stderr, "domus: VM '%s' has no display: start it with 'domus start %s --display vnc' (or sdl)\n",
                argv[1], argv[1]);
        return CLI_FAILED;
    }
    /* The client attaches to the VM's display channel and runs until the
     * VM stops or it is closed. */
    bool vnc = !strcmp(verb, "vnc");
    g_autofree char *prog = display_client_path(vnc ? "domus-vnc" : "domus-view", vnc ? "DOMUS_VNC" : "DOMUS_VIEW");
    const char *args[10] = { prog, "--channel", sock, "--name", argv[1] };
    unsigned n = 5;
    if (listen) {
        args[n++] = "--listen";
        args[n++] = listen;
    }
    if (pwfile) {
        args[n++] = "--password-file";
        args[n++] = pwfile;
    }
    args[n] = NULL;
    execvp(prog, (char **)args);
    fprintf(stderr, "domus: cannot run %s: %s\n", prog, g_strerror(errno));
    return CLI_FAILED;
}

static int verb_view(int argc, char **argv) { return verb_display("view", argc, argv); }
static int verb_vnc(int argc, char **argv) { return verb_display("vnc", argc, argv); }

/* One line per snapshot, children indented under their parent:
 * NAME  DATE  disks|disks+RAM  [current]. */
static void print_snapshot_tree(GVariant *tree, const char *parent, int depth)
{
    GVariantIter it;
    const char *name, *par;
    gint64 created;
    gboolean state, current;
    g_variant_iter_init(&it, tree);
    while (g_variant_iter_next(&it, "(&s&sxbb)", &name, &par, &created, &state, &current)) {
        if (strcmp(par, parent))
            continue;
        g_autoptr(GDateTime) t = g_date_time_new_from_unix_local(created);
        g_autofree char *when = t ? g_date_time_format(t, "%Y-%m-%d %H:%M:%S") : g_strdup("?");
        printf("%*s%-*s  %s  %s%s\n", 2 * depth, "", 24 - 2 * depth > 1 ? 24 - 2 * depth : 1, name, when,
               state ? "disks+RAM" : "disks", current ? "  [current]" : "");
        if (depth < 64)
            print_snapshot_tree(tree, name, depth + 1);
    }
}

static int verb_snapshot(int argc, char **argv)
{
    GOptionEntry e[] = { { NULL } };
    int r = parse_opts("snapshot", e, &argc, &argv, 2, 3, "NAME create|list|revert|delete [SNAP]");
    if (r)
        return r;
    const char *op = argv[2], *snap = argc > 3 ? argv[3] : NULL;
    bool is_list = !strcmp(op, "list");
    if (!is_list && strcmp(op, "create") && strcmp(op, "revert") && strcmp(op, "delete"))
        return cli_usage_error("snapshot", "expected create, list, revert or delete, got '%s'", op);
    if (is_list && snap)
        return cli_usage_error("snapshot", "list takes no snapshot name");
    if (!is_list && strcmp(op, "create") && !snap)
        return cli_usage_error("snapshot", "%s needs a snapshot name", op);
    g_autofree char *auto_name = NULL;
    if (!snap && !is_list) {
        g_autoptr(GDateTime) now = g_date_time_new_now_local();
        snap = auto_name = g_date_time_format(now, "snap-%Y%m%d-%H%M%S");
    }
    GError *err = NULL;
    g_autoptr(DomusVM) vm = cli_vm(argv[1], &err);
    if (!vm)
        return cli_fail(err);
    bool ok;
    if (is_list) {
        g_autoptr(GVariant) tree = NULL;
        ok = domus_vm_call_snapshot_tree_sync(vm, &tree, NULL, &err);
        if (ok)
            print_snapshot_tree(tree, "", 0);
    } else if (!strcmp(op, "create")) {
        ok = domus_vm_call_snapshot_create_sync(vm, snap, NULL, &err);
        if (ok)
            printf("created snapshot '%s'\n", snap);
    } else if (!strcmp(op, "revert")) {
        ok = domus_vm_call_snapshot_revert_sync(vm, snap, NULL, &err);
    } else {
        ok = domus_vm_call_snapshot_delete_sync(vm, snap, NULL, &err);
    }
    return ok ? CLI_OK : cli_fail(err);
}

/* domus net NAME link up|down: the network card's cable, while the VM runs. */
static int verb_net(int argc, char **argv)
{
    GOptionEntry e[] = { { NULL } };
    int r = parse_opts("net", e, &argc, &argv, 3, 3, "NAME link up|down");
    if (r)
        return r;
    if (strcmp(argv[2], "link"))
        return cli_usage_error("net", "expected link, got '%s'", argv[2]);
    if (strcmp(argv[3], "up") && strcmp(argv[3], "down"))
        return cli_usage_error("net", "link: expected up or down, got '%s'", argv[3]);
    GError *err = NULL;
    g_autoptr(DomusVM) vm = cli_vm(argv[1], &err);
    if (!vm)
        return cli_fail(err);
    return domus_vm_call_set_link_sync(vm, !strcmp(argv[3], "up"), NULL, &err) ? CLI_OK : cli_fail(err);
}

/* domus set NAME memory=1G cpus=2 …: one SetConfig, all or nothing. */
static int verb_set(int argc, char **argv)
{
    GOptionEntry e[] = { { NULL } };
    int r = parse_opts("set", e, &argc, &argv, 2, 64, "NAME KEY=VALUE...");
    if (r)
        return r;
    GVariantBuilder b;
    g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
    for (int i = 2; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        if (!eq || eq == argv[i]) {
            g_variant_builder_clear(&b);
            return cli_usage_error("set", "expected KEY=VALUE, got '%s'", argv[i]);
        }
        g_autofree char *key = g_strndup(argv[i], (gsize)(eq - argv[i]));
        const char *v = eq + 1;
        guint64 size;
        char *end;
        if (!strcmp(key, "memory")) {
            r = memory_opt("set", key, v, &size);
            if (!r)
                g_variant_builder_add(&b, "{sv}", key, g_variant_new_uint64(size));
        } else if (!strcmp(key, "disk-size")) {
            r = size_opt("set", key, v, &size);
            if (!r)
                g_variant_builder_add(&b, "{sv}", key, g_variant_new_uint64(size));
        } else if (!strcmp(key, "cpus")) {
            long n = strtol(v, &end, 10);
            r = *v && !*end && n >= 1 && n <= VM_MAX_CPUS ? CLI_OK
                : cli_usage_error("set", "cpus: '%s' is not a number from 1 to %d", v, VM_MAX_CPUS);
            if (!r)
                g_variant_builder_add(&b, "{sv}", key, g_variant_new_uint32((guint32)n));
        } else if (!strcmp(key, "net") || !strcmp(key, "sound")) {
            g_variant_builder_add(&b, "{sv}", key, g_variant_new_string(v));   /* domusd checks these */
        } else {
            r = cli_usage_error("set", "unknown setting '%s' (expected memory, cpus, disk-size, net or sound)", key);
        }
        if (r) {
            g_variant_builder_clear(&b);
            return r;
        }
    }
    GError *err = NULL;
    g_autoptr(DomusVM) vm = cli_vm(argv[1], &err);
    if (!vm) {
        g_variant_builder_clear(&b);
        return cli_fail(err);
    }
    if (!domus_vm_call_set_config_sync(vm, g_variant_builder_end(&b), NULL, &err))
        return cli_fail(err);
    return CLI_OK;
}

static int verb_clone(int argc, char **argv)
{
    gboolean linked = FALSE, full = FALSE;
    GOptionEntry e[] = {
        { "linked", 0, 0, G_OPTION_ARG_NONE, &linked, "share the source's disks (copy on write)", NULL },
        { "full", 0, 0, G_OPTION_ARG_NONE, &full, "copy the disks (default)", NULL },
        { NULL } };
    int r = parse_opts("clone", e, &argc, &argv, 2, 2, "SRC DST");
    if (r)
        return r;
    if (linked && full)
        return cli_usage_error("clone", "--linked and --full exclude each other");
    GError *err = NULL;
    g_autoptr(DomusManager) m = cli_manager(&err);
    g_autofree char *path = NULL;
    if (!m || !domus_manager_call_clone_sync(m, argv[1], argv[2], linked, &path, NULL, &err))
        return cli_fail(err);
    printf("cloned '%s' to '%s' (%s)\n", argv[1], argv[2], linked ? "linked" : "full copy");
    return CLI_OK;
}

static int verb_top(int argc, char **argv)
{
    gboolean once = FALSE;
    GOptionEntry e[] = { { "once", 0, 0, G_OPTION_ARG_NONE, &once, "print one sample and exit", NULL }, { NULL } };
    int r = parse_opts("top", e, &argc, &argv, 0, 0, "");
    if (r)
        return r;
    GError *err = NULL;
    g_autoptr(DomusManager) m = cli_manager(&err);
    if (!m)
        return cli_fail(err);
    return cli_top(m, once);
}

static int verb_delete(int argc, char **argv)
{
    GOptionEntry e[] = { { NULL } };
    int r = parse_opts("delete", e, &argc, &argv, 1, 1, "NAME");
    if (r)
        return r;
    GError *err = NULL;
    g_autoptr(DomusManager) m = cli_manager(&err);
    if (!m || !domus_manager_call_delete_sync(m, argv[1], NULL, &err))
        return cli_fail(err);
    return CLI_OK;
}

static const struct verb {
    const char *name;
    int (*run)(int argc, char **argv);
} verbs[] = {
    { "templates", verb_templates }, { "create", verb_create }, { "list", verb_list }, { "info", verb_info },
    { "start", verb_start }, { "stop", verb_stop }, { "pause", verb_pause }, { "resume", verb_resume },
    { "reset", verb_reset }, { "console", verb_console }, { "view", verb_view }, { "vnc", verb_vnc },
    { "snapshot", verb_snapshot }, { "set", verb_set }, { "net", verb_net }, { "clone", verb_clone }, { "top", verb_top }, { "delete", verb_delete },
};

int cli_main(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error(NULL, "missing verb");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(usage_text, stdout);
        return CLI_OK;
    }
    for (unsigned i = 0; i < G_N_ELEMENTS(verbs); i++) {
        if (!strcmp(argv[1], verbs[i].name)) {
            g_set_prgname(g_strdup_printf("domus %s", verbs[i].name));
            return verbs[i].run(argc - 1, argv + 1);
        }
    }
    return cli_usage_error(NULL, "unknown verb '%s'", argv[1]);
}
