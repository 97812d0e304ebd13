/*
 * xgw-replay on captures this test writes itself: reordered, duplicated,
 * overlapping and split segments, several ADUs in one segment, a stream
 * that starts mid-ADU, a lost segment, every supported link type, and
 * files that are not captures.  Run as: test_replay PATH-TO-xgw-replay
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

static const char *replay;
static char dir[64];

/* Two requests and two responses; each ADU is 12 or 11 bytes. */
static const uint8_t req1[] = { 0, 1, 0, 0, 0, 6, 1, 3, 0, 0, 0, 1 };
static const uint8_t rsp1[] = { 0, 1, 0, 0, 0, 5, 1, 3, 2, 0, 42 };
static const uint8_t req2[] = { 0, 2, 0, 0, 0, 6, 1, 3, 0, 9, 0, 2 };
static const uint8_t rsp2[] = { 0, 2, 0, 0, 0, 7, 1, 3, 4, 0, 1, 0, 2 };

struct seg {
	int		 from_client;
	uint32_t	 off;		/* stream offset of the first byte */
	const uint8_t	*data;
	size_t		 len;
	uint8_t		 flags;
};

enum link { ETHER, VLAN, SLL, SLL2, RAW4, ETHER6 };

static size_t
frame(enum link link, const struct seg *s, uint8_t *f)
{
	static const uint8_t cli4[4] = { 127, 0, 0, 1 }, srv4[4] = { 127, 0, 0, 2 };
	uint16_t sport = s->from_client ? 40000 : 502;
	uint16_t dport = s->from_client ? 502 : 40000;
	uint32_t seq = (s->from_client ? 1000 : 5000) + 1 + s->off;
	int v6 = link == ETHER6;
	size_t l2 = 0, iphl = v6 ? 40 : 20, n;
	uint8_t *ip, *tcp;

	switch (link) {
	case ETHER:
	case ETHER6:
		memset(f, 0, 12);
		f[12] = v6 ? 0x86 : 0x08;
		f[13] = v6 ? 0xdd : 0x00;
		l2 = 14;
		break;
	case VLAN:
		memset(f, 0, 12);
		f[12] = 0x81; f[13] = 0x00; f[14] = 0; f[15] = 7;
		f[16] = 0x08; f[17] = 0x00;
		l2 = 18;
		break;
	case SLL:
		memset(f, 0, 16);
		f[14] = 0x08;
		l2 = 16;
		break;
	case SLL2:
		memset(f, 0, 20);
		f[0] = 0x08;
		l2 = 20;
		break;
	case RAW4:
		break;
	}
	ip = f + l2;
	tcp = ip + iphl;
	n = iphl + 20 + s->len;
	memset(ip, 0, iphl + 20);
	if (v6) {
		ip[0] = 0x60;
		ip[4] = (n - 40) >> 8;
		ip[5] = n - 40;
		ip[6] = 6;
		ip[7] = 64;
		ip[23] = s->from_client ? 1 : 2;
		ip[39] = s->from_client ? 2 : 1;
	} else {
		ip[0] = 0x45;
		ip[2] = n >> 8;
		ip[3] = n;
		ip[8] = 64;
		ip[9] = 6;
		memcpy(ip + 12, s->from_client ? cli4 : srv4, 4);
		memcpy(ip + 16, s->from_client ? srv4 : cli4, 4);
	}
	tcp[0] = sport >> 8; tcp[1] = sport;
	tcp[2] = dport >> 8; tcp[3] = dport;
	tcp[4] = seq >> 24; tcp[5] = seq >> 16; tcp[6] = seq >> 8; tcp[7] = seq;
	tcp[12] = 5 << 4;
	tcp[13] = s->flags ? s->flags : 0x18;
	if (s->len > 0)
		memcpy(tcp + 20, s->data, s->len);
	return l2 + n;
}

static int
dlt_of(enum link link)
{
	switch (link) {
	case VLAN:
	case ETHER:
	case ETHER6:
		return DLT_EN10MB;
	case SLL:
		return DLT_LINUX_SLL;
	case SLL2:
		return 276;
	case RAW4:
		return DLT_RAW;
	}
	return -1;
}

static void
write_capture(const char *path, enum link link, const struct seg *segs,
    size_t n, int handshake)
{
	pcap_t *pd = pcap_open_dead(dlt_of(link), 65535);
	pcap_dumper_t *d = pcap_dump_open(pd, path);
	struct pcap_pkthdr h = { 0 };
	uint8_t f[2048];
	const struct seg syn[2] = {
		{ 1, (uint32_t)-1, NULL, 0, 0x02 }, { 0, (uint32_t)-1, NULL, 0, 0x12 }
	};

	assert_non_null(d);
	for (size_t i = 0; i < (handshake ? 2u : 0u); i++) {
		h.caplen = h.len = frame(link, &syn[i], f);
		pcap_dump((u_char *)d, &h, f);
	}
	for (size_t i = 0; i < n; i++) {
		h.ts.tv_sec = i;
		h.caplen = h.len = frame(link, &segs[i], f);
		pcap_dump((u_char *)d, &h, f);
	}
	pcap_dump_close(d);
	pcap_close(pd);
}

/* Runs xgw-replay and returns its TSV line and exit status. */
static int
run(const char *path, char *line, size_t len)
{
	char cmd[512];
	FILE *p;
	int rc;

	snprintf(cmd, sizeof(cmd), "%s --check --summary-tsv %s 2>/dev/null",
	    replay, path);
	assert_non_null(p = popen(cmd, "r"));
	line[0] = '\0';
	if (fgets(line, len, p) == NULL)
		line[0] = '\0';
	rc = pclose(p);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void
expect(const char *name, enum link link, const struct seg *segs, size_t n,
    int handshake, const char *want)
{
	char path[128], line[2048];

	snprintf(path, sizeof(path), "%s/%s.pcap", dir, name);
	write_capture(path, link, segs, n, handshake);
	assert_int_equal(run(path, line, sizeof(line)), 0);
	if (strstr(line, want) == NULL)
		fail_msg("%s: got %s, expected it to contain %s", name, line, want);
}

#define ALL4 "pdus=4\terrors=0\tmismatches=0\tskipped=0\tgap=0\tdropped=0\t-\t" \
    "modbus/read-holding-registers/request=2,modbus/read-holding-registers/response=2"

static void
in_order(void **state)
{
	const struct seg s[] = {
		{ 1, 0, req1, 12, 0 }, { 0, 0, rsp1, 11, 0 },
		{ 1, 12, req2, 12, 0 }, { 0, 11, rsp2, 13, 0 },
	};

	(void)state;
	expect("in-order", ETHER, s, 4, 1, ALL4);
}

static void
reordered_and_duplicated(void **state)
{
	const struct seg s[] = {
		{ 1, 12, req2, 12, 0 }, { 1, 0, req1, 12, 0 },
		{ 1, 0, req1, 12, 0 }, { 0, 0, rsp1, 11, 0 },
		{ 0, 11, rsp2, 13, 0 }, { 0, 11, rsp2, 13, 0 },
	};

	(void)state;
	expect("reordered", ETHER, s, 6, 1, ALL4);
}

static void
split_and_coalesced(void **state)
{
	uint8_t both[24];
	const struct seg s[] = {
		{ 1, 0, both, 5, 0 }, { 1, 5, both + 5, 1, 0 },
		{ 1, 6, both + 6, 18, 0 },
		{ 0, 0, rsp1, 11, 0 }, { 0, 11, rsp2, 13, 0 },
	};

	(void)state;
	memcpy(both, req1, 12);
	memcpy(both + 12, req2, 12);
	expect("split", ETHER, s, 5, 1, ALL4);
}

static void
overlap_first_copy_wins(void **state)
{
	uint8_t mixed[12];
	const struct seg s[] = {
		{ 1, 0, req1, 12, 0 },
		/* bytes 6..11 again but different: the first copy stands */
		{ 1, 6, mixed, 12, 0 },
		{ 1, 18, req2 + 6, 6, 0 },
		{ 0, 0, rsp1, 11, 0 }, { 0, 11, rsp2, 13, 0 },
	};

	(void)state;
	memset(mixed, 0xee, 6);
	memcpy(mixed + 6, req2, 6);
	expect("overlap", ETHER, s, 5, 1, ALL4);
}

static void
starts_mid_stream(void **state)
{
	const struct seg s[] = {
		{ 1, 0, req1 + 5, 7, 0 }, { 1, 7, req2, 12, 0 },
		{ 0, 0, rsp2, 13, 0 },
	};

	(void)state;
	/* 7 bytes skipped before the first whole ADU; no error counted */
	expect("midstream", ETHER, s, 3, 0,
	    "pdus=2\terrors=0\tmismatches=0\tskipped=7\tgap=0");
}

static void
lost_segment(void **state)
{
	const struct seg s[] = {
		{ 1, 0, req1, 6, 0 }, /* bytes 6..11 never arrive */
		{ 1, 12, req2, 12, 0 },
		{ 0, 0, rsp1, 11, 0 }, { 0, 11, rsp2, 13, 0 },
	};

	(void)state;
	expect("gap", ETHER, s, 4, 1,
	    "pdus=3\terrors=1\tmismatches=0\tskipped=0\tgap=6\tdropped=0\t"
	    "modbus/gap=1");
}

static void
link_types(void **state)
{
	const struct seg s[] = {
		{ 1, 0, req1, 12, 0 }, { 0, 0, rsp1, 11, 0 },
		{ 1, 12, req2, 12, 0 }, { 0, 11, rsp2, 13, 0 },
	};

	(void)state;
	expect("vlan", VLAN, s, 4, 1, ALL4);
	expect("sll", SLL, s, 4, 1, ALL4);
	expect("sll2", SLL2, s, 4, 1, ALL4);
	expect("raw", RAW4, s, 4, 1, ALL4);
	expect("ipv6", ETHER6, s, 4, 1, ALL4);
}

static void
bad_files(void **state)
{
	char path[128], line[256];
	FILE *f;
	const struct seg s[] = { { 1, 0, req1, 12, 0 }, { 0, 0, rsp1, 11, 0 } };
	long size;

	(void)state;
	snprintf(path, sizeof(path), "%s/not-a-capture.pcap", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("GET / HTTP/1.1\r\n\r\n", f);
	fclose(f);
	assert_int_equal(run(path, line, sizeof(line)), 2);
	snprintf(path, sizeof(path), "%s/missing.pcap", dir);
	assert_int_equal(run(path, line, sizeof(line)), 2);
	/* a capture cut in the middle of a record */
	snprintf(path, sizeof(path), "%s/cut.pcap", dir);
	write_capture(path, ETHER, s, 2, 1);
	assert_non_null(f = fopen(path, "r+"));
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fclose(f);
	assert_int_equal(truncate(path, size - 5), 0);
	assert_int_equal(run(path, line, sizeof(line)), 2);
	/* an unsupported link type */
	{
		pcap_t *pd = pcap_open_dead(DLT_IEEE802_11, 65535);
		pcap_dumper_t *d;

		snprintf(path, sizeof(path), "%s/wifi.pcap", dir);
		d = pcap_dump_open(pd, path);
		pcap_dump_close(d);
		pcap_close(pd);
		assert_int_equal(run(path, line, sizeof(line)), 2);
	}
}

static int
cleanup(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(int argc, char *argv[])
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(in_order),
		cmocka_unit_test(reordered_and_duplicated),
		cmocka_unit_test(split_and_coalesced),
		cmocka_unit_test(overlap_first_copy_wins),
		cmocka_unit_test(starts_mid_stream),
		cmocka_unit_test(lost_segment),
		cmocka_unit_test(link_types),
		cmocka_unit_test(bad_files),
	};

	if (argc != 2) {
		fprintf(stderr, "usage: test_replay PATH-TO-xgw-replay\n");
		return 1;
	}
	replay = argv[1];
	snprintf(dir, sizeof(dir), "/tmp/xgw-replay-test.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 1;
	return cmocka_run_group_tests(tests, NULL, cleanup);
}
