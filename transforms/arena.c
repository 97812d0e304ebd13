/*
 * A libstrophe allocator for short-lived stanzas: allocations are bumped
 * off one block, and the block empties itself when the last of them is
 * freed.  A PDU's elements are built, read and released together, so the
 * block is reused from its start for every PDU without a reset call that
 * could free something still in use.
 *
 * What the block cannot hold (a large body, or anything while stanzas of
 * earlier PDUs are still held) comes from malloc, so the arena only ever
 * changes where memory comes from, never how long it lives.  The context
 * itself is made before the arena opens: it lives on the heap, and its
 * lifetime allocations never keep the block from emptying.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xgw_transform.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POISON(p, n)	ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n)	ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n)	((void)(p), (void)(n))
#define UNPOISON(p, n)	((void)(p), (void)(n))
#endif

/* Each allocation starts with its size, and stays aligned as malloc's are. */
#define ALIGN		16
#define HDR		ALIGN

struct xgw_arena {
	xmpp_mem_t	 mem;
	uint8_t		*block;
	size_t		 size;
	size_t		 pos;		/* first free byte */
	size_t		 live;		/* allocations in the block not yet freed */
	int		 open;		/* off until the context is made */
};

static int
in_block(const struct xgw_arena *a, const void *p)
{
	return (const uint8_t *)p >= a->block &&
	    (const uint8_t *)p < a->block + a->size;
}

static size_t
alloc_size(const void *p)
{
	size_t n;

	memcpy(&n, (const uint8_t *)p - HDR, sizeof(n));
	return n;
}

/* n is at most the block's size, so this cannot overflow */
static size_t
rounded(size_t n)
{
	return (n + ALIGN - 1) / ALIGN * ALIGN;
}

static void *
arena_alloc(size_t n, void *userdata)
{
	struct xgw_arena *a = userdata;
	uint8_t *p;

	n += n == 0;	/* a distinct pointer inside the block */
	if (!a->open || n > a->size || HDR + rounded(n) > a->size - a->pos)
		return malloc(n);
	p = a->block + a->pos;
	UNPOISON(p, HDR + n);
	memcpy(p, &n, sizeof(n));
	a->pos += HDR + rounded(n);
	a->live++;
	return p + HDR;
}

static void
arena_free(void *p, void *userdata)
{
	struct xgw_arena *a = userdata;

	if (!in_block(a, p)) {
		free(p);
		return;
	}
	POISON(p, alloc_size(p));
	if (--a->live == 0) {
		POISON(a->block, a->pos);
		a->pos = 0;
	}
}

static void *
arena_realloc(void *p, size_t n, void *userdata)
{
	struct xgw_arena *a = userdata;
	size_t old, off;
	void *q;

	if (p == NULL)
		return arena_alloc(n, a);
	if (!in_block(a, p))
		return realloc(p, n);
	old = alloc_size(p);
	off = (size_t)((uint8_t *)p - a->block);
	/* the last allocation grows or shrinks in place while the block has room */
	if (off + rounded(old) == a->pos && n <= a->size &&
	    rounded(n) <= a->size - off) {
		POISON(p, old);
		UNPOISON(p, n);
		memcpy((uint8_t *)p - HDR, &n, sizeof(n));
		a->pos = off + rounded(n);
		return p;
	}
	if ((q = arena_alloc(n, a)) == NULL)
		return NULL;
	memcpy(q, p, old < n ? old : n);
	arena_free(p, a);
	return q;
}

struct xgw_arena *
xgw_arena_new(size_t size)
{
	struct xgw_arena *a;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return NULL;
	a->size = size / ALIGN * ALIGN;
	if ((a->block = malloc(a->size)) == NULL) {
		free(a);
		return NULL;
	}
	POISON(a->block, a->size);
	a->mem.alloc = arena_alloc;
	a->mem.free = arena_free;
	a->mem.realloc = arena_realloc;
	a->mem.userdata = a;
	return a;
}

xmpp_ctx_t *
xgw_arena_ctx_new(struct xgw_arena *a)
{
	xmpp_ctx_t *ctx;

	if ((ctx = xmpp_ctx_new(&a->mem, NULL)) != NULL)
		a->open = 1;
	return ctx;
}

/* After xmpp_ctx_free: nothing of the block may be in use any more. */
void
xgw_arena_free(struct xgw_arena *a)
{
	if (a == NULL)
		return;
	UNPOISON(a->block, a->size);
	free(a->block);
	free(a);
}
