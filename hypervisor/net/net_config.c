#include "net_config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bad(char *why, unsigned whylen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static int parse_port(const char *s, size_t len, uint16_t *port)
{
    char buf[8];
    if (len == 0 || len >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, s, len);
    buf[len] = 0;
    char *end;
    long v = strtol(buf, &end, 10);
    if (*end || v < 1 || v > 65535)
        return -EINVAL;
    *port = (uint16_t)v;
    return 0;
}

static int parse_addr(const char *s, size_t len, uint32_t *addr)
{
    char buf[INET_ADDRSTRLEN];
    if (len == 0) {
        *addr = 0;
        return 0;
    }
    if (len >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, s, len);
    buf[len] = 0;
    struct in_addr a;
    if (inet_pton(AF_INET, buf, &a) != 1)
        return -EINVAL;
    *addr = a.s_addr;
    return 0;
}

/* tcp:HOSTADDR:HOSTPORT-GUESTADDR:GUESTPORT, as QEMU spells it. */
static int parse_hostfwd(const char *v, struct net_hostfwd *f)
{
    memset(f, 0, sizeof(*f));
    if (!strncmp(v, "tcp:", 4))
        v += 4;
    else if (!strncmp(v, "udp:", 4))
        v += 4, f->udp = true;
    else
        return -EINVAL;
    const char *dash = strchr(v, '-');
    if (!dash)
        return -EINVAL;
    const char *c1 = memchr(v, ':', (size_t)(dash - v));
    const char *c2 = strchr(dash + 1, ':');
    if (!c1 || !c2)
        return -EINVAL;
    if (parse_addr(v, (size_t)(c1 - v), &f->host_addr) < 0 ||
        parse_port(c1 + 1, (size_t)(dash - c1 - 1), &f->host_port) < 0 ||
        parse_addr(dash + 1, (size_t)(c2 - dash - 1), &f->guest_addr) < 0 ||
        parse_port(c2 + 1, strlen(c2 + 1), &f->guest_port) < 0)
        return -EINVAL;
    return 0;
}

static int parse_mac(const char *v, uint8_t mac[6])
{
    unsigned b[6];
    char tail;
    if (sscanf(v, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6)
        return -EINVAL;
    if (b[0] & 1)                    /* multicast: no NIC can own it */
        return -EINVAL;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)b[i];
    return 0;
}

int net_config_parse(const char *spec, struct net_config *cfg, char *why, unsigned whylen)
{
    memset(cfg, 0, sizeof(*cfg));
    char *copy = strdup(spec), *save = NULL;
    if (!copy)
        return -ENOMEM;
    int r = 0;
    char *kind = strtok_r(copy, ",", &save);
    if (!kind) {
        r = bad(why, whylen, "--net: expected user[,...], tap:IFNAME[,...] or none, got '%s'", spec);
        goto out;
    }
    if (!strcmp(kind, "user")) {
        cfg->kind = NET_USER;
    } else if (!strcmp(kind, "none")) {
        cfg->kind = NET_NONE;
    } else if (!strncmp(kind, "tap:", 4) && kind[4] && strlen(kind + 4) < sizeof(cfg->ifname)) {
        cfg->kind = NET_TAP;
        strcpy(cfg->ifname, kind + 4);
    } else {
        r = bad(why, whylen, "--net: expected user[,...], tap:IFNAME[,...] or none, got '%s'", kind);
        goto out;
    }
    for (char *o = strtok_r(NULL, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
        if (cfg->kind == NET_NONE) {
            r = bad(why, whylen, "--net none takes no options, got '%s'", o);
        } else if (!strncmp(o, "model=", 6)) {
            if (!strcmp(o + 6, "virtio"))
                cfg->model = NET_MODEL_VIRTIO;
            else if (!strcmp(o + 6, "e1000"))
                cfg->model = NET_MODEL_E1000;
            else
                r = bad(why, whylen, "--net: model must be virtio or e1000, got '%s'", o + 6);
        } else if (!strncmp(o, "mac=", 4)) {
            if (parse_mac(o + 4, cfg->mac) < 0)
                r = bad(why, whylen, "--net: '%s' is not a unicast MAC address (XX:XX:XX:XX:XX:XX)", o + 4);
            cfg->mac_set = true;
        } else if (!strncmp(o, "hostfwd=", 8) && cfg->kind == NET_USER) {
            if (cfg->nhostfwd >= NET_MAX_HOSTFWD)
                r = bad(why, whylen, "--net: at most %d hostfwd rules", NET_MAX_HOSTFWD);
            else if (parse_hostfwd(o + 8, &cfg->hostfwd[cfg->nhostfwd++]) < 0)
                r = bad(why, whylen, "--net: bad hostfwd '%s' (expected tcp|udp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT)", o + 8);
        } else {
            r = bad(why, whylen, "--net: unknown option '%s'", o);
        }
        if (r)
            break;
    }
out:
    free(copy);
    return r;
}

void net_mac_from_name(const char *name, uint8_t mac[6])
{
    /* FNV-1a: a stable spread of names over the 32 free bits. */
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    mac[0] = 0x02;                   /* locally administered, unicast */
    mac[1] = 0xd0;                   /* "Domus" */
    for (int i = 2; i < 6; i++)
        mac[i] = (uint8_t)(h >> (8 * (i - 2)));
}
