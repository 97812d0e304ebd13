/*
 * The adapter runtime (gateway/adapter.c), in process: this test holds
 * xgwd's end of the socketpair whose other end is fd 3.  The hello, the
 * configuration and the privilege drop, the client table (a client that
 * finds no place or no memory refused), the bounded request table (busy
 * when full, duplicates refused), answers, failures from xgwd, timeouts in
 * expiry order, stanzas whose envelope disagrees with their frame, and the
 * end of xgwd.
 */
#include <sys/prctl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "adapter.h"

#define GW	"urn:uuid:5d6c4b3a-2f1e-4d0c-9b8a-7f6e5d4c3b2a"
#define DEV	"urn:uuid:11111111-1111-4111-8111-111111111111"

static struct adapter *ad;
static int xgwd = -1;			/* our end */
static struct frame_reader rd;
static int configured, stanzas;
static struct { uint64_t seq; char reason[32]; void *cookie; } failed[8];
static int nfailed;

static int
on_configure(struct adapter *a, const struct conf_adapter *c)
{
	(void)a;
	configured = c->ndevices;
	return 0;
}

static void
on_stanza(struct adapter *a, const struct xgw_meta *m, xmpp_stanza_t *el,
    uint64_t flow, uint64_t seq)
{
	(void)a;
	(void)el;
	assert_int_equal(m->flow, flow);
	assert_int_equal(m->seq, seq);
	stanzas++;
}

static void
on_failed(struct adapter *a, uint64_t flow, uint64_t seq, const char *reason,
    void *cookie)
{
	(void)a;
	(void)flow;
	assert_true(nfailed < 8);
	failed[nfailed].seq = seq;
	snprintf(failed[nfailed].reason, sizeof(failed[0].reason), "%s", reason);
	failed[nfailed++].cookie = cookie;
}

static const struct adapter_cb cb = { on_configure, on_stanza, on_failed,
    NULL, NULL };

/* The next frame the adapter sent, waiting for it at most a second. */
static struct frame
from_adapter(void)
{
	struct pollfd p = { xgwd, POLLIN, 0 };
	const char *why;
	struct frame f;
	int rc;

	while ((rc = frame_read(&rd, xgwd, &f, &why)) == 0) {
		adapter_run(ad, POLLOUT);
		if (poll(&p, 1, 1000) == 0)
			fail_msg("no frame from the adapter within 1s");
	}
	if (rc == -1)
		fail_msg("reading the adapter's frames: %s", why);
	return f;
}

static void
to_adapter(uint16_t type, uint64_t flow, uint64_t seq, const char *text)
{
	struct frame_writer w = { 0 };
	struct frame f = { type, 0, (uint32_t)strlen(text), flow, seq,
	    (uint8_t *)text };

	assert_int_equal(frame_queue(&w, &f), 0);
	assert_int_equal(frame_flush(&w, xgwd), 1);
	frame_writer_free(&w);
}

static xmpp_stanza_t *
element(void)
{
	xmpp_stanza_t *el = xgw_el_new(adapter_ctx(ad), "modbus",
	    XGW_NS_MODBUS);

	assert_non_null(el);
	return el;
}

static int
request(uint64_t seq, unsigned timeout_ms, void *cookie)
{
	struct xgw_meta m = { GW, DEV, 7, seq, XGW_REQUEST, 0 };
	xmpp_stanza_t *el = element();
	int rc = adapter_send(ad, &m, el, timeout_ms, cookie);

	xmpp_stanza_release(el);
	return rc;
}

/* Hello, configuration, privileges, ready: what every adapter does first. */
static void
start(void **state)
{
	char *argv[] = { "xgw-test", "-i", "0", "-u", "nobody", "-g", GW,
	    NULL };
	struct frame f;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	/* the pair may be fds 3 and 4 itself: ours moves out of the way first */
	xgwd = fcntl(sv[0], F_DUPFD, 10);
	assert_int_not_equal(xgwd, -1);
	close(sv[0]);
	if (sv[1] != 3) {
		assert_int_not_equal(dup2(sv[1], 3), -1);
		close(sv[1]);
	}
	fcntl(xgwd, F_SETFL, O_NONBLOCK);
	ad = adapter_init(7, argv, "xgw-modbus", &cb);
	f = from_adapter();
	assert_int_equal(f.type, FRAME_HELLO);
	assert_memory_equal(f.payload, "xgw-modbus ", 11);
	to_adapter(FRAME_CONFIG, 0, 0, "adapter modbus {\n\tdevice " DEV
	    " host 127.0.0.1 port 5020 unit 1\n}\n");
	adapter_configure(ad);
	assert_int_equal(configured, 1);
	assert_string_equal(adapter_gateway(ad), GW);
	assert_int_equal(adapter_conf(ad)->devices[0].port, 5020);
	assert_int_equal(from_adapter().type, FRAME_READY);
	assert_int_equal(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), 1);
	assert_int_not_equal(geteuid(), 0);
	assert_int_not_equal(getuid(), 0);
}

/* A table of two places for adapter_accept_clients; take() may fail. */
static int table[2], fail_take;

static int
table_used(int slot)
{
	return table[slot] != -1;
}

static uint64_t
table_take(int slot, int fd, const char *peer)
{
	static uint64_t flow;

	assert_non_null(strstr(peer, "127.0.0.1:"));
	if (fail_take)
		return 0;
	table[slot] = fd;
	return ++flow;
}

/* A client is refused when the server closes it unread: read sees the end. */
static int
client_to(int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
	    .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_int_not_equal(fd, -1);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

static int
refused(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };
	char c;

	return poll(&p, 1, 2000) == 1 && read(fd, &c, 1) == 0;
}

static void
clients_accepted(void **state)
{
	struct adapter_clients t = { 2, table_used, table_take, NULL, NULL };
	struct sockaddr_in sin = { .sin_family = AF_INET,
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sin);
	uint64_t accepted = 0, nrefused = 0;
	int lfd, c[4];

	(void)state;
	t.accepted = &accepted;
	t.refused = &nrefused;
	table[0] = table[1] = -1;
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(lfd, 8), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &sl), 0);
	for (int i = 0; i < 3; i++)
		c[i] = client_to(ntohs(sin.sin_port));
	adapter_accept_clients(ad, lfd, &t);
	assert_int_equal(accepted, 2);
	assert_int_equal(nrefused, 1);
	assert_true(table[0] != -1 && table[1] != -1);
	assert_true(refused(c[2]));
	/* a place again, but no memory for the client */
	close(table[1]);
	table[1] = -1;
	fail_take = 1;
	c[3] = client_to(ntohs(sin.sin_port));
	adapter_accept_clients(ad, lfd, &t);
	assert_int_equal(accepted, 2);
	assert_int_equal(nrefused, 2);
	assert_true(refused(c[3]));
	assert_int_equal(table[1], -1);
	close(table[0]);
	for (int i = 0; i < 4; i++)
		close(c[i]);
	close(lfd);
}

static void
table_bounded(void **state)
{
	static int cookies[4096];

	(void)state;
	assert_int_equal(adapter_timeout_ms(ad), -1);
	for (int i = 0; i < 4096; i++)
		assert_int_equal(request(i + 1, 60000, &cookies[i]), 0);
	assert_int_equal(request(4097, 60000, NULL), -1);
	assert_int_equal(errno, EBUSY);
	assert_ptr_equal(adapter_answered(ad, 7, 4096), &cookies[4095]);
	assert_null(adapter_answered(ad, 7, 4096));
	assert_int_equal(request(4097, 60000, NULL), 0);
	assert_int_equal(request(4097, 60000, NULL), -1);
	assert_int_equal(errno, EEXIST);
	/* every one comes out again, wherever its hash chain put it */
	for (int i = 0; i < 4095; i++)
		assert_ptr_equal(adapter_answered(ad, 7, i + 1), &cookies[i]);
	assert_null(adapter_answered(ad, 7, 4097));
	assert_int_equal(adapter_timeout_ms(ad), -1);
	for (int i = 0; i < 4097; i++)
		assert_int_equal(from_adapter().type, FRAME_STANZA);
}

static void
failures_and_timeouts(void **state)
{
	int a, b;

	(void)state;
	nfailed = 0;
	assert_int_equal(request(1, 60000, &a), 0);
	to_adapter(FRAME_FAIL, 7, 1, "503 busy");
	to_adapter(FRAME_FAIL, 7, 99, "spool-full");
	assert_int_equal(request(2, 80, &a), 0);
	assert_int_equal(request(3, 20, &b), 0);
	assert_true(adapter_timeout_ms(ad) <= 20);
	while (nfailed < 4) {
		poll(NULL, 0, adapter_timeout_ms(ad));
		assert_int_equal(adapter_run(ad, POLLIN), 0);
	}
	assert_int_equal(failed[0].seq, 1);
	assert_string_equal(failed[0].reason, "busy");
	assert_ptr_equal(failed[0].cookie, &a);
	assert_int_equal(failed[1].seq, 99);
	assert_null(failed[1].cookie);
	/* the shorter timeout, sent later, fires first */
	assert_int_equal(failed[2].seq, 3);
	assert_string_equal(failed[2].reason, "timeout");
	assert_ptr_equal(failed[2].cookie, &b);
	assert_int_equal(failed[3].seq, 2);
	assert_int_equal(adapter_timeout_ms(ad), -1);
	for (int i = 0; i < 3; i++)
		assert_int_equal(from_adapter().type, FRAME_STANZA);
}

static void
stanzas_checked(void **state)
{
	const char *pdu = "<pdu xmlns='urn:xgw:1' src='" DEV "' dst='" GW
	    "' flow='7' seq='5' dir='response'><modbus xmlns='"
	    XGW_NS_MODBUS "'/></pdu>";

	(void)state;
	stanzas = 0;
	to_adapter(FRAME_STANZA, 7, 6, pdu);	/* the frame says another seq */
	to_adapter(FRAME_STANZA, 7, 5, "<pdu");
	to_adapter(FRAME_STANZA, 7, 5, pdu);
	assert_int_equal(adapter_run(ad, POLLIN), 0);
	assert_int_equal(stanzas, 1);
}

static void
xgwd_gone(void **state)
{
	(void)state;
	close(xgwd);
	assert_int_equal(adapter_run(ad, POLLIN), -1);
	frame_reader_free(&rd);
}

/* A user that does not exist is fatal for root; others only lose new privileges. */
static void
drop_unknown_user(void **state)
{
	int p[2], status;
	char msg[512] = "";
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(p), 0);
	if ((pid = fork()) == 0) {
		dup2(p[1], 2);
		drop_privileges("no-such-user-xgw");
		_exit(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1 ? 0 : 3);
	}
	close(p[1]);
	assert_true(read(p[0], msg, sizeof(msg) - 1) >= 0);
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (geteuid() == 0) {
		assert_int_equal(WEXITSTATUS(status), 1);
		assert_non_null(strstr(msg, "user no-such-user-xgw: no such user"));
	} else
		assert_int_equal(WEXITSTATUS(status), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(drop_unknown_user),
		cmocka_unit_test(start),
		cmocka_unit_test(clients_accepted),
		cmocka_unit_test(table_bounded),
		cmocka_unit_test(failures_and_timeouts),
		cmocka_unit_test(stanzas_checked),
		cmocka_unit_test(xgwd_gone),
	};

	if (getpwnam("nobody") == NULL) {
		fprintf(stderr, "test_adapter: needs the user nobody\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
