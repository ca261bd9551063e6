/* Unit tests: the config's graph and state groups as module options (lib/options.h), the one
 * translation the responder and msgrctl share. */
#include "unit.h"
#include "options.h"

static void
test_store_options(void **state)
{
	struct msgr_config cfg;
	struct msgr_store_options o;
	char path[] = "/var/lib/msgr/state.db";

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.state.path = path;
	cfg.state.journal = MSGR_JOURNAL_WAL;
	cfg.state.sync = MSGR_SYNC_FULL;
	cfg.state.busy_timeout_ms = 1500;
	memset(&o, 0x5a, sizeof(o));   /* whatever was there is replaced */
	msgr_options_store(&cfg, &o);
	assert_ptr_equal(o.path, path);
	assert_int_equal(o.wal, 1);
	assert_int_equal(o.sync_full, 1);
	assert_int_equal(o.busy_timeout_ms, 1500);
	assert_int_equal(o.readonly, 0);
	assert_null(o.errbuf);
	assert_int_equal(o.errbufsz, 0);

	cfg.state.journal = MSGR_JOURNAL_DELETE;
	cfg.state.sync = MSGR_SYNC_NORMAL;
	msgr_options_store(&cfg, &o);
	assert_int_equal(o.wal, 0);
	assert_int_equal(o.sync_full, 0);
	assert_null(o.backend);          /* the default, SQLite */
	assert_null(o.conninfo);
}

/* PostgreSQL: the conninfo goes to the store; path only names it in logs, never the
 * conninfo (a secret). */
static void
test_store_options_postgresql(void **state)
{
	struct msgr_config cfg;
	struct msgr_store_options o;
	char path[] = "/var/lib/msgr/state.db", conninfo[] = "host=db1 dbname=msgr password=x";

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.state.path = path;
	cfg.state.backend = MSGR_BACKEND_POSTGRESQL;
	cfg.state.conninfo = conninfo;
	cfg.state.busy_timeout_ms = 900;
	msgr_options_store(&cfg, &o);
	assert_string_equal(o.backend, "postgresql");
	assert_ptr_equal(o.conninfo, conninfo);
	assert_string_equal(o.path, "postgresql");
	assert_int_equal(o.busy_timeout_ms, 900);
}

static void
test_graph_options(void **state)
{
	struct msgr_config cfg;
	struct msgr_graph_options o;
	char url[] = "http://127.0.0.1:8099", version[] = "v25.0";

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.graph.url = url;
	cfg.graph.version = version;
	cfg.graph.timeout_ms = 8000;
	cfg.graph.connect_timeout_ms = 1500;
	memset(&o, 0x5a, sizeof(o));
	msgr_options_graph(&cfg, &o);
	assert_ptr_equal(o.base_url, url);
	assert_ptr_equal(o.version, version);
	assert_int_equal(o.timeout_ms, 8000);
	assert_int_equal(o.connect_timeout_ms, 1500);
	/* the client's own defaults for what the config does not say */
	assert_int_equal(o.max_reply, 0);
	assert_null(o.user_agent);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store_options),
		cmocka_unit_test(test_store_options_postgresql),
		cmocka_unit_test(test_graph_options),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
