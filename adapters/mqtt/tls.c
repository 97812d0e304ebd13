/*
 * The listen broker's connection, plain TCP or TLS (tls ca PATH
 * [certificate PATH key PATH]): OpenSSL over the client side's
 * non-blocking socket.  TLS 1.2 or later; the broker's certificate must
 * chain to the configured CA and name the listen address (an IP address:
 * conf.c allows nothing else there).  The CA, certificate and key are
 * loaded once, in configure, while the adapter may still read them.
 *
 * conn_recv and conn_send behave as recv and send: -1 with EAGAIN while
 * TLS waits for the socket (local_tls_wants says for what), -1 with EPROTO on a
 * TLS failure (logged here, with OpenSSL's reason).
 */
#include <sys/socket.h>
#include <errno.h>
#include <poll.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "xgw-mqtt.h"

static SSL_CTX *ctx;
static SSL *ssl;
static short wants;	/* what the last TLS call waits for */

static void
log_ssl(const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];
	long v;

	if (ssl != NULL && (v = SSL_get_verify_result(ssl)) != X509_V_OK)
		log_warnx("TLS %s: the broker's certificate: %s", what,
		    X509_verify_cert_error_string(v));
	else if (e != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		log_warnx("TLS %s: %s", what, buf);
	} else
		log_warnx("TLS %s: the connection failed", what);
	ERR_clear_error();
}

int
local_tls_init(const struct conf_mqtt *m)
{
	if (m->ca[0] == '\0')
		return 0;
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		log_ssl("context");
		return -1;
	}
	if (SSL_CTX_load_verify_locations(ctx, m->ca, NULL) != 1) {
		log_ssl(m->ca);
		return -1;
	}
	if (m->cert[0] != '\0' &&
	    (SSL_CTX_use_certificate_chain_file(ctx, m->cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, m->key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)) {
		log_ssl(m->cert);
		return -1;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	/* the output buffer moves up as it drains and grows behind */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	return 0;
}

int
local_tls_on(void)
{
	return ctx != NULL;
}

int
local_tls_start(int fd, const char *addr)
{
	local_tls_end();
	if ((ssl = SSL_new(ctx)) == NULL || SSL_set_fd(ssl, fd) != 1 ||
	    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), addr) != 1) {
		log_ssl("setup");
		return -1;
	}
	SSL_set_connect_state(ssl);
	return 0;
}

/* -1 with errno set after an SSL call that did not complete. */
static int
ssl_failed(int rc, const char *what)
{
	switch (SSL_get_error(ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		wants = POLLIN;
		errno = EAGAIN;
		break;
	case SSL_ERROR_WANT_WRITE:
		wants = POLLOUT;
		errno = EAGAIN;
		break;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		if (errno == 0)
			errno = ECONNRESET;
		ERR_clear_error();
		break;
	default:
		log_ssl(what);
		errno = EPROTO;
	}
	return -1;
}

/* 1 done, 0 not yet (EAGAIN), -1 failed (logged). */
int
local_tls_handshake(void)
{
	int rc;

	wants = 0;
	if ((rc = SSL_do_handshake(ssl)) == 1)
		return 1;
	if (ssl_failed(rc, "handshake") == 0)
		log_warnx("TLS handshake: closed by the broker");
	else if (errno == EAGAIN)
		return 0;
	else if (errno != EPROTO)
		log_warnx("TLS handshake: %s", strerror(errno));
	return -1;
}

ssize_t
conn_recv(int fd, void *p, size_t n)
{
	int rc;

	if (ssl == NULL)
		return recv(fd, p, n, 0);
	wants = 0;
	if ((rc = SSL_read(ssl, p, n > INT32_MAX ? INT32_MAX : (int)n)) > 0)
		return rc;
	return ssl_failed(rc, "read");
}

ssize_t
conn_send(int fd, const void *p, size_t n)
{
	int rc;

	if (ssl == NULL)
		return send(fd, p, n, MSG_NOSIGNAL);
	wants = 0;
	if ((rc = SSL_write(ssl, p, n > INT32_MAX ? INT32_MAX : (int)n)) > 0)
		return rc;
	rc = ssl_failed(rc, "write");
	if (rc == 0)
		errno = EPIPE;
	return -1;
}

short
local_tls_wants(void)
{
	return ssl != NULL ? wants : 0;
}

/* Bytes TLS has decrypted that poll cannot see. */
int
local_tls_pending(void)
{
	return ssl != NULL && SSL_pending(ssl) > 0;
}

void
local_tls_end(void)
{
	SSL_free(ssl);
	ssl = NULL;
	wants = 0;
}
