/*
 * bench/calls_ceiling.c — how many Send API calls a second libcurl makes over loopback, and
 * at what CPU cost, with nothing of the connector around them: the ceiling the drain's Graph
 * API calls set, whatever the worker's design (docs/benchmarks.md "What the Graph API calls
 * cost the drain").
 *
 *   build/bench/calls_ceiling URL easy|multi N SECONDS
 *
 * easy N: N threads, each with one easy handle calling curl_easy_perform in a loop (as the
 * drain's threads call, one call in flight each); multi N: one thread keeping N calls in
 * flight on a multi handle. Each call POSTs one Send API body of a stories answer's size to
 * URL with keep-alive (bench/graph_fast.c answers at once). Prints the calls a second and this
 * process's CPU a call (user and system, getrusage) and its context switches; bench/calls.sh
 * adds the Graph API stub's share. Bounded by SECONDS; 127.0.0.1 only by its callers.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <curl/curl.h>

#define MAX_N 256

static const char *url;
static double seconds;
static const char body[] = "{\"recipient\":{\"id\":\"1234567890123456\"},\"messaging_type\":"
    "\"RESPONSE\",\"message\":{\"text\":\"Hello Ann! How can I help you today? This is a "
    "message of about the size the stories bot sends.\"}}";

struct easy_arg {
	unsigned long calls;
	int failed;
};

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static size_t
sink(char *p, size_t sz, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return sz * n;
}

/* An easy handle set up for the call, or NULL. */
static CURL *
handle(struct curl_slist *h)
{
	CURL *c = curl_easy_init();

	if (c == NULL)
		return NULL;
	if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L) != CURLE_OK) {
		curl_easy_cleanup(c);
		return NULL;
	}
	return c;
}

static struct curl_slist *
headers(void)
{
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json"), *n;

	if (h == NULL || (n = curl_slist_append(h, "Expect:")) == NULL) {
		curl_slist_free_all(h);
		return NULL;
	}
	return n;
}

static void *
easy_thread(void *p)
{
	struct easy_arg *a = p;
	struct curl_slist *h = headers();
	CURL *c = h ? handle(h) : NULL;
	double end = mono() + seconds;

	if (c == NULL) {
		a->failed = 1;
		curl_slist_free_all(h);
		return NULL;
	}
	while (mono() < end) {
		if (curl_easy_perform(c) != CURLE_OK) {
			a->failed = 1;
			break;
		}
		a->calls++;
	}
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	return NULL;
}

/* Calls made by one thread keeping n in flight; -1 when one failed. */
static long
multi_run(int n)
{
	struct curl_slist *h = headers();
	CURLM *m = curl_multi_init();
	CURL *cs[MAX_N] = { NULL };
	double end = mono() + seconds;
	long calls = 0;
	int i, running = 0, left;
	CURLMsg *msg;

	for (i = 0; h != NULL && m != NULL && i < n; i++)
		if ((cs[i] = handle(h)) == NULL || curl_multi_add_handle(m, cs[i]) != CURLM_OK)
			calls = -1;
	if (h == NULL || m == NULL)
		calls = -1;
	while (calls >= 0 && mono() < end) {
		if (curl_multi_perform(m, &running) != CURLM_OK) {
			calls = -1;
			break;
		}
		while (calls >= 0 && (msg = curl_multi_info_read(m, &left)) != NULL) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			if (msg->data.result != CURLE_OK) {
				calls = -1;
				break;
			}
			calls++;
			/* Removed and added again: the handle calls again on its kept connection. */
			if (curl_multi_remove_handle(m, msg->easy_handle) != CURLM_OK ||
			    curl_multi_add_handle(m, msg->easy_handle) != CURLM_OK)
				calls = -1;
		}
		if (calls >= 0 && curl_multi_poll(m, NULL, 0, 100, NULL) != CURLM_OK)
			calls = -1;
	}
	for (i = 0; i < n; i++) {
		if (cs[i] != NULL && m != NULL)
			curl_multi_remove_handle(m, cs[i]);
		curl_easy_cleanup(cs[i]);
	}
	curl_multi_cleanup(m);
	curl_slist_free_all(h);
	return calls;
}

/* Calls made by n threads of one easy handle each; -1 when one failed. */
static long
easy_run(int n)
{
	pthread_t t[MAX_N];
	struct easy_arg a[MAX_N];
	long calls = 0;
	int i, started;

	memset(a, 0, sizeof(a));
	for (started = 0; started < n; started++)
		if (pthread_create(&t[started], NULL, easy_thread, &a[started]) != 0)
			break;
	for (i = 0; i < started; i++) {
		pthread_join(t[i], NULL);
		calls = a[i].failed || calls < 0 ? -1 : calls + (long)a[i].calls;
	}
	return started == n ? calls : -1;
}

int
main(int argc, char **argv)
{
	struct rusage ru;
	double t0, took, user, sys;
	long calls;
	int n;

	if (argc != 5 || (strcmp(argv[2], "easy") != 0 && strcmp(argv[2], "multi") != 0)) {
		fprintf(stderr, "usage: calls_ceiling URL easy|multi N SECONDS\n");
		return 2;
	}
	url = argv[1];
	n = atoi(argv[3]);
	seconds = atof(argv[4]);
	if (n < 1 || n > MAX_N || !(seconds > 0 && seconds <= 600)) {
		fprintf(stderr, "calls_ceiling: N 1 to %d, SECONDS over 0 and at most 600\n", MAX_N);
		return 2;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	t0 = mono();
	calls = strcmp(argv[2], "multi") == 0 ? multi_run(n) : easy_run(n);
	took = mono() - t0;
	curl_global_cleanup();
	if (calls <= 0) {
		fprintf(stderr, "calls_ceiling: a call failed (is the Graph API stub at %s?)\n", url);
		return 1;
	}
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 1;
	user = tv_s(ru.ru_utime) * 1e6 / (double)calls;
	sys = tv_s(ru.ru_stime) * 1e6 / (double)calls;
	printf("%-5s %3d  %6.0f calls/s  client CPU %5.1f us a call (user %.1f, sys %.1f)  "
	    "context switches %.2f a call  calls %ld\n", argv[2], n, (double)calls / took,
	    user + sys, user, sys, (double)(ru.ru_nvcsw + ru.ru_nivcsw) / (double)calls, calls);
	return 0;
}
