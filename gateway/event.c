/*
 * Events, both ways: nothing acknowledged is lost, nothing is handed on
 * twice, and one far gateway's trouble does not reorder another's events.
 *
 * Sending.  An event is appended to the spool with the gateway's next
 * sequence number and leaves once it is durable, at most `window` sent
 * and not settled.  A gateway's events may go to endpoints on several far
 * gateways, and each of those sees only its own.  So every event belongs
 * to a lane, the endpoint it is for (its dst), and names the lane's
 * previous event (`prev`); a spool record is "DST\n" and the envelope's
 * text, so that the lane is known again after a restart.  An event is
 * settled once its lane's receiver acknowledges it; the spool drops what
 * lies below the oldest event not settled.  prev="0", or none, says that
 * every earlier event of the lane is settled: the sender no longer knows
 * which was last, and need not.
 *
 * Receiving.  A place is one sending gateway's lane (bare JID, dst): its
 * events are taken in their chain, each once, and acknowledged per place
 * once finished, at once or when a confirming adapter has published them.
 * What was acknowledged is kept in state-dir/peers before the
 * acknowledgement leaves, so that a restarted receiver knows a gap.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "xgwd.h"

#define RESEND_MS	10000	/* oldest event unsettled this long: hold its lane */
#define ACK_EVERY	64	/* the receiver acknowledges at least this often */
#define ACK_DELAY_MS	200	/* ... or after this long */
#define PEERS_SAVE_MS	20	/* finished events recorded at least this often */

/* The sending side. */

static struct lane *
lane_find(struct xgwd *x, const char *dst)
{
	for (int i = 0; i < x->nlanes; i++)
		if (strcmp(x->lanes[i].dst, dst) == 0)
			return &x->lanes[i];
	return NULL;
}

/*
 * A lane whose every event is settled holds nothing the spool needs: its
 * slot may serve another endpoint, and its next event says prev="0".
 */
static struct lane *
lane_new(struct xgwd *x, const char *dst)
{
	struct spool_stats ss;
	struct lane *l = NULL;

	if (x->nlanes < MAX_LANES)
		l = &x->lanes[x->nlanes++];
	else {
		spool_stats(x->spool, &ss);
		for (int i = 0; i < x->nlanes && l == NULL; i++)
			if (x->lanes[i].last <= ss.acked)
				l = &x->lanes[i];
		if (l == NULL)
			return NULL;
	}
	memset(l, 0, sizeof(*l));
	snprintf(l->dst, sizeof(l->dst), "%s", dst);
	return l;
}

/* dst's lane, made when it has none; NULL when none can be. */
static struct lane *
lane_get(struct xgwd *x, const char *dst)
{
	struct lane *l = lane_find(x, dst);

	return l != NULL ? l : lane_new(x, dst);
}

/* A spool record: "DST\n" (DST may be empty), then the envelope's text. */
static int
record_split(const uint8_t *p, size_t len, char dst[46], const char **text,
    size_t *tlen)
{
	const uint8_t *nl = memchr(p, '\n', len < 46 ? len : 46);

	if (nl == NULL)
		return -1;
	memcpy(dst, p, nl - p);
	dst[nl - p] = '\0';
	if (dst[0] != '\0' && !xgw_uuid_valid(dst))
		return -1;
	*text = (const char *)nl + 1;
	*tlen = len - (nl + 1 - p);
	return 0;
}

/*
 * "<message to='BROKER' type='normal'>", escaped as libstrophe escapes:
 * each spooled envelope is sent between this and "</message>" as it is,
 * not parsed and written again.
 */
static char *
event_head(struct xgwd *x, size_t *len)
{
	xmpp_stanza_t *msg = xgw_el_new(x->ctx, "message", NULL);
	char *text;

	if (msg == NULL)
		fatalx("out of memory");
	xmpp_stanza_set_to(msg, x->conf->xmpp.broker);
	xmpp_stanza_set_type(msg, "normal");
	text = xgwd_text(msg, len);
	xmpp_stanza_release(msg);
	if (*len < 2 || strcmp(text + *len - 2, "/>") != 0)
		fatalx("event head: %s is not an empty element", text);
	text[*len - 2] = '>';
	text[--*len] = '\0';
	return text;
}

static int
send_event(struct xgwd *x, const char *head, size_t hlen, const char *env,
    size_t len)
{
	static const char tail[] = "</message>";
	size_t n = hlen + len + sizeof(tail) - 1;
	char *text;
	int rc;

	/* libstrophe takes the length but reads a string */
	if ((text = malloc(n + 1)) == NULL)
		fatalx("out of memory");
	memcpy(text, head, hlen);
	memcpy(text + hlen, env, len);
	memcpy(text + hlen + len, tail, sizeof(tail));
	if ((rc = link_send_text(x->link, text, n)) == 0)
		x->c.to_link++;
	free(text);
	return rc;
}

/*
 * Drops the settled events at the head of what is in flight, then the
 * spool's below the oldest event not settled: in flight, or held back.
 */
static void
settle(struct xgwd *x)
{
	struct spool_stats ss;
	uint64_t upto;

	while (x->iflen > 0 && x->inflight[x->ifhead].seq <=
	    x->lanes[x->inflight[x->ifhead].lane].acked) {
		x->ifhead = (x->ifhead + 1) % x->conf->xmpp.window;
		x->iflen--;
		x->settled_ms = now_ms();
	}
	upto = x->iflen > 0 ? x->inflight[x->ifhead].seq - 1 : x->sent_upto;
	for (int i = 0; i < x->nlanes && x->nheld > 0; i++)
		if (x->lanes[i].held != 0 && x->lanes[i].held - 1 < upto)
			upto = x->lanes[i].held - 1;
	spool_stats(x->spool, &ss);
	if (upto > ss.acked && spool_ack(x->spool, upto) == -1)
		log_warn("spool ack %llu", (unsigned long long)upto);
}

/* What was sent and not settled may be lost: send it again. */
static void
resend_all(struct xgwd *x)
{
	struct spool_stats ss;

	spool_stats(x->spool, &ss);
	x->sent_upto = ss.acked;
	x->iflen = 0;
	x->settled_ms = now_ms();
}

static void
release(struct xgwd *x, struct lane *l)
{
	if (l->held != 0) {
		l->held = 0;
		x->nheld--;
	}
}

/*
 * The oldest event waited RESEND_MS: its lane's gateway is away, or the
 * event was lost.  The lane is held back from its oldest unsettled event
 * on, so that the others' events go on; that event alone is sent again
 * every RESEND_MS, and the lane's acknowledgement of it releases the lane.
 */
static void
hold(struct xgwd *x)
{
	struct inflight *f = &x->inflight[x->ifhead];
	struct lane *l = &x->lanes[f->lane];

	log_warnx("event seq=%llu for %s unacknowledged for %ds: its lane "
	    "held back, the others go on", (unsigned long long)f->seq,
	    l->dst[0] ? l->dst : "-", RESEND_MS / 1000);
	if (l->held == 0)
		x->nheld++;
	l->held = f->seq;
	l->probe_ms = 0;
	resend_all(x);
}

static int
send_record(struct xgwd *x, char **head, size_t *hlen, const char *env,
    size_t elen)
{
	if (*head == NULL)
		*head = event_head(x, hlen);
	return send_event(x, *head, *hlen, env, elen);
}

/* Each held lane's oldest event, sent again alone every RESEND_MS. */
static void
probe_held(struct xgwd *x, char **head, size_t *hlen)
{
	const uint8_t *p;
	const char *env;
	char dst[46];
	uint64_t seq, now = now_ms();
	size_t len, elen;

	for (int i = 0; i < x->nlanes && x->nheld > 0; i++) {
		struct lane *l = &x->lanes[i];

		if (l->held == 0 || now < l->probe_ms)
			continue;
		l->probe_ms = now + RESEND_MS;
		if (spool_next(x->spool, l->held - 1, &seq, &p, &len) == 1 &&
		    seq == l->held &&
		    record_split(p, len, dst, &env, &elen) == 0 &&
		    send_record(x, head, hlen, env, elen) == 0)
			x->c.events_sent++;
	}
}

/* Hands events to the link from the spool, within the window. */
void
event_pump(struct xgwd *x)
{
	char *head = NULL, dst[46];
	const uint8_t *p;
	const char *env;
	struct lane *l;
	size_t len, elen, hlen = 0;
	uint64_t seq;

	if (!link_is_up(x->link))
		return;
	if (x->iflen > 0 && now_ms() - x->settled_ms > RESEND_MS)
		hold(x);
	probe_held(x, &head, &hlen);
	/*
	 * Only what is durable leaves: after a power failure the spool
	 * continues from its last durable record, and a number the far side
	 * has seen must never name another event.
	 */
	while (x->iflen < x->conf->xmpp.window &&
	    x->sent_upto < x->synced_upto &&
	    spool_next(x->spool, x->sent_upto, &seq, &p, &len) == 1) {
		if (record_split(p, len, dst, &env, &elen) == -1 ||
		    (l = lane_get(x, dst)) == NULL) {
			log_warnx("spool: event seq=%llu has no lane; dropped",
			    (unsigned long long)seq);
			x->sent_upto = seq;
			continue;
		}
		/* settled before a resend, or its lane held back */
		if (seq > l->acked && (l->held == 0 || seq < l->held)) {
			if (send_record(x, &head, &hlen, env, elen) == -1)
				break;
			if (x->iflen == 0)
				x->settled_ms = now_ms();
			x->inflight[(x->ifhead + x->iflen++) %
			    x->conf->xmpp.window] =
			    (struct inflight){ seq, (int)(l - x->lanes) };
			x->c.events_sent++;
		}
		x->sent_upto = seq;
		if (seq > x->sent_max)
			x->sent_max = seq;
	}
	if (head != NULL)
		xmpp_free(x->ctx, head);
	settle(x);
}

/*
 * Makes the spool durable, then tells each adapter which of its events are
 * safe: only then may it acknowledge them to its own side (MQTT QoS 1/2).
 */
void
event_flush(struct xgwd *x)
{
	if (spool_sync(x->spool) == -1) {
		log_warn("spool sync");
		return;
	}
	x->synced_upto = x->spool_next_seq - 1;
	for (int i = 0; i < x->ntaken; i++) {
		struct taken *t = &x->taken[i];

		if (t->adapter < x->nadapters)
			proc_send(&x->adapters[t->adapter], FRAME_TAKEN, t->flow,
			    t->seq, "", 0);
	}
	x->ntaken = 0;
	x->spool_dirty = 0;
}

static int
spool_envelope(struct xgwd *x, const char *dst, const char *text, size_t len,
    uint64_t *seq)
{
	size_t dlen = strlen(dst);
	char *rec;
	int rc;

	if ((rec = malloc(dlen + 1 + len)) == NULL)
		fatalx("out of memory");
	memcpy(rec, dst, dlen);
	rec[dlen] = '\n';
	memcpy(rec + dlen + 1, text, len);
	rc = spool_append(x->spool, rec, dlen + 1 + len, seq);
	free(rec);
	return rc;
}

/* An event from an adapter, judged: into the spool, then out when durable. */
void
event_spool(struct xgwd *x, struct adapter_proc *ap, xmpp_stanza_t *env,
    const struct xgw_meta *m)
{
	struct spool_stats ss;
	struct lane *l;
	uint64_t seq;
	size_t len;
	char *text;

	if ((l = lane_get(x, m->dst)) == NULL) {
		x->c.events_refused++;
		log_warnx("adapter=%s flow=%llu: event refused: %d endpoints "
		    "already have events in the spool", ap->conf->proto,
		    (unsigned long long)m->flow, MAX_LANES);
		xgwd_fail(x, ap, m, "busy");
		return;
	}
	spool_stats(x->spool, &ss);
	xgw_set_uint(env, "seq", ss.next_seq);
	xgw_set_uint(env, "prev", l->last);
	text = xgwd_text(env, &len);
	if (spool_envelope(x, m->dst, text, len, &seq) == -1) {
		x->c.events_refused++;
		log_warnx("adapter=%s flow=%llu: event refused: spool %s",
		    ap->conf->proto, (unsigned long long)m->flow,
		    errno == ENOSPC ? "full" : strerror(errno));
		xgwd_fail(x, ap, m, "spool-full");
	} else {
		l->last = seq;
		x->spool_next_seq = seq + 1;
		x->c.events_spooled++;
		if (x->ntaken == (int)(sizeof(x->taken) / sizeof(x->taken[0])))
			event_flush(x);
		x->taken[x->ntaken++] = (struct taken){ ap->id, m->flow, m->seq };
		x->spool_dirty = 1;
	}
	xmpp_free(x->ctx, text);
}

/* <ack seq lane/>: the receiver of that lane has every event up to seq. */
void
event_ack(struct xgwd *x, xmpp_stanza_t *ack)
{
	const char *dst = xmpp_stanza_get_attribute(ack, "lane");
	struct xgw_err e;
	struct lane *l;
	uint64_t seq;

	if (xgw_get_uint(ack, "seq", UINT64_MAX, &seq, &e) == -1) {
		log_warnx("bad ack: %s", e.msg);
		return;
	}
	if ((l = lane_find(x, dst != NULL ? dst : "")) == NULL ||
	    seq <= l->acked || seq > x->sent_max)
		return;
	l->acked = seq;
	x->c.acks++;
	if (l->held != 0 && seq >= l->held) {
		log_info("lane %s acknowledged again: released",
		    l->dst[0] ? l->dst : "-");
		release(x, l);
		resend_all(x);
	}
	settle(x);
	event_pump(x);
}

/*
 * After a new session: what was in flight may be lost, receivers drop
 * duplicates, and a lane held back may have been the link's fault.
 */
void
event_link_up(struct xgwd *x)
{
	for (int i = 0; i < x->nlanes; i++)
		release(x, &x->lanes[i]);
	resend_all(x);
	event_pump(x);
}

/* The receiving side. */

static struct place *
place_of(struct xgwd *x, const char *jid, const char *lane)
{
	struct place *p = &x->places[x->last_place];

	/* a stream of events is mostly one sender's lane */
	if (strcmp(p->lane, lane) == 0 && strcmp(p->jid, jid) == 0 &&
	    p->jid[0] != '\0')
		return p;
	for (int i = 0; i < x->nplaces; i++) {
		p = &x->places[i];
		if (strcmp(p->lane, lane) == 0 && strcmp(p->jid, jid) == 0) {
			x->last_place = i;
			return p;
		}
	}
	if (x->nplaces == MAX_PLACES)
		return NULL;
	p = &x->places[x->nplaces];
	snprintf(p->jid, sizeof(p->jid), "%s", jid);
	snprintf(p->lane, sizeof(p->lane), "%s", lane);
	x->last_place = x->nplaces++;
	return p;
}

/*
 * state-dir/peers: a line "JID LANE SEQ" per place (LANE "-" for events
 * that name no endpoint), the newest event acknowledged to it.  Written
 * (atomically, durably) before the acknowledgement leaves: a restarted
 * receiver must not take the sender's next event for a new start and
 * acknowledge away the ones it lost.
 */
static int
peers_save(struct xgwd *x)
{
	char path[PATH_MAX + 16], tmp[PATH_MAX + 32];
	FILE *f;

	snprintf(path, sizeof(path), "%s/peers", x->conf->state_dir);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	if ((f = fopen(tmp, "w")) == NULL)
		goto fail;
	for (int i = 0; i < x->nplaces; i++)
		fprintf(f, "%s %s %llu\n", x->places[i].jid,
		    x->places[i].lane[0] ? x->places[i].lane : "-",
		    (unsigned long long)x->places[i].done);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		fclose(f);
		goto fail;
	}
	if (fclose(f) != 0 || rename(tmp, path) == -1)
		goto fail;
	x->peers_dirty = 0;
	return 0;
fail:
	log_warn("%s: not saved; acknowledgement held back", path);
	return -1;
}

static void
peers_load(struct xgwd *x)
{
	char path[PATH_MAX + 16], line[400], jid[256], lane[64];
	unsigned long long seq;
	struct place *p;
	FILE *f;

	snprintf(path, sizeof(path), "%s/peers", x->conf->state_dir);
	if ((f = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%255s %63s %llu", jid, lane, &seq) != 3 ||
		    (strcmp(lane, "-") != 0 && !xgw_uuid_valid(lane)) ||
		    (p = place_of(x, jid, strcmp(lane, "-") ? lane : "")) ==
		    NULL) {
			log_warnx("%s: bad line ignored: %s", path, line);
			continue;
		}
		p->seq = p->done = p->acked = seq;
	}
	fclose(f);
}

static void
send_ack(struct xgwd *x, struct place *p)
{
	xmpp_stanza_t *ack;

	if (p->done > p->acked && peers_save(x) == -1)
		return;
	if ((ack = xgw_el_new(x->ctx, "ack", XGW_NS)) == NULL ||
	    xgw_set_uint(ack, "seq", p->done) == -1 ||
	    (p->lane[0] != '\0' && xgw_set_str(ack, "lane", p->lane) == -1))
		fatalx("out of memory");
	p->acked = p->done;
	p->unacked = 0;
	xgwd_to_link(x, p->jid, ack);
	xmpp_stanza_release(ack);
}

/* An event of the place is finished, and so is every earlier one. */
static void
place_finish(struct xgwd *x, struct place *p, uint64_t seq)
{
	p->done = seq;
	/* recorded soon, not only with the next ack: less to repeat after a crash */
	if (!x->peers_dirty) {
		x->peers_dirty = 1;
		x->peers_save_at = now_ms() + PEERS_SAVE_MS;
	}
	if (++p->unacked >= ACK_EVERY)
		send_ack(x, p);
}

/* A confirming adapter finished with the events up to count. */
void
event_delivered(struct xgwd *x, struct adapter_proc *ap, uint64_t count)
{
	if (count < ap->delivered || count - ap->delivered > ap->hlen) {
		log_warnx("adapter=%s: delivered %llu, but %llu of %u handed on "
		    "were counted", ap->conf->proto, (unsigned long long)count,
		    (unsigned long long)ap->delivered, ap->hlen);
		return;
	}
	for (; ap->delivered < count; ap->delivered++) {
		struct handed *h = &ap->handed[ap->hhead];
		struct place *p = &x->places[h->place];

		ap->hhead = (ap->hhead + 1) % EVENT_WINDOW;
		ap->hlen--;
		if (h->seq > p->done && h->seq <= p->seq)
			place_finish(x, p, h->seq);
	}
}

/*
 * A confirming adapter went away with events unconfirmed: their senders
 * must send them again, so we accept them again.
 */
void
xgwd_adapter_gone(struct xgwd *x, struct adapter_proc *ap)
{
	for (; ap->hlen > 0; ap->hlen--, ap->hhead = (ap->hhead + 1) %
	    EVENT_WINDOW) {
		struct place *p = &x->places[ap->handed[ap->hhead].place];

		if (p->seq > p->done)
			p->seq = p->done;
	}
	ap->delivered = 0;
	ap->confirms = 0;
}

/*
 * An event from afar: handed on once, in its lane's order, and
 * acknowledged once finished.
 */
void
event_from_link(struct xgwd *x, const char *from, xmpp_stanza_t *env,
    const struct xgw_meta *m, struct adapter_proc *ap)
{
	char bare[256];
	struct place *p;
	struct xgw_err e;
	uint64_t prev;
	int confirm = ap != NULL && ap->confirms && ap->fd != -1;

	if (xgw_get_uint_opt(env, "prev", UINT64_MAX, 0, &prev, &e) == -1) {
		x->c.bad_stanzas++;
		log_warnx("from=%s: bad event: %s", from, e.msg);
		return;
	}
	/* a gateway that reconnects gets a new resource, not a new sequence */
	snprintf(bare, sizeof(bare), "%.*s", (int)strcspn(from, "/"), from);
	if ((p = place_of(x, bare, m->dst)) == NULL) {
		log_warnx("from=%s dst=%s: %d places followed already; event "
		    "dropped", from, m->dst, MAX_PLACES);
		return;
	}
	if (m->seq <= p->seq) {
		x->c.duplicates++;
		send_ack(x, p);
		return;
	}
	/*
	 * A gap: the sender resends what it has not settled.  A place that
	 * never saw an event takes the first as its start.
	 */
	if (p->seq != 0 && prev != 0 && prev != p->seq) {
		log_debug("from=%s seq=%llu prev=%llu after %llu: out of order, "
		    "dropped", from, (unsigned long long)m->seq,
		    (unsigned long long)prev, (unsigned long long)p->seq);
		return;
	}
	if (confirm && ap->hlen == EVENT_WINDOW)
		return;		/* too much unfinished: it will come again */
	p->seq = m->seq;
	if (ap != NULL)
		xgwd_to_adapter(x, ap, env, m);
	if (confirm)
		ap->handed[(ap->hhead + ap->hlen++) % EVENT_WINDOW] =
		    (struct handed){ (int)(p - x->places), m->seq };
	else
		place_finish(x, p, m->seq);
}

/*
 * Timers of both sides: the receiver records and acknowledges what it
 * holds, at least every ACK_DELAY_MS.
 */
void
event_timers(struct xgwd *x)
{
	uint64_t now = now_ms();

	if (x->peers_dirty && now >= x->peers_save_at)
		peers_save(x);
	if (now < x->acks_due_ms)
		return;
	x->acks_due_ms = now + ACK_DELAY_MS;
	for (int i = 0; i < x->nplaces; i++)
		if (x->places[i].done > x->places[i].acked &&
		    link_is_up(x->link))
			send_ack(x, &x->places[i]);
}

int
event_timeout_ms(const struct xgwd *x)
{
	return x->peers_dirty ? PEERS_SAVE_MS : -1;
}

/*
 * Opens the spool and finds where both sides stand: each lane's newest
 * event still held, each place's last acknowledgement.
 */
void
event_open(struct xgwd *x)
{
	struct spool_stats ss;
	const uint8_t *p;
	const char *env;
	char err[256], dst[46];
	struct lane *l;
	uint64_t seq, after;
	size_t len, elen;

	peers_load(x);
	if ((x->spool = spool_open(x->conf->spool_dir, x->conf->spool_max, err,
	    sizeof(err))) == NULL)
		fatalx("spool: %s", err);
	if ((x->inflight = calloc(x->conf->xmpp.window,
	    sizeof(*x->inflight))) == NULL)
		fatalx("out of memory");
	spool_stats(x->spool, &ss);
	/* what survived a restart was durable when it was written */
	x->spool_next_seq = ss.next_seq;
	x->synced_upto = ss.next_seq - 1;
	x->sent_upto = x->sent_max = ss.acked;
	for (after = ss.acked; spool_next(x->spool, after, &seq, &p, &len) == 1;
	    after = seq) {
		if (record_split(p, len, dst, &env, &elen) == -1)
			continue;	/* named when it is sent */
		if ((l = lane_get(x, dst)) == NULL)
			fatalx("spool: events for more than %d endpoints",
			    MAX_LANES);
		l->last = seq;
	}
}
