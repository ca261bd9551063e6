/* rss_floor.c — the resident set a process has before any code of ours runs: it links the
 * libraries the responder links (every one loaded, as the responder loads them), then does the
 * least the responder must do with them, printing VmRSS after each step: libcurl's global init
 * (the worker's Graph API client), one HMAC-SHA256 (a webhook's signature) and one SQLite
 * write in WAL mode (the store). Measures the floor under "RSS per responder process"
 * (docs/benchmarks.md "Memory"). Usage: rss_floor DIR (a folder for the SQLite file). */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sqlite3.h>

static long
rss_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static void
show(const char *step)
{
	printf("%-34s %6.1f MB\n", step, (double)rss_kb() / 1024.0);
}

int
main(int argc, char **argv)
{
	static const char body[] = "{\"object\":\"page\",\"entry\":[]}";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char path[4096];
	sqlite3 *db = NULL;
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: rss_floor DIR\n");
		return 2;
	}
	if (snprintf(path, sizeof(path), "%s/rss_floor.db", argv[1]) >= (int)sizeof(path)) {
		fprintf(stderr, "rss_floor: path too long\n");
		return 2;
	}
	show("libraries loaded");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "rss_floor: curl_global_init failed\n");
		return 1;
	}
	show("+ curl_global_init");
	if (HMAC(EVP_sha256(), "secret", 6, (const unsigned char *)body, strlen(body), mac,
	    &maclen) == NULL || maclen != 32) {
		fprintf(stderr, "rss_floor: HMAC failed\n");
		return 1;
	}
	show("+ one HMAC-SHA256");
	rc = sqlite3_open(path, &db);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "PRAGMA journal_mode = wal; CREATE TABLE IF NOT EXISTS t (a);"
		    "INSERT INTO t VALUES (1);", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		fprintf(stderr, "rss_floor: sqlite: %s\n", db ? sqlite3_errmsg(db) : "no memory");
		sqlite3_close(db);
		return 1;
	}
	show("+ one SQLite write (WAL)");
	sqlite3_close(db);
	remove(path);
	curl_global_cleanup();
	return 0;
}
