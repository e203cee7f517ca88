/* domus-img: create, inspect, check and snapshot disk images.
 * Usage errors are one line and exit status 2; check exits like qemu-img
 * (0 clean, 2 corruption, 3 leaks only). */
#include "block/block.h"
#include "core/size.h"
#include "img.h"

#include <getopt.h>
#include <json-glib/json-glib.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int img_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("domus-img: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see domus-img --help)\n", stderr);
    va_end(ap);
    return 2;
}

int img_fail(char *error, int r)
{
    fprintf(stderr, "domus-img: %s\n", error ? error : strerror(-r));
    free(error);
    return 1;
}

int img_open(const char *path, const char *fmt, bool readonly, bool nolock, struct block **b)
{
    struct block_open_opts o = { .readonly = readonly, .no_lock = nolock };
    if (fmt && block_parse_format(fmt, &o.format) < 0)
        return img_usage("unknown format '%s' (raw or qcow2)", fmt);
    char *err = NULL;
    int r = block_open(path, &o, b, &err);
    return r < 0 ? img_fail(err, r) : 0;
}

static void help(void)
{
    puts("Usage: domus-img COMMAND [options]\n"
         "  create [-f raw|qcow2] [-b BACKING [-F FMT]] [-o cluster_size=N,refcount_bits=N,compat=0.10|1.1,compression_type=zlib|zstd] FILE [SIZE]\n"
         "  info [--json] [-U] FILE\n"
         "  check [-r leaks|all] FILE         exit 0 clean, 2 corrupt, 3 leaks\n"
         "  snapshot -l|-c NAME|-a NAME|-d NAME FILE\n"
         "  rebase [-u] -b BACKING [-F FMT] FILE   (-b \"\" removes the backing file)\n"
         "  commit [-d] FILE                  write FILE's data into its backing file (-d: keep it in FILE too)\n"
         "  resize [--shrink] [-f FMT] FILE [+|-]SIZE\n"
         "  convert [-f FMT] [-O raw|qcow2] [-c] [-o OPTIONS] [-p] SOURCE DEST   (-c: compressed qcow2)");
}

int img_create_opt(struct block_create_opts *o, char *spec)
{
    for (char *tok = strtok(spec, ","); tok; tok = strtok(NULL, ",")) {
        char *v = strchr(tok, '=');
        uint64_t n;
        if (!v)
            return img_usage("create -o: expected KEY=VALUE, got '%s'", tok);
        *v++ = 0;
        if (!strcmp(tok, "cluster_size") && !parse_size(v, &n) && n <= UINT32_MAX)
            o->cluster_size = (uint32_t)n;
        else if (!strcmp(tok, "refcount_bits") && !parse_size(v, &n) && n <= 64)
            o->refcount_bits = (unsigned)n;
        else if (!strcmp(tok, "compat") && (!strcmp(v, "0.10") || !strcmp(v, "1.1")))
            o->version = !strcmp(v, "0.10") ? 2 : 3;
        else if (!strcmp(tok, "compression_type") && (!strcmp(v, "zlib") || !strcmp(v, "zstd")))
            o->zstd = !strcmp(v, "zstd");
        else
            return img_usage("create -o: bad option '%s=%s'", tok, v);
    }
    return 0;
}

static int cmd_create(int argc, char **argv)
{
    struct block_create_opts o = { .format = BLOCK_FMT_QCOW2 };
    int c;
    while ((c = getopt(argc, argv, "f:b:F:o:")) != -1) {
        switch (c) {
        case 'f':
            if (block_parse_format(optarg, &o.format) < 0 || o.format == BLOCK_FMT_AUTO)
                return img_usage("create: unknown format '%s' (raw or qcow2)", optarg);
            break;
        case 'b': o.backing_file = optarg; break;
        case 'F':
            if (block_parse_format(optarg, &o.backing_format) < 0)
                return img_usage("create: unknown backing format '%s'", optarg);
            break;
        case 'o': {
            int r = img_create_opt(&o, optarg);
            if (r)
                return r;
            break;
        }
        default: return img_usage("create: unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return img_usage("create: missing FILE");
    const char *path = argv[optind++];
    if (optind < argc && parse_size(argv[optind++], &o.size) < 0)
        return img_usage("create: '%s' is not a size", argv[optind - 1]);
    if (optind < argc)
        return img_usage("create: unexpected argument '%s'", argv[optind]);
    if (!o.size && !o.backing_file)
        return img_usage("create: missing SIZE");
    char *err = NULL;
    int r = block_create(path, &o, &err);
    return r < 0 ? img_fail(err, r) : 0;
}

/* File, backing and snapshot names are arbitrary bytes: json-glib escapes
 * them (as UTF-8; invalid sequences become U+FFFD). */
static void json_add_name(JsonBuilder *jb, const char *member, const char *value)
{
    char *valid = g_utf8_make_valid(value, -1);
    json_builder_set_member_name(jb, member);
    json_builder_add_string_value(jb, valid);
    g_free(valid);
}

static void print_info_json(const char *file, const struct block_info *in, const struct block_snapshot *sn,
                            unsigned nsn)
{
    JsonBuilder *jb = json_builder_new();
    json_builder_begin_object(jb);
    json_add_name(jb, "filename", file);
    json_builder_set_member_name(jb, "format");
    json_builder_add_string_value(jb, block_format_name(in->format));
    json_builder_set_member_name(jb, "virtual-size");
    json_builder_add_int_value(jb, (gint64)in->virtual_size);
    json_builder_set_member_name(jb, "actual-size");
    json_builder_add_int_value(jb, (gint64)in->disk_size);
    if (in->format == BLOCK_FMT_QCOW2) {
        json_builder_set_member_name(jb, "cluster-size");
        json_builder_add_int_value(jb, in->cluster_size);
        json_builder_set_member_name(jb, "compat");
        json_builder_add_string_value(jb, in->version == 2 ? "0.10" : "1.1");
        json_builder_set_member_name(jb, "refcount-bits");
        json_builder_add_int_value(jb, in->refcount_bits);
        json_builder_set_member_name(jb, "compression-type");
        json_builder_add_string_value(jb, in->compression);
        json_builder_set_member_name(jb, "lazy-refcounts");
        json_builder_add_boolean_value(jb, in->lazy_refcounts);
        json_builder_set_member_name(jb, "corrupt");
        json_builder_add_boolean_value(jb, in->corrupt);
    }
    if (in->backing_file[0])
        json_add_name(jb, "backing-filename", in->backing_file);
    if (in->backing_format[0]) {
        json_builder_set_member_name(jb, "backing-filename-format");
        json_builder_add_string_value(jb, in->backing_format);
    }
    json_builder_set_member_name(jb, "snapshots");
    json_builder_begin_array(jb);
    for (unsigned i = 0; i < nsn; i++) {
        json_builder_begin_object(jb);
        json_add_name(jb, "id", sn[i].id);
        json_add_name(jb, "name", sn[i].name);
        json_builder_set_member_name(jb, "vm-state-size");
        json_builder_add_int_value(jb, (gint64)sn[i].vm_state_size);
        json_builder_set_member_name(jb, "date-sec");
        json_builder_add_int_value(jb, sn[i].date_sec);
        json_builder_end_object(jb);
    }
    json_builder_end_array(jb);
    json_builder_end_object(jb);
    JsonNode *root = json_builder_get_root(jb);
    char *text = json_to_string(root, FALSE);
    puts(text);
    g_free(text);
    json_node_unref(root);
    g_object_unref(jb);
}

static int cmd_info(int argc, char **argv)
{
    bool json = false, nolock = false;
    static const struct option lo[] = { { "json", no_argument, NULL, 'j' }, { 0 } };
    int c;
    while ((c = getopt_long(argc, argv, "U", lo, NULL)) != -1) {
        if (c == 'j')
            json = true;
        else if (c == 'U')
            nolock = true;
        else
            return img_usage("info: unknown option '%s'", argv[optind - 1]);
    }
    if (optind != argc - 1)
        return img_usage("info: expected one FILE");
    struct block *b;
    struct block_open_opts o = { .readonly = true, .no_lock = nolock, .no_backing = true };
    char *err = NULL;
    int r = block_open(argv[optind], &o, &b, &err);
    if (r < 0)
        return img_fail(err, r);
    struct block_info in;
    block_get_info(b, &in);
    struct block_snapshot *sn;
    unsigned nsn;
    block_snapshot_list(b, &sn, &nsn);
    if (json) {
        print_info_json(argv[optind], &in, sn, nsn);
    } else {
        printf("image: %s\nfile format: %s\nvirtual size: %" PRIu64 " bytes\ndisk size: %" PRIu64 " bytes\n",
               argv[optind], block_format_name(in.format), in.virtual_size, in.disk_size);
        if (in.format == BLOCK_FMT_QCOW2)
            printf("cluster_size: %u\ncompat: %s\nrefcount bits: %u\ncompression type: %s\n", in.cluster_size,
                   in.version == 2 ? "0.10" : "1.1", in.refcount_bits, in.compression);
        if (in.backing_file[0])
            printf("backing file: %s%s%s%s\n", in.backing_file, in.backing_format[0] ? " (format " : "",
                   in.backing_format, in.backing_format[0] ? ")" : "");
        if (nsn)
            printf("snapshots:\n");
        for (unsigned i = 0; i < nsn; i++)
            printf("  %s\t%s\n", sn[i].id, sn[i].name);
    }
    free(sn);
    block_close(b);
    return 0;
}

static int cmd_check(int argc, char **argv)
{
    unsigned fix = 0;
    int c;
    while ((c = getopt(argc, argv, "r:")) != -1) {
        if (c == 'r' && !strcmp(optarg, "leaks"))
            fix = BLOCK_FIX_LEAKS;
        else if (c == 'r' && !strcmp(optarg, "all"))
            fix = BLOCK_FIX_ALL;
        else
            return img_usage("check: unknown option '%s' (expected -r leaks|all)", argv[optind - 1]);
    }
    if (optind != argc - 1)
        return img_usage("check: expected one FILE");
    /* A repair sees the image as it was left (dirty, marked corrupt). */
    struct block_open_opts o = { .readonly = !fix, .defer_repair = true, .no_backing = true };
    struct block *b;
    char *err = NULL;
    int r = block_open(argv[optind], &o, &b, &err);
    if (r < 0)
        return img_fail(err, r);
    struct block_check_result res;
    r = block_check_fix(b, fix, &res, &err);
    block_close(b);
    if (r < 0)
        return img_fail(err, r);
    uint64_t corrupt = res.corruptions - res.corruptions_fixed, leaks = res.leaks - res.leaks_fixed;
    if (res.was_dirty)
        printf("The image was not closed cleanly (lazy refcounts)%s.\n",
               fix & BLOCK_FIX_ERRORS && !corrupt ? "; it is marked clean now" : "");
    if (res.leaks_fixed || res.corruptions_fixed)
        printf("Repaired %" PRIu64 " leaked clusters and %" PRIu64 " errors.\n", res.leaks_fixed, res.corruptions_fixed);
    if (corrupt)
        printf("%" PRIu64 " errors were found on the image (first: %s).\n", corrupt, res.first_error);
    if (leaks)
        printf("%" PRIu64 " leaked clusters were found on the image.\n", leaks);
    if (!corrupt && !leaks)
        printf("No errors were found on the image.\n");
    printf("%" PRIu64 "/%" PRIu64 " clusters allocated\n", res.allocated_clusters, res.total_clusters);
    return corrupt ? 2 : leaks ? 3 : 0;
}

/* resize [--shrink] [-f FMT] FILE [+|-]SIZE: by hand, as "-1G" is a size here. */
static int cmd_resize(int argc, char **argv)
{
    bool shrink = false;
    const char *fmt = NULL, *path = NULL, *spec = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--shrink"))
            shrink = true;
        else if (!strcmp(argv[i], "-f") && i + 1 < argc)
            fmt = argv[++i];
        else if (!strcmp(argv[i], "--") && i + 1 < argc && !spec && path)
            spec = argv[++i];
        else if (!path && argv[i][0] != '-')
            path = argv[i];
        else if (path && !spec)
            spec = argv[i];
        else
            return img_usage("resize: unexpected argument '%s'", argv[i]);
    }
    if (!path || !spec)
        return img_usage("resize: expected FILE and [+|-]SIZE");
    uint64_t n;
    int sign = spec[0] == '+' ? 1 : spec[0] == '-' ? -1 : 0;
    if (parse_size(spec + (sign != 0), &n) < 0)
        return img_usage("resize: '%s' is not a size", spec);
    struct block *b;
    int r = img_open(path, fmt, false, false, &b);
    if (r)
        return r;
    uint64_t cur = block_length(b), size = sign > 0 ? cur + n : sign < 0 ? cur - n : n;
    if ((sign > 0 && size < cur) || (sign < 0 && n > cur) || size == 0) {
        block_close(b);
        return img_usage("resize: %s would leave no disk", spec);
    }
    if (size < cur && !shrink) {
        block_close(b);
        return img_usage("resize: shrinking drops the data past the new end; add --shrink to mean it");
    }
    char *err = NULL;
    r = block_resize(b, size, shrink, &err);
    block_close(b);
    if (r < 0)
        return img_fail(err, r);
    printf("Image resized.\n");
    return 0;
}

static int cmd_snapshot(int argc, char **argv)
{
    int c, op = 0;
    const char *name = NULL;
    while ((c = getopt(argc, argv, "lc:a:d:")) != -1) {
        if (op || (c != 'l' && c != 'c' && c != 'a' && c != 'd'))
            return img_usage("snapshot: expected exactly one of -l, -c NAME, -a NAME, -d NAME");
        op = c;
        name = optarg;
    }
    if (!op || optind != argc - 1)
        return img_usage("snapshot: expected one of -l, -c NAME, -a NAME, -d NAME and one FILE");
    struct block *b;
    int r = img_open(argv[optind], NULL, op == 'l', false, &b);
    if (r)
        return r;
    char *err = NULL;
    if (op == 'l') {
        struct block_snapshot *sn;
        unsigned n;
        block_snapshot_list(b, &sn, &n);
        printf("ID\tTAG\tVM SIZE\tDATE\n");
        for (unsigned i = 0; i < n; i++) {
            time_t t = sn[i].date_sec;
            char date[32];
            strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", localtime(&t));
            printf("%s\t%s\t%" PRIu64 "\t%s\n", sn[i].id, sn[i].name, sn[i].vm_state_size, date);
        }
        free(sn);
    } else if (op == 'c') {
        r = block_snapshot_create(b, name, &err);
    } else if (op == 'a') {
        r = block_snapshot_apply(b, name, &err);
    } else {
        r = block_snapshot_delete(b, name, &err);
    }
    block_close(b);
    return r < 0 ? img_fail(err, r) : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return img_usage("missing COMMAND");
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        help();
        return 0;
    }
    opterr = 0;
    optind = 1;
    static const struct { const char *name; int (*fn)(int, char **); } cmds[] = {
        { "create", cmd_create }, { "info", cmd_info }, { "check", cmd_check }, { "snapshot", cmd_snapshot },
        { "resize", cmd_resize }, { "rebase", img_cmd_rebase }, { "commit", img_cmd_commit }, { "convert", img_cmd_convert },
    };
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        if (!strcmp(cmd, cmds[i].name))
            return cmds[i].fn(argc - 1, argv + 1);
    return img_usage("unknown command '%s'", cmd);
}
