/*
 * mkcap: writes the small Modbus/TCP captures the live replay tests play
 * against tests/e2e-modbus/plcsim (registers hold address * 7 + 1, bits
 * are 1 where address % 3 == 0).
 *
 *   mkcap match FILE   one connection, four reads 0.4 s apart, answered
 *                      with the simulator's own values: all must match
 *   mkcap dead FILE    two reads of the simulator's dead unit 3: one was
 *                      answered in the capture, one was not
 *
 * Ethernet, IPv4, TCP with the handshake, written with libpcap's
 * pcap_dump, as tests/unit/test_replay.c does.
 */
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct adu {
	int		 from_client;
	long		 usec;		/* capture time from the start */
	uint8_t		 b[32];
	size_t		 len;
};

struct conn {
	pcap_dumper_t	*d;
	uint16_t	 cport;
	uint32_t	 seq[2];	/* next sequence number: server, client */
};

static void
put16(uint8_t *p, unsigned v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static void
segment(struct conn *c, int from_client, long usec, uint8_t flags,
    const uint8_t *data, size_t len)
{
	uint8_t f[128] = { 0 }, *ip = f + 14, *tcp = ip + 20;
	struct pcap_pkthdr h = { 0 };
	uint32_t seq = c->seq[from_client];

	f[12] = 0x08;
	ip[0] = 0x45;
	put16(ip + 2, 40 + len);
	ip[8] = 64;
	ip[9] = 6;
	ip[12] = ip[16] = 10;
	ip[15] = from_client ? 1 : 2;
	ip[19] = from_client ? 2 : 1;
	put16(tcp, from_client ? c->cport : 502);
	put16(tcp + 2, from_client ? 502 : c->cport);
	tcp[4] = seq >> 24;
	tcp[5] = seq >> 16;
	tcp[6] = seq >> 8;
	tcp[7] = seq;
	tcp[12] = 5 << 4;
	tcp[13] = flags;
	if (len > 0)	/* a SYN or FIN has no data, and data is NULL */
		memcpy(tcp + 20, data, len);
	c->seq[from_client] += len + ((flags & 0x03) != 0);	/* SYN, FIN */
	h.ts.tv_sec = 1700000000 + usec / 1000000;
	h.ts.tv_usec = usec % 1000000;
	h.caplen = h.len = 14 + 40 + len;
	pcap_dump((u_char *)c->d, &h, f);
}

/* One connection: handshake, the ADUs, and the close. */
static void
connection(pcap_dumper_t *d, uint16_t cport, const struct adu *a, size_t n)
{
	struct conn c = { d, cport, { 5000, 1000 } };
	long end = a[n - 1].usec + 1000;

	segment(&c, 1, a[0].usec - 1000, 0x02, NULL, 0);
	segment(&c, 0, a[0].usec - 900, 0x12, NULL, 0);
	for (size_t i = 0; i < n; i++)
		segment(&c, a[i].from_client, a[i].usec, 0x18, a[i].b,
		    a[i].len);
	segment(&c, 1, end, 0x11, NULL, 0);
	segment(&c, 0, end + 100, 0x11, NULL, 0);
}

int
main(int argc, char *argv[])
{
	/* tid, unit 1: holding 10..12 = 71 78 85; coils 0..4 = 1 0 0 1 0;
	 * input registers 100..101 = 701 708; discrete inputs 3..6 = 1 0 0 1 */
	static const struct adu match[] = {
		{ 1, 1000000, { 0, 1, 0, 0, 0, 6, 1, 3, 0, 10, 0, 3 }, 12 },
		{ 0, 1002000, { 0, 1, 0, 0, 0, 9, 1, 3, 6, 0, 71, 0, 78, 0, 85 }, 15 },
		{ 1, 1400000, { 0, 2, 0, 0, 0, 6, 1, 1, 0, 0, 0, 5 }, 12 },
		{ 0, 1402000, { 0, 2, 0, 0, 0, 4, 1, 1, 1, 0x09 }, 10 },
		{ 1, 1800000, { 0, 3, 0, 0, 0, 6, 1, 4, 0, 100, 0, 2 }, 12 },
		{ 0, 1802000, { 0, 3, 0, 0, 0, 7, 1, 4, 4, 0x02, 0xbd, 0x02, 0xc4 }, 13 },
		{ 1, 2200000, { 0, 4, 0, 0, 0, 6, 1, 2, 0, 3, 0, 4 }, 12 },
		{ 0, 2202000, { 0, 4, 0, 0, 0, 4, 1, 2, 1, 0x09 }, 10 },
	};
	/* unit 3: the first read was answered (register 0 = 1), the second not */
	static const struct adu dead[] = {
		{ 1, 1000000, { 0, 7, 0, 0, 0, 6, 3, 3, 0, 0, 0, 1 }, 12 },
		{ 0, 1002000, { 0, 7, 0, 0, 0, 5, 3, 3, 2, 0, 1 }, 11 },
		{ 1, 1400000, { 0, 8, 0, 0, 0, 6, 3, 3, 0, 0, 0, 1 }, 12 },
	};
	pcap_dumper_t *d;
	pcap_t *pd;

	if (argc != 3 || (strcmp(argv[1], "match") != 0 &&
	    strcmp(argv[1], "dead") != 0)) {
		fprintf(stderr, "usage: mkcap match|dead FILE\n");
		return 2;
	}
	if ((pd = pcap_open_dead(DLT_EN10MB, 65535)) == NULL ||
	    (d = pcap_dump_open(pd, argv[2])) == NULL) {
		fprintf(stderr, "mkcap: %s: %s\n", argv[2],
		    pd ? pcap_geterr(pd) : "pcap_open_dead failed");
		return 1;
	}
	if (strcmp(argv[1], "match") == 0)
		connection(d, 40001, match, sizeof(match) / sizeof(match[0]));
	else
		connection(d, 40002, dead, sizeof(dead) / sizeof(dead[0]));
	pcap_dump_close(d);
	pcap_close(pd);
	return 0;
}
