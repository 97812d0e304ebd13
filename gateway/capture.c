/*
 * Link layer and IP: from a captured frame to a TCP segment or a UDP
 * datagram.  Every header length is checked against the captured bytes.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pcap/dlt.h>
#include <stdio.h>
#include <string.h>

#include "replay.h"
#include "xgw_transform.h"

#define ETH_IPV4	0x0800
#define ETH_IPV6	0x86dd
#define ETH_VLAN	0x8100
#define ETH_QINQ	0x88a8
#define ETH_QINQ_OLD	0x9100

#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2	276
#endif

int
cap_dlt_supported(int dlt)
{
	switch (dlt) {
	case DLT_EN10MB:
	case DLT_LINUX_SLL:
	case DLT_LINUX_SLL2:
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
	case DLT_NULL:
		return 1;
	}
	return 0;
}

static int
transport(const uint8_t *p, size_t caplen, size_t wirelen, int proto,
    struct pkt *k, const char **why)
{
	size_t hl;

	k->proto = proto;
	if (proto == IPPROTO_TCP) {
		if (caplen < 20) {
			*why = "tcp-truncated";
			return -1;
		}
		hl = (p[12] >> 4) * 4;
		if (hl < 20 || hl > wirelen) {
			*why = "tcp-bad-header-length";
			return -1;
		}
		if (hl > caplen) {
			*why = "tcp-truncated";
			return -1;
		}
		k->sport = xgw_be16(p);
		k->dport = xgw_be16(p + 2);
		k->seq = xgw_be32(p + 4);
		k->flags = p[13];
	} else {
		if (caplen < 8) {
			*why = "udp-truncated";
			return -1;
		}
		hl = 8;
		k->sport = xgw_be16(p);
		k->dport = xgw_be16(p + 2);
		/* the UDP length rules over the IP length only when it is smaller */
		if (xgw_be16(p + 4) < 8 || xgw_be16(p + 4) > wirelen) {
			*why = "udp-bad-length";
			return -1;
		}
		wirelen = xgw_be16(p + 4);
		if (caplen > wirelen)
			caplen = wirelen;
	}
	k->data = p + hl;
	k->len = caplen - hl;
	k->missing = wirelen - caplen;
	return 1;
}

static int
ipv4(const uint8_t *p, size_t caplen, struct pkt *k, const char **why)
{
	size_t hl, total;

	if (caplen < 20) {
		*why = "ipv4-truncated";
		return -1;
	}
	hl = (p[0] & 0x0f) * 4;
	total = xgw_be16(p + 2);
	if (hl < 20 || total < hl || hl > caplen) {
		*why = "ipv4-bad-header-length";
		return -1;
	}
	k->family = AF_INET;
	memset(k->src, 0, sizeof(k->src));
	memset(k->dst, 0, sizeof(k->dst));
	memcpy(k->src, p + 12, 4);
	memcpy(k->dst, p + 16, 4);
	if ((xgw_be16(p + 6) & 0x3fff) != 0) {
		*why = "ip-fragment";
		return 0;
	}
	if (p[9] != IPPROTO_TCP && p[9] != IPPROTO_UDP)
		return 0;
	/* Ethernet pads short frames: the IP length says where data ends */
	if (caplen > total)
		caplen = total;
	return transport(p + hl, caplen - hl, total - hl, p[9], k, why);
}

static int
ipv6(const uint8_t *p, size_t caplen, struct pkt *k, const char **why)
{
	size_t off = 40, total;
	unsigned nh;

	if (caplen < 40) {
		*why = "ipv6-truncated";
		return -1;
	}
	total = 40 + (size_t)xgw_be16(p + 4);
	k->family = AF_INET6;
	memcpy(k->src, p + 8, 16);
	memcpy(k->dst, p + 24, 16);
	if (caplen > total)
		caplen = total;
	nh = p[6];
	for (;;) {
		switch (nh) {
		case IPPROTO_TCP:
		case IPPROTO_UDP:
			return transport(p + off, caplen - off, total - off,
			    nh, k, why);
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			if (caplen - off < 8) {
				*why = "ipv6-truncated";
				return -1;
			}
			nh = p[off];
			off += 8 + p[off + 1] * 8;
			if (off > caplen) {
				*why = "ipv6-truncated";
				return -1;
			}
			break;
		case IPPROTO_FRAGMENT:
			*why = "ip-fragment";
			return 0;
		default:
			return 0;
		}
	}
}

static int
ip(const uint8_t *p, size_t caplen, struct pkt *k, const char **why)
{
	if (caplen < 1) {
		*why = "ip-truncated";
		return -1;
	}
	switch (p[0] >> 4) {
	case 4:
		return ipv4(p, caplen, k, why);
	case 6:
		return ipv6(p, caplen, k, why);
	}
	*why = "ip-bad-version";
	return -1;
}

static int
ethertype(unsigned type, const uint8_t *p, size_t caplen, struct pkt *k,
    const char **why)
{
	while (type == ETH_VLAN || type == ETH_QINQ || type == ETH_QINQ_OLD) {
		if (caplen < 4) {
			*why = "vlan-truncated";
			return -1;
		}
		type = xgw_be16(p + 2);
		p += 4;
		caplen -= 4;
	}
	if (type != ETH_IPV4 && type != ETH_IPV6)
		return 0;
	return ip(p, caplen, k, why);
}

int
cap_parse(int dlt, const uint8_t *f, size_t caplen, struct pkt *k,
    const char **why)
{
	*why = NULL;
	switch (dlt) {
	case DLT_EN10MB:
		if (caplen < 14)
			break;
		return ethertype(xgw_be16(f + 12), f + 14, caplen - 14, k, why);
	case DLT_LINUX_SLL:
		if (caplen < 16)
			break;
		return ethertype(xgw_be16(f + 14), f + 16, caplen - 16, k, why);
	case DLT_LINUX_SLL2:
		if (caplen < 20)
			break;
		return ethertype(xgw_be16(f), f + 20, caplen - 20, k, why);
	case DLT_NULL:
		/* the address family in the capturing host's byte order */
		if (caplen < 4)
			break;
		return ip(f + 4, caplen - 4, k, why);
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
		return ip(f, caplen, k, why);
	}
	*why = "link-truncated";
	return -1;
}

void
cap_addr_str(int family, const uint8_t *addr, uint16_t port, char *buf,
    size_t len)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(family, addr, a, sizeof(a));
	snprintf(buf, len, family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, port);
}
