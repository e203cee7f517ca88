/* Backend-independent part of networking: dispatch and the receive backlog. */
#include "net.h"
#include "net_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct net_backend *net_backend_open(struct event_loop *loop, const struct net_config *cfg, char **error)
{
    switch (cfg->kind) {
    case NET_USER: return net_slirp_open(loop, cfg, error);
    case NET_TAP: return net_tap_open(loop, cfg, error);
    case NET_NONE: break;
    }
    return NULL;
}

void net_backend_close(struct net_backend *nb)
{
    if (!nb)
        return;
    for (unsigned i = 0; i < nb->backlog_count; i++)
        free(nb->backlog[(nb->backlog_head + i) % NET_BACKLOG]);
    nb->ops->free(nb);
}

void net_backend_set_client(struct net_backend *nb, const struct net_client *client)
{
    nb->client = *client;
}

int net_backend_set_link(struct net_backend *nb, bool up)
{
    if (!nb || !nb->client.set_link)
        return -ENODEV;
    nb->client.set_link(nb->client.opaque, up);
    if (up)
        net_backend_resume(nb);      /* frames held while it was down may go now */
    return 0;
}

JsonNode *net_control_set_link(void *opaque, JsonObject *args, const char **error_class, char **desc)
{
    JsonNode *up = args ? json_object_get_member(args, "up") : NULL;
    if (!up || !JSON_NODE_HOLDS_VALUE(up) || json_node_get_value_type(up) != G_TYPE_BOOLEAN) {
        *error_class = "GenericError";
        *desc = strdup("set-link needs \"arguments\":{\"up\":true|false}");
    } else if (net_backend_set_link(opaque, json_node_get_boolean(up)) < 0) {
        *error_class = "DeviceNotFound";
        *desc = strdup("this VM has no network card (--net)");
    }
    return NULL;
}

void net_backend_send(struct net_backend *nb, const uint8_t *frame, size_t len)
{
    /* Shorter than an Ethernet header: nothing a network could carry. */
    if (len < 14 || len > NET_MAX_FRAME) {
        nb->tx_dropped++;
        return;
    }
    nb->ops->send(nb, frame, len);
}

static bool client_receive(struct net_backend *nb, const uint8_t *frame, size_t len)
{
    return nb->client.receive && nb->client.receive(nb->client.opaque, frame, len);
}

bool net_backend_deliver(struct net_backend *nb, const uint8_t *frame, size_t len)
{
    if (!nb->client.receive) {
        nb->rx_dropped++;            /* no NIC (yet): the wire just ends here */
        return true;
    }
    if (nb->backlog_count == 0 && client_receive(nb, frame, len))
        return true;
    if (nb->backlog_count == NET_BACKLOG || len > UINT16_MAX) {
        nb->rx_dropped++;            /* a slow guest loses frames, as on a real wire */
        return false;
    }
    uint8_t *copy = malloc(len);
    if (!copy) {
        nb->rx_dropped++;
        return false;
    }
    memcpy(copy, frame, len);
    unsigned slot = (nb->backlog_head + nb->backlog_count++) % NET_BACKLOG;
    nb->backlog[slot] = copy;
    nb->backlog_len[slot] = (uint16_t)len;
    return false;
}

void net_backend_resume(struct net_backend *nb)
{
    if (!nb)
        return;
    while (nb->backlog_count) {
        unsigned slot = nb->backlog_head;
        if (!client_receive(nb, nb->backlog[slot], nb->backlog_len[slot]))
            return;                  /* still full: wait for the next resume */
        free(nb->backlog[slot]);
        nb->backlog_head = (slot + 1) % NET_BACKLOG;
        nb->backlog_count--;
    }
    if (nb->ops->resume)
        nb->ops->resume(nb);
}
