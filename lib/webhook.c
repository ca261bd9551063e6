/* webhook.c — a signed webhook body -> typed events (docs/facebook.md "Webhooks":
 * {"object":"page", "entry":[{"id":PAGE,"time":ms,"messaging"|"standby":[...]}]}, up to 1000
 * events across several pages). No I/O: the caller logs, stores and quarantines. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "id.h"
#include "webhook.h"

void
msgr_webhook_limits_default(struct msgr_webhook_limits *lim)
{
	if (lim == NULL)
		return;
	lim->max_depth = MSGR_MAX_JSON_DEPTH;
	lim->max_entries = MSGR_MAX_ENTRIES;
	lim->max_events_per_entry = MSGR_MAX_EVENTS_PER_ENTRY;
	lim->max_events = MSGR_MAX_EVENTS_PER_BODY;
}

void
msgr_webhook_batch_free(struct msgr_webhook_batch *b)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; i < b->n_events; i++)
		msgr_event_clear(&b->events[i]);
	free(b->events);
	for (i = 0; i < b->n_rejects; i++)
		free(b->rejects[i].raw);
	free(b->rejects);
	memset(b, 0, sizeof(*b));
}

/* An entry id: digits, as a string or a JSON integer (docs/facebook.md shows "id":PAGE bare). */
static int
entry_id(json_t *v, char *dst, size_t dstsz)
{
	const char *s;
	size_t n;

	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0)
			return -1;
		snprintf(dst, dstsz, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return 0;
	}
	if (!json_is_string(v))
		return -1;
	s = json_string_value(v);
	n = json_string_length(v);
	if (n >= dstsz || !msgr_id_digits(s, n))
		return -1;
	memcpy(dst, s, n + 1);
	return 0;
}

static int
is_events_key(const char *k)
{
	return strcmp(k, "messaging") == 0 || strcmp(k, "standby") == 0;
}

static msgr_result
add_reject(struct msgr_webhook_batch *b, json_t *part, const char *page_id, const char *reason)
{
	struct msgr_webhook_reject *r = &b->rejects[b->n_rejects];

	memset(r, 0, sizeof(*r));
	r->raw = json_dumps(part, JSON_COMPACT | JSON_ENCODE_ANY);
	if (r->raw == NULL)
		return MSGR_ERR_NOMEM;
	snprintf(r->page_id, sizeof(r->page_id), "%s", page_id);
	snprintf(r->reason, sizeof(r->reason), "%s", reason);
	b->n_rejects++;
	return MSGR_OK;
}

/* The limits to apply: a zero bound means "the default", so a caller may set only the
 * bounds it changes. */
static void
limits_of(const struct msgr_webhook_limits *given, struct msgr_webhook_limits *lim)
{
	msgr_webhook_limits_default(lim);
	if (given == NULL)
		return;
	if (given->max_depth)
		lim->max_depth = given->max_depth;
	if (given->max_entries)
		lim->max_entries = given->max_entries;
	if (given->max_events_per_entry)
		lim->max_events_per_entry = given->max_events_per_entry;
	if (given->max_events)
		lim->max_events = given->max_events;
}

/* The envelope {"object": ..., "entry": [...]}: out->object set, *entries the entry array,
 * left NULL for another product's webhook (instagram, whatsapp_business_account...), which
 * the caller drops: its shape is not ours to judge. */
static msgr_result
read_envelope(json_t *root, struct msgr_webhook_batch *out, json_t **entries, char *why,
    size_t whysz)
{
	json_t *obj;

	*entries = NULL;
	if (!json_is_object(root)) {
		msgr_why(why, whysz, "body: not a JSON object");
		return MSGR_ERR_PARSE;
	}
	obj = json_object_get(root, "object");
	if (!json_is_string(obj)) {
		msgr_why(why, whysz, "body: \"object\" %s", obj ? "not a string" : "missing");
		return MSGR_ERR_PARSE;
	}
	if (json_string_length(obj) >= sizeof(out->object)) {
		msgr_why(why, whysz, "body: \"object\" too long");
		return MSGR_ERR_PARSE;
	}
	memcpy(out->object, json_string_value(obj), json_string_length(obj) + 1);
	if (strcmp(out->object, "page") != 0)
		return MSGR_OK;
	*entries = json_object_get(root, "entry");
	if (!json_is_array(*entries)) {
		msgr_why(why, whysz, "body: \"entry\" %s", *entries ? "not an array" : "missing");
		return MSGR_ERR_PARSE;
	}
	return MSGR_OK;
}

/* Bounds first, over the whole body: a body over any of them is quarantined whole rather
 * than partly dropped. *n_events counts the events of every entry. */
static msgr_result
count_events(json_t *entries, const struct msgr_webhook_limits *lim, size_t *n_events,
    char *why, size_t whysz)
{
	json_t *entry, *arr;
	const char *k;
	size_t i;

	*n_events = 0;
	if (json_array_size(entries) > lim->max_entries) {
		msgr_why(why, whysz, "body: more than %zu entries", lim->max_entries);
		return MSGR_ERR_TOOBIG;
	}
	json_array_foreach(entries, i, entry) {
		size_t per_entry = 0;

		if (!json_is_object(entry))
			continue;
		json_object_foreach(entry, k, arr) {
			if (!is_events_key(k) || !json_is_array(arr))
				continue;
			per_entry += json_array_size(arr);
		}
		if (per_entry > lim->max_events_per_entry) {
			msgr_why(why, whysz, "entry[%zu]: more than %zu events", i,
			    lim->max_events_per_entry);
			return MSGR_ERR_TOOBIG;
		}
		*n_events += per_entry;
		if (*n_events > lim->max_events) {
			msgr_why(why, whysz, "body: more than %zu events", lim->max_events);
			return MSGR_ERR_TOOBIG;
		}
	}
	return MSGR_OK;
}

/* What is wrong with entry i as a whole, into reason (0 when nothing); page_id gets its id. */
static int
entry_fault(json_t *entry, size_t i, char *page_id, size_t idsz, char *reason,
    size_t reasonsz)
{
	json_t *v, *arr;
	const char *k;
	int has_events = 0;

	page_id[0] = '\0';
	if (!json_is_object(entry)) {
		snprintf(reason, reasonsz, "entry[%zu]: not an object", i);
		return 1;
	}
	if ((v = json_object_get(entry, "id")) == NULL) {
		snprintf(reason, reasonsz, "entry[%zu]: id missing", i);
		return 1;
	}
	if (entry_id(v, page_id, idsz) != 0) {
		page_id[0] = '\0';
		snprintf(reason, reasonsz, "entry[%zu]: id not a page id of at most %d digits", i,
		    MSGR_MAX_ID_LEN);
		return 1;
	}
	json_object_foreach(entry, k, arr) {
		if (!is_events_key(k))
			continue;
		if (!json_is_array(arr)) {
			snprintf(reason, reasonsz, "entry[%zu].%s: not an array", i, k);
			return 1;
		}
		has_events = 1;
	}
	if (!has_events) {
		snprintf(reason, reasonsz, "entry[%zu]: no messaging or standby array", i);
		return 1;
	}
	return 0;
}

/* The events of entry i into out, in body order (the entry's arrays in the order they were
 * written); an event that does not parse is kept as a reject. */
static msgr_result
parse_entry(struct msgr_webhook_batch *out, json_t *entry, size_t i, const char *page_id)
{
	char reason[256], evwhy[160];   /* "entry[N].standby[N]: " and the event's why */
	json_t *arr, *ev;
	const char *k;
	size_t j;
	msgr_result rc;

	json_object_foreach(entry, k, arr) {
		int standby;

		if (!is_events_key(k))
			continue;
		standby = strcmp(k, "standby") == 0;
		json_array_foreach(arr, j, ev) {
			rc = msgr_event_parse(ev, page_id, standby, &out->events[out->n_events], evwhy,
			    sizeof(evwhy));
			if (rc == MSGR_OK) {
				out->n_events++;
				continue;
			}
			if (rc != MSGR_ERR_PARSE && rc != MSGR_ERR_TOOBIG)
				return rc;
			snprintf(reason, sizeof(reason), "entry[%zu].%s[%zu]: %s", i, k, j, evwhy);
			if ((rc = add_reject(out, ev, page_id, reason)) != MSGR_OK)
				return rc;
		}
	}
	return MSGR_OK;
}

msgr_result
msgr_webhook_parse(const char *body, size_t len, const struct msgr_webhook_limits *limits,
    struct msgr_webhook_batch *out, char *why, size_t whysz)
{
	struct msgr_webhook_limits lim;
	json_t *root = NULL, *entries, *entry;
	char page_id[MSGR_MAX_ID_LEN + 1], reason[200];
	size_t i, n_events = 0, cap_rejects;
	msgr_result rc;

	if (why != NULL && whysz > 0)
		why[0] = '\0';
	if (out == NULL)
		return MSGR_ERR_INVALID;
	memset(out, 0, sizeof(*out));
	limits_of(limits, &lim);
	if (body == NULL && len > 0)
		return MSGR_ERR_INVALID;
	if (len == 0) {
		msgr_why(why, whysz, "empty body");
		return MSGR_ERR_PARSE;
	}
	if ((rc = msgr_event_json_load(body, len, lim.max_depth, &root, why, whysz)) != MSGR_OK ||
	    (rc = read_envelope(root, out, &entries, why, whysz)) != MSGR_OK || entries == NULL ||
	    (rc = count_events(entries, &lim, &n_events, why, whysz)) != MSGR_OK)
		goto out;

	rc = MSGR_ERR_NOMEM;
	cap_rejects = json_array_size(entries) + n_events;
	if (n_events > 0 && (out->events = calloc(n_events, sizeof(*out->events))) == NULL)
		goto out;
	if (cap_rejects > 0 && (out->rejects = calloc(cap_rejects, sizeof(*out->rejects))) == NULL)
		goto out;
	json_array_foreach(entries, i, entry) {
		if (entry_fault(entry, i, page_id, sizeof(page_id), reason, sizeof(reason)))
			rc = add_reject(out, entry, page_id, reason);
		else
			rc = parse_entry(out, entry, i, page_id);
		if (rc != MSGR_OK)
			goto out;
	}
	rc = MSGR_OK;
out:
	if (rc != MSGR_OK) {
		if (rc == MSGR_ERR_NOMEM)
			msgr_why(why, whysz, "out of memory");
		msgr_webhook_batch_free(out);
	}
	json_decref(root);
	return rc;
}
