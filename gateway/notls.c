/*
 * The TLS layer of libstrophe, for processes that build and parse stanzas
 * but never open an XMPP connection: the adapters.
 *
 * libstrophe's TLS layer is the only part of it that needs OpenSSL, and
 * every program linked with the shared library loads libssl and libcrypto:
 * 1.7 MiB of each adapter's resident memory, most of it relocations.  The
 * adapters link the static archive with this file, so the linker takes
 * these functions in place of the archive's tls_openssl.o.  A connection
 * that asked for TLS would fail at once: tls_new() returns no session, and
 * libstrophe reports that as an error of the connection.
 *
 * The prototypes are those of libstrophe 0.12's internal src/tls.h; a
 * function missing here makes the link pull tls_openssl.o and fail on
 * the duplicate symbols, so a change in that header cannot go unseen.
 */

#include <stddef.h>

struct _tls;
struct _xmpp_conn_t;
struct _xmpp_tlscert_t;

void tls_initialize(void);
void tls_shutdown(void);
struct _tls *tls_new(struct _xmpp_conn_t *);
void tls_free(struct _tls *);
char *tls_id_on_xmppaddr(struct _xmpp_conn_t *, unsigned int);
unsigned int tls_id_on_xmppaddr_num(struct _xmpp_conn_t *);
struct _xmpp_tlscert_t *tls_peer_cert(struct _xmpp_conn_t *);
int tls_set_credentials(struct _tls *, const char *);
int tls_start(struct _tls *);
int tls_stop(struct _tls *);
int tls_error(struct _tls *);
int tls_pending(struct _tls *);
int tls_read(struct _tls *, void *, size_t);
int tls_write(struct _tls *, const void *, size_t);
int tls_clear_pending_write(struct _tls *);
int tls_is_recoverable(int);

void tls_initialize(void) {}
void tls_shutdown(void) {}

struct _tls *
tls_new(struct _xmpp_conn_t *conn)
{
	(void)conn;
	return NULL;
}

/* Without a session none of these is reached; they answer "nothing, failed". */
void tls_free(struct _tls *tls) { (void)tls; }
char *tls_id_on_xmppaddr(struct _xmpp_conn_t *c, unsigned int n) { (void)c; (void)n; return NULL; }
unsigned int tls_id_on_xmppaddr_num(struct _xmpp_conn_t *c) { (void)c; return 0; }
struct _xmpp_tlscert_t *tls_peer_cert(struct _xmpp_conn_t *c) { (void)c; return NULL; }
int tls_set_credentials(struct _tls *t, const char *ca) { (void)t; (void)ca; return -1; }
int tls_start(struct _tls *t) { (void)t; return 0; }
int tls_stop(struct _tls *t) { (void)t; return 0; }
int tls_error(struct _tls *t) { (void)t; return -1; }
int tls_pending(struct _tls *t) { (void)t; return 0; }
int tls_read(struct _tls *t, void *b, size_t n) { (void)t; (void)b; (void)n; return -1; }
int tls_write(struct _tls *t, const void *b, size_t n) { (void)t; (void)b; (void)n; return -1; }
int tls_clear_pending_write(struct _tls *t) { (void)t; return -1; }
int tls_is_recoverable(int error) { (void)error; return 0; }
