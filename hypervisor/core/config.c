#include "config.h"
#include "size.h"
#include "block/block.h"

#include <errno.h>
#include <getopt.h>
#include <glib.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_MEMORY (16ULL << 20)
#define MAX_MEMORY (1ULL << 40)

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("domus-vmm: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see domus-vmm --help)\n", stderr);
    va_end(ap);
    return 2;
}

static void print_help(void)
{
    puts("Usage: domus-vmm --memory SIZE --cpus N --kernel FILE|--firmware bios|uefi [options]\n"
         "Runs one guest on /dev/kvm.\n\n"
         "  --memory SIZE          guest RAM, e.g. 512M or 2G (default 256M)\n"
         "  --cpus N               virtual CPUs, 1-64 (default 1)\n"
         "  --kernel FILE          Linux bzImage to boot\n"
         "  --initrd FILE          initial ramdisk\n"
         "  --append CMDLINE       kernel command line\n"
         "  --firmware none|bios[:FILE]  boot through firmware (SeaBIOS, default\n"
         "                         " FIRMWARE_BIOS_DEFAULT "): from the disks, or the\n"
         "                         --kernel it is handed (default none: load --kernel directly)\n"
         "  --firmware uefi[:FILE] boot through UEFI (OVMF, default " FIRMWARE_UEFI_DEFAULT ")\n"
         "  --nvram FILE           UEFI variable store of this VM, made from\n"
         "                         " FIRMWARE_UEFI_VARS " if missing (default: a\n"
         "                         copy that is lost at power-off)\n"
         "  --firmware-log FILE    write the firmware's debug output (port 0x402) to FILE\n"
         "  --disk FILE[,readonly][,serial=ID][,format=raw|qcow2][,on-error=report|pause]\n"
         "                         disk image on virtio-blk (repeatable; format probed if not given;\n"
         "                         on-error=pause stops the guest on a full disk until 'resume')\n"
         "                         ,bus=ahci puts it on the AHCI (SATA) controller instead of virtio\n"
         "  --cdrom FILE|none      CD/DVD drive on AHCI with an ISO image, or empty (repeatable;\n"
         "                         AHCI ports: bus=ahci disks in order, then CD drives in order)\n"
         "  --serial stdio|pty|unix:PATH|file:PATH|none   COM1 backend (default stdio)\n"
         "  --console stdio|pty|unix:PATH|file:PATH|none  virtio-console backend (default none)\n"
         "  --control unix:PATH    JSON control socket\n"
         "  --restore PATH         start from a state saved by snapshot-save (same devices)\n"
         "  --name NAME            VM name\n"
         "  --config FILE          read these settings from a key file ([vm] group)\n"
         "  --display none|vnc[:ADDR:PORT][,password-file=FILE][,keymap=us|de]|sdl|channel:PATH\n"
         "                         guest screen (virtio-gpu + keyboard/tablet) to a VNC server,\n"
         "                         a window, or a display channel socket (repeatable)\n"
         "  --vga std|none[,rom=FILE]  standard VGA + Bochs VBE with SeaBIOS's vgabios (default:\n"
         "                         std with --firmware, none for direct kernel boot)\n"
         "  --no-rng               no virtio-rng device\n"
         "  --net user[,hostfwd=tcp:[HOSTADDR]:PORT-:GUESTPORT]...[,mac=MAC][,model=virtio|e1000]\n"
         "         | tap:IFNAME[,mac=..][,model=..] | none   the guest's NIC (default none;\n"
         "                         e1000 for guests without virtio drivers)\n"
         "  --audio pulse|wav:OUT.wav[,in=IN.wav]|none  sound backend (default: no sound card)\n"
         "  --sound hda|virtio     the guest's sound card when --audio is given (default hda)\n"
         "  --shutdown-timeout S   seconds SIGTERM waits for ACPI power-off (default 30)\n"
         "  --rtc utc|localtime    what the CMOS clock keeps (default utc; Windows wants localtime)\n"
         "Exit status: 0 guest powered off, 1 VM failed to start, 2 bad usage, 3 guest crashed.");
}

static int parse_chardev(const char *opt, const char *v, enum serial_kind *kind, char **path)
{
    g_free(*path);
    *path = NULL;
    if (!strcmp(v, "stdio"))
        *kind = SERIAL_STDIO;
    else if (!strcmp(v, "pty"))
        *kind = SERIAL_PTY;
    else if (!strcmp(v, "none"))
        *kind = SERIAL_NONE;
    else if (!strncmp(v, "unix:", 5) && v[5])
        *kind = SERIAL_UNIX, *path = g_strdup(v + 5);
    else if (!strncmp(v, "file:", 5) && v[5])
        *kind = SERIAL_FILE, *path = g_strdup(v + 5);
    else
        return usage_error("--%s: expected stdio, pty, unix:PATH, file:PATH or none, got '%s'", opt, v);
    return 0;
}

static unsigned ahci_drives(const struct vm_config *cfg)
{
    unsigned n = cfg->ncdroms;
    for (unsigned i = 0; i < cfg->ndisks; i++)
        n += cfg->disks[i].bus == DISK_BUS_AHCI;
    return n;
}

/* --cdrom FILE | none: a CD drive with an ISO in it, or an empty one. */
static int parse_cdrom(struct vm_config *cfg, const char *v)
{
    if (!*v)
        return usage_error("--cdrom: expected an ISO file or none");
    if (ahci_drives(cfg) >= VM_MAX_AHCI)
        return usage_error("--cdrom: at most %d AHCI drives (disks with bus=ahci plus CD drives)", VM_MAX_AHCI);
    cfg->cdroms[cfg->ncdroms++] = strcmp(v, "none") ? g_strdup(v) : NULL;
    return 0;
}

static int parse_disk(struct vm_config *cfg, const char *v)
{
    if (cfg->ndisks >= VM_MAX_DISKS)
        return usage_error("--disk: at most %d disks", VM_MAX_DISKS);
    gchar **parts = g_strsplit(v, ",", -1);
    struct disk_config *d = &cfg->disks[cfg->ndisks];
    int ret = 0;
    if (!parts[0] || !*parts[0]) {
        ret = usage_error("--disk: missing file name");
        goto out;
    }
    memset(d, 0, sizeof(*d));
    d->path = g_strdup(parts[0]);
    for (int i = 1; parts[i]; i++) {
        if (!strcmp(parts[i], "readonly") || !strcmp(parts[i], "readonly=on"))
            d->readonly = true;
        else if (!strncmp(parts[i], "serial=", 7) && strlen(parts[i] + 7) <= 20)
            d->serial = g_strdup(parts[i] + 7);
        else if (!strcmp(parts[i], "format=raw") || !strcmp(parts[i], "format=qcow2"))
            d->format = !strcmp(parts[i], "format=raw") ? BLOCK_FMT_RAW : BLOCK_FMT_QCOW2;
        else if (!strcmp(parts[i], "on-error=report") || !strcmp(parts[i], "on-error=pause"))
            d->pause_on_error = !strcmp(parts[i], "on-error=pause");
        else if (!strcmp(parts[i], "bus=virtio") || !strcmp(parts[i], "bus=ahci"))
            d->bus = !strcmp(parts[i], "bus=ahci") ? DISK_BUS_AHCI : DISK_BUS_VIRTIO;
        else {
            ret = usage_error("--disk: unknown option '%s' (expected readonly, serial=ID of at most 20 characters, "
                              "format=raw|qcow2, on-error=report|pause or bus=virtio|ahci)", parts[i]);
            g_free(d->path);
            g_free(d->serial);
            memset(d, 0, sizeof(*d));
            goto out;
        }
    }
    if (d->bus == DISK_BUS_AHCI && ahci_drives(cfg) >= VM_MAX_AHCI) {
        ret = usage_error("--disk: at most %d AHCI drives (disks with bus=ahci plus CD drives)", VM_MAX_AHCI);
        g_free(d->path);
        g_free(d->serial);
        memset(d, 0, sizeof(*d));
        goto out;
    }
    cfg->ndisks++;
out:
    g_strfreev(parts);
    return ret;
}

static void display_config_clear(struct display_config *d)
{
    g_free(d->addr);
    g_free(d->password_file);
    g_free(d->keymap);
    g_free(d->path);
    memset(d, 0, sizeof(*d));
}

static bool is_loopback(const char *addr)
{
    return !addr || !strcmp(addr, "localhost") || !strncmp(addr, "127.", 4) || !strcmp(addr, "::1");
}

static int parse_display(struct vm_config *cfg, const char *v)
{
    if (!strcmp(v, "none")) {
        for (unsigned i = 0; i < cfg->ndisplays; i++)
            display_config_clear(&cfg->displays[i]);
        cfg->ndisplays = 0;
        return 0;
    }
    if (cfg->ndisplays >= VM_MAX_DISPLAYS)
        return usage_error("--display: at most %d displays", VM_MAX_DISPLAYS);
    struct display_config d = { 0 };
    if (!strcmp(v, "sdl")) {
        d.kind = DISPLAY_SDL;
    } else if (!strncmp(v, "channel:", 8) && v[8]) {
        d.kind = DISPLAY_CHANNEL;
        d.path = g_strdup(v + 8);
    } else if (!strncmp(v, "vnc", 3) && (v[3] == 0 || v[3] == ':' || v[3] == ',')) {
        d.kind = DISPLAY_VNC;
        g_auto(GStrv) opts = g_strsplit(v + 3, ",", -1);
        const char *where = opts[0] ? opts[0] : "";
        if (*where) {
            const char *colon = strrchr(where + 1, ':');
            char *end;
            long port = colon ? strtol(colon + 1, &end, 10) : -1;
            if (!colon || colon == where + 1 || *end || end == colon + 1 || port < 1 || port > 65535) {
                display_config_clear(&d);
                return usage_error("--display: expected vnc:ADDR:PORT, got '%s'", v);
            }
            d.addr = g_strndup(where + 1, (gsize)(colon - where - 1));
            if (d.addr[0] == '[' && d.addr[strlen(d.addr) - 1] == ']') {   /* [::1] */
                char *a = g_strndup(d.addr + 1, strlen(d.addr) - 2);
                g_free(d.addr);
                d.addr = a;
            }
            d.port = (unsigned)port;
        }
        for (int i = 1; opts[0] && opts[i]; i++) {
            if (!strncmp(opts[i], "password-file=", 14) && opts[i][14]) {
                g_free(d.password_file);
                d.password_file = g_strdup(opts[i] + 14);
            } else if (!strcmp(opts[i], "keymap=us") || !strcmp(opts[i], "keymap=de")) {
                g_free(d.keymap);
                d.keymap = g_strdup(opts[i] + 7);
            } else {
                display_config_clear(&d);
                return usage_error("--display: unknown vnc option '%s' (expected password-file=FILE or keymap=us|de)", opts[i]);
            }
        }
        if (!is_loopback(d.addr) && !d.password_file) {
            int r = usage_error("--display: VNC on %s would be reachable from the network without a "
                                "password; add ,password-file=FILE or listen on 127.0.0.1", d.addr);
            display_config_clear(&d);
            return r;
        }
    } else {
        return usage_error("--display: expected none, vnc[:ADDR:PORT], sdl or channel:PATH, got '%s'", v);
    }
    cfg->displays[cfg->ndisplays++] = d;
    return 0;
}

/* --vga std|none[,rom=FILE] */
static int parse_vga(struct vm_config *cfg, const char *v)
{
    g_auto(GStrv) parts = g_strsplit(v, ",", -1);
    if (!strcmp(parts[0], "std"))
        cfg->vga = VGA_STD;
    else if (!strcmp(parts[0], "none"))
        cfg->vga = VGA_NONE;
    else
        return usage_error("--vga: expected std or none, got '%s'", parts[0]);
    for (unsigned i = 1; parts[i]; i++) {
        if (strncmp(parts[i], "rom=", 4) || !parts[i][4])
            return usage_error("--vga: unknown option '%s' (expected rom=FILE)", parts[i]);
        g_free(cfg->vga_rom);
        cfg->vga_rom = g_strdup(parts[i] + 4);
    }
    return 0;
}

enum { OPT_MEMORY = 256, OPT_CPUS, OPT_KERNEL, OPT_INITRD, OPT_APPEND, OPT_DISK, OPT_SERIAL,
       OPT_CONSOLE, OPT_CONTROL, OPT_NAME, OPT_CONFIG, OPT_NO_RNG, OPT_SHUTDOWN_TIMEOUT, OPT_HELP,
       OPT_NET, OPT_AUDIO, OPT_SOUND, OPT_DISPLAY, OPT_CDROM,
       OPT_FIRMWARE, OPT_FIRMWARE_LOG, OPT_RESTORE, OPT_NVRAM };
enum { OPT_VGA = 400, OPT_RTC };

static const struct option long_opts[] = {
    { "memory", required_argument, NULL, OPT_MEMORY },
    { "cpus", required_argument, NULL, OPT_CPUS },
    { "kernel", required_argument, NULL, OPT_KERNEL },
    { "initrd", required_argument, NULL, OPT_INITRD },
    { "append", required_argument, NULL, OPT_APPEND },
    { "disk", required_argument, NULL, OPT_DISK },
    { "serial", required_argument, NULL, OPT_SERIAL },
    { "console", required_argument, NULL, OPT_CONSOLE },
    { "control", required_argument, NULL, OPT_CONTROL },
    { "name", required_argument, NULL, OPT_NAME },
    { "config", required_argument, NULL, OPT_CONFIG },
    { "no-rng", no_argument, NULL, OPT_NO_RNG },
    { "shutdown-timeout", required_argument, NULL, OPT_SHUTDOWN_TIMEOUT },
    { "help", no_argument, NULL, OPT_HELP },
    { "net", required_argument, NULL, OPT_NET },
    { "audio", required_argument, NULL, OPT_AUDIO },
    { "sound", required_argument, NULL, OPT_SOUND },
    { "display", required_argument, NULL, OPT_DISPLAY },
    { "cdrom", required_argument, NULL, OPT_CDROM },
    { "firmware", required_argument, NULL, OPT_FIRMWARE },
    { "firmware-log", required_argument, NULL, OPT_FIRMWARE_LOG },
    { "vga", required_argument, NULL, OPT_VGA },
    { "restore", required_argument, NULL, OPT_RESTORE },
    { "nvram", required_argument, NULL, OPT_NVRAM },
    { "rtc", required_argument, NULL, OPT_RTC },
    { 0 },
};

/* One setting, from the command line or a config file key of the same name. */
static int apply_option(struct vm_config *cfg, int opt, const char *name, const char *v)
{
    uint64_t n;
    switch (opt) {
    case OPT_MEMORY:
        if (parse_memory_size(v, &n) < 0)
            return usage_error("--memory: '%s' is not a size (use e.g. 512M or 2G)", v);
        if (n < MIN_MEMORY || n > MAX_MEMORY)
            return usage_error("--memory: %s is out of range (16M to 1T)", v);
        cfg->memory = n;
        return 0;
    case OPT_CPUS: {
        char *end;
        long c = strtol(v, &end, 10);
        if (*end || end == v || c < 1 || c > VM_MAX_CPUS)
            return usage_error("--cpus: '%s' is not a number from 1 to %d", v, VM_MAX_CPUS);
        cfg->cpus = (unsigned)c;
        return 0;
    }
    case OPT_KERNEL: g_free(cfg->kernel); cfg->kernel = g_strdup(v); return 0;
    case OPT_INITRD: g_free(cfg->initrd); cfg->initrd = g_strdup(v); return 0;
    case OPT_APPEND: g_free(cfg->append); cfg->append = g_strdup(v); return 0;
    case OPT_NAME: g_free(cfg->name); cfg->name = g_strdup(v); return 0;
    case OPT_DISK: return parse_disk(cfg, v);
    case OPT_CDROM: return parse_cdrom(cfg, v);
    case OPT_SERIAL: return parse_chardev(name, v, &cfg->serial, &cfg->serial_path);
    case OPT_CONSOLE: return parse_chardev(name, v, &cfg->console_kind, &cfg->console_path);
    case OPT_CONTROL:
        if (strncmp(v, "unix:", 5) || !v[5])
            return usage_error("--control: expected unix:PATH, got '%s'", v);
        g_free(cfg->control_path);
        cfg->control_path = g_strdup(v + 5);
        return 0;
    case OPT_NO_RNG: cfg->rng = false; return 0;
    case OPT_RESTORE: g_free(cfg->restore_path); cfg->restore_path = g_strdup(v); return 0;
    case OPT_NET: {
        char why[256];
        if (net_config_parse(v, &cfg->net, why, sizeof(why)) < 0)
            return usage_error("%s", why);
        return 0;
    }
    case OPT_AUDIO: {
        char why[256];
        if (vaudio_config_parse(v, &cfg->audio, why, sizeof(why)) < 0)
            return usage_error("%s", why);
        cfg->audio_set = true;
        return 0;
    }
    case OPT_SOUND:
        if (strcmp(v, "hda") && strcmp(v, "virtio"))
            return usage_error("--sound: expected hda or virtio, got '%s'", v);
        cfg->sound = strcmp(v, "hda") ? SOUND_VIRTIO : SOUND_HDA;
        return 0;
    case OPT_DISPLAY: return parse_display(cfg, v);
    case OPT_FIRMWARE:
        g_free(cfg->firmware_path);
        cfg->firmware_path = NULL;
        if (!strcmp(v, "none"))
            cfg->firmware = FIRMWARE_NONE;
        else if (!strcmp(v, "bios"))
            cfg->firmware = FIRMWARE_BIOS;
        else if (!strncmp(v, "bios:", 5) && v[5])
            cfg->firmware = FIRMWARE_BIOS, cfg->firmware_path = g_strdup(v + 5);
        else if (!strcmp(v, "uefi"))
            cfg->firmware = FIRMWARE_UEFI;
        else if (!strncmp(v, "uefi:", 5) && v[5])
            cfg->firmware = FIRMWARE_UEFI, cfg->firmware_path = g_strdup(v + 5);
        else
            return usage_error("--firmware: expected none, bios[:FILE] or uefi[:FILE], got '%s'", v);
        return 0;
    case OPT_NVRAM:
        g_free(cfg->nvram);
        cfg->nvram = g_strdup(v);
        return 0;
    case OPT_FIRMWARE_LOG:
        g_free(cfg->firmware_log);
        cfg->firmware_log = g_strdup(v);
        return 0;
    case OPT_VGA: return parse_vga(cfg, v);
    case OPT_RTC:
        if (strcmp(v, "utc") && strcmp(v, "localtime"))
            return usage_error("--rtc: expected utc or localtime, got '%s'", v);
        cfg->rtc_localtime = !strcmp(v, "localtime");
        return 0;
    case OPT_SHUTDOWN_TIMEOUT: {
        char *end;
        long t = strtol(v, &end, 10);
        if (*end || end == v || t < 0 || t > 3600)
            return usage_error("--shutdown-timeout: '%s' is not a number of seconds (0-3600)", v);
        cfg->shutdown_timeout = (unsigned)t;
        return 0;
    }
    }
    return usage_error("unknown option");
}

/* A config file uses the long option names as keys in a [vm] group;
 * "disk" may be a list. Command-line options given later override it. */
static int load_config_file(struct vm_config *cfg, const char *path)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) err = NULL;
    if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &err))
        return usage_error("--config %s: %s", path, err->message);
    if (!g_key_file_has_group(kf, "vm"))
        return usage_error("--config %s: no [vm] group", path);
    gsize nkeys;
    g_auto(GStrv) keys = g_key_file_get_keys(kf, "vm", &nkeys, NULL);
    for (gsize i = 0; i < nkeys; i++) {
        const struct option *o = long_opts;
        while (o->name && strcmp(o->name, keys[i]))
            o++;
        if (!o->name || o->val == OPT_CONFIG || o->val == OPT_HELP)
            return usage_error("--config %s: unknown key '%s'", path, keys[i]);
        if (o->has_arg == no_argument) {
            if (g_key_file_get_boolean(kf, "vm", keys[i], NULL))
                apply_option(cfg, o->val, o->name, NULL);
            continue;
        }
        gsize n;
        g_auto(GStrv) vals = g_key_file_get_string_list(kf, "vm", keys[i], &n, NULL);
        if (o->val != OPT_DISK && o->val != OPT_DISPLAY && o->val != OPT_CDROM && n != 1)
            return usage_error("--config %s: key '%s' takes one value", path, keys[i]);
        for (gsize j = 0; j < n; j++) {
            int r = apply_option(cfg, o->val, o->name, vals[j]);
            if (r)
                return r;
        }
    }
    return 0;
}

int vm_config_parse(struct vm_config *cfg, int argc, char **argv)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->memory = 256ULL << 20;
    cfg->cpus = 1;
    cfg->serial = SERIAL_STDIO;
    cfg->console_kind = SERIAL_NONE;
    cfg->rng = true;
    cfg->console = true;
    cfg->shutdown_timeout = 30;

    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
        int r;
        if (opt == '?' || opt == ':') {
            const char *bad = argv[optind - 1];
            return usage_error(optopt ? "option '%s' needs a value" : "unknown option '%s'", bad);
        }
        if (opt == OPT_HELP) {
            print_help();
            return 1;
        }
        if (opt == OPT_CONFIG)
            r = load_config_file(cfg, optarg);
        else {
            const struct option *o = long_opts;
            while (o->val != opt)
                o++;
            r = apply_option(cfg, opt, o->name, optarg);
        }
        if (r)
            return r;
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (!cfg->kernel && cfg->firmware == FIRMWARE_NONE)
        return usage_error("--kernel FILE or --firmware bios is required");
    if (cfg->nvram && cfg->firmware != FIRMWARE_UEFI)
        return usage_error("--nvram is for --firmware uefi");
    if (!cfg->name)
        cfg->name = g_strdup("guest");
    return 0;
}

void vm_config_free(struct vm_config *cfg)
{
    g_free(cfg->name);
    g_free(cfg->kernel);
    g_free(cfg->initrd);
    g_free(cfg->append);
    g_free(cfg->serial_path);
    g_free(cfg->console_path);
    g_free(cfg->control_path);
    g_free(cfg->firmware_path);
    g_free(cfg->firmware_log);
    g_free(cfg->vga_rom);
    g_free(cfg->restore_path);
    g_free(cfg->nvram);
    for (unsigned i = 0; i < cfg->ndisplays; i++)
        display_config_clear(&cfg->displays[i]);
    for (unsigned i = 0; i < cfg->ndisks; i++) {
        g_free(cfg->disks[i].path);
        g_free(cfg->disks[i].serial);
    }
    for (unsigned i = 0; i < cfg->ncdroms; i++)
        g_free(cfg->cdroms[i]);
    memset(cfg, 0, sizeof(*cfg));
}
