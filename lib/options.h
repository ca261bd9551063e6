/* options.h — the config's `graph` and `state` groups as the options of the Graph API client
 * and of the store (docs/configuration.md "graph", "state").
 *
 * The responder and msgrctl open both from the same config, so the translation is written
 * here once: a key added to either group is then honoured by every program. No I/O. */
#ifndef MSGR_OPTIONS_H
#define MSGR_OPTIONS_H

#include "config.h"
#include "graph.h"
#include "store.h"

/* *o from cfg->state: backend, path or conninfo, journal, sync, busy timeout; read-write,
 * no error buffer. */
void msgr_options_store(const struct msgr_config *cfg, struct msgr_store_options *o);
/* *o from cfg->graph: base URL, version, timeouts; the client's defaults for the rest. */
void msgr_options_graph(const struct msgr_config *cfg, struct msgr_graph_options *o);

#endif
