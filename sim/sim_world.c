/* sim_world.c — the simulator's shared state and its JSON views. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "event.h"
#include "log.h"
#include "message.h"
#include "signature.h"
#include "sim_clock.h"
#include "sim_world.h"

/* Made-up people, in the order new users get them (docs/simulator.md). */
static const char *const first_names[] = {
	"Alice", "Bruno", "Chloé", "Daniel", "Emma", "Farid", "Greta", "Hiro",
	"Inès", "Jonas", "Kavya", "Luca", "Maya", "Noah", "Olivia", "Pablo"
};
static const char *const last_names[] = {
	"Martin", "Keller", "Durand", "Okafor", "Rossi", "Haddad", "Lindqvist", "Tanaka",
	"Moreau", "Weber", "Nair", "Bianchi", "Cohen", "Schmidt", "Brown", "García"
};
#define N_NAMES (sizeof(first_names) / sizeof(first_names[0]))
/* web/simulator/avatar-1.svg .. avatar-SIM_AVATARS.svg */
#define SIM_AVATARS 6
/* PSIDs: this base + page index * 100000 + user number, SIM_PSID_LEN digits. */
#define PSID_BASE 3100000000000000LL
#define PSID_PAGE_STRIDE 100000LL

static void
conv_free(struct sim_conv *c)
{
	if (c == NULL)
		return;
	json_decref(c->items);
	json_decref(c->edits);
	free(c);
}

void
sim_world_close(struct sim_world *w)
{
	size_t i, u;

	if (w == NULL)
		return;
	for (i = 0; w->pages != NULL && i < w->n_pages; i++) {
		for (u = 0; w->pages[i].convs != NULL && u < SIM_USERS_MAX; u++)
			conv_free(w->pages[i].convs[u]);
		free(w->pages[i].convs);
		json_decref(w->pages[i].profile);
		json_decref(w->pages[i].subscribed);
	}
	free(w->pages);
	json_decref(w->held);
	json_decref(w->hooks);
	json_decref(w->calls);
	json_decref(w->uploads);
	json_decref(w->subscriptions);
	free(w->last.body);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

msgr_result
sim_world_open(const struct msgr_config *cfg, struct sim_world **out)
{
	struct sim_world *w;
	size_t i, j;
	int idx;

	*out = NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return MSGR_ERR_NOMEM;
	if (pthread_mutex_init(&w->mu, NULL) != 0) {
		free(w);
		return MSGR_ERR_NOMEM;
	}
	w->cfg = cfg;
	w->echoes = 1;
	w->last.page = -1;
	w->n_pages = cfg->n_connectors;
	w->held = json_array();
	w->hooks = json_array();
	w->calls = json_array();
	w->uploads = json_object();
	w->subscriptions = json_object();
	if (w->held == NULL || w->hooks == NULL || w->calls == NULL || w->uploads == NULL ||
	    w->subscriptions == NULL)
		goto nomem;
	if (w->n_pages > 0 && (w->pages = calloc(w->n_pages, sizeof(*w->pages))) == NULL)
		goto nomem;
	for (i = 0; i < w->n_pages; i++) {
		struct sim_page *p = &w->pages[i];

		p->conn = &cfg->connectors[i];
		p->hook = p->conn;
		for (j = 0; j < i; j++)
			if (strcmp(cfg->connectors[j].app_id, p->conn->app_id) == 0) {
				p->hook = &cfg->connectors[j];
				break;
			}
		p->profile = json_object();
		p->subscribed = json_object();
		p->convs = calloc(SIM_USERS_MAX, sizeof(*p->convs));
		if (p->profile == NULL || p->subscribed == NULL || p->convs == NULL)
			goto nomem;
	}
	/* Two people to talk with from the start (docs/simulator.md). */
	if (sim_world_add_user(w, NULL, &idx) != MSGR_OK ||
	    sim_world_add_user(w, NULL, &idx) != MSGR_OK)
		goto nomem;
	/* A restart keeps the clock where the connector's libfaketime still has it. */
	if (cfg->simulator.clock_file != NULL &&
	    sim_clock_read(cfg->simulator.clock_file, &w->offset_s) != MSGR_OK)
		w->offset_s = 0;
	*out = w;
	return MSGR_OK;
nomem:
	sim_world_close(w);
	return MSGR_ERR_NOMEM;
}

void
sim_world_lock(struct sim_world *w)
{
	pthread_mutex_lock(&w->mu);
}

void
sim_world_unlock(struct sim_world *w)
{
	pthread_mutex_unlock(&w->mu);
}

long long
sim_world_next_seq(struct sim_world *w)
{
	return ++w->seq;
}

long long
sim_world_now_ms(const struct sim_world *w)
{
	return sim_clock_real_ms() + w->offset_s * 1000;
}

int
sim_world_page_by_id(const struct sim_world *w, const char *page_id)
{
	size_t i;

	for (i = 0; page_id != NULL && i < w->n_pages; i++)
		if (strcmp(w->pages[i].conn->page_id, page_id) == 0)
			return (int)i;
	return -1;
}

int
sim_world_user_by_key(const struct sim_world *w, const char *key)
{
	size_t i;

	for (i = 0; key != NULL && i < w->n_users; i++)
		if (strcmp(w->users[i].key, key) == 0)
			return (int)i;
	return -1;
}

void
sim_world_psid(const struct sim_world *w, int page, int user, char out[SIM_PSID_LEN + 1])
{
	snprintf(out, SIM_PSID_LEN + 1, "%lld",
	    PSID_BASE + (long long)page * PSID_PAGE_STRIDE + (long long)w->users[user].no);
}

int
sim_world_user_by_psid(const struct sim_world *w, int page, const char *psid)
{
	char mine[SIM_PSID_LEN + 1];
	size_t i;

	for (i = 0; psid != NULL && i < w->n_users; i++) {
		sim_world_psid(w, page, (int)i, mine);
		if (strcmp(mine, psid) == 0)
			return (int)i;
	}
	return -1;
}

void
sim_world_avatar(const struct sim_user *u, char *out, size_t outsz)
{
	snprintf(out, outsz, "/_sim/static/avatar-%u.svg", (u->no - 1) % SIM_AVATARS + 1);
}

/* A name is shown in the page and answered as a profile: printable, one line. */
static int
name_ok(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > SIM_NAME_MAX || s[0] == ' ' || s[n - 1] == ' ')
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return msgr_message_utf8_chars(s, NULL) == MSGR_OK;
}

msgr_result
sim_world_add_user(struct sim_world *w, const char *name, int *idx)
{
	struct sim_user *u;
	unsigned no;

	if (w->n_users >= SIM_USERS_MAX)
		return MSGR_ERR_LIMIT;
	if (name != NULL && !name_ok(name))
		return MSGR_ERR_INVALID;
	no = (unsigned)w->n_users + 1;
	u = &w->users[w->n_users];
	memset(u, 0, sizeof(*u));
	u->no = no;
	snprintf(u->key, sizeof(u->key), "u%u", no);
	if (name == NULL) {
		const char *f = first_names[(no - 1) % N_NAMES], *l = last_names[(no - 1) % N_NAMES];

		snprintf(u->first, sizeof(u->first), "%s", f);
		snprintf(u->last, sizeof(u->last), "%s", l);
		snprintf(u->name, sizeof(u->name), "%s %s", f, l);
	} else {
		/* "First Last...": the first word is the first name, the rest the last name. */
		size_t sp = strcspn(name, " ");

		snprintf(u->name, sizeof(u->name), "%s", name);
		snprintf(u->first, sizeof(u->first), "%.*s", (int)sp, name);
		snprintf(u->last, sizeof(u->last), "%s", name[sp] ? name + sp + 1 : "");
	}
	*idx = (int)w->n_users++;
	return MSGR_OK;
}

struct sim_conv *
sim_world_conv(struct sim_world *w, int page, int user)
{
	struct sim_conv **slot = &w->pages[page].convs[user], *c;

	if (*slot != NULL)
		return *slot;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->items = json_array();
	c->edits = json_object();
	if (c->items == NULL || c->edits == NULL) {
		conv_free(c);
		return NULL;
	}
	*slot = c;
	return c;
}

const char *
sim_world_owner(const struct sim_world *w, int page, const struct sim_conv *c)
{
	return c != NULL && c->owner[0] ? c->owner : w->pages[page].conn->app_id;
}

long long
sim_world_add_item(struct sim_world *w, int page, int user, json_t *item)
{
	struct sim_conv *c = sim_world_conv(w, page, user);
	long long seq;

	if (c == NULL || item == NULL) {
		json_decref(item);
		return 0;
	}
	seq = sim_world_next_seq(w);
	if (json_object_set_new(item, "seq", json_integer(seq)) != 0 ||
	    (json_object_get(item, "ts") == NULL &&
	    json_object_set_new(item, "ts", json_integer(sim_world_now_ms(w))) != 0)) {
		json_decref(item);
		return 0;
	}
	if (json_array_append_new(c->items, item) != 0)   /* the item is dropped by it */
		return 0;
	while (json_array_size(c->items) > SIM_ITEMS_MAX)
		json_array_remove(c->items, 0);
	return seq;
}

json_t *
sim_world_item(struct sim_world *w, int page, int user, long long seq)
{
	struct sim_conv *c = w->pages[page].convs[user];
	size_t i;

	/* Newest first: the item looked for is nearly always one of the last. */
	for (i = c ? json_array_size(c->items) : 0; i > 0; i--) {
		json_t *it = json_array_get(c->items, i - 1);
		long long s = json_integer_value(json_object_get(it, "seq"));

		if (s == seq)
			return it;
		if (s < seq)
			break;
	}
	return NULL;
}

/* ---- records ---- */

json_t *
sim_world_kept_text(const struct sim_world *w, const char *body, size_t len)
{
	char *red, *cut = NULL;
	json_t *j;

	if (len > SIM_BODY_KEEP) {
		if ((cut = malloc(SIM_BODY_KEEP + 64)) == NULL)
			return NULL;
		/* Cut on a character boundary so the text stays UTF-8. */
		len = SIM_BODY_KEEP;
		while (len > 0 && ((unsigned char)body[len] & 0xC0) == 0x80)
			len--;
		snprintf(cut, SIM_BODY_KEEP + 64, "%.*s... (cut)", (int)len, body);
		body = cut;
	}
	red = sim_world_redact(w, body);
	free(cut);
	if (red == NULL)
		return NULL;
	j = json_string(red);
	if (j == NULL)
		j = json_string("(not UTF-8)");
	free(red);
	return j;
}

/* Appends rec to list, dropping the oldest past SIM_LOG_MAX. */
static long long
record(struct sim_world *w, json_t *list, json_t *rec)
{
	long long seq = sim_world_next_seq(w);

	if (rec == NULL)
		return 0;
	if (json_object_set_new(rec, "seq", json_integer(seq)) != 0 ||
	    json_object_set_new(rec, "id", json_integer(seq)) != 0 ||
	    (json_object_get(rec, "ts") == NULL &&
	    json_object_set_new(rec, "ts", json_integer(sim_world_now_ms(w))) != 0)) {
		json_decref(rec);
		return 0;
	}
	if (json_array_append_new(list, rec) != 0)   /* the record is dropped by it */
		return 0;
	while (json_array_size(list) > SIM_LOG_MAX)
		json_array_remove(list, 0);
	return seq;
}

long long
sim_world_hook_begin(struct sim_world *w, int page, const char *body, size_t len,
    size_t events, int redelivery)
{
	const struct msgr_connector *h = w->pages[page].hook;
	json_t *text = sim_world_kept_text(w, body, len);
	json_t *rec;

	if (text == NULL)
		return 0;
	rec = json_pack("{s:s, s:s, s:I, s:n, s:n, s:o, s:b}", "connector", h->id, "path", h->path,
	    "events", (json_int_t)events, "status", "ms", "body", text, "redelivery", redelivery);
	return record(w, w->hooks, rec);
}

void
sim_world_hook_end(struct sim_world *w, long long seq, long status, long ms)
{
	size_t i;

	for (i = json_array_size(w->hooks); i > 0; i--) {
		json_t *rec = json_array_get(w->hooks, i - 1);

		if (json_integer_value(json_object_get(rec, "seq")) == seq) {
			json_object_set_new(rec, "status", json_integer(status));
			json_object_set_new(rec, "ms", json_integer(ms));
			return;
		}
	}
}

long long
sim_world_call_add(struct sim_world *w, json_t *rec)
{
	return record(w, w->calls, rec);
}

char *
sim_world_redact(const struct sim_world *w, const char *text)
{
	static const char mark[] = "[redacted]";
	char *out = strdup(text);
	size_t i, k;

	for (i = 0; out != NULL && i < w->cfg->n_connectors; i++) {
		const struct msgr_connector *c = &w->cfg->connectors[i];
		const char *sec[3] = { c->call_token, c->secret, c->webhook_token };

		for (k = 0; k < 3 && out != NULL; k++) {
			size_t n = sec[k] ? strlen(sec[k]) : 0;
			char *hit, *next;

			/* As msgr_log: too short to be a secret, and would redact ordinary words. */
			if (n < 4)
				continue;
			while (out != NULL && (hit = strstr(out, sec[k])) != NULL) {
				size_t pre = (size_t)(hit - out), rest = strlen(hit + n);

				if ((next = malloc(pre + sizeof(mark) + rest)) != NULL) {
					memcpy(next, out, pre);
					memcpy(next + pre, mark, sizeof(mark) - 1);
					memcpy(next + pre + sizeof(mark) - 1, hit + n, rest + 1);
				}
				free(out);
				out = next;
			}
		}
	}
	return out;
}

/* ---- JSON views ---- */

void
sim_world_mid(struct sim_world *w, const char *prefix, char out[SIM_MID_MAX + 1])
{
	unsigned char rnd[8] = { 0 };
	char hex[2 * sizeof(rnd) + 1];

	/* Unique by the counter; the random part makes them look like Facebook's (opaque). */
	(void)RAND_bytes(rnd, (int)sizeof(rnd));
	msgr_signature_hex(rnd, sizeof(rnd), hex);
	snprintf(out, SIM_MID_MAX + 1, "%s%s%llx", prefix, hex, ++w->ids);
}

const char *
sim_fail_name(enum sim_fail f)
{
	static const char *const names[] = { NULL, "613", "10", "190", "551", "500", "hang" };

	return (size_t)f < sizeof(names) / sizeof(names[0]) ? names[f] : NULL;
}

int
sim_fail_parse(const char *s)
{
	int f;

	if (s == NULL)
		return -1;
	if (strcmp(s, "none") == 0)
		return SIM_FAIL_NONE;
	for (f = SIM_FAIL_613; f <= SIM_FAIL_HANG; f++)
		if (strcmp(s, sim_fail_name((enum sim_fail)f)) == 0)
			return f;
	return -1;
}

json_t *
sim_world_user_json(const struct sim_world *w, int user)
{
	const struct sim_user *u = &w->users[user];
	char pic[64], psid[SIM_PSID_LEN + 1];
	json_t *psids = json_object(), *j;
	size_t i;

	if (psids == NULL)
		return NULL;
	for (i = 0; i < w->n_pages; i++) {
		sim_world_psid(w, (int)i, user, psid);
		if (json_object_set_new(psids, w->pages[i].conn->page_id, json_string(psid)) != 0) {
			json_decref(psids);
			return NULL;
		}
	}
	sim_world_avatar(u, pic, sizeof(pic));
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "key", u->key, "name", u->name,
	    "first_name", u->first, "last_name", u->last, "picture", pic, "psids", psids);
	return j;
}

static const char *
bot_name(const struct msgr_connector *c)
{
	return c->bot.type == MSGR_BOT_API ? "api" : "stories";
}

json_t *
sim_world_json(struct sim_world *w)
{
	json_t *pages = json_array(), *users = json_array(), *j = NULL;
	size_t i;

	sim_world_lock(w);
	if (pages == NULL || users == NULL)
		goto out;
	for (i = 0; i < w->n_pages; i++) {
		const struct msgr_connector *c = w->pages[i].conn;

		/* The config has no page name: the connector's id names it. */
		if (json_array_append_new(pages, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}",
		    "connector", c->id, "page_id", c->page_id, "app_id", c->app_id, "path", c->path,
		    "bot", bot_name(c), "name", c->id)) != 0)
			goto out;
	}
	for (i = 0; i < w->n_users; i++)
		if (json_array_append_new(users, sim_world_user_json(w, (int)i)) != 0)
			goto out;
	j = json_pack("{s:O, s:O, s:{s:I, s:I, s:b}, s:{s:s?, s:I}, s:{s:b, s:I}, s:b, s:s}",
	    "pages", pages, "users", users,
	    "clock", "offset_s", (json_int_t)w->offset_s, "now_ms",
	    (json_int_t)sim_world_now_ms(w), "enabled", w->cfg->simulator.clock_file != NULL,
	    "fail", "mode", sim_fail_name(w->fail), "remaining", (json_int_t)w->fail_left,
	    "batch", "on", w->batch_on, "pending", (json_int_t)json_array_size(w->held),
	    "echoes", w->echoes, "inbox_app_id", MSGR_PAGE_INBOX_APP_ID);
out:
	sim_world_unlock(w);
	json_decref(pages);
	json_decref(users);
	return j;
}

/* Copies of the records of list newer than since. */
static json_t *
newer(const json_t *list, long long since)
{
	json_t *out = json_array();
	size_t i;

	for (i = 0; out != NULL && i < json_array_size(list); i++) {
		json_t *it = json_array_get(list, i);

		if (json_integer_value(json_object_get(it, "seq")) > since &&
		    json_array_append_new(out, json_deep_copy(it)) != 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

static const char *
window_name(long long now, long long last)
{
	if (last <= 0 || now - last > MSGR_WINDOW_HUMAN_AGENT_MS)
		return "closed";
	return now - last <= MSGR_WINDOW_STANDARD_MS ? "open" : "human_agent";
}

json_t *
sim_world_conv_json(struct sim_world *w, int page, int user, long long since)
{
	struct sim_conv *c;
	const char *owner;
	char label[MSGR_MAX_ID_LEN + 8];
	json_t *items, *j = NULL;

	sim_world_lock(w);
	c = sim_world_conv(w, page, user);
	if (c == NULL || (items = newer(c->items, since)) == NULL)
		goto out;
	owner = sim_world_owner(w, page, c);
	if (strcmp(owner, w->pages[page].conn->app_id) == 0)
		snprintf(label, sizeof(label), "bot");
	else if (strcmp(owner, MSGR_PAGE_INBOX_APP_ID) == 0)
		snprintf(label, sizeof(label), "inbox");
	else
		snprintf(label, sizeof(label), "app %s", owner);
	j = json_pack("{s:I, s:{s:s, s:s}, s:b, s:I, s:I, s:s, s:o}", "seq", (json_int_t)w->seq,
	    "owner", "app_id", owner, "label", label, "typing", c->typing,
	    "seen_watermark", (json_int_t)c->seen_watermark,
	    "last_user_ms", (json_int_t)c->last_user_ms,
	    "window", window_name(sim_world_now_ms(w), c->last_user_ms), "items", items);
out:
	sim_world_unlock(w);
	return j;
}

json_t *
sim_world_log_json(struct sim_world *w, long long since)
{
	json_t *j;

	sim_world_lock(w);
	j = json_pack("{s:I, s:o, s:o}", "seq", (json_int_t)w->seq, "webhooks",
	    newer(w->hooks, since), "graph", newer(w->calls, since));
	sim_world_unlock(w);
	return j;
}
