/*
 * xgwd: the core daemon.
 *
 * main() reads the configuration and the rules, opens the spool, starts
 * the adapters and the XMPP link, and runs loop(): one poll over the
 * signal pipe, the control socket, the adapters and the link.  Every
 * stanza passes the policy stage on its way in and on its way out
 * (judge()); events go through the spool and are resent until the far
 * side acknowledges them; requests are remembered until answered.
 */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "log.h"
#include "sdnotify.h"
#include "xgwd.h"

#ifndef XGW_ADAPTER_DIR
#define XGW_ADAPTER_DIR	"/usr/libexec/xgw"
#endif
#define STATUS_MS	5000	/* systemd's STATUS line */

static int sigpipe_fds[2];

uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
on_signal(int sig)
{
	int saved = errno;
	unsigned char c = sig;
	ssize_t n;

	/* a full pipe holds a wakeup already: nothing is lost */
	n = write(sigpipe_fds[1], &c, 1);
	(void)n;
	errno = saved;
}

static void
signals_init(void)
{
	struct sigaction sa;

	if (pipe2(sigpipe_fds, O_NONBLOCK | O_CLOEXEC) == -1)
		fatal("pipe");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	/* a lost link must not kill the daemon (STACK-NOTES) */
	signal(SIGPIPE, SIG_IGN);
}

/* The gateway's UUID: configured, or generated once and kept in the state dir. */
static void
gateway_uuid(struct xgwd *x)
{
	char path[PATH_MAX + 16], tmp[PATH_MAX + 32], buf[64];
	uuid_t u;
	FILE *f;

	/* the receiver's places (peers) live here, whoever names the gateway */
	if (mkdir(x->conf->state_dir, 0750) == -1 && errno != EEXIST)
		fatal("mkdir %s", x->conf->state_dir);
	if (x->conf->gateway[0] != '\0') {
		memcpy(x->uuid, x->conf->gateway, sizeof(x->uuid));
		return;
	}
	snprintf(path, sizeof(path), "%s/gateway-uuid", x->conf->state_dir);
	if ((f = fopen(path, "r")) != NULL) {
		if (fgets(buf, sizeof(buf), f) != NULL) {
			buf[strcspn(buf, "\n")] = '\0';
			if (xgw_uuid_valid(buf)) {
				memcpy(x->uuid, buf, sizeof(x->uuid));
				fclose(f);
				return;
			}
		}
		fatalx("%s: not a urn:uuid: line", path);
	}
	uuid_generate_random(u);
	memcpy(x->uuid, "urn:uuid:", 9);
	uuid_unparse_lower(u, x->uuid + 9);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	if ((f = fopen(tmp, "w")) == NULL || fprintf(f, "%s\n", x->uuid) < 0 ||
	    fflush(f) != 0 || fsync(fileno(f)) != 0 || fclose(f) != 0 ||
	    rename(tmp, path) == -1)
		fatal("%s", path);
	log_info("gateway=%s generated and kept in %s", x->uuid, path);
}

static int
is_readings(xmpp_stanza_t *el)
{
	const char *ns = xmpp_stanza_get_ns(el);

	return ns != NULL && strcmp(ns, XGW_NS_READINGS) == 0;
}

/* Is a control client tapping this adapter's verdicts? */
static int
tapped(struct xgwd *x, int adapter)
{
	for (int i = 0; i < MAX_CTL_CLIENTS; i++)
		if (x->ctl[i].fd != -1 && x->ctl[i].tap &&
		    (x->ctl[i].tap_adapter == -1 ||
		    x->ctl[i].tap_adapter == adapter))
			return 1;
	return 0;
}

/* The policy stage, counted and tapped (when someone listens): the action. */
static enum xgw_action
judge(struct xgwd *x, int adapter, const char *way, const struct xgw_meta *m,
    xmpp_stanza_t *el, struct xgw_verdict *v)
{
	const struct xgw_proto *p = xgw_element_protocol(el);
	static const char *const names[] = { "pass", "block", "reject" };
	enum xgw_action a;
	char kind[96], line[512];

	a = xgw_policy_eval(x->policy, m, el, now_ms(), v);
	if (a == XGW_PASS)
		x->c.passed++;
	else if (a == XGW_BLOCK)
		x->c.blocked++;
	else
		x->c.rejected++;
	if (!tapped(x, adapter))
		return a;
	snprintf(line, sizeof(line), "%s flow=%llu seq=%llu dir=%s %s/%s "
	    "src=%s dst=%s verdict=%s rule=%s:%u reason=%s", way,
	    (unsigned long long)m->flow, (unsigned long long)m->seq,
	    xgw_dir_name(m->dir), p ? p->name : "?", is_readings(el) ?
	    "readings" : p ? p->kind(el, kind, sizeof(kind)) : "?",
	    m->src[0] ? m->src : "-",
	    m->dst[0] ? m->dst : "-", names[a], v->rule >= 0 ? v->file : "default",
	    v->line, v->reason);
	control_tap(x, adapter, line);
	return a;
}

char *
xgwd_text(xmpp_stanza_t *st, size_t *len)
{
	char *text;

	if (xmpp_stanza_to_text(st, &text, len) != XMPP_EOK)
		fatalx("out of memory");
	return text;
}

void
xgwd_to_adapter(struct xgwd *x, struct adapter_proc *ap, xmpp_stanza_t *env,
    const struct xgw_meta *m)
{
	size_t len;
	char *text = xgwd_text(env, &len);

	if (proc_send(ap, FRAME_STANZA, m->flow, m->seq, text, len) == -1)
		log_warnx("adapter=%s flow=%llu: not delivered (adapter down or "
		    "queue full)", ap->conf->proto, (unsigned long long)m->flow);
	else
		x->c.to_adapters++;
	xmpp_free(x->ctx, text);
}

/* <message to=JID><payload/></message> over the link; 0 when queued. */
int
xgwd_to_link(struct xgwd *x, const char *to, xmpp_stanza_t *payload)
{
	xmpp_stanza_t *msg = xgw_el_new(x->ctx, "message", NULL);
	int rc;

	if (msg == NULL)
		fatalx("out of memory");
	xmpp_stanza_set_to(msg, to);
	xmpp_stanza_set_type(msg, "normal");
	xmpp_stanza_add_child(msg, payload);
	rc = link_send(x->link, msg);
	xmpp_stanza_release(msg);
	if (rc == 0)
		x->c.to_link++;
	return rc;
}

/* An outbound request's entry: our adapters' flows and seqs are unique here. */
static struct pending *
pending_find(struct pending *tab, uint64_t flow, uint64_t seq)
{
	for (int i = 0; i < MAX_PENDING; i++)
		if (tab[i].used && tab[i].flow == flow && tab[i].seq == seq)
			return &tab[i];
	return NULL;
}

/*
 * The request from afar a local answer belongs to: flows and sequence
 * numbers are the asking adapter's, so two gateways' may coincide; the
 * answer goes to whoever asked, its dst.
 */
static struct pending *
pending_answered(struct xgwd *x, const struct xgw_meta *m)
{
	for (int i = 0; i < MAX_PENDING; i++) {
		struct pending *pd = &x->in[i];

		if (pd->used && pd->flow == m->flow && pd->seq == m->seq &&
		    strcmp(pd->src, m->dst) == 0)
			return pd;
	}
	return NULL;
}

static struct pending *
pending_add(struct pending *tab, uint64_t flow, uint64_t seq, unsigned ttl)
{
	uint64_t now = now_ms();

	for (int i = 0; i < MAX_PENDING; i++)
		if (!tab[i].used || tab[i].expires_ms < now) {
			memset(&tab[i], 0, sizeof(tab[i]));
			tab[i].used = 1;
			tab[i].flow = flow;
			tab[i].seq = seq;
			tab[i].expires_ms = now + ttl;
			return &tab[i];
		}
	return NULL;
}

/* Tells the adapter a request could not be carried (it answers with the protocol's error). */
void
xgwd_fail(struct xgwd *x, struct adapter_proc *ap, const struct xgw_meta *m,
    const char *why)
{
	x->c.requests_failed++;
	proc_send(ap, FRAME_FAIL, m->flow, m->seq, why, strlen(why));
}

/*
 * With a broker, traffic leaves only on a flow it activated: the envelope
 * carries the flow's id, which the broker checks before relaying.  A
 * request flow also carries events back from its destination to its
 * source: the later answers to a request that asked for more than one
 * (CoAP Observe).
 */
static struct bflow *
flow_for(struct xgwd *x, const struct xgw_meta *m, const char *proto)
{
	for (int i = 0; i < x->nflows; i++) {
		struct bflow *f = &x->flows[i];

		if (!f->active || strcmp(f->proto, proto) != 0)
			continue;
		if (f->dir == m->dir && strcmp(f->src, m->src) == 0 &&
		    (m->dst[0] == '\0' || strcmp(f->dst, m->dst) == 0))
			return f;
		if (f->dir == XGW_REQUEST && m->dir == XGW_EVENT &&
		    strcmp(f->dst, m->src) == 0 && strcmp(f->src, m->dst) == 0)
			return f;
	}
	return NULL;
}

/* <flow id src dst protocol dir state/> from a registration result or a push. */
static void
flow_update(struct xgwd *x, xmpp_stanza_t *el)
{
	const char *src = xmpp_stanza_get_attribute(el, "src");
	const char *dst = xmpp_stanza_get_attribute(el, "dst");
	const char *proto = xmpp_stanza_get_attribute(el, "protocol");
	const char *dir = xmpp_stanza_get_attribute(el, "dir");
	const char *state = xmpp_stanza_get_attribute(el, "state");
	struct xgw_err e;
	struct bflow *f = NULL;
	uint64_t id;

	if (xgw_get_uint(el, "id", INT64_MAX, &id, &e) == -1 || src == NULL ||
	    dst == NULL || proto == NULL || dir == NULL || state == NULL ||
	    !xgw_uuid_valid(src) || !xgw_uuid_valid(dst) ||
	    xgw_proto_find(proto) == NULL ||
	    (strcmp(dir, "request") != 0 && strcmp(dir, "event") != 0)) {
		log_warnx("broker: malformed flow ignored");
		return;
	}
	for (int i = 0; i < x->nflows; i++)
		if (x->flows[i].id == id)
			f = &x->flows[i];
	if (f == NULL) {
		if (x->nflows == MAX_FLOWS) {
			log_warnx("broker: flow %llu ignored: %d flows already",
			    (unsigned long long)id, MAX_FLOWS);
			return;
		}
		f = &x->flows[x->nflows++];
	}
	f->id = id;
	snprintf(f->src, sizeof(f->src), "%s", src);
	snprintf(f->dst, sizeof(f->dst), "%s", dst);
	snprintf(f->proto, sizeof(f->proto), "%s", proto);
	f->dir = strcmp(dir, "event") == 0 ? XGW_EVENT : XGW_REQUEST;
	f->active = strcmp(state, "active") == 0;
	log_info("broker: flow=%llu %s %s %s -> %s %s", (unsigned long long)id,
	    proto, dir, src, dst, f->active ? "active" : "inactive");
}

static void
flows_from(struct xgwd *x, xmpp_stanza_t *parent)
{
	for (xmpp_stanza_t *c = xmpp_stanza_get_children(parent); c != NULL;
	    c = xmpp_stanza_get_next(c))
		if (xmpp_stanza_is_tag(c) &&
		    strcmp(xmpp_stanza_get_name(c), "flow") == 0)
			flow_update(x, c);
}

static xmpp_stanza_t *
endpoint_el(struct xgwd *x, const char *uuid, const char *proto,
    const char *name)
{
	xmpp_stanza_t *ep = xgw_el_new(x->ctx, "endpoint", NULL);

	if (ep == NULL || xgw_set_str(ep, "uuid", uuid) == -1 ||
	    xgw_set_str(ep, "protocol", proto) == -1 ||
	    xgw_set_str(ep, "name", name) == -1)
		fatalx("out of memory");
	return ep;
}

/*
 * At every new session: this gateway and all its endpoints, the client
 * side of each adapter and every device it serves.  The answer carries
 * the flows that concern us.
 */
static void
broker_register(struct xgwd *x)
{
	xmpp_stanza_t *iq, *reg;
	char id[32], name[32];

	iq = xgw_el_new(x->ctx, "iq", NULL);
	reg = xgw_el_new(x->ctx, "register", XGW_NS_BROKER);
	if (iq == NULL || reg == NULL)
		fatalx("out of memory");
	snprintf(id, sizeof(id), "reg-%u", ++x->registrations);
	xmpp_stanza_set_type(iq, "set");
	xmpp_stanza_set_id(iq, id);
	xmpp_stanza_set_to(iq, x->conf->xmpp.broker);
	xgw_set_str(reg, "gateway", x->uuid);
	for (int i = 0; i < x->nadapters; i++) {
		const struct conf_adapter *ca = x->adapters[i].conf;

		if (ca->listen[0] != '\0')
			xgw_el_add(reg, endpoint_el(x, x->adapters[i].endpoint,
			    ca->proto, "clients"));
		for (int d = 0; d < ca->ndevices; d++) {
			snprintf(name, sizeof(name), "device-%d", d + 1);
			xgw_el_add(reg, endpoint_el(x, ca->devices[d].uuid,
			    ca->proto, name));
		}
	}
	xgw_el_add(iq, reg);
	if (link_send(x->link, iq) == -1)
		log_warnx("broker: registration not sent");
	xmpp_stanza_release(iq);
}

static void
broker_iq(struct xgwd *x, xmpp_stanza_t *iq)
{
	const char *type = xmpp_stanza_get_type(iq);
	xmpp_stanza_t *reg, *err, *c;

	if (type == NULL || strncmp(xmpp_stanza_get_id(iq) ?
	    xmpp_stanza_get_id(iq) : "", "reg-", 4) != 0)
		return;
	if (strcmp(type, "result") == 0) {
		log_info("broker: registered as %s", x->uuid);
		if ((reg = xmpp_stanza_get_child_by_name_and_ns(iq, "register",
		    XGW_NS_BROKER)) != NULL)
			flows_from(x, reg);
		return;
	}
	err = xmpp_stanza_get_child_by_name(iq, "error");
	c = err != NULL ? xmpp_stanza_get_children(err) : NULL;
	while (c != NULL && !xmpp_stanza_is_tag(c))
		c = xmpp_stanza_get_next(c);
	log_warnx("broker: registration refused: %s",
	    c != NULL ? xmpp_stanza_get_name(c) : "no reason given");
}

/* The answer a rejected request gets in the far side's place; *rm its meta. */
static xmpp_stanza_t *
reject_answer(struct xgwd *x, const struct xgw_meta *m, xmpp_stanza_t *el,
    const struct xgw_verdict *v, struct xgw_meta *rm)
{
	xmpp_stanza_t *reply, *renv;

	if ((reply = xgw_reject_reply(x->ctx, el, v, 0)) == NULL)
		return NULL;
	*rm = *m;
	memcpy(rm->src, m->dst, sizeof(rm->src));
	memcpy(rm->dst, m->src, sizeof(rm->dst));
	rm->dir = XGW_RESPONSE;
	renv = xgw_envelope(x->ctx, rm, reply);
	xmpp_stanza_release(reply);
	return renv;
}

/*
 * What goes on in a rejected stanza's place, with its meta: a streamed
 * body's part is replaced by the cancel of its stream, so that the other
 * end stops now rather than by its timer.  *elp: its element.
 */
static xmpp_stanza_t *
reject_onward(struct xgwd *x, const struct xgw_meta *m, xmpp_stanza_t *el,
    xmpp_stanza_t **elp)
{
	xmpp_stanza_t *onward, *renv;

	if (m->dir == XGW_EVENT ||
	    (onward = xgw_reject_onward(x->ctx, el)) == NULL)
		return NULL;
	if ((renv = xgw_envelope(x->ctx, m, onward)) != NULL && elp != NULL)
		*elp = onward;		/* held by renv */
	xmpp_stanza_release(onward);
	return renv;
}

/*
 * A stanza from afar that the rules stop.  A request they reject is
 * answered, on the route it came by, as one of ours would be; what goes
 * on in a rejected stanza's place is returned, to be carried as it would
 * have been.  An answer they block fails its request now rather than by
 * its timer.
 */
static xmpp_stanza_t *
refused_from_link(struct xgwd *x, const char *from, const struct xgw_meta *m,
    xmpp_stanza_t *el, enum xgw_action action, const struct xgw_verdict *v)
{
	xmpp_stanza_t *renv;
	struct xgw_meta rm;
	struct pending *pd;

	if (action == XGW_REJECT && m->dir == XGW_REQUEST &&
	    (renv = reject_answer(x, m, el, v, &rm)) != NULL) {
		xgwd_to_link(x, from, renv);
		xmpp_stanza_release(renv);
	}
	if (action == XGW_REJECT &&
	    (renv = reject_onward(x, m, el, NULL)) != NULL)
		return renv;
	if (m->dir == XGW_RESPONSE &&
	    (pd = pending_find(x->out, m->flow, m->seq)) != NULL) {
		if (pd->adapter < x->nadapters)
			proc_send(&x->adapters[pd->adapter], FRAME_FAIL, m->flow,
			    m->seq, "denied", 6);
		pd->used = 0;
	}
	return NULL;
}

/* A stanza from an adapter: inspect, then spool, send or answer. */
void
xgwd_stanza_from_adapter(struct xgwd *x, struct adapter_proc *ap,
    const struct frame *f)
{
	xmpp_stanza_t *env, *el, *renv;
	struct xgw_verdict v;
	struct xgw_meta m, rm;
	struct xgw_err e;
	struct pending *pd;
	int onward = 0;

	x->c.from_adapters++;
	if ((env = xmpp_stanza_new_from_string(x->ctx,
	    (const char *)f->payload)) == NULL ||
	    xgw_envelope_parse(env, &m, &el, &e) == -1) {
		x->c.bad_stanzas++;
		log_warnx("adapter=%s flow=%llu: bad stanza: %s", ap->conf->proto,
		    (unsigned long long)f->flow, env ? e.msg : "not XML");
		if (env != NULL)
			xmpp_stanza_release(env);
		return;
	}
	switch (judge(x, ap->id, "out", &m, el, &v)) {
	case XGW_PASS:
		break;
	case XGW_REJECT:
		if (m.dir == XGW_REQUEST &&
		    (renv = reject_answer(x, &m, el, &v, &rm)) != NULL) {
			xgwd_to_adapter(x, ap, renv, &rm);
			xmpp_stanza_release(renv);
		}
		if ((renv = reject_onward(x, &m, el, &el)) != NULL) {
			xmpp_stanza_release(env);
			env = renv;
			onward = 1;
			break;
		}
		/* FALLTHROUGH */
	case XGW_BLOCK:
		/* an event is never taken: the adapter may let it go */
		if (m.dir == XGW_EVENT)
			proc_send(ap, FRAME_FAIL, m.flow, m.seq, "denied", 6);
		xmpp_stanza_release(env);
		return;
	}
	if (x->broker_mode && m.dir != XGW_RESPONSE) {
		const struct xgw_proto *pp = xgw_element_protocol(el);
		struct bflow *bf = pp != NULL ? flow_for(x, &m, pp->name) : NULL;

		if (bf == NULL) {
			x->c.no_flow++;
			log_warnx("adapter=%s %s %s -> %s: no active flow; refused",
			    ap->conf->proto, xgw_dir_name(m.dir), m.src, m.dst);
			xgwd_fail(x, ap, &m, "no-flow");
			xmpp_stanza_release(env);
			return;
		}
		/* the adapter's own flow stays: its answers and events find it */
		m.route = bf->id;
		xgw_set_uint(env, "route", m.route);
		/* readings name no subscriber: the flow does */
		if (m.dst[0] == '\0') {
			memcpy(m.dst, bf->dst, sizeof(m.dst));
			xgw_set_str(env, "dst", m.dst);
		}
	}
	switch (m.dir) {
	case XGW_EVENT:
		event_spool(x, ap, env, &m);
		event_pump(x);
		break;
	case XGW_REQUEST:
		/* answered already: whatever comes back for it is not awaited */
		if (onward) {
			xgwd_to_link(x, x->conf->xmpp.broker, env);
			break;
		}
		if (!link_is_up(x->link)) {
			xgwd_fail(x, ap, &m, "link-down");
			break;
		}
		if ((pd = pending_add(x->out, m.flow, m.seq,
		    ap->conf->timeout_ms + 1000)) == NULL) {
			xgwd_fail(x, ap, &m, "busy");
			break;
		}
		pd->adapter = ap->id;
		if (xgwd_to_link(x, x->conf->xmpp.broker, env) == -1) {
			pd->used = 0;
			xgwd_fail(x, ap, &m, "link-down");
		}
		break;
	case XGW_RESPONSE:
		/* the answer of a local device to a request from afar */
		if ((pd = pending_answered(x, &m)) == NULL) {
			log_warnx("adapter=%s flow=%llu seq=%llu: response to "
			    "no pending request; dropped", ap->conf->proto,
			    (unsigned long long)m.flow, (unsigned long long)m.seq);
			break;
		}
		if (pd->route != 0)
			xgw_set_uint(env, "route", pd->route);
		xgwd_to_link(x, pd->from, env);
		pd->used = 0;
		break;
	}
	xmpp_stanza_release(env);
}

static void
on_link_stanza(void *arg, xmpp_stanza_t *st)
{
	struct xgwd *x = arg;
	const char *from = xmpp_stanza_get_from(st);
	const char *name = xmpp_stanza_get_name(st);
	xmpp_stanza_t *env, *el, *onward = NULL;
	struct adapter_proc *ap;
	const struct xgw_proto *p = NULL;
	struct xgw_verdict v;
	enum xgw_action action;
	struct xgw_meta m;
	struct xgw_err e;
	struct pending *pd;

	if (name == NULL || from == NULL)
		return;
	if (strcmp(name, "iq") == 0) {
		if (x->broker_mode && strcmp(from, x->conf->xmpp.broker) == 0)
			broker_iq(x, st);
		return;
	}
	if (strcmp(name, "message") != 0)
		return;
	x->c.from_link++;
	if (x->broker_mode && strcmp(from, x->conf->xmpp.broker) == 0 &&
	    (el = xmpp_stanza_get_child_by_name_and_ns(st, "flows",
	    XGW_NS_BROKER)) != NULL) {
		flows_from(x, el);
		return;
	}
	if ((el = xmpp_stanza_get_child_by_name_and_ns(st, "ack", XGW_NS)) != NULL) {
		event_ack(x, el);
		return;
	}
	if ((env = xmpp_stanza_get_child_by_name_and_ns(st, "pdu", XGW_NS)) == NULL)
		return;
	if (xgw_envelope_parse(env, &m, &el, &e) == -1) {
		x->c.bad_stanzas++;
		log_warnx("from=%s: bad stanza: %s", from, e.msg);
		return;
	}
	if ((p = xgw_element_protocol(el)) == NULL) {
		x->c.bad_stanzas++;
		log_warnx("from=%s: bad stanza: <%s> is no known protocol", from,
		    xmpp_stanza_get_name(el));
		return;
	}
	/* readings are judged and acknowledged here; no adapter takes them yet */
	ap = is_readings(el) ? NULL : proc_by_proto(x, p->name);
	if ((action = judge(x, ap ? ap->id : -1, "in", &m, el, &v)) !=
	    XGW_PASS) {
		if ((onward = refused_from_link(x, from, &m, el, action, &v)) ==
		    NULL)
			return;
		env = onward;
	}
	switch (m.dir) {
	case XGW_EVENT:
		event_from_link(x, from, env, &m, ap);
		break;
	case XGW_REQUEST:
		if (ap == NULL) {
			log_warnx("from=%s: %s request, no such adapter here",
			    from, p->name);
			break;
		}
		if ((pd = pending_add(x->in, m.flow, m.seq, 60000)) == NULL)
			break;
		snprintf(pd->from, sizeof(pd->from), "%s", from);
		memcpy(pd->src, m.src, sizeof(pd->src));
		pd->route = m.route;
		xgwd_to_adapter(x, ap, env, &m);
		break;
	case XGW_RESPONSE:
		if ((pd = pending_find(x->out, m.flow, m.seq)) == NULL)
			break;
		if (pd->adapter < x->nadapters)
			xgwd_to_adapter(x, &x->adapters[pd->adapter], env, &m);
		pd->used = 0;
		break;
	}
	if (onward != NULL)
		xmpp_stanza_release(onward);
}

static void
on_link_up(void *arg, int resumed)
{
	struct xgwd *x = arg;
	struct spool_stats ss;

	spool_stats(x->spool, &ss);
	log_info("link up%s; resending events after seq=%llu",
	    resumed ? " (session resumed)" : "", (unsigned long long)ss.acked);
	if (x->broker_mode)
		broker_register(x);
	event_link_up(x);
}

static void
on_link_down(void *arg, const char *why)
{
	(void)arg;
	log_warnx("link down: %s", why);
}

static void
adapter_input(struct xgwd *x, struct adapter_proc *ap)
{
	const char *why;
	struct frame f;
	int rc;

	while ((rc = frame_read(&ap->rd, ap->fd, &f, &why)) == 1) {
		ap->frames_in++;
		if (f.adapter != ap->id) {
			ap->bad_frames++;
			proc_close(x, ap, "frame names another adapter");
			return;
		}
		switch (f.type) {
		case FRAME_HELLO:
			log_info("adapter=%s pid=%d hello: %s", ap->conf->proto,
			    (int)ap->pid, (const char *)f.payload);
			break;
		case FRAME_READY:
			ap->ready = 1;
			ap->confirms = strcmp((const char *)f.payload,
			    "delivery-confirmed") == 0;
			break;
		case FRAME_DELIVERED:
			if (ap->confirms)
				event_delivered(x, ap, f.seq);
			break;
		case FRAME_STANZA:
			xgwd_stanza_from_adapter(x, ap, &f);
			break;
		case FRAME_STATS:
			break;
		default:
			ap->bad_frames++;
			proc_close(x, ap, "frame type not sent by adapters");
			return;
		}
	}
	if (rc == -1) {
		if (strcmp(why, "eof") != 0)
			ap->bad_frames++;
		proc_close(x, ap, why);
	}

}

static void
policy_log(void *arg, const char *line)
{
	(void)arg;
	log_warnx("%s", line);
}

/* One line for systemctl status: the link, the spool, the adapters. */
static void
notify_status(struct xgwd *x, const char *ready)
{
	struct link_stats ls;
	struct spool_stats ss;
	int up = 0;

	link_stats(x->link, &ls);
	spool_stats(x->spool, &ss);
	for (int i = 0; i < x->nadapters; i++)
		up += x->adapters[i].ready;
	sdnotify("%sSTATUS=link %s, spool %llu events (%llu of %llu bytes), "
	    "%d of %d adapters ready", ready, ls.state,
	    (unsigned long long)ss.records, (unsigned long long)ss.bytes,
	    (unsigned long long)ss.max_bytes, up, x->nadapters);
}

/* systemd: the watchdog at half its interval, the status every few seconds. */
static void
notify_timers(struct xgwd *x)
{
	static uint64_t next_watchdog, next_status;
	uint64_t now = now_ms();

	if (x->watchdog_ms != 0 && now >= next_watchdog) {
		sdnotify("WATCHDOG=1");
		next_watchdog = now + x->watchdog_ms / 2;
	}
	if (now >= next_status) {
		notify_status(x, "");
		next_status = now + STATUS_MS;
	}
}

int
xgwd_reload(struct xgwd *x, char *msg, size_t len)
{
	struct xgw_policy_err pe;
	struct xgw_policy *pol;

	sdnotify_reloading();
	if ((pol = xgw_policy_load(x->conf->rules, &pe)) == NULL) {
		snprintf(msg, len, "%s:%u:%u: %s; the running rules stay",
		    pe.file, pe.line, pe.col, pe.msg);
		log_warnx("reload: %s", msg);
		/* the running rules stay in force: ready as before */
		notify_status(x, "READY=1\n");
		return -1;
	}
	xgw_policy_adopt_counters(pol, x->policy);
	xgw_policy_set_logger(pol, policy_log, NULL, 10000);
	xgw_policy_log_flush(x->policy, now_ms());
	xgw_policy_free(x->policy);
	x->policy = pol;
	snprintf(msg, len, "%s: %d rules", x->conf->rules,
	    xgw_policy_nrules(pol));
	log_info("reload: %s", msg);
	notify_status(x, "READY=1\n");
	return 0;
}

void
xgwd_status(struct xgwd *x, char *buf, size_t len)
{
	struct link_stats ls;
	struct spool_stats ss;
	size_t n = 0;
	uint64_t now = now_ms();

#define OUT(...) do {							\
	if (n < len)							\
		n += snprintf(buf + n, len - n, __VA_ARGS__);		\
} while (0)
	link_stats(x->link, &ls);
	spool_stats(x->spool, &ss);
	OUT("gateway %s uptime %llus\n", x->uuid,
	    (unsigned long long)(now - x->start_ms) / 1000);
	OUT("link %s server %s:%u tls %s resumed %s jid %s connects %llu "
	    "reconnects %llu%s%s\n", ls.state, x->conf->xmpp.server,
	    x->conf->xmpp.port, x->conf->xmpp.tls == CONF_DIRECT_TLS ?
	    "direct" : "starttls", ls.resumed ? "yes" : "no",
	    ls.bound_jid[0] ? ls.bound_jid : "-",
	    (unsigned long long)ls.connects, (unsigned long long)ls.reconnects,
	    ls.last_error[0] ? " last-error " : "", ls.last_error);
	OUT("spool depth %llu bytes %llu max %llu next-seq %llu acked %llu "
	    "sent %llu refused %llu\n", (unsigned long long)ss.records,
	    (unsigned long long)ss.bytes, (unsigned long long)ss.max_bytes,
	    (unsigned long long)ss.next_seq, (unsigned long long)ss.acked,
	    (unsigned long long)x->sent_upto, (unsigned long long)ss.refused);
	for (int i = 0; i < x->nlanes; i++)
		if (x->lanes[i].last > ss.acked)
				OUT("lane %s last %llu acked %llu held %llu\n",
			    x->lanes[i].dst[0] ? x->lanes[i].dst : "-",
			    (unsigned long long)x->lanes[i].last,
			    (unsigned long long)x->lanes[i].acked,
			    (unsigned long long)x->lanes[i].held);
	for (int i = 0; i < x->nplaces; i++)
		OUT("place %s %s seq %llu done %llu acked %llu\n",
		    x->places[i].jid, x->places[i].lane[0] ?
		    x->places[i].lane : "-",
		    (unsigned long long)x->places[i].seq,
		    (unsigned long long)x->places[i].done,
		    (unsigned long long)x->places[i].acked);
	for (int i = 0; i < x->nadapters; i++) {
		struct adapter_proc *ap = &x->adapters[i];

		OUT("adapter %s pid %d %s uptime %llus restarts %u frames-in "
		    "%llu frames-out %llu bad-frames %llu endpoint %s\n",
		    ap->conf->proto,
		    (int)ap->pid, ap->pid == 0 ? "down" : ap->ready ? "ready" :
		    "starting", ap->pid ? (unsigned long long)(now -
		    ap->started_ms) / 1000 : 0ULL, ap->restarts,
		    (unsigned long long)ap->frames_in,
		    (unsigned long long)ap->frames_out,
		    (unsigned long long)ap->bad_frames, ap->endpoint);
	}
	for (int i = 0; i < x->nflows; i++)
		OUT("flow %llu %s %s %s -> %s %s\n",
		    (unsigned long long)x->flows[i].id, x->flows[i].proto,
		    xgw_dir_name(x->flows[i].dir), x->flows[i].src,
		    x->flows[i].dst, x->flows[i].active ? "active" : "inactive");
	OUT("stanzas passed %llu blocked %llu rejected %llu bad %llu "
	    "duplicates %llu requests-failed %llu no-flow %llu\n",
	    (unsigned long long)x->c.passed, (unsigned long long)x->c.blocked,
	    (unsigned long long)x->c.rejected,
	    (unsigned long long)x->c.bad_stanzas,
	    (unsigned long long)x->c.duplicates,
	    (unsigned long long)x->c.requests_failed,
	    (unsigned long long)x->c.no_flow);
	for (int i = -1; i < xgw_policy_nrules(x->policy); i++) {
		const struct xgw_policy_counters *pc =
		    xgw_policy_counters(x->policy, i);

		OUT("rule %d evals %llu matches %llu bytes %llu limited %llu: %s\n",
		    i + 1, (unsigned long long)pc->evals,
		    (unsigned long long)pc->matches,
		    (unsigned long long)pc->bytes,
		    (unsigned long long)pc->limited,
		    xgw_policy_rule_text(x->policy, i));
	}
#undef OUT
}

static void
handle_signals(struct xgwd *x)
{
	unsigned char c;
	char msg[512];

	while (read(sigpipe_fds[0], &c, 1) == 1) {
		switch (c) {
		case SIGHUP:
			xgwd_reload(x, msg, sizeof(msg));
			break;
		case SIGTERM:
		case SIGINT:
			log_info("stopping on signal %d", c);
			x->quit = 1;
			break;
		case SIGCHLD:
			proc_reap(x);
			break;
		}
	}
}

static int
poll_timeout(struct xgwd *x)
{
	int t = link_timeout_ms(x->link), p = proc_timeout_ms(x);

	if (t < 0 || t > 1000)
		t = 1000;
	if (p >= 0 && p < t)
		t = p;
	if ((p = event_timeout_ms(x)) >= 0 && p < t)
		t = p;
	/* TLS may hold decrypted bytes that poll cannot see */
	if (link_is_up(x->link) && t > 50)
		t = 50;
	return t;
}

static void
loop(struct xgwd *x)
{
	struct pollfd pfd[3 + CONF_MAX_ADAPTERS + MAX_CTL_CLIENTS];
	int ai[CONF_MAX_ADAPTERS], ci[MAX_CTL_CLIENTS];

	while (!x->quit) {
		int n = 0, na = 0, nc = 0, lfd = link_fd(x->link);

		pfd[n++] = (struct pollfd){ sigpipe_fds[0], POLLIN, 0 };
		pfd[n++] = (struct pollfd){ x->ctl_fd, POLLIN, 0 };
		pfd[n++] = (struct pollfd){ lfd, link_events(x->link), 0 };
		for (int i = 0; i < x->nadapters; i++) {
			struct adapter_proc *ap = &x->adapters[i];

			if (ap->fd == -1)
				continue;
			ai[na++] = i;
			pfd[n++] = (struct pollfd){ ap->fd, POLLIN |
			    (frame_pending(&ap->wr) ? POLLOUT : 0), 0 };
		}
		for (int i = 0; i < MAX_CTL_CLIENTS; i++) {
			struct ctl_client *c = &x->ctl[i];

			if (c->fd == -1)
				continue;
			ci[nc++] = i;
			pfd[n++] = (struct pollfd){ c->fd, POLLIN |
			    (c->outlen ? POLLOUT : 0), 0 };
		}
		if (poll(pfd, n, poll_timeout(x)) == -1 && errno != EINTR)
			fatal("poll");
		if (pfd[0].revents & POLLIN)
			handle_signals(x);
		if (pfd[1].revents & POLLIN)
			control_accept(x);
		for (int i = 0; i < na; i++) {
			struct adapter_proc *ap = &x->adapters[ai[i]];
			short re = pfd[3 + i].revents;

			if (ap->fd != -1 && (re & (POLLIN | POLLHUP | POLLERR)))
				adapter_input(x, ap);
			if (ap->fd != -1 && (re & POLLOUT) &&
			    frame_flush(&ap->wr, ap->fd) == -1)
				proc_close(x, ap, "write failed");
		}
		for (int i = 0; i < nc; i++) {
			struct ctl_client *c = &x->ctl[ci[i]];
			short re = pfd[3 + na + i].revents;

			if (c->fd != -1 && (re & (POLLIN | POLLHUP | POLLERR)))
				control_read(x, c);
			if (c->fd != -1 && (re & POLLOUT))
				control_flush(x, c);
		}
		link_run(x->link, pfd[2].revents);
		event_pump(x);
		event_timers(x);
		proc_timers(x);
		notify_timers(x);
		for (int i = 0; i < x->nadapters; i++)
			if (x->adapters[i].fd != -1 &&
			    frame_pending(&x->adapters[i].wr))
				frame_flush(&x->adapters[i].wr, x->adapters[i].fd);
		/*
		 * Group commit: one fsync for all the events this turn
		 * took.  Under load a turn takes many, and the time an fsync
		 * takes gathers the next batch; when quiet an event waits
		 * for nothing but its own fsync.
		 */
		if (x->spool_dirty) {
			event_flush(x);
			event_pump(x);
		}
	}
}

static void
usage(void)
{
	fprintf(stderr, "usage: xgwd [-dnv] [-f file]\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	static struct xgwd x;
	struct conf_err ce;
	struct xgw_policy_err pe;
	struct link_conf lc;
	struct link_cb cb = { on_link_up, on_link_down, on_link_stanza, &x };
	int ch, checkonly = 0, verbose = 0;

	x.conf_path = "/etc/xgw/xgw.conf";
	while ((ch = getopt(argc, argv, "df:nv")) != -1) {
		switch (ch) {
		case 'd':
			break;		/* always in the foreground: systemd's way */
		case 'f':
			x.conf_path = optarg;
			break;
		case 'n':
			checkonly = 1;
			break;
		case 'v':
			verbose++;
			break;
		default:
			usage();
		}
	}
	log_init("xgwd", verbose);
	if ((x.conf = conf_load(x.conf_path, &ce)) == NULL) {
		if (ce.line > 0)
			fprintf(stderr, "%s:%u:%u: %s\n", ce.file, ce.line,
			    ce.col, ce.msg);
		else
			fprintf(stderr, "%s: %s\n", ce.file, ce.msg);
		return 1;
	}
	if (checkonly) {
		conf_print(x.conf, stdout);
		return 0;
	}
	if ((x.policy = xgw_policy_load(x.conf->rules, &pe)) == NULL)
		fatalx("%s:%u:%u: %s", pe.file, pe.line, pe.col, pe.msg);
	xgw_policy_set_logger(x.policy, policy_log, NULL, 10000);
	signals_init();
	x.start_ms = now_ms();
	x.watchdog_ms = sdnotify_watchdog_usec() / 1000;
	x.adapter_dir = getenv("XGW_ADAPTER_DIR") ? getenv("XGW_ADAPTER_DIR") :
	    XGW_ADAPTER_DIR;
	gateway_uuid(&x);
	/* a component's JID has no node: the broker; a user's: a peer gateway */
	x.broker_mode = strchr(x.conf->xmpp.broker, '@') == NULL;
	event_open(&x);
	for (int i = 0; i < MAX_CTL_CLIENTS; i++)
		x.ctl[i].fd = -1;
	x.ctl_fd = control_listen(x.conf->control);
	xmpp_initialize();
	if ((x.ctx = xmpp_ctx_new(NULL, NULL)) == NULL)
		fatalx("out of memory");
	memset(&lc, 0, sizeof(lc));
	lc.server = x.conf->xmpp.server;
	lc.port = x.conf->xmpp.port;
	lc.direct_tls = x.conf->xmpp.tls == CONF_DIRECT_TLS;
	lc.ca = x.conf->xmpp.ca;
	lc.cert = x.conf->xmpp.cert[0] ? x.conf->xmpp.cert : NULL;
	lc.key = x.conf->xmpp.key[0] ? x.conf->xmpp.key : NULL;
	lc.jid = x.conf->xmpp.jid[0] ? x.conf->xmpp.jid : NULL;
	lc.password = x.conf->xmpp.password[0] ? x.conf->xmpp.password : NULL;
	lc.ping_s = x.conf->xmpp.ping_s;
	if ((x.link = link_new(x.ctx, &lc, &cb)) == NULL)
		fatalx("link setup failed");
	proc_start_all(&x);
	link_start(x.link);
	log_info("gateway=%s started: %d adapters, rules %s (%d), spool %s",
	    x.uuid, x.nadapters, x.conf->rules, xgw_policy_nrules(x.policy),
	    x.conf->spool_dir);
	notify_status(&x, "READY=1\n");
	loop(&x);
	sdnotify("STOPPING=1");
	event_flush(&x);
	proc_stop_all(&x);
	link_stop(x.link);
	spool_close(x.spool);
	unlink(x.conf->control);
	xgw_policy_log_flush(x.policy, now_ms());
	log_info("stopped");
	return 0;
}
