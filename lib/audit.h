/* audit.h — what a host and a config expose beyond their faults (docs/deploy.md
 * "Permissions"): files others can read or write, secrets easy to guess, and the rule a
 * "file:" secret's path must pass before it is read.
 *
 * The config refuses a "file:" secret that others could replace (msgr_audit_secret_path, at
 * load); `msgrctl check` warns about the rest (msgr_audit_config) without failing, like
 * msgr_config_exposure: a state file, a config or a folder holding them that others may read
 * or write, and a verify token or bot secret a person chose too weak. No text ever holds a
 * secret's value. */
#ifndef MSGR_AUDIT_H
#define MSGR_AUDIT_H

#include <stddef.h>

#include "config.h"
#include "result.h"

/* The secret file at path (absolute, as the config resolved it) may be used: MSGR_OK, or
 * MSGR_ERR_CONFIG with why ("is writable by everyone: chmod o-w it", ...) when everyone may
 * write the file, or when a symbolic link on the way leads into a folder everyone can write
 * (they could put their own file there). A file its group can write is
 * msgr_audit_config's warning. A path that cannot be resolved is MSGR_OK: reading it fails
 * and says why. MSGR_ERR_NOMEM. */
msgr_result msgr_audit_secret_path(const char *path, char *why, size_t whysz);

/* Why secret, chosen by a person, is easy to guess ("only 9 characters", "only 4 different
 * characters", "a run or sequence of characters", "mostly common words (\"token\")"), or
 * NULL when it looks random enough: at least MSGR_AUDIT_SECRET_MIN bytes, varied, not
 * built of common words. why holds the text. */
#define MSGR_AUDIT_SECRET_MIN 16
const char *msgr_audit_weak_secret(const char *secret, char *why, size_t whysz);

/* For `msgrctl check`: calls warn once per finding, with a one-line text naming the file or
 * the connector and key (never a value):
 *   - the state file (and its -wal, -shm, -journal) readable or writable by its group or
 *     everyone: it holds people's messages, PSIDs and tokens;
 *   - the config file writable by its group or everyone (readable ones holding secrets
 *     inline are msgr_config_exposure's), a "file:" secret writable by its group;
 *   - the folder of the config or of the state writable by its group or everyone without
 *     the sticky bit: anyone there could replace the file;
 *   - a webhook_token (verify token) or api bot secret that msgr_audit_weak_secret finds
 *     weak (once per value).
 * Returns how many. */
size_t msgr_audit_config(const struct msgr_config *cfg,
    void (*warn)(void *arg, const char *text), void *arg);

#endif
