/* Shared by the NIC unit tests: a backend that records what the guest
 * sends, and IPv4 frames built and checked by hand. */
#pragma once
#include "net/net.h"

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fake_nb {
    struct net_backend nb;
    GPtrArray *frames;                 /* GBytes of what the guest sent */
};

void fake_nb_init(struct fake_nb *f);
/* Frees the frames and anything the backend still holds for the guest. */
void fake_nb_clear(struct fake_nb *f);
const uint8_t *fake_nb_frame(struct fake_nb *f, unsigned i, size_t *len);

void put16(uint8_t *p, uint16_t v);
uint16_t get16(const uint8_t *p);
/* Ethernet + IPv4 + TCP (or UDP) with @payload bytes, checksums left as a
 * guest leaves them with offloads on: the pseudo-header sum in the field. */
size_t build_ipv4(uint8_t *f, bool tcp, size_t payload, uint8_t tcp_flags);
/* True when the frame's IPv4 header and TCP/UDP checksums verify. */
bool ipv4_valid(const uint8_t *f, size_t len);
