/* signature.h — webhook signatures and secret comparison.
 *
 * Facebook signs the raw body it sends (docs/facebook.md "Webhooks": X-Hub-Signature-256 =
 * "sha256=" + 64 lowercase hex of HMAC-SHA256(app secret, body)); the Bot API signs both
 * ways with the same HMAC over a timestamp or the request's signature and the body
 * (X-Msgr-Signature: lib/bot.h, docs/bot-api.md "Signatures"). Every comparison of a secret
 * value runs in constant time (CRYPTO_memcmp). */
#ifndef MSGR_SIGNATURE_H
#define MSGR_SIGNATURE_H

#include <stddef.h>
#include "result.h"

#define MSGR_SIGNATURE_HEX_LEN 64                        /* hex digits of a SHA-256 MAC */
#define MSGR_SIGNATURE_HEADER_LEN (7 + MSGR_SIGNATURE_HEX_LEN) /* "sha256=" + hex */

/* Checks header ("sha256=<hex>", the value of X-Hub-Signature-256) against
 * HMAC-SHA256(secret, body[0..len)). The hex must decode to exactly 32 bytes (upper or lower
 * case accepted). MSGR_OK when it matches; MSGR_ERR_SIGNATURE when header is NULL, malformed
 * or wrong; MSGR_ERR_INVALID when secret is NULL or empty. */
msgr_result msgr_signature_verify(const char *secret, const void *body, size_t len,
    const char *header);

/* Writes "sha256=<64 lowercase hex>" and a NUL into out (MSGR_SIGNATURE_HEADER_LEN + 1 bytes).
 * MSGR_OK or MSGR_ERR_INVALID. */
msgr_result msgr_signature_format(const char *secret, const void *body, size_t len,
    char out[MSGR_SIGNATURE_HEADER_LEN + 1]);

/* hex HMAC-SHA256(key, data) into out (65 bytes): appsecret_proof = hmac(app secret, token). */
msgr_result msgr_signature_hmac_hex(const char *key, const void *data, size_t len,
    char out[MSGR_SIGNATURE_HEX_LEN + 1]);

/* Lowercase hex of bytes[0..n) into out (2 * n + 1 bytes with the NUL). */
void msgr_signature_hex(const unsigned char *bytes, size_t n, char *out);

/* The first nbytes (1 to 32) of SHA-256(data[0..len)) as lowercase hex into out
 * (2 * nbytes + 1 bytes): a name for a value that does not show it (a conversation of a
 * user_ref, a token's fingerprint). MSGR_OK; MSGR_ERR_INVALID for nbytes out of range or a
 * digest that failed (out is then ""). */
msgr_result msgr_signature_sha256_hex(const void *data, size_t len, size_t nbytes, char *out);

/* OpenSSL's SHA-256, fetched from its provider once per process, for EVP_Digest and
 * EVP_DigestInit_ex: given EVP_sha256() instead, OpenSSL 3 fetches it again at every call,
 * under a lock all threads share. NULL when OpenSSL cannot provide it. */
struct evp_md_st;
const struct evp_md_st *msgr_signature_md_sha256(void);

/* The value of hex digit c (0-9, a-f, A-F), or -1: the one hex decoder (signatures,
 * percent-escapes). */
int msgr_signature_hex_digit(int c);

/* Constant-time equality of two NUL-terminated strings (the time depends only on the length
 * of `expected`). Returns 1 when equal, 0 otherwise (also when either is NULL). */
int msgr_signature_equal(const char *expected, const char *given);

#endif
