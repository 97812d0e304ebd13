/*
 * Inside the policy engine: the parsed rule set, the keyword tables the
 * parser and the printer share, and the facts read out of one stanza.
 */
#ifndef XGW_POLICY_INT_H
#define XGW_POLICY_INT_H

#include "policy.h"

enum pproto { PR_ANY, PR_MODBUS, PR_COAP, PR_MQTT, PR_HTTP, PR_READINGS, PR_N };

enum field {
	FD_UNIT, FD_FUNCTION, FD_ADDRESS, FD_QUANTITY, FD_VALUE,
	FD_CTYPE, FD_CODE, FD_PATH, FD_QUERY, FD_CFORMAT, FD_SIZE,
	FD_MTYPE, FD_TOPIC, FD_QOS, FD_RETAIN, FD_CLIENT,
	FD_METHOD, FD_HEADER,
	FD_NAME, FD_QUALITY, FD_RPROTO,
	FD_N
};

/* CK_NAMES: a string that every item of the stanza's list must match */
enum ckind { CK_NUM, CK_STR, CK_TOPIC, CK_WORD, CK_HEADER, CK_NAMES };

struct pname {
	const char	*name;
	uint64_t	 v;
};

struct keyword {
	const char		*name;
	enum pproto		 proto;
	enum field		 field;
	enum ckind		 kind;
	uint64_t		 min, max;	/* CK_NUM */
	const struct pname	*names;		/* CK_NUM: words for numbers */
	const char		*print;		/* the name printed, if not name */
};

enum skind { SM_EXACT, SM_PREFIX, SM_GLOB };

struct range {
	uint64_t	 lo, hi;
};

struct strm {
	enum skind	 kind;
	char		*s;
	size_t		 len;
};

/* One match of a rule: the stanza's field must be in one of the n items. */
struct cond {
	const struct keyword	*kw;
	size_t			 n;
	struct range		*r;	/* CK_NUM */
	struct strm		*s;	/* CK_STR, CK_TOPIC, CK_WORD, CK_NAMES;
					   CK_HEADER: value */
	char			*hname;	/* CK_HEADER */
	unsigned		 line, col;
};

/* from/to: empty is any; items as written, uuids resolved and sorted */
struct ids {
	size_t		 n;
	char		**item;
	size_t		 nuuid;
	char		(*uuid)[46];
};

struct bucket;

struct logstate {
	uint64_t	 last;
	uint64_t	 held;
	int		 logged;
};

struct rule {
	enum xgw_action		 action;
	unsigned		 code;		/* reject with; 0: by what failed */
	unsigned		 dirs;		/* 1 << enum xgw_dir; 0 any */
	struct ids		 from, to;
	enum pproto		 proto;
	struct cond		*cond;
	size_t			 ncond;
	uint64_t		 rate, per_ms, burst;	/* rate 0: none */
	char			*label;
	unsigned		 line;
	char			*text;		/* normalized, for reload */
	struct xgw_policy_counters cnt;
	struct bucket		*bk;		/* per source token buckets */
	struct logstate		 log;
};

struct table {
	char		*name;
	size_t		 n;
	char		(*uuid)[46];
};

struct index;

struct xgw_policy {
	char			*file;
	struct rule		*rules;
	size_t			 nrules;
	struct table		*tables;
	size_t			 ntables;
	struct index		*idx;
	struct xgw_policy_counters dflt;
	struct logstate		 dflt_log;
	xgw_policy_log_fn	*logfn;
	void			*logarg;
	uint64_t		 log_interval;
	size_t			 mem;
	uint64_t		*edges;		/* body-size range ends, ascending */
	size_t			 nedges;
	struct admitted		*streams;	/* stream.c */
	char			 textbuf[1024];
};

/* stream.c */
#define POL_UNBOUNDED	UINT64_MAX	/* a body's bound: none */
int		 pol_stream_part(struct xgw_policy *, const struct xgw_meta *,
		    xmpp_stanza_t *, uint64_t now, struct xgw_verdict *);
/* limit: the rules' bound on a body of unknown size */
void		 pol_stream_admit(struct xgw_policy *, const struct xgw_meta *,
		    xmpp_stanza_t *, int rule, uint64_t limit, uint64_t now);
/* moved[i]: old rule i's index in nw + 1, 0 when it is gone; may be NULL */
void		 pol_stream_adopt(struct xgw_policy *nw, struct xgw_policy *old,
		    const size_t *moved);
void		 pol_stream_free(struct xgw_policy *);

/* names.c */
extern const struct keyword	 pol_keywords[];
extern const char *const	 pol_proto_names[PR_N];
extern const struct pname	 pol_dir_names[];
extern const struct pname	 pol_modbus_exc[];
extern const struct pname	 pol_quality_names[];
extern const struct pname	 pol_rproto_names[];
const char	*pol_num_name(const struct keyword *, uint64_t);
int		 pol_num_parse(const struct keyword *, const char *, uint64_t *);
const char	*pol_closest(const char *word, const char *const *cands,
		    size_t n);
const char	*pol_closest_names(const char *word, const struct pname *);
int		 pol_mqtt_type(const char *);
int		 pol_coap_code(const char *, uint64_t *);

/* print.c */
char	*pol_rule_string(const struct rule *);

/* engine.c */
int	 pol_compile(struct xgw_policy *);
/* a denial of rule ri (-1: the default), logged as the rules' are */
void	 pol_log_deny(struct xgw_policy *, int ri, const char *what,
	    uint64_t now);

/* facts.c: what the rules can see of one stanza */
enum sfact { SF_PATH, SF_QUERY, SF_TOPIC, SF_CLIENT, SF_METHOD, SF_N };

struct span {
	size_t		 off, len;
};

struct facts {
	enum pproto		 proto;
	const struct xgw_meta	*env;
	xmpp_stanza_t		*el;
	uint32_t		 have;		/* 1 << enum field */
	uint64_t		 num[FD_N];
	int			 nacc;		/* Modbus accesses: address ranges */
	struct range		 acc[2];
	uint64_t		 accq[2];
	int			 vals_done, vals_ok;
	struct xgw_buf		 vals;		/* written values, host uint16_t */
	uint32_t		 shave;		/* 1 << enum sfact */
	struct span		 str[SF_N];
	struct xgw_buf		 sb;		/* the bytes the spans point into */
	/* judged item by item: SUBSCRIBE/UNSUBSCRIBE filters, reading names */
	size_t			 nlist;
	struct xgw_buf		 lb;		/* struct span of each */
	uint64_t		 bytes;
	int			 size_open;	/* a streamed HTTP head of unknown body size */
};

int		 pol_facts_read(struct facts *, const struct xgw_meta *,
		    xmpp_stanza_t *);
void		 pol_facts_free(struct facts *);
/* index keys; NULL: none; *ambiguous when no one key stands for the stanza */
const char	*pol_facts_key1(struct facts *, char *, size_t);
const char	*pol_facts_key2(struct facts *, char *, size_t, int *ambiguous);
/* 1 match; 0 no match, *soft set when only address, quantity or value failed */
int		 pol_rule_matches(const struct rule *, struct facts *, int *soft);
/* the bound a rule sets on a body of unknown size; 0: none */
uint64_t	 pol_rule_bound(const struct rule *);
int		 pol_topic_valid(const char *);
int		 pol_topic_match(const char *filter, const char *topic, size_t);
int		 pol_topic_first(const char *, size_t, struct span *);
int		 pol_seg_first(const struct strm *, int rooted, struct span *);
int		 pol_glob(const char *pat, size_t plen, const char *s,
		    size_t slen);

#endif
