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

enum conf_tls { CONF_STARTTLS, CONF_DIRECT_TLS };

/* Device side: a local device this gateway serves, known upstream by UUID only. */
struct conf_device {
	char		 uuid[46];		/* urn:uuid:... */
	char		 host[256];
	uint16_t	 port;
	int		 unit;			/* Modbus unit id, -1 when not set */
	unsigned	 timeout_ms;
};

/* Client side: local requests matching this go to a remote endpoint. */
struct conf_route {
	char		 match[256];		/* Modbus "unit N", CoAP/HTTP path prefix, MQTT topic filter */
	char		 to[46];		/* remote endpoint urn:uuid:... */
};

struct conf_adapter {
	char		 proto[16];		/* modbus, coap, mqtt, http */
	char		 listen[256];		/* address, "" when the adapter has no client side */
	uint16_t	 listen_port;
	unsigned	 timeout_ms;		/* for requests carried upstream */
	struct conf_device devices[CONF_MAX_DEVICES];
	int		 ndevices;
	struct conf_route routes[CONF_MAX_ROUTES];
	int		 nroutes;
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
int		 conf_parse_adapter(const char *text, struct conf_adapter *,
		    struct conf_err *);
void		 conf_free(struct xgw_conf *);

#endif
