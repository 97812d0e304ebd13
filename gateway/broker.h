/*
 * xgw-broker: the Service Broker, an XMPP external component (XEP-0114).
 * BROKER.md is the protocol; this header is the component's one contract.
 *
 *   broker.c    the component link, stanza dispatch, registration, flows
 *               (the Service Activator), relay, disco, the flows file
 *   registry.c  the SQLite registry: gateways, endpoints and their
 *               metadata, flows, the schema version
 *   pki.c       `xgwctl pki`: the site CA, gateway certificates, the CRL;
 *               the UUID <-> JID node rule
 */
#ifndef XGW_BROKER_H
#define XGW_BROKER_H

#include <stdint.h>
#include <strophe.h>

#define BROKER_NS	"urn:xgw:broker:1"
#define UUID_URN_LEN	45		/* urn:uuid: and 36 characters */
#define JID_MAX		256
#define NAME_MAX_LEN	64		/* protocol, function, point, unit, type */
#define MAX_ENDPOINTS	64		/* per gateway */
#define MAX_FUNCTIONS	64		/* per endpoint */
#define MAX_POINTS	256		/* per endpoint */

enum flow_dir { FLOW_REQUEST, FLOW_EVENT };

struct flow {
	uint64_t	 id;
	char		 src[UUID_URN_LEN + 1];	/* endpoint that originates */
	char		 dst[UUID_URN_LEN + 1];	/* endpoint that is served */
	char		 proto[NAME_MAX_LEN];
	enum flow_dir	 dir;
	int		 active;
};

struct point {
	char		 name[NAME_MAX_LEN];
	char		 unit[NAME_MAX_LEN];	/* "" when dimensionless */
	char		 type[NAME_MAX_LEN];
	char		 access[8];		/* "r", "w", "rw" */
};

struct endpoint {
	char		 uuid[UUID_URN_LEN + 1];
	char		 gateway[UUID_URN_LEN + 1];
	char		 proto[NAME_MAX_LEN];
	char		 name[NAME_MAX_LEN];
	char		 functions[MAX_FUNCTIONS][NAME_MAX_LEN];
	int		 nfunctions;
	struct point	*points;		/* npoints, owned by the endpoint */
	int		 npoints;
};

struct registry;

/*
 * Opens or creates the database and checks it whole (integrity, schema
 * version, writable); NULL and err set to what failed and where.
 */
struct registry	*registry_open(const char *path, char *err, size_t errlen);
void		 registry_close(struct registry *);
/* Last error text of the database, for messages. */
const char	*registry_error(struct registry *);

/*
 * A gateway's registration, from its session (full JID), replaces its
 * endpoints as one transaction.  1 when an endpoint belongs to another
 * gateway (*owner set), 0 done, -1 database error.
 */
int	registry_register(struct registry *, const char *gw,
	    const char *session, const struct endpoint *, int n,
	    char owner[UUID_URN_LEN + 1]);
/* Lookups: 1 found, 0 not, -1 database error. */
int	registry_gateway_of_jid(struct registry *, const char *bare,
	    char gw[UUID_URN_LEN + 1]);
int	registry_endpoint_owner(struct registry *, const char *ep,
	    char gw[UUID_URN_LEN + 1]);
/* The full JID of the gateway's last session, where relayed stanzas go. */
int	registry_session(struct registry *, const char *gw,
	    char session[JID_MAX]);
int	registry_session_set(struct registry *, const char *gw,
	    const char *session);
/* Fills *ep (free with endpoint_clear): 1 found, 0 not, -1 error. */
int	registry_endpoint(struct registry *, const char *uuid,
	    struct endpoint *);
void	endpoint_clear(struct endpoint *);

typedef void	registry_row_fn(void *arg, const char *uuid, const char *a,
		    const char *b);
/* gateways: (uuid, jid, NULL); endpoints of gw: (uuid, protocol, name) */
int	registry_gateways(struct registry *, registry_row_fn *, void *);
int	registry_endpoints(struct registry *, const char *gw,
	    registry_row_fn *, void *);

int	registry_flow_put(struct registry *, const struct flow *);
/* 1 found, 0 not, -1 error */
int	registry_flow_get(struct registry *, uint64_t id, struct flow *);
uint64_t registry_flow_next_id(struct registry *);
typedef void	registry_flow_fn(void *arg, const struct flow *);
/* active flows with an endpoint of gw (every active flow when gw is NULL) */
int	registry_flows(struct registry *, const char *gw, registry_flow_fn *,
	    void *);
/* 1 when an active flow joins an endpoint of a to an endpoint of b */
int	registry_flow_between(struct registry *, const char *a, const char *b);

/* The certificate rule: the node is the UUID's 32 hex digits, lower case. */
int	uuid_node(const char *urn, char node[33]);
int	uuid_from_node(const char *node, char urn[UUID_URN_LEN + 1]);

/* pki.c: `xgwctl pki` (argv[0] is "pki"), and the broker's revocation check */
int	pki_main(int argc, char **argv);
int	pki_revoked(const char *dir, const char *uuid);

#endif
