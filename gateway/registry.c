/*
 * The broker's registry in SQLite.  One writer (the broker), every change
 * in a transaction, so that a crash leaves either the old or the new
 * registration.  The schema has a version row; a database of another
 * version, or one that fails its check, is refused at open rather than
 * half used.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sqlite3.h>

#include "broker.h"

#define SCHEMA_VERSION	1
#define STMT_CACHE	32

/*
 * Statements are prepared once and kept, keyed by the address of their
 * SQL text (every query is a literal): the relay looks several rows up
 * per stanza, and preparing costs more than the lookup.
 */
struct registry {
	sqlite3		*db;
	struct {
		const char	*sql;
		sqlite3_stmt	*st;
	}		 cache[STMT_CACHE];
};

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS gateways ("
	"  uuid TEXT PRIMARY KEY, jid TEXT NOT NULL UNIQUE,"
	"  session TEXT NOT NULL, registered INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS endpoints ("
	"  uuid TEXT PRIMARY KEY,"
	"  gateway TEXT NOT NULL REFERENCES gateways(uuid) ON DELETE CASCADE,"
	"  protocol TEXT NOT NULL, name TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS functions ("
	"  endpoint TEXT NOT NULL REFERENCES endpoints(uuid) ON DELETE CASCADE,"
	"  seq INTEGER NOT NULL, name TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS points ("
	"  endpoint TEXT NOT NULL REFERENCES endpoints(uuid) ON DELETE CASCADE,"
	"  seq INTEGER NOT NULL, name TEXT NOT NULL, unit TEXT NOT NULL,"
	"  type TEXT NOT NULL, access TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS flows ("
	"  id INTEGER PRIMARY KEY, src TEXT NOT NULL, dst TEXT NOT NULL,"
	"  protocol TEXT NOT NULL, dir TEXT NOT NULL, active INTEGER NOT NULL);";

const char *
registry_error(struct registry *r)
{
	return sqlite3_errmsg(r->db);
}

static int
exec(struct registry *r, const char *sql)
{
	return sqlite3_exec(r->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static sqlite3_stmt *
prepare(struct registry *r, const char *sql)
{
	sqlite3_stmt *st;
	int i;

	for (i = 0; i < STMT_CACHE && r->cache[i].sql != NULL; i++)
		if (r->cache[i].sql == sql)
			return r->cache[i].st;
	if (sqlite3_prepare_v3(r->db, sql, -1, i < STMT_CACHE ?
	    SQLITE_PREPARE_PERSISTENT : 0, &st, NULL) != SQLITE_OK)
		return NULL;
	if (i < STMT_CACHE) {
		r->cache[i].sql = sql;
		r->cache[i].st = st;
	}
	return st;
}

/* Done with a statement: reset if cached, finalized otherwise. */
static void
done(struct registry *r, sqlite3_stmt *st)
{
	for (int i = 0; i < STMT_CACHE && r->cache[i].sql != NULL; i++)
		if (r->cache[i].st == st) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			return;
		}
	done(r, st);
}

/* Binds every argument as text, in order. */
static sqlite3_stmt *
prepare_text(struct registry *r, const char *sql, int n, ...)
{
	sqlite3_stmt *st = prepare(r, sql);
	va_list ap;

	if (st == NULL)
		return NULL;
	va_start(ap, n);
	for (int i = 1; i <= n; i++)
		sqlite3_bind_text(st, i, va_arg(ap, const char *), -1,
		    SQLITE_TRANSIENT);
	va_end(ap);
	return st;
}

/* Runs a statement that returns no rows. */
static int
run(struct registry *r, sqlite3_stmt *st)
{
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	done(r, st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static void
copy_col(sqlite3_stmt *st, int col, char *dst, size_t len)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	snprintf(dst, len, "%s", s != NULL ? (const char *)s : "");
}

/* The schema version: created when the database is new, checked otherwise. */
static int
check_version(struct registry *r, char *err, size_t errlen)
{
	sqlite3_stmt *st = prepare(r, "SELECT version FROM schema_version");
	int rc, version;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	version = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	done(r, st);
	if (rc == SQLITE_DONE)
		return exec(r, "INSERT INTO schema_version VALUES (1)");
	if (rc != SQLITE_ROW)
		return -1;
	if (version != SCHEMA_VERSION) {
		snprintf(err, errlen, "schema version %d, this broker knows %d",
		    version, SCHEMA_VERSION);
		return -2;
	}
	return 0;
}

/* quick_check answers "ok", or the first damage found. */
static int
check_integrity(struct registry *r, char *err, size_t errlen)
{
	sqlite3_stmt *st = prepare(r, "PRAGMA quick_check");
	int rc = -1;

	if (st == NULL)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW) {
		const char *s = (const char *)sqlite3_column_text(st, 0);

		if (s != NULL && strcmp(s, "ok") == 0)
			rc = 0;
		else {
			snprintf(err, errlen, "integrity check: %s",
			    s != NULL ? s : "no answer");
			rc = -2;
		}
	}
	done(r, st);
	return rc;
}

struct registry *
registry_open(const char *path, char *err, size_t errlen)
{
	struct registry *r;
	int rc;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, r->db != NULL ?
		    sqlite3_errmsg(r->db) : "out of memory");
		registry_close(r);
		return NULL;
	}
	sqlite3_busy_timeout(r->db, 2000);
	/*
	 * BEGIN IMMEDIATE takes the write lock: a read-only file or
	 * directory shows here, at start, not at the first registration.
	 * Then the broker, the registry's only user, keeps its lock for good
	 * (EXCLUSIVE): SQLite otherwise takes and drops fcntl() locks around
	 * every statement, several per relayed stanza.  A second broker on
	 * the same file gets "database is locked".
	 */
	if ((rc = check_integrity(r, err, errlen)) == 0 &&
	    (rc = exec(r, "PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL;"
	    "BEGIN IMMEDIATE")) == 0 && (rc = exec(r, schema)) == 0 &&
	    (rc = check_version(r, err, errlen)) == 0)
		rc = exec(r, "COMMIT; PRAGMA locking_mode = EXCLUSIVE;"
		    "BEGIN IMMEDIATE; COMMIT");
	if (rc != 0) {
		if (rc == -1)
			snprintf(err, errlen, "%s: %s", path,
			    sqlite3_errmsg(r->db));
		else {
			char tmp[256];

			snprintf(tmp, sizeof(tmp), "%s", err);
			snprintf(err, errlen, "%s: %s", path, tmp);
		}
		registry_close(r);
		return NULL;
	}
	return r;
}

void
registry_close(struct registry *r)
{
	if (r == NULL)
		return;
	for (int i = 0; i < STMT_CACHE; i++)
		sqlite3_finalize(r->cache[i].st);
	sqlite3_close(r->db);
	free(r);
}

static int
put_endpoint(struct registry *r, const char *gw, const struct endpoint *ep)
{
	char seq[16];

	if (run(r, prepare_text(r, "INSERT INTO endpoints VALUES (?, ?, ?, ?)", 4,
	    ep->uuid, gw, ep->proto, ep->name)) == -1)
		return -1;
	for (int i = 0; i < ep->nfunctions; i++) {
		snprintf(seq, sizeof(seq), "%d", i);
		if (run(r, prepare_text(r, "INSERT INTO functions VALUES "
		    "(?, ?, ?)", 3, ep->uuid, seq, ep->functions[i])) == -1)
			return -1;
	}
	for (int i = 0; i < ep->npoints; i++) {
		const struct point *p = &ep->points[i];

		snprintf(seq, sizeof(seq), "%d", i);
		if (run(r, prepare_text(r, "INSERT INTO points VALUES "
		    "(?, ?, ?, ?, ?, ?)", 6, ep->uuid, seq, p->name, p->unit,
		    p->type, p->access)) == -1)
			return -1;
	}
	return 0;
}

/* The gateway that owns an endpoint, if another than gw. */
static int
foreign_owner(struct registry *r, const char *gw, const char *ep,
    char owner[UUID_URN_LEN + 1])
{
	sqlite3_stmt *st = prepare_text(r, "SELECT gateway FROM endpoints "
	    "WHERE uuid = ? AND gateway != ?", 2, ep, gw);
	int rc;

	if (st == NULL)
		return -1;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		copy_col(st, 0, owner, UUID_URN_LEN + 1);
	done(r, st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
registry_register(struct registry *r, const char *gw, const char *session,
    const struct endpoint *eps, int n, char owner[UUID_URN_LEN + 1])
{
	char jid[JID_MAX];
	char now[24];
	int rc = 0;

	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	snprintf(jid, sizeof(jid), "%.*s", (int)strcspn(session, "/"), session);
	if (exec(r, "BEGIN IMMEDIATE") == -1)
		return -1;
	for (int i = 0; i < n && rc == 0; i++)
		rc = foreign_owner(r, gw, eps[i].uuid, owner);
	if (rc == 0)
		rc = run(r, prepare_text(r, "DELETE FROM endpoints WHERE gateway = ?",
		    1, gw));
	/* a JID is one gateway: a binding moved to another UUID drops the old */
	if (rc == 0)
		rc = run(r, prepare_text(r, "DELETE FROM gateways WHERE jid = ? AND "
		    "uuid != ?", 2, jid, gw));
	if (rc == 0)
		rc = run(r, prepare_text(r, "INSERT INTO gateways VALUES "
		    "(?, ?, ?, ?) ON CONFLICT(uuid) DO UPDATE SET jid = "
		    "excluded.jid, session = excluded.session, registered = "
		    "excluded.registered", 4, gw, jid, session, now));
	for (int i = 0; i < n && rc == 0; i++)
		rc = put_endpoint(r, gw, &eps[i]);
	if (rc != 0) {
		exec(r, "ROLLBACK");
		return rc;
	}
	return exec(r, "COMMIT");
}

/* One text column of the first row of a one-parameter query. */
static int
lookup(struct registry *r, const char *sql, const char *key, char *out,
    size_t len)
{
	sqlite3_stmt *st = prepare_text(r, sql, 1, key);
	int rc;

	if (st == NULL)
		return -1;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		copy_col(st, 0, out, len);
	done(r, st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
registry_session(struct registry *r, const char *gw, char session[JID_MAX])
{
	return lookup(r, "SELECT session FROM gateways WHERE uuid = ?", gw,
	    session, JID_MAX);
}

int
registry_session_set(struct registry *r, const char *gw, const char *session)
{
	return run(r, prepare_text(r, "UPDATE gateways SET session = ? WHERE "
	    "uuid = ?", 2, session, gw));
}

int
registry_endpoint_owner(struct registry *r, const char *ep,
    char gw[UUID_URN_LEN + 1])
{
	return lookup(r, "SELECT gateway FROM endpoints WHERE uuid = ?", ep, gw,
	    UUID_URN_LEN + 1);
}

int
registry_gateway_of_jid(struct registry *r, const char *jid,
    char gw[UUID_URN_LEN + 1])
{
	return lookup(r, "SELECT uuid FROM gateways WHERE jid = ?", jid, gw,
	    UUID_URN_LEN + 1);
}

void
endpoint_clear(struct endpoint *ep)
{
	free(ep->points);
	memset(ep, 0, sizeof(*ep));
}

static int
load_metadata(struct registry *r, struct endpoint *ep)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = prepare_text(r, "SELECT name FROM functions WHERE "
	    "endpoint = ? ORDER BY seq", 1, ep->uuid)) == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW &&
	    ep->nfunctions < MAX_FUNCTIONS)
		copy_col(st, 0, ep->functions[ep->nfunctions++], NAME_MAX_LEN);
	done(r, st);
	if ((st = prepare_text(r, "SELECT name, unit, type, access FROM points "
	    "WHERE endpoint = ? ORDER BY seq", 1, ep->uuid)) == NULL)
		return -1;
	if ((ep->points = calloc(MAX_POINTS, sizeof(*ep->points))) == NULL) {
		done(r, st);
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW &&
	    ep->npoints < MAX_POINTS) {
		struct point *p = &ep->points[ep->npoints++];

		copy_col(st, 0, p->name, sizeof(p->name));
		copy_col(st, 1, p->unit, sizeof(p->unit));
		copy_col(st, 2, p->type, sizeof(p->type));
		copy_col(st, 3, p->access, sizeof(p->access));
	}
	done(r, st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

int
registry_endpoint(struct registry *r, const char *uuid, struct endpoint *ep)
{
	sqlite3_stmt *st = prepare_text(r, "SELECT gateway, protocol, name "
	    "FROM endpoints WHERE uuid = ?", 1, uuid);
	int rc;

	memset(ep, 0, sizeof(*ep));
	if (st == NULL)
		return -1;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		snprintf(ep->uuid, sizeof(ep->uuid), "%s", uuid);
		copy_col(st, 0, ep->gateway, sizeof(ep->gateway));
		copy_col(st, 1, ep->proto, sizeof(ep->proto));
		copy_col(st, 2, ep->name, sizeof(ep->name));
	}
	done(r, st);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW || load_metadata(r, ep) == -1) {
		endpoint_clear(ep);
		return -1;
	}
	return 1;
}

static int
rows(struct registry *r, sqlite3_stmt *st, registry_row_fn *fn, void *arg)
{
	int rc;

	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		fn(arg, (const char *)sqlite3_column_text(st, 0),
		    (const char *)sqlite3_column_text(st, 1),
		    sqlite3_column_count(st) > 2 ?
		    (const char *)sqlite3_column_text(st, 2) : NULL);
	done(r, st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
registry_gateways(struct registry *r, registry_row_fn *fn, void *arg)
{
	return rows(r, prepare(r, "SELECT uuid, jid FROM gateways ORDER BY uuid"),
	    fn, arg);
}

int
registry_endpoints(struct registry *r, const char *gw, registry_row_fn *fn,
    void *arg)
{
	return rows(r, prepare_text(r, "SELECT uuid, protocol, name FROM endpoints "
	    "WHERE gateway = ? ORDER BY uuid", 1, gw), fn, arg);
}

static void
bind_u64(sqlite3_stmt *st, int col, uint64_t v)
{
	/* flow ids are at most INT64_MAX (BROKER.md), so the cast is exact */
	sqlite3_bind_int64(st, col, (sqlite3_int64)v);
}

int
registry_flow_put(struct registry *r, const struct flow *f)
{
	sqlite3_stmt *st = prepare(r, "INSERT OR REPLACE INTO flows VALUES "
	    "(?, ?, ?, ?, ?, ?)");

	if (st == NULL)
		return -1;
	bind_u64(st, 1, f->id);
	sqlite3_bind_text(st, 2, f->src, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, f->dst, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, f->proto, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, f->dir == FLOW_EVENT ? "event" : "request", -1,
	    SQLITE_STATIC);
	sqlite3_bind_int(st, 6, f->active);
	return run(r, st);
}

#define FLOW_COLS	"id, src, dst, protocol, dir, active"

static void
flow_row(sqlite3_stmt *st, struct flow *f)
{
	const unsigned char *dir = sqlite3_column_text(st, 4);

	f->id = (uint64_t)sqlite3_column_int64(st, 0);
	copy_col(st, 1, f->src, sizeof(f->src));
	copy_col(st, 2, f->dst, sizeof(f->dst));
	copy_col(st, 3, f->proto, sizeof(f->proto));
	f->dir = dir != NULL && strcmp((const char *)dir, "event") == 0 ?
	    FLOW_EVENT : FLOW_REQUEST;
	f->active = sqlite3_column_int(st, 5);
}

int
registry_flow_get(struct registry *r, uint64_t id, struct flow *f)
{
	sqlite3_stmt *st = prepare(r, "SELECT " FLOW_COLS " FROM flows "
	    "WHERE id = ?");
	int rc;

	if (st == NULL)
		return -1;
	bind_u64(st, 1, id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		flow_row(st, f);
	done(r, st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

uint64_t
registry_flow_next_id(struct registry *r)
{
	sqlite3_stmt *st = prepare(r, "SELECT coalesce(max(id), 0) + 1 FROM flows");
	uint64_t id = 0;

	if (st == NULL)
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		id = (uint64_t)sqlite3_column_int64(st, 0);
	done(r, st);
	return id;
}

int
registry_flows(struct registry *r, const char *gw, registry_flow_fn *fn,
    void *arg)
{
	sqlite3_stmt *st;
	struct flow f;
	int rc;

	if (gw == NULL)
		st = prepare(r, "SELECT " FLOW_COLS " FROM flows WHERE active "
		    "ORDER BY id");
	else
		st = prepare_text(r, "SELECT " FLOW_COLS " FROM flows WHERE "
		    "active AND (src IN (SELECT uuid FROM endpoints WHERE "
		    "gateway = ?1) OR dst IN (SELECT uuid FROM endpoints WHERE "
		    "gateway = ?1)) ORDER BY id", 1, gw);
	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		flow_row(st, &f);
		fn(arg, &f);
	}
	done(r, st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
registry_flow_between(struct registry *r, const char *a, const char *b)
{
	sqlite3_stmt *st = prepare_text(r, "SELECT 1 FROM flows f "
	    "JOIN endpoints s ON s.uuid = f.src JOIN endpoints d ON d.uuid = f.dst "
	    "WHERE f.active AND ((s.gateway = ?1 AND d.gateway = ?2) OR "
	    "(s.gateway = ?2 AND d.gateway = ?1)) LIMIT 1", 2, a, b);
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	done(r, st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}
