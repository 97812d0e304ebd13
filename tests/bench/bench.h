/*
 * What the load generators of the path benchmarks share: the one Modbus
 * transaction every modbus_path.sh run repeats (read holding registers,
 * answered by plcsim's pattern), the one HTTP exchange of http_path.sh
 * (GET /dev/hello, answered by tests/e2e-http/devsim.py), the MQTT topic
 * of mqtt_path.sh, the clock, and the figures each run prints.
 */
#ifndef XGW_BENCH_H
#define XGW_BENCH_H

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

#endif
