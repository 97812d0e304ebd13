/*
 * xgw-broker: the Service Broker, an XMPP external component (XEP-0114)
 * on the XMPP server's loopback.  BROKER.md is the protocol.
 *
 * main() reads the flags, the secret, the flows file and the rules, opens
 * the registry and runs loop(): libstrophe's event loop, reconnecting
 * with backoff whenever the server goes away.  Every <iq/> goes through
 * on_iq() (registration, flows, disco, metadata, counters), every
 * <message/> through on_message() (the relay of <pdu/> and <ack/>).
 * Whatever is refused gets an XMPP error and is counted.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"
#include "log.h"
#include "policy.h"

#define MAX_OPERATORS	32
#define MAX_BINDINGS	256
#define BACKOFF_MIN_MS	500
#define BACKOFF_MAX_MS	30000
#define FLOW_ID_MAX	INT64_MAX	/* SQLite keeps signed 64-bit ids */

#define NS_DISCO_INFO	"http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS	"http://jabber.org/protocol/disco#items"
#define NS_STANZAS	"urn:ietf:params:xml:ns:xmpp-stanzas"

/* The errors the broker answers with; each is counted. */
enum cond {
	C_NOT_AUTHORIZED, C_ITEM_NOT_FOUND, C_POLICY_VIOLATION, C_BAD_REQUEST,
	C_CONFLICT, C_RECIPIENT_UNAVAILABLE, C_SERVICE_UNAVAILABLE,
	C_INTERNAL, C_NCONDS
};

static const struct {
	const char	*name, *type;
} conds[C_NCONDS] = {
	{ "not-authorized", "auth" },
	{ "item-not-found", "cancel" },
	{ "policy-violation", "cancel" },
	{ "bad-request", "modify" },
	{ "conflict", "cancel" },
	{ "recipient-unavailable", "wait" },
	{ "service-unavailable", "cancel" },
	{ "internal-server-error", "wait" },
};

struct binding {
	char		 uuid[UUID_URN_LEN + 1];
	char		 jid[JID_MAX];
};

struct broker {
	xmpp_ctx_t	*ctx;
	xmpp_conn_t	*conn;
	const char	*jid;			/* the component's domain */
	const char	*server;
	unsigned short	 port;
	char		 secret[256];
	const char	*cert_domain;		/* gateways logging in by certificate */
	const char	*pki_dir;		/* xgwctl pki's DIR: revoked UUIDs */
	const char	*db_path, *flows_path, *rules_path;
	struct registry	*reg;
	struct xgw_policy *policy;		/* NULL: no central rules */
	char		 operators[MAX_OPERATORS][JID_MAX];
	int		 noperators;
	struct binding	 bindings[MAX_BINDINGS];
	int		 nbindings;
	int		 up, connecting;
	uint64_t	 retry_at_ms;
	unsigned	 backoff_ms;
	uint64_t	 relayed, acks, registrations, flow_changes;
	uint64_t	 refused[C_NCONDS];
};

static volatile sig_atomic_t quit;

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
on_signal(int sig)
{
	(void)sig;
	quit = 1;
}

static void
oom(void)
{
	fatalx("out of memory");
}

static xmpp_stanza_t *
el_new(struct broker *b, const char *name, const char *ns)
{
	xmpp_stanza_t *el = xgw_el_new(b->ctx, name, ns);

	if (el == NULL)
		oom();
	return el;
}

static void
set_str(xmpp_stanza_t *el, const char *attr, const char *v)
{
	if (xgw_set_str(el, attr, v) == -1)
		oom();
}

/* Adds child and drops the caller's reference. */
static void
add_child(xmpp_stanza_t *parent, xmpp_stanza_t *child)
{
	if (xmpp_stanza_add_child(parent, child) != XMPP_EOK)
		oom();
	xmpp_stanza_release(child);
}

static void
send_release(struct broker *b, xmpp_stanza_t *st)
{
	xmpp_send(b->conn, st);
	xmpp_stanza_release(st);
}

static void
bare_jid(const char *jid, char out[JID_MAX])
{
	snprintf(out, JID_MAX, "%.*s", (int)strcspn(jid, "/"), jid);
}

/* The JID by which the broker speaks for a gateway: <node>@<component>. */
static void
proxy_jid(struct broker *b, const char *gw, char out[JID_MAX])
{
	char node[33];

	if (uuid_node(gw, node) == -1)
		fatalx("proxy_jid: %s is not a urn:uuid", gw);
	snprintf(out, JID_MAX, "%s@%s", node, b->jid);
}

/* A reply to st: the same kind and id, addressed back to its sender. */
static xmpp_stanza_t *
reply_to(struct broker *b, xmpp_stanza_t *st, const char *type)
{
	xmpp_stanza_t *r = el_new(b, xmpp_stanza_get_name(st), NULL);
	const char *id = xmpp_stanza_get_id(st), *to = xmpp_stanza_get_to(st);

	xmpp_stanza_set_type(r, type);
	if (id != NULL)
		xmpp_stanza_set_id(r, id);
	xmpp_stanza_set_to(r, xmpp_stanza_get_from(st));
	xmpp_stanza_set_from(r, to != NULL ? to : b->jid);
	return r;
}

/*
 * An error answer to st, counted and logged.  The original payload is not
 * echoed: a gateway would read a bounced <pdu/> as a new one.
 */
static void
refuse(struct broker *b, xmpp_stanza_t *st, enum cond c, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
refuse(struct broker *b, xmpp_stanza_t *st, enum cond c, const char *fmt, ...)
{
	xmpp_stanza_t *r, *err, *text, *t;
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	b->refused[c]++;
	log_warnx("from=%s %s refused: %s: %s", xmpp_stanza_get_from(st),
	    xmpp_stanza_get_name(st), conds[c].name, msg);
	r = reply_to(b, st, "error");
	err = el_new(b, "error", NULL);
	set_str(err, "type", conds[c].type);
	add_child(err, el_new(b, conds[c].name, NS_STANZAS));
	text = el_new(b, "text", NS_STANZAS);
	if ((t = xmpp_stanza_new(b->ctx)) == NULL ||
	    xmpp_stanza_set_text(t, msg) != XMPP_EOK)
		oom();
	add_child(text, t);
	add_child(err, text);
	add_child(r, err);
	send_release(b, r);
}

static int
is_operator(struct broker *b, const char *bare)
{
	for (int i = 0; i < b->noperators; i++)
		if (strcmp(b->operators[i], bare) == 0)
			return 1;
	return 0;
}

/*
 * Does the authenticated JID own the UUID?  On the certificate domain the
 * node must be the UUID's hex (the certificate carries that xmppAddr);
 * elsewhere the operator's binding decides.
 */
static int
owns(struct broker *b, const char *bare, const char *gw)
{
	const char *at = strchr(bare, '@');
	char node[33];

	if (at == NULL || uuid_node(gw, node) == -1)
		return 0;
	if (b->cert_domain != NULL && strcmp(at + 1, b->cert_domain) == 0)
		return (size_t)(at - bare) == 32 && strncmp(bare, node, 32) == 0;
	for (int i = 0; i < b->nbindings; i++)
		if (strcmp(b->bindings[i].uuid, gw) == 0 &&
		    strcmp(b->bindings[i].jid, bare) == 0)
			return 1;
	return 0;
}

/* The registered gateway behind a stanza's sender: 1, or 0 after refusing. */
static int
sender_gateway(struct broker *b, xmpp_stanza_t *st, char gw[UUID_URN_LEN + 1])
{
	const char *from = xmpp_stanza_get_from(st);
	char bare[JID_MAX], session[JID_MAX];
	int rc;

	bare_jid(from, bare);
	if ((rc = registry_gateway_of_jid(b->reg, bare, gw)) == -1) {
		refuse(b, st, C_INTERNAL, "registry: %s",
		    registry_error(b->reg));
		return 0;
	}
	if (rc == 0) {
		refuse(b, st, C_NOT_AUTHORIZED, "%s is not a registered gateway",
		    bare);
		return 0;
	}
	/* the gateway's current session is where relayed stanzas go */
	if (registry_session(b->reg, gw, session) == 1 &&
	    strcmp(session, from) != 0 &&
	    registry_session_set(b->reg, gw, from) == -1)
		log_warnx("registry: session of %s: %s", gw,
		    registry_error(b->reg));
	return 1;
}

static const char *
flow_dir_name(enum flow_dir d)
{
	return d == FLOW_EVENT ? "event" : "request";
}

static xmpp_stanza_t *
flow_el(struct broker *b, const struct flow *f, const char *role)
{
	xmpp_stanza_t *el = el_new(b, "flow", NULL);

	if (xgw_set_uint(el, "id", f->id) == -1)
		oom();
	set_str(el, "src", f->src);
	set_str(el, "dst", f->dst);
	set_str(el, "protocol", f->proto);
	set_str(el, "dir", flow_dir_name(f->dir));
	set_str(el, "state", f->active ? "active" : "inactive");
	if (role != NULL)
		set_str(el, "role", role);
	return el;
}

/* The <flow/> elements of f that concern gateway gw: one per end it holds. */
static void
add_flow_roles(struct broker *b, xmpp_stanza_t *parent, const struct flow *f,
    const char *gw)
{
	char owner[UUID_URN_LEN + 1];

	if (registry_endpoint_owner(b->reg, f->src, owner) == 1 &&
	    strcmp(owner, gw) == 0)
		add_child(parent, flow_el(b, f, "from-adapter"));
	if (registry_endpoint_owner(b->reg, f->dst, owner) == 1 &&
	    strcmp(owner, gw) == 0)
		add_child(parent, flow_el(b, f, "to-endpoint"));
}

struct flows_of {
	struct broker	*b;
	xmpp_stanza_t	*parent;
	const char	*gw;
};

static void
flows_of_cb(void *arg, const struct flow *f)
{
	struct flows_of *fo = arg;

	add_flow_roles(fo->b, fo->parent, f, fo->gw);
}

/* Tells a gateway's session about a flow it takes part in. */
static void
push_flow(struct broker *b, const struct flow *f, const char *gw)
{
	char session[JID_MAX];
	xmpp_stanza_t *msg, *flows;

	if (!b->up || registry_session(b->reg, gw, session) != 1 ||
	    session[0] == '\0')
		return;		/* it learns the flow when it registers */
	msg = el_new(b, "message", NULL);
	xmpp_stanza_set_type(msg, "normal");
	xmpp_stanza_set_to(msg, session);
	xmpp_stanza_set_from(msg, b->jid);
	flows = el_new(b, "flows", BROKER_NS);
	add_flow_roles(b, flows, f, gw);
	add_child(msg, flows);
	send_release(b, msg);
}

static void
push_flow_both(struct broker *b, const struct flow *f)
{
	char src_gw[UUID_URN_LEN + 1], dst_gw[UUID_URN_LEN + 1];
	int s = registry_endpoint_owner(b->reg, f->src, src_gw) == 1;
	int d = registry_endpoint_owner(b->reg, f->dst, dst_gw) == 1;

	if (s)
		push_flow(b, f, src_gw);
	if (d && (!s || strcmp(src_gw, dst_gw) != 0))
		push_flow(b, f, dst_gw);
}

/* A name attribute: present, 1 to NAME_MAX_LEN-1 bytes. */
static int
name_attr(xmpp_stanza_t *el, const char *attr, int required, char *out,
    char *why, size_t whylen)
{
	const char *v = xmpp_stanza_get_attribute(el, attr);

	if (v == NULL && !required) {
		out[0] = '\0';
		return 0;
	}
	if (v == NULL || v[0] == '\0' || strlen(v) >= NAME_MAX_LEN) {
		snprintf(why, whylen, "<%s %s>: %s", xmpp_stanza_get_name(el),
		    attr, v == NULL ? "missing" : "empty or longer than 63 bytes");
		return -1;
	}
	snprintf(out, NAME_MAX_LEN, "%s", v);
	return 0;
}

static int
uuid_attr(xmpp_stanza_t *el, const char *attr, char out[UUID_URN_LEN + 1],
    char *why, size_t whylen)
{
	const char *v = xmpp_stanza_get_attribute(el, attr);

	if (v == NULL || !xgw_uuid_valid(v)) {
		snprintf(why, whylen, "<%s %s=\"%.50s\">: expected urn:uuid: and "
		    "a lower-case UUID", xmpp_stanza_get_name(el), attr,
		    v != NULL ? v : "");
		return -1;
	}
	memcpy(out, v, UUID_URN_LEN + 1);
	return 0;
}

static int
point_parse(xmpp_stanza_t *el, struct point *p, char *why, size_t whylen)
{
	char access[NAME_MAX_LEN];

	if (name_attr(el, "name", 1, p->name, why, whylen) == -1 ||
	    name_attr(el, "type", 1, p->type, why, whylen) == -1 ||
	    name_attr(el, "unit", 0, p->unit, why, whylen) == -1 ||
	    name_attr(el, "access", 0, access, why, whylen) == -1)
		return -1;
	if (access[0] == '\0')
		snprintf(access, sizeof(access), "r");
	if (strcmp(access, "r") != 0 && strcmp(access, "w") != 0 &&
	    strcmp(access, "rw") != 0) {
		snprintf(why, whylen, "<point name=\"%s\" access=\"%s\">: "
		    "expected r, w or rw", p->name, access);
		return -1;
	}
	memcpy(p->access, access, sizeof(p->access));
	return 0;
}

/* <endpoint uuid protocol name?><function/>*<point/>*</endpoint> */
static int
endpoint_parse(xmpp_stanza_t *el, struct endpoint *ep, char *why,
    size_t whylen)
{
	xmpp_stanza_t *c;

	if (uuid_attr(el, "uuid", ep->uuid, why, whylen) == -1 ||
	    name_attr(el, "protocol", 1, ep->proto, why, whylen) == -1 ||
	    name_attr(el, "name", 0, ep->name, why, whylen) == -1)
		return -1;
	if (xgw_proto_find(ep->proto) == NULL) {
		snprintf(why, whylen, "endpoint %s: unknown protocol \"%s\"",
		    ep->uuid, ep->proto);
		return -1;
	}
	for (c = xmpp_stanza_get_children(el); c != NULL;
	    c = xmpp_stanza_get_next(c)) {
		const char *n = xmpp_stanza_get_name(c);

		if (!xmpp_stanza_is_tag(c))
			continue;
		if (strcmp(n, "function") == 0) {
			if (ep->nfunctions == MAX_FUNCTIONS) {
				snprintf(why, whylen, "endpoint %s: more than "
				    "%d functions", ep->uuid, MAX_FUNCTIONS);
				return -1;
			}
			if (name_attr(c, "name", 1,
			    ep->functions[ep->nfunctions++], why, whylen) == -1)
				return -1;
		} else if (strcmp(n, "point") == 0) {
			if (ep->npoints == MAX_POINTS) {
				snprintf(why, whylen, "endpoint %s: more than "
				    "%d points", ep->uuid, MAX_POINTS);
				return -1;
			}
			if (ep->points == NULL && (ep->points = calloc(
			    MAX_POINTS, sizeof(*ep->points))) == NULL)
				oom();
			if (point_parse(c, &ep->points[ep->npoints++], why,
			    whylen) == -1)
				return -1;
		} else {
			snprintf(why, whylen, "endpoint %s: unknown element <%s>",
			    ep->uuid, n);
			return -1;
		}
	}
	return 0;
}

static xmpp_stanza_t *
endpoint_el(struct broker *b, const struct endpoint *ep)
{
	xmpp_stanza_t *el = el_new(b, "endpoint", NULL), *c;

	set_str(el, "uuid", ep->uuid);
	set_str(el, "gateway", ep->gateway);
	set_str(el, "protocol", ep->proto);
	if (ep->name[0] != '\0')
		set_str(el, "name", ep->name);
	for (int i = 0; i < ep->nfunctions; i++) {
		c = el_new(b, "function", NULL);
		set_str(c, "name", ep->functions[i]);
		add_child(el, c);
	}
	for (int i = 0; i < ep->npoints; i++) {
		const struct point *p = &ep->points[i];

		c = el_new(b, "point", NULL);
		set_str(c, "name", p->name);
		set_str(c, "type", p->type);
		if (p->unit[0] != '\0')
			set_str(c, "unit", p->unit);
		set_str(c, "access", p->access);
		add_child(el, c);
	}
	return el;
}

/* Parses every <endpoint/> of a registration; -1 and why on the first bad one. */
static int
endpoints_parse(xmpp_stanza_t *reg, struct endpoint *eps, int *n, char *why,
    size_t whylen)
{
	xmpp_stanza_t *c;

	*n = 0;
	for (c = xmpp_stanza_get_children(reg); c != NULL;
	    c = xmpp_stanza_get_next(c)) {
		if (!xmpp_stanza_is_tag(c))
			continue;
		if (strcmp(xmpp_stanza_get_name(c), "endpoint") != 0) {
			snprintf(why, whylen, "<register>: unknown element <%s>",
			    xmpp_stanza_get_name(c));
			return -1;
		}
		if (*n == MAX_ENDPOINTS) {
			snprintf(why, whylen, "<register>: more than %d endpoints",
			    MAX_ENDPOINTS);
			return -1;
		}
		if (endpoint_parse(c, &eps[(*n)++], why, whylen) == -1)
			return -1;
		for (int i = 0; i < *n - 1; i++)
			if (strcmp(eps[i].uuid, eps[*n - 1].uuid) == 0) {
				snprintf(why, whylen, "endpoint %s named twice",
				    eps[i].uuid);
				return -1;
			}
	}
	return 0;
}

/* <register gateway=UUID>: the sender must own UUID (BROKER.md, Identity). */
static void
do_register(struct broker *b, xmpp_stanza_t *iq, xmpp_stanza_t *reg)
{
	const char *from = xmpp_stanza_get_from(iq);
	char gw[UUID_URN_LEN + 1], bare[JID_MAX], owner[UUID_URN_LEN + 1];
	char why[256];
	struct endpoint *eps;
	struct flows_of fo;
	xmpp_stanza_t *r;
	int n = 0, rc;

	bare_jid(from, bare);
	if (uuid_attr(reg, "gateway", gw, why, sizeof(why)) == -1) {
		refuse(b, iq, C_BAD_REQUEST, "%s", why);
		return;
	}
	if (!owns(b, bare, gw)) {
		refuse(b, iq, C_NOT_AUTHORIZED, "%s does not own gateway %s",
		    bare, gw);
		return;
	}
	/* the server checks the CRL at login; this catches a session that predates it */
	if (b->pki_dir != NULL && (rc = pki_revoked(b->pki_dir, gw)) != 0) {
		refuse(b, iq, rc == 1 ? C_NOT_AUTHORIZED : C_INTERNAL,
		    "gateway %s: %s", gw, rc == 1 ? "its certificates are "
		    "revoked" : "the PKI index cannot be read");
		return;
	}
	if ((eps = calloc(MAX_ENDPOINTS, sizeof(*eps))) == NULL)
		oom();
	if (endpoints_parse(reg, eps, &n, why, sizeof(why)) == -1)
		refuse(b, iq, C_BAD_REQUEST, "%s", why);
	else if ((rc = registry_register(b->reg, gw, from, eps, n, owner)) == 1)
		refuse(b, iq, C_CONFLICT, "an endpoint of %s is registered by "
		    "gateway %s", gw, owner);
	else if (rc == -1)
		refuse(b, iq, C_INTERNAL, "registry: %s", registry_error(b->reg));
	else {
		b->registrations++;
		log_info("gateway=%s jid=%s registered: %d endpoints", gw, from,
		    n);
		r = reply_to(b, iq, "result");
		fo = (struct flows_of){ b, el_new(b, "register", BROKER_NS), gw };
		set_str(fo.parent, "gateway", gw);
		registry_flows(b->reg, gw, flows_of_cb, &fo);
		add_child(r, fo.parent);
		send_release(b, r);
	}
	for (int i = 0; i < MAX_ENDPOINTS; i++)
		endpoint_clear(&eps[i]);
	free(eps);
}

static int
flow_parse(xmpp_stanza_t *el, struct flow *f, char *why, size_t whylen)
{
	const char *dir = xmpp_stanza_get_attribute(el, "dir");

	if (uuid_attr(el, "src", f->src, why, whylen) == -1 ||
	    uuid_attr(el, "dst", f->dst, why, whylen) == -1 ||
	    name_attr(el, "protocol", 1, f->proto, why, whylen) == -1)
		return -1;
	if (xgw_proto_find(f->proto) == NULL) {
		snprintf(why, whylen, "<flow protocol=\"%s\">: unknown protocol",
		    f->proto);
		return -1;
	}
	if (dir == NULL || (strcmp(dir, "request") != 0 &&
	    strcmp(dir, "event") != 0)) {
		snprintf(why, whylen, "<flow dir>: expected request or event");
		return -1;
	}
	f->dir = strcmp(dir, "event") == 0 ? FLOW_EVENT : FLOW_REQUEST;
	return 0;
}

/* <flow action=activate|deactivate>, from an operator only. */
static void
do_flow(struct broker *b, xmpp_stanza_t *iq, xmpp_stanza_t *el)
{
	const char *action = xmpp_stanza_get_attribute(el, "action");
	char bare[JID_MAX], why[256];
	struct xgw_err e;
	struct flow f;
	uint64_t id;
	xmpp_stanza_t *r;
	int rc;

	bare_jid(xmpp_stanza_get_from(iq), bare);
	if (!is_operator(b, bare)) {
		refuse(b, iq, C_NOT_AUTHORIZED, "%s is not an operator", bare);
		return;
	}
	memset(&f, 0, sizeof(f));
	if (action == NULL || (strcmp(action, "activate") != 0 &&
	    strcmp(action, "deactivate") != 0)) {
		refuse(b, iq, C_BAD_REQUEST, "<flow action>: expected activate "
		    "or deactivate");
		return;
	}
	if (xgw_get_uint_opt(el, "id", FLOW_ID_MAX, 0, &id, &e) == -1) {
		refuse(b, iq, C_BAD_REQUEST, "%s", e.msg);
		return;
	}
	if (strcmp(action, "deactivate") == 0) {
		if ((rc = registry_flow_get(b->reg, id, &f)) != 1) {
			refuse(b, iq, rc == 0 ? C_ITEM_NOT_FOUND : C_INTERNAL,
			    "flow %llu: %s", (unsigned long long)id,
			    rc == 0 ? "no such flow" : registry_error(b->reg));
			return;
		}
		f.active = 0;
	} else {
		if (flow_parse(el, &f, why, sizeof(why)) == -1) {
			refuse(b, iq, C_BAD_REQUEST, "%s", why);
			return;
		}
		f.id = id != 0 ? id : registry_flow_next_id(b->reg);
		f.active = 1;
	}
	if (f.id == 0 || registry_flow_put(b->reg, &f) == -1) {
		refuse(b, iq, C_INTERNAL, "registry: %s", registry_error(b->reg));
		return;
	}
	b->flow_changes++;
	log_info("flow=%llu %s by %s: %s -> %s %s %s", (unsigned long long)f.id,
	    action, bare, f.src, f.dst, f.proto, flow_dir_name(f.dir));
	r = reply_to(b, iq, "result");
	el = flow_el(b, &f, NULL);
	xmpp_stanza_set_ns(el, BROKER_NS);
	add_child(r, el);
	send_release(b, r);
	push_flow_both(b, &f);
}

/* Registry reads are for registered gateways and operators. */
static int
may_read(struct broker *b, xmpp_stanza_t *iq)
{
	char bare[JID_MAX], gw[UUID_URN_LEN + 1];

	bare_jid(xmpp_stanza_get_from(iq), bare);
	if (is_operator(b, bare) ||
	    registry_gateway_of_jid(b->reg, bare, gw) == 1)
		return 1;
	refuse(b, iq, C_NOT_AUTHORIZED, "%s is neither a registered gateway "
	    "nor an operator", bare);
	return 0;
}

static void
add_feature(struct broker *b, xmpp_stanza_t *q, const char *var)
{
	xmpp_stanza_t *f = el_new(b, "feature", NULL);

	set_str(f, "var", var);
	add_child(q, f);
}

static void
add_identity(struct broker *b, xmpp_stanza_t *q, const char *name)
{
	xmpp_stanza_t *id = el_new(b, "identity", NULL);

	set_str(id, "category", "component");
	set_str(id, "type", "generic");
	set_str(id, "name", name);
	add_child(q, id);
}

/* disco#info: the broker itself to anyone, a gateway or endpoint node to readers. */
static void
do_disco_info(struct broker *b, xmpp_stanza_t *iq, xmpp_stanza_t *q)
{
	const char *node = xmpp_stanza_get_attribute(q, "node");
	char jid[JID_MAX], name[3 * NAME_MAX_LEN];
	xmpp_stanza_t *r, *rq;
	struct endpoint ep;

	if (node == NULL) {
		snprintf(name, sizeof(name), "xgw Service Broker");
	} else {
		if (!may_read(b, iq))
			return;
		if (registry_endpoint(b->reg, node, &ep) == 1) {
			snprintf(name, sizeof(name), "endpoint %s%s%s", ep.proto,
			    ep.name[0] ? " " : "", ep.name);
			endpoint_clear(&ep);
		} else if (registry_session(b->reg, node, jid) == 1) {
			snprintf(name, sizeof(name), "gateway");
		} else {
			refuse(b, iq, C_ITEM_NOT_FOUND, "node %.60s: no such "
			    "gateway or endpoint", node);
			return;
		}
	}
	r = reply_to(b, iq, "result");
	rq = el_new(b, "query", NS_DISCO_INFO);
	if (node != NULL)
		set_str(rq, "node", node);
	add_identity(b, rq, name);
	add_feature(b, rq, NS_DISCO_INFO);
	add_feature(b, rq, NS_DISCO_ITEMS);
	add_feature(b, rq, BROKER_NS);
	add_child(r, rq);
	send_release(b, r);
}

struct items {
	struct broker	*b;
	xmpp_stanza_t	*q;
};

static void
item_cb(void *arg, const char *uuid, const char *a, const char *c)
{
	struct items *it = arg;
	xmpp_stanza_t *item = el_new(it->b, "item", NULL);
	char name[JID_MAX + NAME_MAX_LEN];

	snprintf(name, sizeof(name), "%s%s%s", a, c && c[0] ? " " : "",
	    c ? c : "");
	set_str(item, "jid", it->b->jid);
	set_str(item, "node", uuid);
	set_str(item, "name", name);
	add_child(it->q, item);
}

/* disco#items: gateways at the top, a gateway's endpoints under its node. */
static void
do_disco_items(struct broker *b, xmpp_stanza_t *iq, xmpp_stanza_t *q)
{
	const char *node = xmpp_stanza_get_attribute(q, "node");
	char session[JID_MAX];
	struct items it = { b, NULL };
	xmpp_stanza_t *r;
	int rc;

	if (!may_read(b, iq))
		return;
	if (node != NULL && registry_session(b->reg, node, session) != 1) {
		refuse(b, iq, C_ITEM_NOT_FOUND, "node %.60s: no such gateway",
		    node);
		return;
	}
	r = reply_to(b, iq, "result");
	it.q = el_new(b, "query", NS_DISCO_ITEMS);
	if (node == NULL)
		rc = registry_gateways(b->reg, item_cb, &it);
	else {
		set_str(it.q, "node", node);
		rc = registry_endpoints(b->reg, node, item_cb, &it);
	}
	add_child(r, it.q);
	if (rc == -1) {
		xmpp_stanza_release(r);
		refuse(b, iq, C_INTERNAL, "registry: %s", registry_error(b->reg));
		return;
	}
	send_release(b, r);
}

/* <query endpoint=UUID/>: the endpoint's metadata. */
static void
do_metadata(struct broker *b, xmpp_stanza_t *iq, xmpp_stanza_t *q)
{
	char uuid[UUID_URN_LEN + 1], why[256];
	struct endpoint ep;
	xmpp_stanza_t *r, *rq;
	int rc;

	if (!may_read(b, iq))
		return;
	if (uuid_attr(q, "endpoint", uuid, why, sizeof(why)) == -1) {
		refuse(b, iq, C_BAD_REQUEST, "%s", why);
		return;
	}
	if ((rc = registry_endpoint(b->reg, uuid, &ep)) != 1) {
		refuse(b, iq, rc == 0 ? C_ITEM_NOT_FOUND : C_INTERNAL,
		    "endpoint %s: %s", uuid, rc == 0 ? "not registered" :
		    registry_error(b->reg));
		return;
	}
	r = reply_to(b, iq, "result");
	rq = el_new(b, "query", BROKER_NS);
	set_str(rq, "endpoint", uuid);
	add_child(rq, endpoint_el(b, &ep));
	add_child(r, rq);
	send_release(b, r);
	endpoint_clear(&ep);
}

/* <stats/>: the counters, for operators. */
static void
do_stats(struct broker *b, xmpp_stanza_t *iq)
{
	char bare[JID_MAX];
	xmpp_stanza_t *r, *s;

	bare_jid(xmpp_stanza_get_from(iq), bare);
	if (!is_operator(b, bare)) {
		refuse(b, iq, C_NOT_AUTHORIZED, "%s is not an operator", bare);
		return;
	}
	r = reply_to(b, iq, "result");
	s = el_new(b, "stats", BROKER_NS);
	if (xgw_set_uint(s, "relayed", b->relayed) == -1 ||
	    xgw_set_uint(s, "acks", b->acks) == -1 ||
	    xgw_set_uint(s, "registrations", b->registrations) == -1 ||
	    xgw_set_uint(s, "flow-changes", b->flow_changes) == -1)
		oom();
	for (int c = 0; c < C_NCONDS; c++)
		if (xgw_set_uint(s, conds[c].name, b->refused[c]) == -1)
			oom();
	add_child(r, s);
	send_release(b, r);
}

static int
is_el(xmpp_stanza_t *el, const char *name, const char *ns)
{
	const char *n = xmpp_stanza_get_name(el), *s = xmpp_stanza_get_ns(el);

	return n != NULL && s != NULL && strcmp(n, name) == 0 &&
	    strcmp(s, ns) == 0;
}

static int
on_iq(xmpp_conn_t *conn, xmpp_stanza_t *iq, void *arg)
{
	struct broker *b = arg;
	const char *type = xmpp_stanza_get_type(iq);
	xmpp_stanza_t *q = xmpp_stanza_get_children(iq);
	int get, set;

	(void)conn;
	while (q != NULL && !xmpp_stanza_is_tag(q))
		q = xmpp_stanza_get_next(q);
	if (type == NULL || xmpp_stanza_get_from(iq) == NULL)
		return 1;
	get = strcmp(type, "get") == 0;
	set = strcmp(type, "set") == 0;
	if (!get && !set)
		return 1;	/* results and errors answer nothing we ask */
	if (q == NULL)
		refuse(b, iq, C_BAD_REQUEST, "<iq type=\"%s\"> without payload",
		    type);
	else if (set && is_el(q, "register", BROKER_NS))
		do_register(b, iq, q);
	else if (set && is_el(q, "flow", BROKER_NS))
		do_flow(b, iq, q);
	else if (get && is_el(q, "query", NS_DISCO_INFO))
		do_disco_info(b, iq, q);
	else if (get && is_el(q, "query", NS_DISCO_ITEMS))
		do_disco_items(b, iq, q);
	else if (get && is_el(q, "query", BROKER_NS))
		do_metadata(b, iq, q);
	else if (get && is_el(q, "stats", BROKER_NS))
		do_stats(b, iq);
	else
		refuse(b, iq, C_SERVICE_UNAVAILABLE, "<%s xmlns=\"%s\"> not "
		    "served here", xmpp_stanza_get_name(q),
		    xmpp_stanza_get_ns(q) ? xmpp_stanza_get_ns(q) : "");
	return 1;
}

/* Sends a copy of payload to gateway gw's session, from the sender's proxy JID. */
static int
relay(struct broker *b, xmpp_stanza_t *st, const char *from_gw,
    const char *to_gw, xmpp_stanza_t *payload)
{
	char session[JID_MAX], from[JID_MAX];
	xmpp_stanza_t *msg, *copy;

	if (registry_session(b->reg, to_gw, session) != 1 ||
	    session[0] == '\0') {
		refuse(b, st, C_RECIPIENT_UNAVAILABLE, "gateway %s has no "
		    "session", to_gw);
		return -1;
	}
	proxy_jid(b, from_gw, from);
	msg = el_new(b, "message", NULL);
	xmpp_stanza_set_type(msg, "normal");
	xmpp_stanza_set_to(msg, session);
	xmpp_stanza_set_from(msg, from);
	if ((copy = xmpp_stanza_copy(payload)) == NULL)
		oom();
	add_child(msg, copy);
	send_release(b, msg);
	return 0;
}

/*
 * Does the active flow allow this PDU?  An event flow carries events from
 * its source to its destination.  A request flow carries requests that
 * way, and responses and events back: the events are the later answers to
 * a request that asked for more than one (CoAP Observe).
 */
static int
flow_allows(const struct flow *f, const struct xgw_meta *m, const char *proto,
    char *why, size_t whylen)
{
	int back = m->dir == XGW_RESPONSE ||
	    (m->dir == XGW_EVENT && f->dir == FLOW_REQUEST);
	const char *s = back ? f->dst : f->src, *d = back ? f->src : f->dst;

	if (!f->active)
		snprintf(why, whylen, "flow %llu is not active",
		    (unsigned long long)f->id);
	else if (strcmp(m->src, s) != 0 || strcmp(m->dst, d) != 0)
		snprintf(why, whylen, "flow %llu carries %ss from %s to %s",
		    (unsigned long long)f->id, xgw_dir_name(m->dir), s, d);
	else if (m->dir != XGW_EVENT && f->dir == FLOW_EVENT)
		snprintf(why, whylen, "flow %llu carries %ss, not %ss",
		    (unsigned long long)f->id, flow_dir_name(f->dir),
		    xgw_dir_name(m->dir));
	else if (strcmp(proto, f->proto) != 0)
		snprintf(why, whylen, "flow %llu carries %s, not %s",
		    (unsigned long long)f->id, f->proto, proto);
	else
		return 1;
	return 0;
}

static void
relay_pdu(struct broker *b, xmpp_stanza_t *msg, const char *gw,
    xmpp_stanza_t *env)
{
	char owner[UUID_URN_LEN + 1], dst_gw[UUID_URN_LEN + 1], why[256];
	xmpp_stanza_t *el;
	struct xgw_verdict v;
	struct xgw_meta m;
	struct xgw_err e;
	struct flow f;
	int rc;

	if (xgw_envelope_parse(env, &m, &el, &e) == -1) {
		refuse(b, msg, C_BAD_REQUEST, "%s", e.msg);
		return;
	}
	if (registry_endpoint_owner(b->reg, m.src, owner) != 1 ||
	    strcmp(owner, gw) != 0) {
		refuse(b, msg, C_NOT_AUTHORIZED, "src %s is not an endpoint of "
		    "gateway %s", m.src, gw);
		return;
	}
	if (registry_endpoint_owner(b->reg, m.dst, dst_gw) != 1) {
		refuse(b, msg, C_ITEM_NOT_FOUND, "dst %s is not a registered "
		    "endpoint", m.dst);
		return;
	}
	if ((rc = registry_flow_get(b->reg, m.route, &f)) != 1) {
		refuse(b, msg, C_POLICY_VIOLATION, "flow %llu: %s",
		    (unsigned long long)m.route, rc == 0 ? "no such flow" :
		    registry_error(b->reg));
		return;
	}
	if (!flow_allows(&f, &m, xgw_element_protocol(el) ?
	    xgw_element_protocol(el)->name : "?", why, sizeof(why))) {
		refuse(b, msg, C_POLICY_VIOLATION, "%s", why);
		return;
	}
	if (b->policy != NULL &&
	    xgw_policy_eval(b->policy, &m, el, now_ms(), &v) != XGW_PASS) {
		refuse(b, msg, C_POLICY_VIOLATION, "rules: %s:%u: %s",
		    v.rule >= 0 ? v.file : "default", v.line, v.reason);
		return;
	}
	if (relay(b, msg, gw, dst_gw, env) == 0)
		b->relayed++;
}

/* <ack/> to a proxy JID goes to the gateway behind it, if a flow joins them. */
static void
relay_ack(struct broker *b, xmpp_stanza_t *msg, const char *gw,
    xmpp_stanza_t *ack)
{
	const char *to = xmpp_stanza_get_to(msg), *at;
	char node[33], target[UUID_URN_LEN + 1], session[JID_MAX];
	int rc;

	node[0] = '\0';
	if ((at = to != NULL ? strchr(to, '@') : NULL) != NULL && at - to == 32)
		snprintf(node, sizeof(node), "%.32s", to);
	if (uuid_from_node(node, target) == -1 ||
	    registry_session(b->reg, target, session) != 1) {
		refuse(b, msg, C_ITEM_NOT_FOUND, "to=%s: not the JID of a "
		    "registered gateway", to != NULL ? to : "");
		return;
	}
	if ((rc = registry_flow_between(b->reg, gw, target)) != 1) {
		refuse(b, msg, rc == 0 ? C_POLICY_VIOLATION : C_INTERNAL,
		    "no active flow joins gateways %s and %s", gw, target);
		return;
	}
	if (relay(b, msg, gw, target, ack) == 0)
		b->acks++;
}

/* A bounce from the server: the session it names is gone. */
static void
message_error(struct broker *b, xmpp_stanza_t *msg)
{
	const char *from = xmpp_stanza_get_from(msg);
	char bare[JID_MAX], gw[UUID_URN_LEN + 1], session[JID_MAX];

	if (from == NULL)
		return;
	bare_jid(from, bare);
	if (registry_gateway_of_jid(b->reg, bare, gw) == 1 &&
	    registry_session(b->reg, gw, session) == 1 &&
	    strcmp(session, from) == 0) {
		log_warnx("gateway=%s session %s bounced a message: forgotten "
		    "until it sends again", gw, from);
		registry_session_set(b->reg, gw, "");
	}
}

static int
on_message(xmpp_conn_t *conn, xmpp_stanza_t *msg, void *arg)
{
	struct broker *b = arg;
	const char *type = xmpp_stanza_get_type(msg);
	char gw[UUID_URN_LEN + 1];
	xmpp_stanza_t *el;

	(void)conn;
	if (type != NULL && strcmp(type, "error") == 0) {
		message_error(b, msg);
		return 1;	/* never answer an error with an error */
	}
	if (xmpp_stanza_get_from(msg) == NULL || !sender_gateway(b, msg, gw))
		return 1;
	if ((el = xmpp_stanza_get_child_by_name_and_ns(msg, "pdu", XGW_NS)))
		relay_pdu(b, msg, gw, el);
	else if ((el = xmpp_stanza_get_child_by_name_and_ns(msg, "ack",
	    XGW_NS)))
		relay_ack(b, msg, gw, el);
	else
		refuse(b, msg, C_SERVICE_UNAVAILABLE, "the broker relays "
		    "<pdu/> and <ack/> in %s only", XGW_NS);
	return 1;
}

static void
schedule_retry(struct broker *b)
{
	unsigned cap = b->backoff_ms ? b->backoff_ms : BACKOFF_MIN_MS;

	b->retry_at_ms = now_ms() + BACKOFF_MIN_MS / 2 +
	    (uint64_t)random() % (cap - BACKOFF_MIN_MS / 2 + 1);
	b->backoff_ms = cap * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : cap * 2;
}

static void
on_conn(xmpp_conn_t *conn, xmpp_conn_event_t ev, int error,
    xmpp_stream_error_t *se, void *arg)
{
	struct broker *b = arg;

	(void)conn;
	b->connecting = 0;
	if (ev == XMPP_CONN_CONNECT) {
		b->up = 1;
		b->backoff_ms = 0;
		log_info("component %s connected to %s:%u", b->jid, b->server,
		    b->port);
		return;
	}
	if (ev != XMPP_CONN_DISCONNECT && ev != XMPP_CONN_FAIL)
		return;
	if (quit) {
		b->up = 0;
		log_info("component %s disconnected", b->jid);
		return;
	}
	log_warnx("component %s: link to %s:%u %s: %s%s%s", b->jid, b->server,
	    b->port, b->up ? "lost" : "failed", error ? strerror(error) :
	    "closed by the server", se && se->text ? ": " : "",
	    se && se->text ? se->text : "");
	b->up = 0;
	schedule_retry(b);
}

/*
 * libstrophe 0.12.2 allocates the stream-management state only in
 * xmpp_connect_client(); xmpp_connect_component() dereferences it and
 * crashes (STACK-NOTES).  A client connect to a name that cannot resolve
 * fails at once and leaves the state allocated on this conn.
 */
static void
component_connect(struct broker *b)
{
	int rc;

	rc = xmpp_connect_client(b->conn, "nonexistent.invalid", 1, NULL, NULL);
	log_debug("stream-management workaround: client connect rc=%d", rc);
	b->connecting = 1;
	if ((rc = xmpp_connect_component(b->conn, b->server, b->port, on_conn,
	    b)) != XMPP_EOK) {
		b->connecting = 0;
		log_warnx("component %s: connect to %s:%u failed at once (%d)",
		    b->jid, b->server, b->port, rc);
		schedule_retry(b);
	}
}

static void
loop(struct broker *b)
{
	while (!quit) {
		if (!b->up && !b->connecting && now_ms() >= b->retry_at_ms)
			component_connect(b);
		xmpp_run_once(b->ctx, 100);
	}
	if (b->up)
		xmpp_disconnect(b->conn);
	for (int i = 0; i < 20 && b->up; i++)
		xmpp_run_once(b->ctx, 50);
}

static void
read_secret(struct broker *b, const char *path)
{
	FILE *f;
	size_t n;

	if ((f = fopen(path, "r")) == NULL)
		fatal("secret file %s", path);
	if (fgets(b->secret, sizeof(b->secret), f) == NULL)
		fatalx("secret file %s: empty", path);
	fclose(f);
	n = strcspn(b->secret, "\r\n");
	if (b->secret[n] == '\0' && n == sizeof(b->secret) - 1)
		fatalx("secret file %s: longer than %zu bytes", path,
		    sizeof(b->secret) - 2);
	b->secret[n] = '\0';
	if (n == 0)
		fatalx("secret file %s: empty first line", path);
}

static void
add_operator(struct broker *b, const char *jid, const char *where)
{
	if (strchr(jid, '@') == NULL || strchr(jid, '/') != NULL ||
	    strlen(jid) >= JID_MAX)
		fatalx("%s: operator %s: expected a bare JID user@domain", where,
		    jid);
	if (b->noperators == MAX_OPERATORS)
		fatalx("%s: more than %d operators", where, MAX_OPERATORS);
	snprintf(b->operators[b->noperators++], JID_MAX, "%s", jid);
}

/* One line of the flows file, split into words; fatal with file:line on error. */
static void
flows_line(struct broker *b, char **w, int n, const char *where)
{
	struct flow f;
	struct xgw_err e;
	char why[256];

	if (strcmp(w[0], "operator") == 0 && n == 2)
		add_operator(b, w[1], where);
	else if (strcmp(w[0], "bind") == 0 && n == 3) {
		struct binding *bd = &b->bindings[b->nbindings];

		if (!xgw_uuid_valid(w[1]))
			fatalx("%s: bind %s: expected urn:uuid: and a lower-case "
			    "UUID", where, w[1]);
		if (strchr(w[2], '@') == NULL || strchr(w[2], '/') != NULL ||
		    strlen(w[2]) >= JID_MAX)
			fatalx("%s: bind %s: expected a bare JID", where, w[2]);
		for (int i = 0; i < b->nbindings; i++)
			if (strcmp(b->bindings[i].jid, w[2]) == 0)
				fatalx("%s: %s is already bound to %s", where,
				    w[2], b->bindings[i].uuid);
		if (b->nbindings == MAX_BINDINGS)
			fatalx("%s: more than %d bindings", where, MAX_BINDINGS);
		memcpy(bd->uuid, w[1], sizeof(bd->uuid));
		snprintf(bd->jid, sizeof(bd->jid), "%s", w[2]);
		b->nbindings++;
	} else if (strcmp(w[0], "flow") == 0 && n == 6) {
		xmpp_stanza_t *el = el_new(b, "flow", NULL);

		memset(&f, 0, sizeof(f));
		if (xgw_set_str(el, "id", w[1]) == -1 ||
		    xgw_set_str(el, "src", w[2]) == -1 ||
		    xgw_set_str(el, "dst", w[3]) == -1 ||
		    xgw_set_str(el, "protocol", w[4]) == -1 ||
		    xgw_set_str(el, "dir", w[5]) == -1)
			oom();
		if (xgw_get_uint(el, "id", FLOW_ID_MAX, &f.id, &e) == -1 ||
		    f.id == 0)
			fatalx("%s: flow id %s: expected a number from 1", where,
			    w[1]);
		if (flow_parse(el, &f, why, sizeof(why)) == -1)
			fatalx("%s: %s", where, why);
		xmpp_stanza_release(el);
		f.active = 1;
		if (registry_flow_put(b->reg, &f) == -1)
			fatalx("%s: registry: %s", where, registry_error(b->reg));
	} else
		fatalx("%s: expected \"operator JID\", \"bind UUID JID\" or "
		    "\"flow ID SRC DST PROTOCOL request|event\"", where);
}

/* The flows file: operators, SCRAM bindings and the flows active at start. */
static void
read_flows(struct broker *b, const char *path)
{
	char line[1024], where[PATH_MAX + 16], *w[8], *p, *save;
	unsigned lineno = 0;
	FILE *f;
	int n;

	if ((f = fopen(path, "r")) == NULL)
		fatal("flows file %s", path);
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		snprintf(where, sizeof(where), "%s:%u", path, lineno);
		if (strchr(line, '\n') == NULL && !feof(f))
			fatalx("%s: line longer than %zu bytes", where,
			    sizeof(line) - 2);
		line[strcspn(line, "#\n")] = '\0';
		n = 0;
		for (p = strtok_r(line, " \t\r", &save); p != NULL;
		    p = strtok_r(NULL, " \t\r", &save)) {
			if (n == 8)
				fatalx("%s: too many words", where);
			w[n++] = p;
		}
		if (n > 0)
			flows_line(b, w, n, where);
	}
	if (ferror(f))
		fatal("flows file %s", path);
	fclose(f);
}

static void
usage(void)
{
	fprintf(stderr, "usage: xgw-broker [-nv] -k secret-file [-c cert-domain] "
	    "[-d database] [-f flows-file]\n"
	    "                  [-j component-jid] [-o operator] [-p port] "
	    "[-r rules] [-s server]\n"
	    "                  [-x pki-dir]\n");
	exit(2);
}

static void
options(struct broker *b, int argc, char **argv, int *checkonly)
{
	const char *secret = NULL, *errstr = NULL;
	char *end;
	long port;
	int ch, verbose = 0;

	while ((ch = getopt(argc, argv, "c:d:f:j:k:no:p:r:s:vx:")) != -1) {
		switch (ch) {
		case 'c': b->cert_domain = optarg; break;
		case 'd': b->db_path = optarg; break;
		case 'f': b->flows_path = optarg; break;
		case 'j': b->jid = optarg; break;
		case 'k': secret = optarg; break;
		case 'n': *checkonly = 1; break;
		case 'o': add_operator(b, optarg, "-o"); break;
		case 'p':
			errno = 0;
			port = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || port < 1 || port > 65535)
				errstr = optarg;
			b->port = port;
			break;
		case 'r': b->rules_path = optarg; break;
		case 's': b->server = optarg; break;
		case 'v': verbose++; break;
		case 'x': b->pki_dir = optarg; break;
		default: usage();
		}
	}
	log_init("xgw-broker", verbose);
	if (errstr != NULL)
		fatalx("-p %s: expected a port from 1 to 65535", errstr);
	if (optind != argc || secret == NULL)
		usage();
	read_secret(b, secret);
}

/*
 * Each relayed stanza is small and the next may follow at once: with
 * Nagle's algorithm it would wait for the server's delayed ACK (40 ms).
 */
static int
sockopt(xmpp_conn_t *conn, void *sock)
{
	int one = 1;

	if (setsockopt(*(int *)sock, IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof(one)) == -1)
		log_warn("TCP_NODELAY");
	return xmpp_sockopt_cb_keepalive(conn, sock);
}

int
main(int argc, char *argv[])
{
	static struct broker b;
	struct xgw_policy_err pe;
	struct sigaction sa;
	char err[512];
	int checkonly = 0;

	b.jid = "broker.localhost";
	b.server = "127.0.0.1";
	b.port = 5347;
	b.db_path = "/var/lib/xgw/broker.db";
	options(&b, argc, argv, &checkonly);
	xmpp_initialize();
	if ((b.ctx = xmpp_ctx_new(NULL, NULL)) == NULL)
		oom();
	if ((b.reg = registry_open(b.db_path, err, sizeof(err))) == NULL)
		fatalx("registry %s", err);
	if (b.flows_path != NULL)
		read_flows(&b, b.flows_path);
	if (b.rules_path != NULL &&
	    (b.policy = xgw_policy_load(b.rules_path, &pe)) == NULL)
		fatalx("%s:%u:%u: %s", pe.file, pe.line, pe.col, pe.msg);
	if (checkonly) {
		log_info("registry %s, %d operators, %d bindings: ok", b.db_path,
		    b.noperators, b.nbindings);
		registry_close(b.reg);
		return 0;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* a lost link must not kill the broker (STACK-NOTES) */
	signal(SIGPIPE, SIG_IGN);
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	if ((b.conn = xmpp_conn_new(b.ctx)) == NULL)
		oom();
	xmpp_conn_set_jid(b.conn, b.jid);
	xmpp_conn_set_pass(b.conn, b.secret);
	xmpp_conn_set_sockopt_callback(b.conn, sockopt);
	xmpp_handler_add(b.conn, on_iq, NULL, "iq", NULL, &b);
	xmpp_handler_add(b.conn, on_message, NULL, "message", NULL, &b);
	log_info("started: component %s, server %s:%u, registry %s, %d "
	    "operators, %d bindings, rules %s", b.jid, b.server, b.port,
	    b.db_path, b.noperators, b.nbindings, b.policy ?
	    b.rules_path : "none");
	loop(&b);
	xmpp_conn_release(b.conn);
	xmpp_ctx_free(b.ctx);
	xmpp_shutdown();
	xgw_policy_free(b.policy);
	registry_close(b.reg);
	log_info("stopped");
	return 0;
}
