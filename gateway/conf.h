/*
 * xgw.conf: the gateway's one configuration file, parsed in one place
 * (conf.c) in the grammar family of the rules files.  Adapters receive
 * their own block as normalized text (FRAME_CONFIG) and parse it with
 * conf_parse_adapter, so there is one grammar for every process.
 */
#ifndef XGW_CONF_H
#define XGW_CONF_H

#include <limits.h>
#include <stdint.h>
#include <stdio.h>

#define CONF_MAX_ADAPTERS	4
#define CONF_MAX_DEVICES	64
#define CONF_MAX_ROUTES		64
#define CONF_MAX_POLLS		32
#define CONF_MAX_POINTS		256		/* of all the polls of an adapter */
#define CONF_MAX_TOPICS		32		/* topic remappings of an MQTT adapter */

enum conf_tls { CONF_STARTTLS, CONF_DIRECT_TLS };

/* Device side: a local device this gateway serves, known upstream by UUID only. */
struct conf_device {
	char		 uuid[46];		/* urn:uuid:... */
	char		 host[256];
	uint16_t	 port;
	int		 unit;			/* Modbus unit id, -1 when not set */
	unsigned	 timeout_ms;
	uint8_t		 version;		/* MQTT: 4 (3.1.1) or 5; 0 for the others */
	uint64_t	 body_max;		/* HTTP: the device's body-max; 0: the block's */
};

/* Client side: local requests matching this go to a remote endpoint. */
struct conf_route {
	char		 match[256];		/* Modbus "unit N", CoAP/HTTP path prefix, MQTT topic filter */
	char		 host[256];		/* HTTP: lower case, IPv6 as "[canonical]"; "" any host */
	char		 to[46];		/* remote endpoint urn:uuid:... */
	uint64_t	 body_max;		/* HTTP: the route's body-max; 0: the block's */
};

/* The Modbus tables a poll reads, numbered by the function code that reads them. */
enum conf_table { CONF_COILS = 1, CONF_DISCRETE, CONF_HOLDING, CONF_INPUT };

/* How registers are read: 32-bit types take two, high word first. */
enum conf_type { CONF_BOOL, CONF_UINT16, CONF_INT16, CONF_UINT32, CONF_INT32,
    CONF_FLOAT32, CONF_NTYPES };

extern const char *const conf_type_names[CONF_NTYPES];	/* "bool", "uint16", ... */

/* One named point of a poll: count values of type from address on. */
struct conf_point {
	char		 name[64];
	char		 unit[32];		/* "" when none */
	int32_t		 digits;		/* scale = digits / 10^decimals */
	uint16_t	 address;		/* protocol address, from 0 */
	uint16_t	 count;			/* values */
	uint8_t		 table;			/* enum conf_table */
	uint8_t		 type;			/* enum conf_type */
	uint8_t		 decimals;
};

/* A device's points, read every every_ms and published as one event. */
struct conf_poll {
	char		 device[46];		/* a device of the same adapter */
	unsigned	 every_ms;
	int		 first, npoints;	/* in the adapter's points[] */
};

/*
 * One read request of a poll: points of one table that touch or overlap,
 * merged, never across a gap (a PLC may refuse the addresses in between),
 * at most 125 registers or 2000 bits.
 */
struct conf_read {
	uint8_t		 table;			/* the function code */
	uint16_t	 address;
	uint16_t	 quantity;		/* registers or bits */
};

/* MQTT: a topic prefix rewritten as a message leaves (out) or arrives (in). */
enum conf_dir { CONF_OUT, CONF_IN };

struct conf_topic {
	char		 from[256];
	char		 to[256];		/* "" strips the prefix */
	uint8_t		 dir;			/* enum conf_dir */
};

/* The settings of the mqtt block only. */
struct conf_mqtt {
	struct conf_topic topics[CONF_MAX_TOPICS];
	int		 ntopics;
	uint8_t		 version;		/* the listen broker's connection: 4 or 5 */
	char		 client_id[48];		/* "": xgw-GATEWAY; -in, -outN are added */
	uint32_t	 session_expiry_s;
	uint16_t	 receive_max;
	char		 ca[PATH_MAX];		/* TLS to every broker of the block; "": none */
	char		 cert[PATH_MAX];	/* "" or with key: the client's certificate */
	char		 key[PATH_MAX];
};

struct conf_adapter {
	char		 proto[16];		/* modbus, coap, mqtt, http */
	char		 listen[256];		/* address, "" when the adapter has no client side */
	uint16_t	 listen_port;
	unsigned	 timeout_ms;		/* for requests carried upstream */
	uint64_t	 body_max;		/* HTTP: bytes of a streamed body */
	struct conf_device devices[CONF_MAX_DEVICES];
	int		 ndevices;
	struct conf_route routes[CONF_MAX_ROUTES];
	int		 nroutes;
	struct conf_poll polls[CONF_MAX_POLLS];	/* Modbus only */
	int		 npolls;
	struct conf_point points[CONF_MAX_POINTS];
	int		 npoints;
	struct conf_mqtt mqtt;			/* MQTT only */
	unsigned	 line;			/* where the block starts, for messages */
};

struct xgw_conf {
	char		 file[PATH_MAX];
	char		 gateway[46];		/* "" until generated on first start */
	char		 state_dir[PATH_MAX];	/* /var/lib/xgw */
	char		 user[64];		/* adapters run as this user when started as root */
	char		 control[PATH_MAX];	/* /run/xgw/control */
	char		 rules[PATH_MAX];	/* /etc/xgw/xgw.rules */
	char		 spool_dir[PATH_MAX];	/* /var/spool/xgw */
	uint64_t	 spool_max;		/* bytes */
	struct {
		char		 server[256];
		uint16_t	 port;			/* 5222 starttls, 5223 direct */
		enum conf_tls	 tls;
		char		 ca[PATH_MAX];
		char		 cert[PATH_MAX];	/* with key: SASL EXTERNAL */
		char		 key[PATH_MAX];
		char		 jid[256];		/* with password: SCRAM */
		char		 password[256];
		char		 broker[256];		/* the broker's JID */
		unsigned	 ping_s;
		unsigned	 window;		/* events in flight before waiting for acks */
	}		 xmpp;
	struct conf_adapter adapters[CONF_MAX_ADAPTERS];
	int		 nadapters;
};

struct conf_err {
	char		 file[PATH_MAX];
	unsigned	 line, col;		/* from 1; 0 when the file could not be read */
	char		 msg[256];
};

/* NULL and *err on any error: nothing of a bad file is used. */
struct xgw_conf	*conf_load(const char *path, struct conf_err *);
struct xgw_conf	*conf_parse(const char *name, const char *text, size_t len,
		    struct conf_err *);
/* Normalized text; re-parses to the same configuration. */
void		 conf_print(const struct xgw_conf *, FILE *);
/* One adapter block as normalized text, and back (for FRAME_CONFIG). */
int		 conf_print_adapter(const struct conf_adapter *, char *, size_t);
/* The block is adapters[0]; kept in place, not copied: what is not set is never touched. */
struct xgw_conf	*conf_parse_adapter(const char *text, struct conf_err *);
void		 conf_free(struct xgw_conf *);

/* Registers or bits a point spans: count times the width of its type. */
unsigned	 conf_point_span(const struct conf_point *);
/*
 * The reads that cover a poll's n points, each point whole in one read
 * (read_of[i]: its index), in the order of table and address; returns
 * how many (at most n).
 */
int		 conf_poll_merge(const struct conf_point *, int n,
		    struct conf_read *, int *read_of);
/* digits / 10^decimals in decimal, exactly ("-0.5", "70.1", "3") */
void		 conf_decimal(char *, size_t, int64_t digits, unsigned decimals);

#endif
