/* options.c — config groups -> module options (options.h). */
#include <string.h>

#include "options.h"

void
msgr_options_store(const struct msgr_config *cfg, struct msgr_store_options *o)
{
	memset(o, 0, sizeof(*o));
	o->path = cfg->state.path;
	o->wal = cfg->state.journal == MSGR_JOURNAL_WAL;
	o->sync_full = cfg->state.sync == MSGR_SYNC_FULL;
	o->busy_timeout_ms = cfg->state.busy_timeout_ms;
	if (cfg->state.backend == MSGR_BACKEND_POSTGRESQL) {
		/* path only names the store in logs then; the conninfo (a secret) never is. */
		o->backend = "postgresql";
		o->path = "postgresql";
		o->conninfo = cfg->state.conninfo;
	}
}

void
msgr_options_graph(const struct msgr_config *cfg, struct msgr_graph_options *o)
{
	memset(o, 0, sizeof(*o));
	o->base_url = cfg->graph.url;
	o->version = cfg->graph.version;
	o->timeout_ms = cfg->graph.timeout_ms;
	o->connect_timeout_ms = cfg->graph.connect_timeout_ms;
}
