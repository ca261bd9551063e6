/* pgtest.h — the unit tests' side of the throw-away PostgreSQL cluster (tests/pgcluster.py).
 *
 * tests/run starts one cluster for the whole run and exports its conninfo (a superuser,
 * trust authentication, unix socket) as MSGR_TEST_PG. A test gets a schema of its own in it
 * (pgtest_schema_new): the conninfo it hands the store sets search_path to that schema, so
 * every test starts from an empty store and tests never see each other's rows. Raw SQL (as
 * another tool or an older build would run it) goes through pgtest_exec and pgtest_count.
 * Without MSGR_TEST_PG, or in a build without libpq, pgtest_base() is NULL and the
 * PostgreSQL half of a test program is left out. */
#ifndef MSGR_TEST_PGTEST_H
#define MSGR_TEST_PGTEST_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef MSGR_WITH_PQ
#include <libpq-fe.h>

static inline void
pgtest_quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;    /* NOTICEs (a DROP ... CASCADE listing what went) are not test output */
}

static inline const char *
pgtest_base(void)
{
	const char *s = getenv("MSGR_TEST_PG");

	return s != NULL && s[0] != '\0' ? s : NULL;
}

/* Runs SQL (printf-style) on its own connection; 0 when it succeeded, -1 otherwise (the
 * server's message on stderr). */
static inline int pgtest_exec(const char *conninfo, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static inline int
pgtest_exec(const char *conninfo, const char *fmt, ...)
{
	char sql[4096];
	PGconn *c;
	PGresult *r;
	va_list ap;
	int ok;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	c = PQconnectdb(conninfo);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "pgtest: %s", PQerrorMessage(c));
		PQfinish(c);
		return -1;
	}
	PQsetNoticeProcessor(c, pgtest_quiet, NULL);
	r = PQexec(c, sql);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
	if (!ok)
		fprintf(stderr, "pgtest: %s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	return ok ? 0 : -1;
}

/* The first column of the first row of query, as a number; -1 when it failed or is empty. */
static inline long long
pgtest_count(const char *conninfo, const char *query)
{
	PGconn *c = PQconnectdb(conninfo);
	PGresult *r;
	long long v = -1;

	if (PQstatus(c) == CONNECTION_OK) {
		r = PQexec(c, query);
		if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 &&
		    !PQgetisnull(r, 0, 0))
			v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		else
			fprintf(stderr, "pgtest: %s: %s", query, PQerrorMessage(c));
		PQclear(r);
	}
	PQfinish(c);
	return v;
}

/* A new empty schema: its name into name[namesz], and the conninfo that makes it the only
 * one a session sees into conninfo[sz]. 0, or -1 when it could not be made. */
static inline int
pgtest_schema_new(char *name, size_t namesz, char *conninfo, size_t sz)
{
	static unsigned n;
	const char *base = pgtest_base();

	if (base == NULL)
		return -1;
	snprintf(name, namesz, "t%ld_%u", (long)getpid(), n++);
	if (pgtest_exec(base, "CREATE SCHEMA %s", name) != 0)
		return -1;
	snprintf(conninfo, sz, "%s options='-csearch_path=%s'", base, name);
	return 0;
}

static inline void
pgtest_schema_drop(const char *name)
{
	const char *base = pgtest_base();

	if (base != NULL && name[0] != '\0')
		(void)pgtest_exec(base, "DROP SCHEMA IF EXISTS %s CASCADE", name);
}

#else

static inline const char *
pgtest_base(void)
{
	return NULL;
}

#endif

#endif
