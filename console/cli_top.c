/* domus top: xentop for Domus. Every second, domusd's GetStats (the same
 * numbers the GUI shows) as a table; --once prints one table and exits. */
#include "cli.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static char *rate(double bytes_per_s)
{
    if (bytes_per_s < 0)
        return g_strdup("-");
    g_autofree char *s = cli_format_size((guint64)bytes_per_s);
    return g_strdup_printf("%s/s", s);
}

static void print_table(GVariant *stats)
{
    printf("%-20s %-8s %6s %5s %8s %8s %10s %10s %10s %10s %10s\n", "NAME", "STATE", "CPU%", "VCPU",
           "RSS", "GUEST", "DISK-RD", "DISK-WR", "NET-RX", "NET-TX", "UPTIME");
    GVariantIter it;
    GVariant *s;
    g_variant_iter_init(&it, stats);
    while ((s = g_variant_iter_next_value(&it))) {
        const char *name = "", *state = "";
        double cpu = 0, rd = 0, wr = 0, rx = -1, tx = -1;
        guint64 rss = 0, mem = 0, up = 0;
        guint32 vcpus = 0;
        g_variant_lookup(s, "name", "&s", &name);
        g_variant_lookup(s, "state", "&s", &state);
        g_variant_lookup(s, "cpu-percent", "d", &cpu);
        g_variant_lookup(s, "cpus", "u", &vcpus);
        g_variant_lookup(s, "rss", "t", &rss);
        g_variant_lookup(s, "memory", "t", &mem);
        g_variant_lookup(s, "disk-read", "d", &rd);
        g_variant_lookup(s, "disk-write", "d", &wr);
        g_variant_lookup(s, "net-rx", "d", &rx);
        g_variant_lookup(s, "net-tx", "d", &tx);
        g_variant_lookup(s, "uptime", "t", &up);
        bool live = !strcmp(state, "running") || !strcmp(state, "paused");
        g_autofree char *rs = live ? cli_format_size(rss) : g_strdup("-");
        g_autofree char *ms = cli_format_size(mem);
        g_autofree char *rds = live ? rate(rd) : g_strdup("-"), *wrs = live ? rate(wr) : g_strdup("-");
        g_autofree char *rxs = live ? rate(rx) : g_strdup("-"), *txs = live ? rate(tx) : g_strdup("-");
        g_autofree char *ups = live ? cli_format_duration(up) : g_strdup("-");
        g_autofree char *cpus = live ? g_strdup_printf("%.1f", cpu) : g_strdup("-");
        printf("%-20s %-8s %6s %5u %8s %8s %10s %10s %10s %10s %10s\n", name, state, cpus, vcpus, rs, ms,
               rds, wrs, rxs, txs, ups);
        g_variant_unref(s);
    }
    fflush(stdout);
}

int cli_top(DomusManager *m, bool once)
{
    GError *err = NULL;
    g_autoptr(GVariant) first = NULL;
    /* Rates need two samples: prime domusd's, then wait a second. */
    if (!domus_manager_call_get_stats_sync(m, &first, NULL, &err))
        return cli_fail(err);
    bool tty = isatty(0);
    struct termios saved, raw;
    if (!once && tty) {
        tcgetattr(0, &saved);
        raw = saved;
        raw.c_lflag &= ~(ICANON | ECHO);
        tcsetattr(0, TCSANOW, &raw);
    }
    int r = CLI_OK;
    for (;;) {
        struct pollfd p = { .fd = once || !tty ? -1 : 0, .events = POLLIN };
        if (poll(&p, 1, 1000) > 0) {
            char c;
            if (read(0, &c, 1) == 1 && (c == 'q' || c == 'Q'))
                break;
        }
        g_autoptr(GVariant) stats = NULL;
        if (!domus_manager_call_get_stats_sync(m, &stats, NULL, &err)) {
            r = cli_fail(err);
            break;
        }
        if (!once)
            printf("\033[H\033[2Jdomus top — %u VMs (q quits)\n\n", (unsigned)g_variant_n_children(stats));
        print_table(stats);
        if (once)
            break;
    }
    if (!once && tty)
        tcsetattr(0, TCSANOW, &saved);
    return r;
}
