/* test_cfgread.c — the libconfig reader the config and the stories bot share (lib/cfgread.h):
 * loading, faults in each style, the typed getters and the caps on what is listed. */
#include <unistd.h>

#include "unit.h"
#include "cfgread.h"

static char tmpdir[64];

static int
setup_tmp(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/msgr-cfgread-XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown_tmp(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Writes text (len bytes) into tmpdir/name; the path is in a static buffer. */
static const char *
write_tmp(const char *name, const char *text, size_t len)
{
	static char path[2][256];
	static int slot;
	char *p = path[slot++ % 2];
	FILE *fp;

	snprintf(p, 256, "%s/%s", tmpdir, name);
	fp = fopen(p, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
	return p;
}

static const char *
write_text(const char *name, const char *text)
{
	return write_tmp(name, text, strlen(text));
}

static void
open_reader(struct msgr_cfgread *r, enum msgr_cfgread_style style, const char *path)
{
	msgr_cfgread_init(r, style, path, tmpdir, 100, 65536);
	assert_int_equal(msgr_cfgread_load(r, path, 4096), MSGR_OK);
}

static const config_setting_t *
member(struct msgr_cfgread *r, const char *name)
{
	return config_setting_get_member(config_root_setting(&r->lc), name);
}

static void
assert_errors(struct msgr_cfgread *r, const char *want)
{
	char *e = msgr_cfgread_errors(r);

	assert_non_null(e);
	assert_string_equal(e, want);
	free(e);
}

/* The config's phrasing: "NAME must be ..., not ...", sorted by line. */
static void
test_config_style(void **state)
{
	struct msgr_cfgread r;
	const char *p, *v;
	long long n;
	int b;
	char want[2048];

	(void)state;
	p = write_text("c.conf", "s = 5;\nb = \"yes\";\nl = 3;\ni = \"x\";\ne = \"\";\n"
	    "ok = \"fine\";\nt = true;\n");
	open_reader(&r, MSGR_CFGREAD_CONFIG, p);
	assert_int_equal(msgr_cfgread_int(&r, member(&r, "i"), "'i'", &n), -1);
	assert_int_equal(msgr_cfgread_string(&r, member(&r, "s"), "'s'", 100, 1, &v), -1);
	assert_int_equal(msgr_cfgread_bool(&r, member(&r, "b"), "'b'", &b), -1);
	assert_int_equal(msgr_cfgread_list(&r, member(&r, "l"), "'l'", 5), -1);
	assert_int_equal(msgr_cfgread_string(&r, member(&r, "e"), "'e'", 100, 1, &v), -1);
	assert_int_equal(msgr_cfgread_string(&r, member(&r, "ok"), "'ok'", 2, 1, &v), -1);
	assert_int_equal(msgr_cfgread_string(&r, member(&r, "ok"), "'ok'", 100, 1, &v), 1);
	assert_string_equal(v, "fine");
	assert_int_equal(msgr_cfgread_bool(&r, member(&r, "t"), "'t'", &b), 1);
	assert_int_equal(b, 1);
	assert_int_equal(msgr_cfgread_string(&r, member(&r, "absent"), "'absent'", 100, 1, &v), 0);
	assert_null(v);
	msgr_cfgread_fault(&r, NULL, "about the whole file");
	snprintf(want, sizeof(want),
	    "%s: about the whole file\n"
	    "%s:1: 's' must be a string, not an integer\n"
	    "%s:2: 'b' must be a boolean (true or false), not a string\n"
	    "%s:3: 'l' must be a list ( ... ), not an integer\n"
	    "%s:4: 'i' must be an integer, not a string\n"
	    "%s:5: 'e' is empty\n"
	    "%s:6: 'ok' is longer than 2 bytes\n", p, p, p, p, p, p, p);
	assert_errors(&r, want);
	msgr_cfgread_free(&r);
}

/* The stories' phrasing: "NAME: not ...", line 0 for the file, in the order found. */
static void
test_stories_style(void **state)
{
	struct msgr_cfgread r;
	const config_setting_t *found[3];
	static const char *const known[] = { "a", "b", NULL };
	const char *p, *v;
	int b;
	char want[2048];

	(void)state;
	p = write_text("s.conf", "g = { a = 1; colour = \"red\"; b = \"\\xff\"; };\nt = 2;\n");
	open_reader(&r, MSGR_CFGREAD_STORIES, p);
	r.subject = "story \"x\": ";
	assert_int_equal(msgr_cfgread_bool(&r, member(&r, "t"), "fallback", &b), -1);
	msgr_cfgread_members(&r, member(&r, "g"), known, found, "answer 1", "");
	assert_non_null(found[0]);
	assert_non_null(found[1]);
	assert_int_equal(msgr_cfgread_string(&r, found[1], "text", 100, 0, &v), -1);
	assert_int_equal(msgr_cfgread_string(&r, found[0], "text", 100, 0, &v), -1);
	r.subject = NULL;
	msgr_cfgread_fault(&r, NULL, "cannot read");
	snprintf(want, sizeof(want),
	    "%s:2: story \"x\": fallback: not true or false\n"
	    "%s:1: story \"x\": answer 1: unknown key \"colour\"\n"
	    "%s:1: story \"x\": text: not valid UTF-8\n"
	    "%s:1: story \"x\": text: not a string\n"
	    "%s:0: cannot read\n", p, p, p, p, p);
	assert_errors(&r, want);
	msgr_cfgread_free(&r);
}

/* What cannot be read or parsed: the reader records what it can say, the caller the rest. */
static void
test_load_failures(void **state)
{
	struct msgr_cfgread r;
	char path[256], want[512], big[100];
	const char *p;

	(void)state;
	snprintf(path, sizeof(path), "%s/none.conf", tmpdir);
	msgr_cfgread_init(&r, MSGR_CFGREAD_CONFIG, path, tmpdir, 100, 65536);
	assert_int_equal(msgr_cfgread_load(&r, path, 4096), MSGR_ERR_IO);
	assert_int_equal(r.n_faults, 0);
	assert_null(msgr_cfgread_errors(&r));
	msgr_cfgread_free(&r);

	memset(big, '#', sizeof(big));
	p = write_tmp("big.conf", big, sizeof(big));
	msgr_cfgread_init(&r, MSGR_CFGREAD_CONFIG, p, tmpdir, 100, 65536);
	assert_int_equal(msgr_cfgread_load(&r, p, 99), MSGR_ERR_TOOBIG);
	msgr_cfgread_free(&r);

	p = write_tmp("nul.conf", "a = 1;\0b = 2;\n", 14);
	msgr_cfgread_init(&r, MSGR_CFGREAD_CONFIG, p, tmpdir, 100, 65536);
	assert_int_equal(msgr_cfgread_load(&r, p, 4096), MSGR_ERR_CONFIG);
	snprintf(want, sizeof(want), "%s: holds a NUL byte: not a text file\n", p);
	assert_errors(&r, want);
	msgr_cfgread_free(&r);

	p = write_text("syntax.conf", "a = 1;\nb = ;\n");
	msgr_cfgread_init(&r, MSGR_CFGREAD_STORIES, p, tmpdir, 100, 65536);
	assert_int_equal(msgr_cfgread_load(&r, p, 4096), MSGR_ERR_CONFIG);
	snprintf(want, sizeof(want), "%s:2: syntax error\n", p);
	assert_errors(&r, want);
	msgr_cfgread_free(&r);
}

/* An @include is found beside the file, and its faults name it where it is. */
static void
test_include(void **state)
{
	struct msgr_cfgread r;
	const char *p, *v;
	char want[512], inc[300];

	(void)state;
	write_text("part.conf", "x = 1;\n");
	p = write_text("main.conf", "a = \"ok\";\n@include \"part.conf\"\n");
	open_reader(&r, MSGR_CFGREAD_CONFIG, p);
	assert_int_equal(msgr_cfgread_string(&r, member(&r, "x"), "'x'", 100, 1, &v), -1);
	snprintf(want, sizeof(want), "%s/part.conf:1: 'x' must be a string, not an integer\n",
	    tmpdir);
	assert_errors(&r, want);
	snprintf(want, sizeof(want), "%s/part.conf", tmpdir);
	assert_string_equal(msgr_cfgread_path(&r, "part.conf", inc, sizeof(inc)), want);
	assert_string_equal(msgr_cfgread_path(&r, "/abs.conf", inc, sizeof(inc)), "/abs.conf");
	assert_string_equal(msgr_cfgread_path(&r, NULL, inc, sizeof(inc)), p);
	msgr_cfgread_free(&r);
}

/* Caps: the config lists 100 faults and counts the rest; the stories stop at a byte budget,
 * and say how many there were in all. */
static void
test_caps(void **state)
{
	struct msgr_cfgread r;
	const char *p;
	char *e;
	int i;

	(void)state;
	p = write_text("caps.conf", "a = 1;\n");
	msgr_cfgread_init(&r, MSGR_CFGREAD_CONFIG, p, tmpdir, 3, 65536);
	for (i = 0; i < 5; i++)
		msgr_cfgread_fault_at(&r, p, 5 - i, "fault %d", i);
	e = msgr_cfgread_errors(&r);
	assert_non_null(e);
	assert_non_null(strstr(e, ":3: fault 2\n"));
	assert_non_null(strstr(e, ":5: fault 0\n"));
	assert_null(strstr(e, "fault 3"));
	assert_non_null(strstr(e, ": 2 more errors not shown\n"));
	assert_true(strstr(e, "fault 2") < strstr(e, "fault 0"));   /* sorted by line */
	free(e);
	msgr_cfgread_free(&r);

	msgr_cfgread_init(&r, MSGR_CFGREAD_STORIES, p, tmpdir, (size_t)-1, 200);
	for (i = 0; i < 50; i++)
		msgr_cfgread_fault_at(&r, p, 1, "fault %d", i);
	e = msgr_cfgread_errors(&r);
	assert_non_null(e);
	assert_non_null(strstr(e, "fault 0\n"));
	assert_null(strstr(e, "fault 49"));
	assert_non_null(strstr(e, "... and more: 50 faults in all\n"));
	free(e);
	msgr_cfgread_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_style),
		cmocka_unit_test(test_stories_style),
		cmocka_unit_test(test_load_failures),
		cmocka_unit_test(test_include),
		cmocka_unit_test(test_caps),
	};
	return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
