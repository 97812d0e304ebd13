/*
 * plcsim: a PLC simulator on libmodbus's server API, the independent
 * device behind xgw-modbus in the tests.
 *
 *   plcsim -p PORT -l LOG [-s MS] [-d]
 *
 * Listens on 127.0.0.1:PORT.  Coils, discrete inputs, holding and input
 * registers 0..9999 hold a known pattern: registers address * 7 + 1 (mod
 * 65536), bits 1 where address % 3 == 0.  Every function libmodbus's
 * modbus_reply answers is answered (1-6, 15, 16, 17, 22, 23; others get
 * exception 1).  Every ADU received is logged to LOG as one line of hex,
 * before it is answered, so a test can compare bytes.  -s MS: unit 2
 * answers after MS milliseconds (a slow device).  -d: unit 3 never
 * answers (a dead one).  One thread per connection, so a slow unit delays
 * only the connection it is asked on.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <modbus/modbus.h>

#define NPOINTS		10000
#define SLOW_UNIT	2
#define DEAD_UNIT	3

static modbus_mapping_t *map;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *adulog;
static const char *port;
static long slow_ms;
static int dead;

static void
log_adu(const uint8_t *p, int n)
{
	pthread_mutex_lock(&lock);
	for (int i = 0; i < n; i++)
		fprintf(adulog, "%02x", p[i]);
	fputc('\n', adulog);
	fflush(adulog);
	pthread_mutex_unlock(&lock);
}

static void
fill(void)
{
	if ((map = modbus_mapping_new(NPOINTS, NPOINTS, NPOINTS,
	    NPOINTS)) == NULL) {
		fprintf(stderr, "plcsim: modbus_mapping_new: %s\n",
		    modbus_strerror(errno));
		exit(1);
	}
	for (int a = 0; a < NPOINTS; a++) {
		map->tab_bits[a] = map->tab_input_bits[a] = a % 3 == 0;
		map->tab_registers[a] = map->tab_input_registers[a] =
		    (uint16_t)(a * 7 + 1);
	}
}

static void *
serve(void *arg)
{
	int fd = (int)(intptr_t)arg, n;
	uint8_t q[MODBUS_TCP_MAX_ADU_LENGTH];
	struct timespec ts = { slow_ms / 1000, (slow_ms % 1000) * 1000000 };
	modbus_t *c;

	/* a context of its own per connection: libmodbus keeps the socket in it */
	if ((c = modbus_new_tcp("127.0.0.1", atoi(port))) == NULL ||
	    modbus_set_socket(c, fd) == -1) {
		fprintf(stderr, "plcsim: connection context: %s\n",
		    modbus_strerror(errno));
		close(fd);
		return NULL;
	}
	while ((n = modbus_receive(c, q)) != -1) {
		if (n == 0)
			continue;
		log_adu(q, n);
		if (dead && q[6] == DEAD_UNIT)
			continue;
		if (slow_ms > 0 && q[6] == SLOW_UNIT)
			nanosleep(&ts, NULL);
		pthread_mutex_lock(&lock);
		modbus_reply(c, q, n, map);
		pthread_mutex_unlock(&lock);
	}
	modbus_close(c);
	modbus_free(c);
	return NULL;
}

static void
usage(void)
{
	fprintf(stderr, "usage: plcsim -p port -l logfile [-s slow-ms] [-d]\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	const char *logpath = NULL;
	modbus_t *srv;
	pthread_t t;
	int ch, s, fd;

	while ((ch = getopt(argc, argv, "dl:p:s:")) != -1) {
		switch (ch) {
		case 'd':
			dead = 1;
			break;
		case 'l':
			logpath = optarg;
			break;
		case 'p':
			port = optarg;
			break;
		case 's':
			slow_ms = atol(optarg);
			break;
		default:
			usage();
		}
	}
	if (port == NULL || logpath == NULL || atoi(port) <= 0 ||
	    atoi(port) > 65535 || slow_ms < 0)
		usage();
	if ((adulog = fopen(logpath, "w")) == NULL) {
		fprintf(stderr, "plcsim: %s: %s\n", logpath, strerror(errno));
		return 1;
	}
	fill();
	if ((srv = modbus_new_tcp("127.0.0.1", atoi(port))) == NULL ||
	    (s = modbus_tcp_listen(srv, 16)) == -1) {
		fprintf(stderr, "plcsim: listen 127.0.0.1 port %s: %s\n", port,
		    modbus_strerror(errno));
		return 1;
	}
	fprintf(stderr, "plcsim: listening on 127.0.0.1 port %s\n", port);
	for (;;) {
		if ((fd = modbus_tcp_accept(srv, &s)) == -1) {
			fprintf(stderr, "plcsim: accept: %s\n",
			    modbus_strerror(errno));
			continue;
		}
		if (pthread_create(&t, NULL, serve, (void *)(intptr_t)fd) != 0) {
			fprintf(stderr, "plcsim: thread for a connection\n");
			close(fd);
			continue;
		}
		pthread_detach(t);
	}
}
