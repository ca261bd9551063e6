/* sim_static.h — the chat page's files: GET /_sim/ and /_sim/static/NAME.
 *
 * Files come from one folder (web/simulator/, or $MSGR_SIM_WEB), by a NAME of
 * [A-Za-z0-9._-] that is not "." or "..", so no request reaches another folder. The content
 * type follows the extension (html, js, css, svg, png, json; others are refused). */
#ifndef SIM_STATIC_H
#define SIM_STATIC_H

#include "sim_ctx.h"

#define SIM_STATIC_MAX (4 * 1024 * 1024)   /* bytes of one file */

/* Answers GET of NAME (NULL: index.html): 200 with the file, 404 when it is not there. */
void sim_static_serve(struct sim_ctx *cx, const char *name);

#endif
