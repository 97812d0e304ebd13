/*
 * The inspection and policy stage: a rules file compiled into per-protocol
 * tables, judged against every decoded stanza.  The engine never touches a
 * socket or a clock: the caller passes the time in, in milliseconds.  One
 * rule set is used by one thread at a time.  See policies/README.md.
 */
#ifndef XGW_POLICY_H
#define XGW_POLICY_H

#include <stdint.h>
#include <stdio.h>

#include "xgw_transform.h"

enum xgw_action {
	XGW_PASS,
	XGW_BLOCK,	/* drop, logged */
	XGW_REJECT	/* answer with the protocol's own error (reject.c) */
};

struct xgw_policy_err {
	char		 file[256];
	unsigned	 line, col;	/* from 1; 0 when the file could not be read */
	char		 msg[256];
};

struct xgw_verdict {
	enum xgw_action	 action;
	int		 rule;		/* index from 0, -1 for the default deny */
	const char	*file;
	unsigned	 line;		/* of the deciding rule, 0 for the default */
	/*
	 * "rule", "default-deny", "rate-limit"; of HTTP stream elements
	 * "stream", "stream-not-admitted", "bad-part", "body-max", "body-size"
	 */
	const char	*reason;
	/*
	 * XGW_REJECT: the protocol's code (Modbus exception, CoAP code byte
	 * 0x83, MQTT reason code 0x87, HTTP status 403, or 413 for a streamed
	 * request's part past its bound).
	 */
	unsigned	 code;
};

struct xgw_policy_counters {
	uint64_t	 evals;		/* stanzas the rule was tried on */
	uint64_t	 matches;	/* stanzas it decided */
	uint64_t	 bytes;		/* data bytes of those (ADU, payload or body) */
	uint64_t	 limited;	/* matches turned into denials by the rate */
};

struct xgw_policy;

struct xgw_policy	*xgw_policy_load(const char *path, struct xgw_policy_err *);
struct xgw_policy	*xgw_policy_parse(const char *name, const char *text,
			    size_t len, struct xgw_policy_err *);
void			 xgw_policy_free(struct xgw_policy *);

/* Decides; returns the action, also stored in v. */
enum xgw_action		 xgw_policy_eval(struct xgw_policy *,
			    const struct xgw_meta *env, xmpp_stanza_t *proto_el,
			    uint64_t now_ms, struct xgw_verdict *v);

/* The normalized rule set: macros expanded, one rule a line; re-parses to itself. */
void			 xgw_policy_print(const struct xgw_policy *, FILE *);
/* One rule in that form ("pass request modbus unit 1"); the buffer is returned. */
const char		*xgw_policy_rule_text(const struct xgw_policy *, int rule);

/* Counters and rate buckets of rules whose normalized text is unchanged move to nw. */
void			 xgw_policy_adopt_counters(struct xgw_policy *nw,
			    struct xgw_policy *old);
int			 xgw_policy_nrules(const struct xgw_policy *);
/* rule -1 is the default deny */
const struct xgw_policy_counters *xgw_policy_counters(const struct xgw_policy *,
			    int rule);
size_t			 xgw_policy_memory(const struct xgw_policy *);

/*
 * Denials are logged at most once per rule per interval; the line says how
 * many there were since the last one.  Without a logger nothing is logged.
 */
typedef void		 xgw_policy_log_fn(void *arg, const char *line);
void			 xgw_policy_set_logger(struct xgw_policy *,
			    xgw_policy_log_fn *, void *arg, uint64_t interval_ms);
/* Logs the denials still held back (at shutdown or reload). */
void			 xgw_policy_log_flush(struct xgw_policy *, uint64_t now_ms);

/*
 * reject.c: the protocol's own error reply to a rejected request element,
 * as a new element; NULL when the protocol has nothing to answer with
 * (a QoS 0 PUBLISH of MQTT 3.1.1) or memory ran out.  new_mid is the
 * message id a CoAP NON reply gets.
 */
xmpp_stanza_t		*xgw_reject_reply(xmpp_ctx_t *, xmpp_stanza_t *req,
			    const struct xgw_verdict *, uint16_t new_mid);
/*
 * What goes on in a rejected stanza's place, whichever way it went: for a
 * part of a streamed HTTP body, the cancel of its stream, so that the
 * other end stops at once (a request's part is answered with 413 too, an
 * answer's is not answered); NULL for anything else.
 */
xmpp_stanza_t		*xgw_reject_onward(xmpp_ctx_t *, xmpp_stanza_t *el);

#endif
