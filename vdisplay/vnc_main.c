/* domus-vnc: serves one VM's display channel over VNC (RFB 3.8, with
 * libvncserver's WebSocket support on the same port for noVNC). Runs as its
 * own process, so the network-facing code is never inside the VMM.
 *
 *   domus-vnc (--fd N | --channel PATH) [--listen ADDR:PORT]
 *             [--password-file FILE] [--keymap us|de] [--name NAME]
 *
 * Without --listen it takes the first free port from 5900 on 127.0.0.1 and
 * prints "domus-vnc: listening on 127.0.0.1:PORT" on stderr. */
#include "display_client.h"
#include "vnc_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_POLL 256

static int usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "domus-vnc: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (usage: domus-vnc --fd N | --channel PATH [--listen ADDR:PORT] "
                    "[--password-file FILE] [--keymap us|de] [--name NAME])\n");
    return 2;
}

static bool addr_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) ||
               (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return false;
}

static int listen_on(const struct sockaddr *sa, socklen_t len)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, sa, len) < 0 || listen(fd, 16) < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

/* Splits "ADDR:PORT" / "[V6]:PORT"; returns false on junk. */
static bool split_listen(const char *spec, char *host, size_t hlen, char *port, size_t plen)
{
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec || !colon[1])
        return false;
    const char *h = spec;
    size_t n = (size_t)(colon - spec);
    if (*h == '[' && colon[-1] == ']') {
        h++;
        n -= 2;
    }
    if (n == 0 || n >= hlen || strlen(colon + 1) >= plen)
        return false;
    memcpy(host, h, n);
    host[n] = 0;
    strcpy(port, colon + 1);
    return true;
}

static char *read_password(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char line[256];
    char *r = fgets(line, sizeof(line), f) ? strdup(strtok(line, "\r\n") ? line : "") : NULL;
    fclose(f);
    return r;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "fd", required_argument, NULL, 'f' }, { "channel", required_argument, NULL, 'c' },
        { "listen", required_argument, NULL, 'l' }, { "password-file", required_argument, NULL, 'p' },
        { "keymap", required_argument, NULL, 'k' }, { "name", required_argument, NULL, 'n' },
        { "help", no_argument, NULL, 'h' }, { 0 },
    };
    int chan_fd = -1, opt;
    const char *channel = NULL, *listen_spec = NULL, *password_file = NULL, *name = "guest";
    int layout = KEYMAP_US;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end;
        switch (opt) {
        case 'f':
            chan_fd = (int)strtol(optarg, &end, 10);
            if (*end || chan_fd < 0)
                return usage("--fd: '%s' is not a file descriptor", optarg);
            break;
        case 'c': channel = optarg; break;
        case 'l': listen_spec = optarg; break;
        case 'p': password_file = optarg; break;
        case 'n': name = optarg; break;
        case 'k':
            if ((layout = keymap_layout_from_name(optarg)) < 0)
                return usage("--keymap: '%s' is not us or de", optarg);
            break;
        case 'h':
            puts("Usage: domus-vnc --fd N | --channel PATH [--listen ADDR:PORT] [--password-file FILE]\n"
                 "                 [--keymap us|de] [--name NAME]\n"
                 "Serves a Domus VM's display over VNC (and WebSocket, for noVNC, on the same port).\n"
                 "Without --listen: 127.0.0.1, first free port from 5900. Listening on a non-loopback\n"
                 "address needs --password-file (first line: the VNC password).");
            return 0;
        default:
            return usage("unknown option '%s'", argv[optind - 1]);
        }
    }
    if ((chan_fd < 0) == !channel)
        return usage("%s", "give exactly one of --fd N and --channel PATH");

    char *password = NULL;
    if (password_file && !(password = read_password(password_file))) {
        fprintf(stderr, "domus-vnc: cannot read password file %s: %s\n", password_file, strerror(errno));
        return 2;
    }

    int lfd = -1;
    char shown[300];
    if (listen_spec) {
        char host[256], port[16];
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV }, *ai;
        if (!split_listen(listen_spec, host, sizeof(host), port, sizeof(port)))
            return usage("--listen: expected ADDR:PORT, got '%s'", listen_spec);
        int gr = getaddrinfo(host, port, &hints, &ai);
        if (gr) {
            fprintf(stderr, "domus-vnc: --listen %s: %s\n", listen_spec, gai_strerror(gr));
            return 2;
        }
        if (!addr_is_loopback(ai->ai_addr) && !password) {
            fprintf(stderr, "domus-vnc: refusing to listen on %s without a password: anyone on the "
                            "network could take over the VM (give --password-file FILE)\n", listen_spec);
            freeaddrinfo(ai);
            return 2;
        }
        lfd = listen_on(ai->ai_addr, ai->ai_addrlen);
        freeaddrinfo(ai);
        if (lfd < 0) {
            fprintf(stderr, "domus-vnc: cannot listen on %s: %s\n", listen_spec, strerror(-lfd));
            return 1;
        }
        snprintf(shown, sizeof(shown), "%s", listen_spec);
    } else {
        for (int port = 5900; port < 6000 && lfd < 0; port++) {
            struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                       .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
            lfd = listen_on((struct sockaddr *)&sin, sizeof(sin));
            snprintf(shown, sizeof(shown), "127.0.0.1:%d", port);
        }
        if (lfd < 0) {
            fprintf(stderr, "domus-vnc: no free port between 5900 and 5999 on 127.0.0.1\n");
            return 1;
        }
    }

    if (channel) {
        char *err = NULL;
        chan_fd = dc_client_connect(channel, &err);
        if (chan_fd < 0) {
            fprintf(stderr, "domus-vnc: %s\n", err ? err : strerror(-chan_fd));
            return 1;
        }
    }
    signal(SIGPIPE, SIG_IGN);

    struct vnc_server_options vo = { .name = name, .listen_fd = lfd, .password = password,
                                     .layout = (enum keymap_layout)layout };
    struct vnc_server *vs = vnc_server_new(&vo);
    struct dc_client *dc = vs ? dc_client_new(chan_fd, &vnc_server_channel_ops, vs) : NULL;
    if (!dc) {
        fprintf(stderr, "domus-vnc: cannot start the VNC server\n");
        return 1;
    }
    vnc_server_attach(vs, dc);
    fprintf(stderr, "domus-vnc: listening on %s\n", shown);

    /* Everything is driven by readiness: the channel (damage, modes) and the
     * VNC sockets. No timeouts, so an idle VM costs nothing here. */
    for (;;) {
        struct pollfd fds[MAX_POLL];
        fds[0] = (struct pollfd){ .fd = dc_client_fd(dc), .events = POLLIN };
        unsigned n = 1 + vnc_server_pollfds(vs, fds + 1, MAX_POLL - 1);
        if (poll(fds, n, -1) < 0 && errno != EINTR)
            break;
        if (fds[0].revents) {
            int r = dc_client_dispatch(dc);
            if (r < 0) {
                /* The VM is gone (or its channel broke): nothing left to serve. */
                if (r != -EPIPE)
                    fprintf(stderr, "domus-vnc: display channel: %s\n", strerror(-r));
                break;
            }
        }
        vnc_server_run(vs);
    }
    vnc_server_free(vs);
    dc_client_free(dc);
    free(password);
    return 0;
}
