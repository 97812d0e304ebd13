/*
 * What the load generators of the path benchmarks share: the one Modbus
 * transaction every modbus_path.sh run repeats (read holding registers,
 * answered by plcsim's pattern), the one HTTP exchange of http_path.sh
 * (GET /dev/hello, answered by tests/e2e-http/devsim.py), the MQTT topic
 * of mqtt_path.sh, the clock, the options they take alike, the warm-up
 * and the measured run, and the figures each run prints.
 */
#ifndef XGW_BENCH_H
#define XGW_BENCH_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#define BENCH_MAX_CLIENTS	256
#define BENCH_MAX_COUNT		10000000	/* transactions of one run */

/* fc 3 at addr for qty registers: the request and plcsim's answer; length returned */
size_t		 bench_request(uint8_t *adu, uint16_t tid, uint8_t unit,
		    uint16_t addr, uint16_t qty);
size_t		 bench_response(uint8_t *adu, uint16_t tid, uint8_t unit,
		    uint16_t addr, uint16_t qty);
/* GET /dev/hello with Host uUNIT.bench, length returned; devsim.py's answer */
size_t		 bench_http_request(char *buf, size_t len, unsigned unit);
extern const char	 bench_http_response[];
/* what the load crosses, and what gateway A's route "bulk/#" carries */
#define BENCH_MQTT_TOPIC	"bulk/bench"

uint64_t	 bench_now_us(void);
/* Parses a decimal option within lo..hi or exits with a message. */
unsigned long	 bench_number(const char *opt, const char *s, unsigned long lo,
		    unsigned long hi);
/* One line: transactions=N seconds=S tps=T p50_us=A p99_us=B errors=E; sorts us. */
void		 bench_report(uint32_t *us, size_t n, uint64_t elapsed_us,
		    unsigned long errors);

/* The options every program takes alike, each where it takes it. */
struct bench_opts {
	unsigned long	 count;		/* -n, measured exchanges */
	unsigned long	 warmup;	/* -w, unmeasured ones before */
	unsigned long	 secs;		/* -T, for the whole */
	unsigned long	 port;		/* -p */
};
/* getopt(3) that takes -n, -w, -T and -p into o and returns the others. */
int		 bench_getopt(struct bench_opts *o, int argc, char *argv[],
		    const char *optstring);

/* One closed-loop run of count exchanges; lat NULL: not measured. */
typedef void	 bench_run_fn(void *arg, size_t count, uint32_t *lat);
/*
 * o->warmup exchanges, then o->count measured, and bench_report's line;
 * a wrong answer in the warm-up is printed but not counted.
 */
void		 bench_measure(const struct bench_opts *o,
		    bench_run_fn *run, void *arg, unsigned long *errors);

/* Set by SIGTERM and SIGINT, after bench_signals(); SIGPIPE ignored. */
extern volatile sig_atomic_t	 bench_quit;
void		 bench_signals(void);

#endif
