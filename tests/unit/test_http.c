/* Unit tests: the HTTP transport's deadline (lib/http.h msgr_http_set_deadline): a call's
 * timeout is cut to what is left of the thread's deadline, never below MSGR_HTTP_MIN_CALL_MS,
 * and never for a call that asks for its whole timeout. The peer is a socket that listens and
 * never answers: the kernel completes the connection, the request goes out, no answer comes.
 * Margins are seconds against a 10 s timeout, so a busy machine cannot make them fail. */
#include "unit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "http.h"

static int lfd = -1;
static int port;

static int
setup(void **state)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);

	(void)state;
	if (msgr_http_global_init() != MSGR_OK)
		return -1;
	if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(lfd, 16) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen) != 0)
		return -1;
	port = ntohs(a.sin_port);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	msgr_http_set_deadline(0);
	if (lfd >= 0)
		close(lfd);
	msgr_http_global_cleanup();
	return 0;
}

/* One POST to the silent peer with a 10 s timeout; the time it took in *ms. */
static void
call(struct msgr_http_response *resp, long long *ms)
{
	struct msgr_http_options o = { 10000, 3000, 4096, NULL };
	struct msgr_http_request rq;
	struct msgr_http *h = NULL;
	char url[64];
	long long t0;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/bot", port);
	memset(&rq, 0, sizeof(rq));
	rq.method = "POST";
	rq.url = url;
	rq.body = "{}";
	rq.body_len = 2;
	assert_int_equal(msgr_http_open(&o, &h), MSGR_OK);
	t0 = msgr_clock_mono_ms();
	assert_int_equal(msgr_http_perform(h, &rq, resp), MSGR_OK);
	*ms = msgr_clock_mono_ms() - t0;
	msgr_http_close(h);
}

/* With 3 s left, a call with a 10 s timeout ends after about 3 s, said so. */
static void
test_cut_to_deadline(void **state)
{
	struct msgr_http_response r;
	long long ms;

	(void)state;
	msgr_http_set_deadline(msgr_clock_mono_ms() + 3000);
	call(&r, &ms);
	msgr_http_set_deadline(0);
	assert_false(r.transport_ok);
	assert_true(r.timed_out);
	assert_true(r.budget_cut);
	assert_true(r.timeout_ms > MSGR_HTTP_MIN_CALL_MS && r.timeout_ms <= 3000);
	assert_true(ms < 8000);
}

/* With nothing left, the call still gets MSGR_HTTP_MIN_CALL_MS: a peer that answers at all
 * answers within it, so a job begun near the end of the budget still ends. */
static void
test_past_deadline(void **state)
{
	struct msgr_http_response r;
	long long ms;

	(void)state;
	msgr_http_set_deadline(msgr_clock_mono_ms() - 1);
	call(&r, &ms);
	msgr_http_set_deadline(0);
	assert_false(r.transport_ok);
	assert_true(r.timed_out);
	assert_true(r.budget_cut);
	assert_int_equal(r.timeout_ms, MSGR_HTTP_MIN_CALL_MS);
	assert_true(ms < 6000);
}

/* A call that asks for its whole timeout (a Send API POST) is not cut short by the
 * deadline: cut, it could take effect at the other end and be made again. */
static void
test_whole_timeout(void **state)
{
	struct msgr_http_response r;
	struct msgr_http_options o = { 1500, 1500, 4096, NULL };   /* above the minimum */
	struct msgr_http_request rq;
	struct msgr_http *h = NULL;
	char url[64];

	(void)state;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/me/messages", port);
	memset(&rq, 0, sizeof(rq));
	rq.method = "POST";
	rq.url = url;
	rq.body = "{}";
	rq.body_len = 2;
	rq.whole_timeout = 1;
	assert_int_equal(msgr_http_open(&o, &h), MSGR_OK);
	msgr_http_set_deadline(msgr_clock_mono_ms() - 1);
	assert_int_equal(msgr_http_perform(h, &rq, &r), MSGR_OK);
	msgr_http_set_deadline(0);
	assert_true(r.timed_out);
	assert_false(r.budget_cut);
	assert_int_equal(r.timeout_ms, 1500);
	msgr_http_close(h);
}

/* A deadline further than the call's own timeout changes nothing. */
static void
test_far_deadline(void **state)
{
	struct msgr_http_response r;
	struct msgr_http_options o = { 400, 400, 4096, NULL };
	struct msgr_http_request rq;
	struct msgr_http *h = NULL;
	char url[64];

	(void)state;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/bot", port);
	memset(&rq, 0, sizeof(rq));
	rq.method = "GET";
	rq.url = url;
	assert_int_equal(msgr_http_open(&o, &h), MSGR_OK);
	msgr_http_set_deadline(msgr_clock_mono_ms() + 60000);
	assert_int_equal(msgr_http_perform(h, &rq, &r), MSGR_OK);
	msgr_http_set_deadline(0);
	msgr_http_close(h);
	assert_true(r.timed_out);
	assert_false(r.budget_cut);
	assert_int_equal(r.timeout_ms, 400);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cut_to_deadline),
		cmocka_unit_test(test_past_deadline),
		cmocka_unit_test(test_whole_timeout),
		cmocka_unit_test(test_far_deadline),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
