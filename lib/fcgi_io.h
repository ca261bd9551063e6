/* fcgi_io.h — a FastCGI request (libfcgi) behind struct msgr_request_io (lib/request.h).
 *
 * The two programs served over FastCGI, the responder and the simulator, read and answer
 * their requests through lib/request.c; this is their one adapter to libfcgi's streams. It
 * is built into libmsgr_fcgi.a, not into libmsgr: the library itself never calls libfcgi,
 * so msgrctl and users of libmsgr.so do not link it. Not installed. */
#ifndef MSGR_FCGI_IO_H
#define MSGR_FCGI_IO_H

#include <fcgiapp.h>

#include "request.h"

/* The request fr has accepted as a struct msgr_request_io: its parameters, its body stream
 * (read at most MSGR_REQUEST_CHUNK bytes a call) and its answer stream. fr must outlive the
 * value. */
struct msgr_request_io msgr_fcgi_io(FCGX_Request *fr);

/* FCGX_Accept_r, and the check it lacks: 0 once a request is accepted whole, below 0 as
 * FCGX_Accept_r fails. 1 when its parameters were cut short: that request has been answered
 * 503 and finished, and the caller accepts again. */
int msgr_fcgi_accept(FCGX_Request *fr);

/* Ends the request fr accepted and releases the web server, as FCGX_Finish_r does; closes
 * the connection without libfcgi's lingering wait when its body was read to the end. */
void msgr_fcgi_finish(FCGX_Request *fr);

#endif
