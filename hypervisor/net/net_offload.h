/* Transmit offloads done in software for the guest: checksum completion
 * (the guest leaves the pseudo-header sum and asks us to finish it) and TCP
 * segmentation (the guest hands over up to 64 KiB at once and we cut it
 * into MSS-sized frames). One large frame per guest request instead of
 * forty-odd small ones is where most of virtio-net's speed comes from. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NET_GSO_NONE  0
#define NET_GSO_TCPV4 1
#define NET_GSO_TCPV6 4

struct net_offload {
    bool needs_csum;
    uint16_t csum_start, csum_offset;
    uint8_t gso_type;                /* NET_GSO_* */
    uint16_t gso_size;               /* MSS */
};

typedef void (*net_emit_fn)(void *opaque, const uint8_t *frame, size_t len);

/* Resolves @o on @frame (modified in place) and emits the resulting frames.
 * @scratch (NET_MAX_FRAME bytes) holds segments. Returns the number of frames
 * emitted, or -EINVAL when the request does not fit the frame (the frame is
 * then dropped: a guest sending nonsense loses its packet, nothing else). */
int net_offload_emit(const struct net_offload *o, uint8_t *frame, size_t len, uint8_t *scratch,
                     net_emit_fn emit, void *opaque);

/* Internet checksum helpers (RFC 1071), exposed for the unit tests. */
uint32_t net_csum_add(uint32_t sum, const uint8_t *p, size_t len);
uint16_t net_csum_fold(uint32_t sum);
