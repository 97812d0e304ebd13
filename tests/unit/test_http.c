/* Placeholder until the http transform lands: checks that it refuses input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include "http.h"

static void
refuses(void **state)
{
	xmpp_ctx_t *ctx = xmpp_ctx_new(NULL, NULL);
	xmpp_stanza_t *el = NULL;
	struct xgw_err err;
	uint8_t b[4] = { 0 };

	(void)state;
	assert_int_equal(xgw_http_proto.decode(ctx, NULL, XGW_REQUEST, b, 4, &el, &err), -1);
	xmpp_ctx_free(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(refuses) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
