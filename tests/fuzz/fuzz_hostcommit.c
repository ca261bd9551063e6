/* fuzz_hostcommit — libFuzzer target for the host committer's wire (lib/hostcommit.c): what
 * a committer reads from a client (a group) and what a client reads back (an answer).
 *
 * Input: any bytes, decoded as a group message and as an answer for 1 to 4 batches.
 * Invariants:
 *   - decoding never reads past the input (ASan) and never allocates for counts the input
 *     cannot hold;
 *   - a group that decodes encodes back to exactly the input (one encoding per group), its
 *     batches are chained in order, and each text field lies inside the input, NUL-terminated;
 *   - an answer that decodes has in-range values and encodes back to exactly the input.
 * A broken invariant aborts, which libFuzzer (and tests/fuzz/driver.c) report as a crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostcommit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_hostcommit: invariant failed at line %d: %s\n", __LINE__, \
		    #cond); \
		abort(); \
	} \
} while (0)

static int
inside(const void *p, const uint8_t *data, size_t size)
{
	const uint8_t *q = p;

	return q >= data && q < data + size;
}

static void
group_case(const uint8_t *data, size_t size)
{
	struct msgr_hostcommit_group g;
	struct msgr_buf out;
	size_t i, j;

	if (msgr_hostcommit_decode_group(data, size, &g) != MSGR_OK) {
		CHECK(g.b == NULL && g.n == 0);
		return;
	}
	CHECK(g.n >= 1 && g.n <= MSGR_HOSTCOMMIT_MAX_BATCH);
	for (i = 0; i < g.n; i++) {
		CHECK(g.b[i].next == (i + 1 < g.n ? &g.b[i + 1] : NULL));
		for (j = 0; j < g.b[i].n; j++) {
			const struct msgr_store_event *e = &g.b[i].ev[j];

			CHECK(inside(e->connector_id, data, size) && inside(e->key, data, size) &&
			    inside(e->raw, data, size) && inside(e->page_id, data, size) &&
			    inside(e->user_id, data, size));
			CHECK(inside(e->raw + strlen(e->raw), data, size));
		}
		for (j = 0; j < g.b[i].nq; j++)
			CHECK(inside(g.b[i].q[j].raw + g.b[i].q[j].raw_len, data, size));
	}
	msgr_buf_init(&out, size + 16);
	CHECK(msgr_hostcommit_encode_group(g.b, g.n, &out) == MSGR_OK);
	CHECK(out.len == size && memcmp(out.data, data, size) == 0);
	msgr_buf_free(&out);
	msgr_hostcommit_group_free(&g);
}

static void
answer_case(const uint8_t *data, size_t size)
{
	struct msgr_commit_batch b[4];
	struct msgr_buf out;
	size_t n, i;

	for (n = 1; n <= 4; n++) {
		memset(b, 0, sizeof(b));
		for (i = 0; i + 1 < n; i++)
			b[i].next = &b[i + 1];
		if (msgr_hostcommit_decode_answer(data, size, b, n) != MSGR_OK)
			continue;
		for (i = 0; i < n; i++)
			CHECK((unsigned)b[i].rc <= (unsigned)MSGR_ERR_EMPTY);
		msgr_buf_init(&out, size + 16);
		CHECK(msgr_hostcommit_encode_answer(b, n, &out) == MSGR_OK);
		CHECK(out.len == size && memcmp(out.data, data, size) == 0);
		msgr_buf_free(&out);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	group_case(data, size);
	answer_case(data, size);
	return 0;
}
