/*
 * e2e_udp_raw.c - a UDP datagram built by hand (header, pseudo-header checksum) and sent
 * from a raw IP socket bound to the forged source address (e2e_udp_raw.h). The kernel
 * adds the IP header; the UDP header is ours, so its ports and checksum are too.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>

#include "tokex/proto.h"
#include "e2e_udp_raw.h"

static uint16_t inet_csum(const uint8_t *p, size_t len, uint32_t sum)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

int e2e_udp_raw_send(const struct sockaddr_in *src, const struct sockaddr_in *dst,
		     const void *payload, size_t len, int bad)
{
	uint8_t pkt[8 + TKX_MAX_DGRAM], pseudo[12];
	uint16_t ulen = (uint16_t)(8 + len), c;
	uint32_t sum = 0;
	struct sockaddr_in to = *dst, from = *src;
	int fd, err;
	ssize_t n;

	if (len > TKX_MAX_DGRAM)
		return -EMSGSIZE;
	memcpy(pkt, &src->sin_port, 2);
	memcpy(pkt + 2, &dst->sin_port, 2);
	pkt[4] = (uint8_t)(ulen >> 8);
	pkt[5] = (uint8_t)ulen;
	pkt[6] = pkt[7] = 0;
	memcpy(pkt + 8, payload, len);
	memcpy(pseudo, &src->sin_addr, 4);
	memcpy(pseudo + 4, &dst->sin_addr, 4);
	pseudo[8] = 0;
	pseudo[9] = IPPROTO_UDP;
	pseudo[10] = (uint8_t)(ulen >> 8);
	pseudo[11] = (uint8_t)ulen;
	for (size_t i = 0; i < sizeof(pseudo); i += 2)
		sum += (uint32_t)(pseudo[i] << 8 | pseudo[i + 1]);
	c = inet_csum(pkt, ulen, sum);
	if (c == 0)
		c = 0xffff; /* RFC 768: a computed zero is sent as all ones */
	if (bad)
		c ^= 0x5a5a;
	pkt[6] = (uint8_t)(c >> 8);
	pkt[7] = (uint8_t)c;
	fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_UDP);
	if (fd < 0)
		return -errno;
	/* The raw socket's port is the protocol's; the UDP ports are in our header. */
	from.sin_port = 0;
	to.sin_port = 0;
	if (bind(fd, (const struct sockaddr *)&from, sizeof(from)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	n = sendto(fd, pkt, ulen, 0, (const struct sockaddr *)&to, sizeof(to));
	err = n < 0 ? -errno : n != ulen ? -EMSGSIZE : 0;
	close(fd);
	return err;
}
