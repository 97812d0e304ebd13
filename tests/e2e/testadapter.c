/*
 * A stand-in adapter for xgwd's end-to-end tests, started by xgwd in place
 * of xgw-modbus (the test points XGW_ADAPTER_DIR at a folder where
 * xgw-modbus is this program).  It speaks the frame protocol on fd 3:
 *
 *   XGW_TEST_EVENTS=N   send events 1..N (Modbus register readings whose
 *                       values carry the event's number), at most 256
 *                       unconfirmed at a time; FRAME_TAKEN confirms them
 *   XGW_TEST_EVENTS=@F  N is the number in file F, read again every 100 ms
 *                       and only ever raised: a test holds the events back
 *                       until the gateway is ready, then asks for batches
 *   XGW_TEST_DSTS="U..." the destination UUIDs, blank separated: event N
 *                       goes to the (N mod count)th, counted from 0, so
 *                       that one sender's events alternate between far
 *                       gateways (default: one fixed UUID)
 *   XGW_TEST_STATE=F    the highest confirmed number, kept across restarts
 *                       so that a restarted adapter resumes, not repeats
 *   XGW_TEST_RECORD=F   one line per frame received: "event N", "fail WHY"
 *   XGW_TEST_BAD=KIND   after READY, send a bad frame: type or size
 *
 * Only the copy started as xgw-modbus acts on these; under any other name
 * it is a quiet adapter, there to show that one adapter's trouble leaves
 * the others alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"

#define FD		3
#define WINDOW		256
#define MAX_DSTS	8
#define URN_LEN		45	/* urn:uuid: and 36 */

static struct frame_writer wr;
static struct frame_reader rd;
static FILE *record;
static unsigned long long confirmed, sent, total;
static const char *state;
static uint16_t id;		/* -i: the adapter number xgwd gave us */
static long long paused_until;	/* a refusal came: wait before resending */
static const char *total_file;	/* XGW_TEST_EVENTS=@F */
static long long total_read_at;
static char *dsts[MAX_DSTS] = { "urn:uuid:0a3e4f5d-1b2c-4d3e-8f4a-5b6c7d8e9f01" };
static int ndsts = 1;

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void
queue(uint16_t type, uint64_t flow, uint64_t seq, const char *p)
{
	struct frame f = { type, id, (uint32_t)strlen(p), flow, seq,
	    (uint8_t *)p };

	if (frame_queue(&wr, &f) == -1) {
		fprintf(stderr, "testadapter: frame queue full\n");
		exit(1);
	}
}

static void
save_state(void)
{
	char tmp[4096];
	FILE *f;

	if (state == NULL)
		return;
	snprintf(tmp, sizeof(tmp), "%s.new", state);
	if ((f = fopen(tmp, "w")) == NULL)
		return;
	fprintf(f, "%llu\n", confirmed);
	fflush(f);
	fsync(fileno(f));
	fclose(f);
	rename(tmp, state);
}

static void
read_total(void)
{
	unsigned long long n;
	FILE *f;

	if (total_file == NULL || now_ms() < total_read_at + 100)
		return;
	total_read_at = now_ms();
	if ((f = fopen(total_file, "r")) == NULL)
		return;
	if (fscanf(f, "%llu", &n) == 1 && n > total)
		total = n;
	fclose(f);
}

static void
send_events(void)
{
	char pdu[1024];

	read_total();
	if (now_ms() < paused_until)
		return;
	while (sent < total && sent - confirmed < WINDOW) {
		sent++;
		snprintf(pdu, sizeof(pdu),
		    "<pdu xmlns=\"urn:xgw:1\" "
		    "src=\"urn:uuid:6f1c2b9a-0c1e-4d53-9b1a-7d2f3e4a5b60\" "
		    "dst=\"%s\" flow=\"1\" seq=\"%llu\" dir=\"event\">"
		    "<modbus xmlns=\"urn:xgw:modbus:1\" tid=\"%llu\" pid=\"0\" "
		    "len=\"7\" unit=\"1\" fc=\"3\" fn=\"read-holding-registers\" "
		    "dir=\"response\" bc=\"4\"><regs>%llu %llu</regs></modbus>"
		    "</pdu>", dsts[sent % ndsts], sent, sent & 0xffff,
		    sent >> 16, sent & 0xffff);
		queue(FRAME_STANZA, 1, sent, pdu);
	}
}

static void
read_dsts(const char *list)
{
	char *copy, *u;

	if ((copy = strdup(list)) == NULL)
		exit(1);
	ndsts = 0;
	for (u = strtok(copy, " "); u != NULL; u = strtok(NULL, " ")) {
		if (ndsts == MAX_DSTS) {
			fprintf(stderr, "testadapter: XGW_TEST_DSTS: more than "
			    "%d UUIDs\n", MAX_DSTS);
			exit(1);
		}
		if (strlen(u) > URN_LEN) {
			fprintf(stderr, "testadapter: XGW_TEST_DSTS: '%s' is "
			    "longer than a UUID\n", u);
			exit(1);
		}
		dsts[ndsts++] = u;
	}
	if (ndsts == 0) {
		fprintf(stderr, "testadapter: XGW_TEST_DSTS is empty\n");
		exit(1);
	}
}

/* The event number a reading carries: its two registers. */
static void
record_stanza(const char *xml)
{
	const char *r = strstr(xml, "<regs>");
	unsigned long long hi, lo;

	if (r != NULL && sscanf(r, "<regs>%llu %llu<", &hi, &lo) == 2)
		fprintf(record, "event %llu\n", hi << 16 | lo);
	else
		fprintf(record, "stanza %s\n", xml);
	fflush(record);
}

static void
handle(const struct frame *f)
{
	switch (f->type) {
	case FRAME_CONFIG:
		queue(FRAME_READY, 0, 0, "");
		if (getenv("XGW_TEST_BAD") != NULL) {
			/* a header no codec accepts, written raw */
			uint8_t bad[FRAME_HDR] = { 0 };

			bad[3] = id;
			if (strcmp(getenv("XGW_TEST_BAD"), "type") == 0)
				bad[1] = 0xee;
			else {
				bad[1] = FRAME_STANZA;
				bad[4] = bad[5] = bad[6] = bad[7] = 0xff;
			}
			frame_flush(&wr, FD);
			if (write(FD, bad, sizeof(bad)) != sizeof(bad))
				exit(1);
		}
		break;
	case FRAME_TAKEN:
		if (f->seq > confirmed) {
			confirmed = f->seq;
			if (confirmed % 100 == 0 || confirmed == total)
				save_state();
		}
		break;
	case FRAME_STANZA:
		if (record != NULL)
			record_stanza((const char *)f->payload);
		break;
	case FRAME_FAIL:
		if (record != NULL) {
			fprintf(record, "fail %s\n", (const char *)f->payload);
			fflush(record);
		}
		/* a refused event is sent again later */
		if (f->flow == 1 && f->seq <= sent) {
			sent = f->seq - 1 > confirmed ? f->seq - 1 : confirmed;
			paused_until = now_ms() + 200;
		}
		break;
	}
}

int
main(int argc, char *argv[])
{
	const char *why, *ev;
	struct frame f;
	FILE *sf;
	int rc;

	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], "-i") == 0)
			id = atoi(argv[i + 1]);
	if (strstr(argv[0], "xgw-modbus") == NULL) {
		unsetenv("XGW_TEST_EVENTS");
		unsetenv("XGW_TEST_STATE");
		unsetenv("XGW_TEST_RECORD");
		unsetenv("XGW_TEST_BAD");
		unsetenv("XGW_TEST_DSTS");
	}
	if (fcntl(FD, F_SETFL, O_NONBLOCK) == -1)
		return 1;
	if ((ev = getenv("XGW_TEST_EVENTS")) != NULL && ev[0] == '@')
		total_file = ev + 1;
	else if (ev != NULL)
		total = strtoull(ev, NULL, 10);
	if (getenv("XGW_TEST_DSTS") != NULL)
		read_dsts(getenv("XGW_TEST_DSTS"));
	state = getenv("XGW_TEST_STATE");
	if (state != NULL && (sf = fopen(state, "r")) != NULL) {
		if (fscanf(sf, "%llu", &confirmed) != 1)
			confirmed = 0;
		fclose(sf);
	}
	sent = confirmed;
	if (getenv("XGW_TEST_RECORD") != NULL &&
	    (record = fopen(getenv("XGW_TEST_RECORD"), "a")) == NULL)
		return 1;
	queue(FRAME_HELLO, 0, 0, "test-adapter 1");
	for (;;) {
		struct pollfd p = { FD, POLLIN | (frame_pending(&wr) ? POLLOUT : 0),
		    0 };

		if (poll(&p, 1, 100) == -1 && errno != EINTR)
			return 1;
		while ((rc = frame_read(&rd, FD, &f, &why)) == 1)
			handle(&f);
		if (rc == -1)
			return 0;	/* xgwd went away */
		send_events();
		if (frame_flush(&wr, FD) == -1)
			return 0;
	}
}
