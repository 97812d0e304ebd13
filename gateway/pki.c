/*
 * xgwctl pki: the site's identity provider for a small site.  A CA, one
 * certificate per gateway that names it twice (its UUID as a URI, and the
 * xmppAddr derived from that UUID, BROKER.md), revocation and a CRL.
 *
 * DIR holds ca.key and ca.pem, an index of what was issued, and per
 * gateway <uuid>.key and <uuid>.pem.  The index has one line per
 * certificate: "V|R serial-hex urn:uuid:... not-after [revoked-at]"
 * (times in seconds since the epoch).  Every file is replaced whole
 * (write, fsync, rename), so a crash leaves the old one.
 *
 * The extension order of a gateway certificate matters: libstrophe 0.12
 * misses subjectAltName when it is the first extension (STACK-NOTES), so
 * it comes last.
 */
#include <sys/stat.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "broker.h"

#define CA_DAYS		3650
#define CERT_DAYS	365
#define CRL_DAYS	30
#define MAX_INDEX	65536		/* certificates a site CA keeps track of */
#define XMPPADDR_OID	"1.3.6.1.5.5.7.8.5"

struct issued {
	char		 state;			/* V valid, R revoked */
	char		 serial[42];		/* hex, at most 20 bytes */
	char		 uuid[UUID_URN_LEN + 1];
	long long	 not_after, revoked_at;
};

static int
fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One line on standard error, with OpenSSL's reason when it has one. */
static int
fail(const char *fmt, ...)
{
	unsigned long e = ERR_get_error();
	char msg[512], ssl[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (e != 0) {
		ERR_error_string_n(e, ssl, sizeof(ssl));
		fprintf(stderr, "xgwctl pki: %s: %s\n", msg, ssl);
	} else
		fprintf(stderr, "xgwctl pki: %s\n", msg);
	ERR_clear_error();
	return -1;
}

static void
path_in(char *out, const char *dir, const char *name, const char *suffix)
{
	snprintf(out, PATH_MAX, "%s/%s%s", dir, name, suffix);
}

/* Writes a file whole through NAME.tmp: the old one stays until the new is on disk. */
typedef int	write_fn(FILE *, const void *);

static int
replace_file(const char *path, mode_t mode, write_fn *fn, const void *arg)
{
	char tmp[PATH_MAX + 8];
	FILE *f;
	int fd, ok;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode)) == -1)
		return fail("%s: %s", tmp, strerror(errno));
	if ((f = fdopen(fd, "w")) == NULL) {
		close(fd);
		return fail("%s: %s", tmp, strerror(errno));
	}
	ok = fn(f, arg) == 0 && fflush(f) == 0 && fsync(fileno(f)) == 0;
	if (fclose(f) != 0)
		ok = 0;
	if (!ok || rename(tmp, path) == -1) {
		fail("%s: cannot write: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

static int
write_key(FILE *f, const void *key)
{
	return PEM_write_PrivateKey(f, (EVP_PKEY *)key, NULL, NULL, 0, NULL,
	    NULL) == 1 ? 0 : -1;
}

static int
write_cert(FILE *f, const void *cert)
{
	return PEM_write_X509(f, (X509 *)cert) == 1 ? 0 : -1;
}

static int
write_crl(FILE *f, const void *crl)
{
	return PEM_write_X509_CRL(f, (X509_CRL *)crl) == 1 ? 0 : -1;
}

struct ca_crl {
	X509		*ca;
	X509_CRL	*crl;
};

/* The CA and its CRL in one file: Prosody (LuaSec) reads CRLs from its cafile. */
static int
write_ca_crl(FILE *f, const void *arg)
{
	const struct ca_crl *cc = arg;

	return write_cert(f, cc->ca) == 0 && write_crl(f, cc->crl) == 0 ? 0 : -1;
}

struct index_out {
	const struct issued *rows;
	int		 n;
};

static int
write_index(FILE *f, const void *arg)
{
	const struct index_out *io = arg;

	for (int i = 0; i < io->n; i++) {
		const struct issued *r = &io->rows[i];

		if (r->state == 'R')
			fprintf(f, "R %s %s %lld %lld\n", r->serial, r->uuid,
			    r->not_after, r->revoked_at);
		else
			fprintf(f, "V %s %s %lld\n", r->serial, r->uuid,
			    r->not_after);
	}
	return ferror(f) ? -1 : 0;
}

/* Reads DIR/index; a missing file is an empty index. *rows is malloc'd. */
static int
read_index(const char *dir, struct issued **rows, int *n)
{
	char path[PATH_MAX], line[256];
	unsigned lineno = 0;
	FILE *f;

	*n = 0;
	if ((*rows = calloc(MAX_INDEX, sizeof(**rows))) == NULL)
		return fail("out of memory");
	path_in(path, dir, "index", "");
	if ((f = fopen(path, "r")) == NULL)
		return errno == ENOENT ? 0 : fail("%s: %s", path,
		    strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		struct issued *r = &(*rows)[*n];
		int k;

		lineno++;
		if (*n == MAX_INDEX) {
			fclose(f);
			return fail("%s: more than %d certificates", path,
			    MAX_INDEX);
		}
		r->revoked_at = 0;
		k = sscanf(line, "%c %41s %45s %lld %lld", &r->state, r->serial,
		    r->uuid, &r->not_after, &r->revoked_at);
		if (!((r->state == 'V' && k == 4) || (r->state == 'R' &&
		    k == 5))) {
			fclose(f);
			return fail("%s:%u: not an index line", path, lineno);
		}
		(*n)++;
	}
	fclose(f);
	return 0;
}

static int
load_ca(const char *dir, X509 **ca, EVP_PKEY **key)
{
	char path[PATH_MAX];
	FILE *f;

	*ca = NULL;
	*key = NULL;
	path_in(path, dir, "ca", ".pem");
	if ((f = fopen(path, "r")) == NULL)
		return fail("%s: %s (run xgwctl pki init first)", path,
		    strerror(errno));
	*ca = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (*ca == NULL)
		return fail("%s: not a PEM certificate", path);
	path_in(path, dir, "ca", ".key");
	if ((f = fopen(path, "r")) == NULL)
		return fail("%s: %s", path, strerror(errno));
	*key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (*key == NULL)
		return fail("%s: not a PEM private key", path);
	if (X509_check_private_key(*ca, *key) != 1)
		return fail("%s: does not match ca.pem", path);
	return 0;
}

static int
add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int rc;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return fail("extension %s = %s", OBJ_nid2sn(nid), value);
	rc = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return rc == 1 ? 0 : fail("adding extension %s", OBJ_nid2sn(nid));
}

/* A random positive 128-bit serial, as RFC 5280 asks (unpredictable, <= 20 bytes). */
static int
set_serial(X509 *cert, char hex[42])
{
	unsigned char b[16];
	BIGNUM *bn;
	char *h;
	int ok;

	if (RAND_bytes(b, sizeof(b)) != 1)
		return fail("no random bytes for a serial number");
	b[0] = (b[0] & 0x7f) | 0x40;	/* positive and always 16 bytes */
	if ((bn = BN_bin2bn(b, sizeof(b), NULL)) == NULL)
		return fail("serial number");
	ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL &&
	    (h = BN_bn2hex(bn)) != NULL;
	if (ok) {
		snprintf(hex, 42, "%s", h);
		OPENSSL_free(h);
	}
	BN_free(bn);
	return ok ? 0 : fail("serial number");
}

/*
 * A certificate for key, signed by issuer (itself when issuer is NULL),
 * with the extensions in the order given: pairs of NID and value.
 */
static X509 *
make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *ikey,
    int days, char serial[42], const int *nids, const char *const *vals,
    int next)
{
	X509 *c = X509_new();
	X509_NAME *name;

	if (c == NULL || X509_set_version(c, 2) != 1 ||
	    set_serial(c, serial) == -1 ||
	    X509_gmtime_adj(X509_getm_notBefore(c), -300) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(c), 86400L * days) == NULL ||
	    X509_set_pubkey(c, key) != 1)
		goto bad;
	name = X509_get_subject_name(c);
	if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0) != 1 ||
	    X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) :
	    name) != 1)
		goto bad;
	for (int i = 0; i < next; i++)
		if (add_ext(c, issuer ? issuer : c, nids[i], vals[i]) == -1)
			goto bad;
	if (X509_sign(c, ikey ? ikey : key, EVP_sha256()) == 0)
		goto bad;
	return c;
bad:
	fail("certificate %s", cn);
	X509_free(c);
	return NULL;
}

static int
cmd_init(const char *dir)
{
	static const int nids[] = { NID_basic_constraints, NID_key_usage,
	    NID_subject_key_identifier };
	static const char *const vals[] = { "critical,CA:TRUE",
	    "critical,keyCertSign,cRLSign", "hash" };
	char path[PATH_MAX], serial[42];
	EVP_PKEY *key;
	X509 *ca = NULL;
	int rc = -1;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		return fail("%s: %s", dir, strerror(errno));
	path_in(path, dir, "ca", ".key");
	if (access(path, F_OK) == 0)
		return fail("%s exists: the site CA is made once", path);
	if ((key = EVP_EC_gen("P-256")) == NULL)
		return fail("EC key");
	if ((ca = make_cert(key, "xgw site CA", NULL, NULL, CA_DAYS, serial,
	    nids, vals, 3)) != NULL &&
	    replace_file(path, 0600, write_key, key) == 0) {
		path_in(path, dir, "ca", ".pem");
		rc = replace_file(path, 0644, write_cert, ca);
	}
	if (rc == 0)
		printf("%s/ca.pem\n", dir);
	X509_free(ca);
	EVP_PKEY_free(key);
	return rc;
}

static int
cmd_issue(const char *dir, const char *uuid, const char *domain)
{
	static const int nids[] = { NID_basic_constraints, NID_key_usage,
	    NID_ext_key_usage, NID_subject_key_identifier,
	    NID_authority_key_identifier, NID_subject_alt_name };
	char san[512], node[33], urn[UUID_URN_LEN + 1], path[PATH_MAX];
	const char *vals[] = { "critical,CA:FALSE", "critical,digitalSignature",
	    "clientAuth", "hash", "keyid:always", san };
	struct issued *rows = NULL;
	struct index_out io;
	EVP_PKEY *cakey = NULL, *key = NULL;
	X509 *ca = NULL, *cert = NULL;
	int n, rc = -1;

	if (uuid_node(uuid, node) == -1 || uuid_from_node(node, urn) == -1)
		return fail("%s: expected urn:uuid: and a UUID", uuid);
	if (domain[0] == '\0' || strlen(domain) > 200 ||
	    strpbrk(domain, "@/,; ") != NULL)
		return fail("%s: not a domain", domain);
	/* the URI in lower case, as xgw writes every UUID */
	snprintf(san, sizeof(san), "URI:%s,otherName:" XMPPADDR_OID ";UTF8:%s@%s",
	    urn, node, domain);
	if (load_ca(dir, &ca, &cakey) == -1 || read_index(dir, &rows, &n) == -1)
		goto done;
	if (n == MAX_INDEX) {
		fail("%s/index: full (%d certificates)", dir, MAX_INDEX);
		goto done;
	}
	if ((key = EVP_EC_gen("P-256")) == NULL) {
		fail("EC key");
		goto done;
	}
	rows[n].state = 'V';
	memcpy(rows[n].uuid, urn, sizeof(urn));
	if ((cert = make_cert(key, rows[n].uuid, ca, cakey, CERT_DAYS,
	    rows[n].serial, nids, vals, 6)) == NULL)
		goto done;
	rows[n].not_after = (long long)time(NULL) + 86400LL * CERT_DAYS;
	io = (struct index_out){ rows, n + 1 };
	path_in(path, dir, rows[n].uuid + 9, ".key");
	if (replace_file(path, 0600, write_key, key) == -1)
		goto done;
	path_in(path, dir, rows[n].uuid + 9, ".pem");
	if (replace_file(path, 0644, write_cert, cert) == -1)
		goto done;
	path_in(path, dir, "index", "");
	if ((rc = replace_file(path, 0644, write_index, &io)) == 0)
		printf("%s/%s.pem %s@%s\n", dir, rows[n].uuid + 9, node, domain);
done:
	free(rows);
	X509_free(cert);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(cakey);
	return rc;
}

static int
add_revoked(X509_CRL *crl, const struct issued *r)
{
	X509_REVOKED *rv = X509_REVOKED_new();
	ASN1_INTEGER *serial = NULL;
	ASN1_TIME *when = NULL;
	BIGNUM *bn = NULL;
	int ok;

	ok = rv != NULL && BN_hex2bn(&bn, r->serial) != 0 &&
	    (serial = BN_to_ASN1_INTEGER(bn, NULL)) != NULL &&
	    X509_REVOKED_set_serialNumber(rv, serial) == 1 &&
	    (when = ASN1_TIME_set(NULL, (time_t)r->revoked_at)) != NULL &&
	    X509_REVOKED_set_revocationDate(rv, when) == 1 &&
	    X509_CRL_add0_revoked(crl, rv) == 1;
	if (!ok)
		X509_REVOKED_free(rv);
	ASN1_TIME_free(when);
	ASN1_INTEGER_free(serial);
	BN_free(bn);
	return ok ? 0 : fail("CRL entry %s", r->serial);
}

static int
set_crl_fields(X509_CRL *crl, X509 *ca)
{
	ASN1_TIME *t;
	ASN1_INTEGER *num;
	X509V3_CTX ctx;
	X509_EXTENSION *aki;
	int ok;

	if ((t = ASN1_TIME_new()) == NULL || (num = ASN1_INTEGER_new()) == NULL) {
		ASN1_TIME_free(t);
		return fail("out of memory");
	}
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, ca, NULL, NULL, crl, 0);
	aki = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier,
	    "keyid:always");
	/* the time is the CRL number: it grows, and needs no state file */
	ok = X509_CRL_set_version(crl, 1) == 1 &&
	    X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) == 1 &&
	    X509_gmtime_adj(t, 0) != NULL && X509_CRL_set1_lastUpdate(crl, t) &&
	    X509_gmtime_adj(t, 86400L * CRL_DAYS) != NULL &&
	    X509_CRL_set1_nextUpdate(crl, t) &&
	    ASN1_INTEGER_set_int64(num, (int64_t)time(NULL)) == 1 &&
	    X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) == 1 &&
	    aki != NULL && X509_CRL_add_ext(crl, aki, -1) == 1;
	X509_EXTENSION_free(aki);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(t);
	return ok ? 0 : fail("CRL fields");
}

/* DIR/crl.pem and DIR/ca-crl.pem from the index. */
static int
write_crls(const char *dir, X509 *ca, EVP_PKEY *cakey,
    const struct issued *rows, int n)
{
	char path[PATH_MAX];
	struct ca_crl cc = { ca, X509_CRL_new() };
	int rc = -1;

	if (cc.crl == NULL || set_crl_fields(cc.crl, ca) == -1)
		goto done;
	for (int i = 0; i < n; i++)
		if (rows[i].state == 'R' && add_revoked(cc.crl, &rows[i]) == -1)
			goto done;
	if (X509_CRL_sort(cc.crl) != 1 ||
	    X509_CRL_sign(cc.crl, cakey, EVP_sha256()) == 0) {
		fail("signing the CRL");
		goto done;
	}
	path_in(path, dir, "crl", ".pem");
	if (replace_file(path, 0644, write_crl, cc.crl) == -1)
		goto done;
	path_in(path, dir, "ca-crl", ".pem");
	rc = replace_file(path, 0644, write_ca_crl, &cc);
done:
	X509_CRL_free(cc.crl);
	return rc;
}

/* Revokes every valid certificate of uuid (or none: uuid NULL), then writes the CRL. */
static int
cmd_revoke(const char *dir, const char *uuid)
{
	struct issued *rows = NULL;
	struct index_out io;
	EVP_PKEY *cakey = NULL;
	X509 *ca = NULL;
	char path[PATH_MAX], node[33], urn[UUID_URN_LEN + 1];
	int n, hits = 0, rc = -1;

	if (uuid != NULL && (uuid_node(uuid, node) == -1 ||
	    uuid_from_node(node, urn) == -1))
		return fail("%s: expected urn:uuid: and a UUID", uuid);
	if (load_ca(dir, &ca, &cakey) == -1 || read_index(dir, &rows, &n) == -1)
		goto done;
	for (int i = 0; uuid != NULL && i < n; i++)
		if (rows[i].state == 'V' && strcmp(rows[i].uuid, urn) == 0) {
			rows[i].state = 'R';
			rows[i].revoked_at = (long long)time(NULL);
			hits++;
		}
	if (uuid != NULL && hits == 0) {
		fail("%s/index: no valid certificate for %s", dir, urn);
		goto done;
	}
	io = (struct index_out){ rows, n };
	path_in(path, dir, "index", "");
	if (hits > 0 && replace_file(path, 0644, write_index, &io) == -1)
		goto done;
	if ((rc = write_crls(dir, ca, cakey, rows, n)) == 0)
		printf("%s/crl.pem: %d certificates revoked now\n", dir, hits);
done:
	free(rows);
	X509_free(ca);
	EVP_PKEY_free(cakey);
	return rc;
}

int
uuid_node(const char *urn, char node[33])
{
	const char *u = urn + 9;
	size_t n = 0;

	if (strncmp(urn, "urn:uuid:", 9) != 0 || strlen(urn) != UUID_URN_LEN)
		return -1;
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (u[i] != '-')
				return -1;
			continue;
		}
		if (!isxdigit((unsigned char)u[i]))
			return -1;
		node[n++] = tolower((unsigned char)u[i]);
	}
	node[n] = '\0';
	return 0;
}

int
uuid_from_node(const char *node, char urn[UUID_URN_LEN + 1])
{
	char *o = urn + 9;

	if (strlen(node) != 32)
		return -1;
	memcpy(urn, "urn:uuid:", 9);
	for (int i = 0; i < 32; i++) {
		if (!isxdigit((unsigned char)node[i]))
			return -1;
		if (i == 8 || i == 12 || i == 16 || i == 20)
			*o++ = '-';
		*o++ = tolower((unsigned char)node[i]);
	}
	*o = '\0';
	return 0;
}

/*
 * For the broker: 1 when DIR/index lists certificates of uuid and every
 * one is revoked, 0 otherwise, -1 when the index cannot be read.
 */
int
pki_revoked(const char *dir, const char *uuid)
{
	struct issued *rows;
	int n, valid = 0, revoked = 0;

	if (read_index(dir, &rows, &n) == -1) {
		free(rows);
		return -1;
	}
	for (int i = 0; i < n; i++)
		if (strcmp(rows[i].uuid, uuid) == 0) {
			valid += rows[i].state == 'V';
			revoked += rows[i].state == 'R';
		}
	free(rows);
	return revoked > 0 && valid == 0;
}

static int
usage(void)
{
	fprintf(stderr, "usage: xgwctl pki init DIR\n"
	    "       xgwctl pki issue DIR UUID DOMAIN\n"
	    "       xgwctl pki revoke DIR UUID\n"
	    "       xgwctl pki crl DIR\n");
	return 2;
}

/* argv[0] is "pki"; returns the exit status. */
int
pki_main(int argc, char **argv)
{
	int rc;

	if (argc == 3 && strcmp(argv[1], "init") == 0)
		rc = cmd_init(argv[2]);
	else if (argc == 5 && strcmp(argv[1], "issue") == 0)
		rc = cmd_issue(argv[2], argv[3], argv[4]);
	else if (argc == 4 && strcmp(argv[1], "revoke") == 0)
		rc = cmd_revoke(argv[2], argv[3]);
	else if (argc == 3 && strcmp(argv[1], "crl") == 0)
		rc = cmd_revoke(argv[2], NULL);
	else
		return usage();
	return rc == 0 ? 0 : 1;
}
