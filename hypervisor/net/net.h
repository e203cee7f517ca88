/* Network backends (user-mode slirp, tap) and the NIC models that use them
 * (virtio-net, e1000). Everything here runs on the VMM's I/O thread: the
 * NIC calls net_backend_send() from its transmit handler, and the backend
 * delivers frames through the NIC's net_client, holding a short bounded
 * backlog when the guest has no receive buffers posted. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-glib/json-glib.h>

struct event_loop;
struct net_config;
struct net_backend;

#define NET_MAX_FRAME   65550        /* Ethernet frame incl. a VLAN tag, after segmentation <= 1518 */
#define NET_BACKLOG     256          /* frames held while the guest has no buffers */

/* The NIC side. receive() returns false when the guest has no room for the
 * frame right now; the backend then keeps it and waits for net_backend_resume(). */
struct net_client {
    bool (*receive)(void *opaque, const uint8_t *frame, size_t len);
    /* The cable is plugged in (up) or pulled (down); the NIC tells its
     * driver, which sees the carrier change. May be NULL. */
    void (*set_link)(void *opaque, bool up);
    void *opaque;
};

struct net_backend_ops {
    const char *name;
    /* One Ethernet frame from the guest (checksummed and segmented). */
    void (*send)(struct net_backend *nb, const uint8_t *frame, size_t len);
    /* The guest has receive buffers again (backlog already drained). May be NULL. */
    void (*resume)(struct net_backend *nb);
    void (*free)(struct net_backend *nb);
};

struct net_backend {
    const struct net_backend_ops *ops;
    struct event_loop *loop;
    struct net_client client;
    /* Frames the guest could not take yet (ring of NET_BACKLOG) */
    uint8_t *backlog[NET_BACKLOG];
    uint16_t backlog_len[NET_BACKLOG];
    unsigned backlog_head, backlog_count;
    uint64_t rx_dropped, tx_dropped;
};

/* Opens the backend @cfg asks for (NULL for NET_NONE). On failure returns
 * NULL with *error set to a malloc'ed one-line message. */
struct net_backend *net_backend_open(struct event_loop *loop, const struct net_config *cfg, char **error);
void net_backend_close(struct net_backend *nb);
void net_backend_set_client(struct net_backend *nb, const struct net_client *client);
/* Plugs the cable in or pulls it. -ENODEV when there is no NIC, or one
 * without link control. */
int net_backend_set_link(struct net_backend *nb, bool up);
/* The control socket's {"execute":"set-link","arguments":{"up":BOOL}} on
 * backend @opaque (NULL: the VM has no NIC); a control_command_fn. */
JsonNode *net_control_set_link(void *opaque, JsonObject *args, const char **error_class, char **desc);
/* Guest -> network. */
void net_backend_send(struct net_backend *nb, const uint8_t *frame, size_t len);
/* The NIC has new receive buffers: drains the backlog into it, then lets the backend read again. */
void net_backend_resume(struct net_backend *nb);
/* Backend side: network -> guest. Returns false when the frame went to the
 * backlog (or was dropped because it is full), i.e. the guest is not keeping up. */
bool net_backend_deliver(struct net_backend *nb, const uint8_t *frame, size_t len);

/* Backend constructors (net_slirp.c, net_tap.c) */
struct net_backend *net_slirp_open(struct event_loop *loop, const struct net_config *cfg, char **error);
struct net_backend *net_tap_open(struct event_loop *loop, const struct net_config *cfg, char **error);
