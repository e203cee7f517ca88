/* The --net setting: which backend carries the guest's NIC, which NIC model
 * the guest sees, its MAC and (user mode) port forwards. Parsed at start-up
 * so bad values are one line and exit 2. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#define NET_MAX_HOSTFWD 16

enum net_kind { NET_NONE, NET_USER, NET_TAP };
enum net_model { NET_MODEL_VIRTIO, NET_MODEL_E1000 };

struct net_hostfwd {
    bool udp;
    uint32_t host_addr;              /* network byte order; 0 = any */
    uint16_t host_port;
    uint32_t guest_addr;             /* network byte order; 0 = the DHCP address */
    uint16_t guest_port;
};

struct net_config {
    enum net_kind kind;
    enum net_model model;
    char ifname[16];                 /* tap: interface name */
    bool mac_set;
    uint8_t mac[6];
    struct net_hostfwd hostfwd[NET_MAX_HOSTFWD];
    unsigned nhostfwd;
};

/* Parses "user[,hostfwd=tcp:HOSTADDR:HOSTPORT-[GUESTADDR]:GUESTPORT]...[,model=virtio|e1000][,mac=XX:..]",
 * "tap:IFNAME[,model=..][,mac=..]" or "none". On error returns -EINVAL with
 * a one-line reason in @why. */
int net_config_parse(const char *spec, struct net_config *cfg, char *why, unsigned whylen);
/* A locally administered unicast MAC derived from the VM name (stable across runs). */
void net_mac_from_name(const char *name, uint8_t mac[6]);
