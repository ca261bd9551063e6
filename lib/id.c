/* id.c — the one check of a Facebook id (lib/id.h). */
#include <string.h>

#include "id.h"

int
msgr_id_digits(const char *s, size_t n)
{
	size_t i;

	if (s == NULL || n == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

int
msgr_id_valid(const char *s)
{
	size_t n;

	if (s == NULL)
		return 0;
	/* strnlen: an overlong string is refused without reading it to its end */
	n = strnlen(s, MSGR_MAX_ID_LEN + 1);
	return n <= MSGR_MAX_ID_LEN && msgr_id_digits(s, n);
}

int
msgr_id_target(const char *s)
{
	return s != NULL && (strcmp(s, "inbox") == 0 || msgr_id_valid(s));
}
