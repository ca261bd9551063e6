/* bare_fcgi.c — the baseline of the benchmark: a minimal libfcgi responder that reads the
 * body and answers 200, nothing else. The gap between it and messenger.fcgi is what the
 * signature check, the parse and above all the store's commit cost (README.md "Benchmarks"). */
#include <stdlib.h>
#include <fcgiapp.h>

int
main(void)
{
	FCGX_Request r;
	char buf[65536];

	if (FCGX_Init() != 0 || FCGX_InitRequest(&r, 0, 0) != 0)
		return 1;
	while (FCGX_Accept_r(&r) >= 0) {
		while (FCGX_GetStr(buf, sizeof(buf), r.in) > 0)
			;
		FCGX_PutS("Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nEVENT_RECEIVED", r.out);
		FCGX_Finish_r(&r);
	}
	return 0;
}
