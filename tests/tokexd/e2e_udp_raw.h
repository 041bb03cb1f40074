/*
 * e2e_udp_raw.h - one UDP datagram with a source address of the sender's choosing, sent
 * through a raw IP socket (root): the end-to-end clients' forged datagrams (a session's
 * address spoofed, a wrong UDP checksum). Test code only.
 */
#ifndef TOKEX_E2E_UDP_RAW_H
#define TOKEX_E2E_UDP_RAW_H

#include <stddef.h>

#include <netinet/in.h>

/* payload (at most TKX_MAX_DGRAM bytes) from src (address and port, which need not be
 * ours) to dst as one UDP datagram whose checksum is right, or (bad) wrong. 0, or a
 * negative errno (-EMSGSIZE: too long or sent short). */
int e2e_udp_raw_send(const struct sockaddr_in *src, const struct sockaddr_in *dst,
		     const void *payload, size_t len, int bad);

#endif /* TOKEX_E2E_UDP_RAW_H */
