/*
 * The broker's registry (SQLite) and the site PKI: registrations replace
 * endpoints as one transaction, a foreign endpoint is refused and changes
 * nothing, flows persist, everything survives a reopen, a bad database is
 * refused with a message naming it; certificates carry the UUID and the
 * derived xmppAddr with subjectAltName last, revocation reaches the CRL.
 */
#include <sys/stat.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sqlite3.h>

#include "broker.h"

#define GW1	"urn:uuid:11111111-1111-4111-8111-111111111111"
#define GW2	"urn:uuid:22222222-2222-4222-8222-222222222222"
#define EP1	"urn:uuid:aaaaaaaa-0000-4000-8000-000000000001"
#define EP2	"urn:uuid:aaaaaaaa-0000-4000-8000-000000000002"
#define EP3	"urn:uuid:aaaaaaaa-0000-4000-8000-000000000003"

static char dir[64];

static void
path(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", dir, name);
}

static int
setup_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_registry.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	return 0;
}

static int
teardown_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct registry *
open_ok(const char *name)
{
	char p[128], err[256];
	struct registry *r;

	path(p, sizeof(p), name);
	if ((r = registry_open(p, err, sizeof(err))) == NULL)
		fail_msg("registry_open %s: %s", p, err);
	return r;
}

static struct endpoint
plc(const char *uuid)
{
	static struct point pts[2] = {
		{ "boiler-temp", "Cel", "int16", "r" },
		{ "setpoint", "Cel", "int16", "rw" },
	};
	struct endpoint ep;

	memset(&ep, 0, sizeof(ep));
	snprintf(ep.uuid, sizeof(ep.uuid), "%s", uuid);
	snprintf(ep.proto, sizeof(ep.proto), "modbus");
	snprintf(ep.name, sizeof(ep.name), "plc-3");
	snprintf(ep.functions[0], NAME_MAX_LEN, "read-holding-registers");
	ep.nfunctions = 1;
	ep.points = pts;
	ep.npoints = 2;
	return ep;
}

static void
test_register_and_read(void **state)
{
	struct registry *r = open_ok("a.db");
	struct endpoint eps[2] = { plc(EP1), plc(EP2) }, got;
	char owner[UUID_URN_LEN + 1] = "", gw[UUID_URN_LEN + 1], s[JID_MAX];

	(void)state;
	assert_int_equal(registry_register(r, GW1, "gw1@x/res", eps, 2, owner), 0);
	assert_int_equal(registry_gateway_of_jid(r, "gw1@x", gw), 1);
	assert_string_equal(gw, GW1);
	assert_int_equal(registry_gateway_of_jid(r, "gw1@x/res", gw), 0);
	assert_int_equal(registry_session(r, GW1, s), 1);
	assert_string_equal(s, "gw1@x/res");
	assert_int_equal(registry_endpoint_owner(r, EP2, gw), 1);
	assert_string_equal(gw, GW1);
	assert_int_equal(registry_endpoint(r, EP2, &got), 1);
	assert_string_equal(got.gateway, GW1);
	assert_string_equal(got.proto, "modbus");
	assert_int_equal(got.nfunctions, 1);
	assert_string_equal(got.functions[0], "read-holding-registers");
	assert_int_equal(got.npoints, 2);
	assert_string_equal(got.points[1].name, "setpoint");
	assert_string_equal(got.points[1].unit, "Cel");
	assert_string_equal(got.points[1].access, "rw");
	endpoint_clear(&got);
	assert_int_equal(registry_endpoint(r, EP3, &got), 0);

	/* a registration is the whole truth: EP2 is gone after this one */
	assert_int_equal(registry_register(r, GW1, "gw1@x/new", eps, 1, owner), 0);
	assert_int_equal(registry_endpoint_owner(r, EP2, gw), 0);
	assert_int_equal(registry_session(r, GW1, s), 1);
	assert_string_equal(s, "gw1@x/new");
	registry_close(r);
}

static void
test_foreign_endpoint(void **state)
{
	struct registry *r = open_ok("b.db");
	struct endpoint e1 = plc(EP1), both[2] = { plc(EP3), plc(EP1) };
	char owner[UUID_URN_LEN + 1] = "", gw[UUID_URN_LEN + 1];

	(void)state;
	assert_int_equal(registry_register(r, GW1, "gw1@x/a", &e1, 1, owner), 0);
	assert_int_equal(registry_register(r, GW2, "gw2@x/a", both, 2, owner), 1);
	assert_string_equal(owner, GW1);
	/* rolled back whole: neither GW2 nor EP3 exist */
	assert_int_equal(registry_gateway_of_jid(r, "gw2@x", gw), 0);
	assert_int_equal(registry_endpoint_owner(r, EP3, gw), 0);
	registry_close(r);
}

struct count {
	int		 n;
	uint64_t	 ids[8];
};

static void
count_flow(void *arg, const struct flow *f)
{
	struct count *c = arg;

	if (c->n < 8)
		c->ids[c->n] = f->id;
	c->n++;
}

static void
test_flows_persist(void **state)
{
	struct registry *r = open_ok("c.db");
	struct endpoint e1 = plc(EP1), e2 = plc(EP2);
	struct flow f = { 5, EP1, EP2, "modbus", FLOW_REQUEST, 1 }, g;
	struct count c = { 0 };
	char owner[UUID_URN_LEN + 1], s[JID_MAX];

	(void)state;
	assert_int_equal(registry_register(r, GW1, "gw1@x/a", &e1, 1, owner), 0);
	assert_int_equal(registry_register(r, GW2, "gw2@x/a", &e2, 1, owner), 0);
	assert_int_equal(registry_flow_put(r, &f), 0);
	f.id = 9;
	f.active = 0;
	assert_int_equal(registry_flow_put(r, &f), 0);
	assert_int_equal(registry_flow_next_id(r), 10);
	assert_int_equal(registry_flow_between(r, GW2, GW1), 1);
	registry_close(r);

	r = open_ok("c.db");
	assert_int_equal(registry_flow_get(r, 5, &g), 1);
	assert_string_equal(g.src, EP1);
	assert_string_equal(g.dst, EP2);
	assert_int_equal(g.dir, FLOW_REQUEST);
	assert_int_equal(g.active, 1);
	assert_int_equal(registry_flow_get(r, 9, &g), 1);
	assert_int_equal(g.active, 0);
	assert_int_equal(registry_flow_get(r, 6, &g), 0);
	assert_int_equal(registry_flows(r, GW2, count_flow, &c), 0);
	assert_int_equal(c.n, 1);		/* flow 9 is inactive */
	assert_int_equal(c.ids[0], 5);
	assert_int_equal(registry_session(r, GW2, s), 1);
	assert_string_equal(s, "gw2@x/a");
	g.id = 5;
	g.active = 0;
	assert_int_equal(registry_flow_put(r, &g), 0);
	assert_int_equal(registry_flow_between(r, GW1, GW2), 0);
	registry_close(r);
}

static void
expect_refused(const char *name, const char *needle)
{
	char p[128], err[256];
	struct registry *r;

	path(p, sizeof(p), name);
	r = registry_open(p, err, sizeof(err));
	if (r != NULL) {
		registry_close(r);
		fail_msg("%s: opened; expected \"%s\"", p, needle);
	}
	if (strstr(err, needle) == NULL || strstr(err, p) == NULL)
		fail_msg("%s: error \"%s\" lacks \"%s\" or the path", p, err,
		    needle);
}

static void
test_bad_databases(void **state)
{
	char p[128];
	sqlite3 *db;
	FILE *f;

	(void)state;
	path(p, sizeof(p), "corrupt.db");
	assert_non_null(f = fopen(p, "w"));
	for (int i = 0; i < 200; i++)
		fputs("not a database at all, ", f);
	fclose(f);
	expect_refused("corrupt.db", "file is not a database");

	registry_close(open_ok("v.db"));
	path(p, sizeof(p), "v.db");
	assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE schema_version SET version = 2",
	    NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	expect_refused("v.db", "schema version 2, this broker knows 1");
	expect_refused("missing/dir.db", "unable to open database file");
}

/* The broker holds its registry's lock for good: a second one is refused. */
static void
test_one_broker_a_registry(void **state)
{
	struct registry *r;

	(void)state;
	r = open_ok("held.db");
	expect_refused("held.db", "database is locked");
	registry_close(r);
	registry_close(open_ok("held.db"));
}

static void
test_uuid_node(void **state)
{
	char node[33], urn[UUID_URN_LEN + 1];

	(void)state;
	assert_int_equal(uuid_node(GW1, node), 0);
	assert_string_equal(node, "11111111111141118111111111111111");
	assert_int_equal(uuid_from_node(node, urn), 0);
	assert_string_equal(urn, GW1);
	assert_int_equal(uuid_node("urn:uuid:ABCDEF01-1111-4111-8111-111111111111",
	    node), 0);
	assert_string_equal(node, "abcdef01111141118111111111111111");
	assert_int_equal(uuid_node("urn:uuid:1111111-11111-4111-8111-111111111111",
	    node), -1);
	assert_int_equal(uuid_node("11111111-1111-4111-8111-111111111111", node),
	    -1);
	assert_int_equal(uuid_node("urn:uuid:1111111g-1111-4111-8111-111111111111",
	    node), -1);
	assert_int_equal(uuid_from_node("1111", urn), -1);
	assert_int_equal(uuid_from_node("1111111111114111811111111111111x", urn),
	    -1);
}

static int
pki(const char *a, const char *b, const char *c)
{
	char pk[128];
	char *argv[5] = { "pki", (char *)a, pk, (char *)b, (char *)c };

	path(pk, sizeof(pk), "pki");
	return pki_main(b == NULL ? 3 : c == NULL ? 4 : 5, argv);
}

static X509 *
read_cert(const char *name)
{
	char p[128];
	X509 *x;
	FILE *f;

	path(p, sizeof(p), name);
	assert_non_null(f = fopen(p, "r"));
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	return x;
}

/* The subjectAltName: exactly a URI and an xmppAddr, as given. */
static void
check_san(X509 *x, const char *uri, const char *jid)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL,
	    NULL);
	int seen_uri = 0, seen_jid = 0;

	assert_non_null(gens);
	assert_int_equal(sk_GENERAL_NAME_num(gens), 2);
	for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

		if (g->type == GEN_URI) {
			assert_string_equal(ASN1_STRING_get0_data(
			    g->d.uniformResourceIdentifier), uri);
			seen_uri = 1;
		} else if (g->type == GEN_OTHERNAME) {
			char oid[64];
			ASN1_TYPE *v = g->d.otherName->value;

			OBJ_obj2txt(oid, sizeof(oid), g->d.otherName->type_id, 1);
			assert_string_equal(oid, "1.3.6.1.5.5.7.8.5");
			assert_int_equal(v->type, V_ASN1_UTF8STRING);
			assert_string_equal(ASN1_STRING_get0_data(
			    v->value.utf8string), jid);
			seen_jid = 1;
		}
	}
	assert_true(seen_uri && seen_jid);
	GENERAL_NAMES_free(gens);
}

static void
test_pki(void **state)
{
	const char *uuid = "urn:uuid:0F8E1C2A-1111-4222-8333-444455556666";
	const char *lower = "urn:uuid:0f8e1c2a-1111-4222-8333-444455556666";
	char p[128];
	X509 *ca, *gw;
	X509_CRL *crl;
	EVP_PKEY *capub;
	FILE *f;
	int n;

	(void)state;
	assert_int_equal(pki("init", NULL, NULL), 0);
	assert_int_equal(pki("init", NULL, NULL), 1);	/* made once */
	assert_int_equal(pki("issue", uuid, "ccert.example"), 0);
	assert_int_equal(pki("issue", "urn:uuid:nope", "ccert.example"), 1);
	assert_int_equal(pki("issue", uuid, "bad domain"), 1);

	ca = read_cert("pki/ca.pem");
	gw = read_cert("pki/0f8e1c2a-1111-4222-8333-444455556666.pem");
	assert_non_null(capub = X509_get0_pubkey(ca));
	assert_int_equal(X509_verify(gw, capub), 1);
	assert_int_equal(X509_check_ca(ca), 1);
	assert_int_equal(X509_check_ca(gw), 0);
	/* libstrophe 0.12 misses subjectAltName as the first extension */
	n = X509_get_ext_count(gw);
	assert_true(n >= 2);
	assert_int_equal(OBJ_obj2nid(X509_EXTENSION_get_object(
	    X509_get_ext(gw, 0))), NID_basic_constraints);
	assert_int_equal(OBJ_obj2nid(X509_EXTENSION_get_object(
	    X509_get_ext(gw, n - 1))), NID_subject_alt_name);
	check_san(gw, lower, "0f8e1c2a111142228333444455556666@ccert.example");
	assert_true(X509_get_extended_key_usage(gw) & XKU_SSL_CLIENT);

	path(p, sizeof(p), "pki");
	assert_int_equal(pki_revoked(p, lower), 0);
	assert_int_equal(pki("revoke", uuid, NULL), 0);
	assert_int_equal(pki("revoke", uuid, NULL), 1);	/* nothing left */
	assert_int_equal(pki_revoked(p, lower), 1);
	path(p, sizeof(p), "pki/crl.pem");
	assert_non_null(f = fopen(p, "r"));
	assert_non_null(crl = PEM_read_X509_CRL(f, NULL, NULL, NULL));
	fclose(f);
	assert_int_equal(X509_CRL_verify(crl, capub), 1);
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 1);
	assert_int_equal(ASN1_INTEGER_cmp(X509_REVOKED_get0_serialNumber(
	    sk_X509_REVOKED_value(X509_CRL_get_REVOKED(crl), 0)),
	    X509_get0_serialNumber(gw)), 0);

	/* a new certificate for the UUID makes it valid again */
	assert_int_equal(pki("issue", lower, "ccert.example"), 0);
	path(p, sizeof(p), "pki");
	assert_int_equal(pki_revoked(p, lower), 0);
	X509_CRL_free(crl);
	X509_free(gw);
	X509_free(ca);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_register_and_read),
		cmocka_unit_test(test_foreign_endpoint),
		cmocka_unit_test(test_flows_persist),
		cmocka_unit_test(test_bad_databases),
		cmocka_unit_test(test_one_broker_a_registry),
		cmocka_unit_test(test_uuid_node),
		cmocka_unit_test(test_pki),
	};

	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
