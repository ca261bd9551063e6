/* signature.c — HMAC-SHA256 signatures, hex both ways, constant-time comparison
 * (lib/signature.h). */
#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "signature.h"

/* OpenSSL 3's one-shot HMAC() looks the algorithm up in its provider store at every call,
 * and so does an EVP_MAC_CTX given its digest: under eight request threads those lookups
 * (a lock on the store each) were most of the cost of checking a webhook's signature. So the
 * MAC is fetched once per process, and each thread keeps one context with its digest set,
 * re-keyed at every call; the thread's exit frees it. */
static EVP_MAC *hmac_alg;
static pthread_key_t hmac_tls;
static int hmac_tls_ok;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void
hmac_ctx_free(void *ctx)
{
	EVP_MAC_CTX_free(ctx);
}

static void
hmac_fetch(void)
{
	hmac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
	hmac_tls_ok = pthread_key_create(&hmac_tls, hmac_ctx_free) == 0;
}

/* This thread's context, its digest set; NULL without memory. */
static EVP_MAC_CTX *
hmac_ctx(void)
{
	char digest[] = "SHA256";
	OSSL_PARAM params[2];
	EVP_MAC_CTX *ctx;

	if (pthread_once(&hmac_once, hmac_fetch) != 0 || hmac_alg == NULL || !hmac_tls_ok)
		return NULL;
	if ((ctx = pthread_getspecific(hmac_tls)) != NULL)
		return ctx;
	if ((ctx = EVP_MAC_CTX_new(hmac_alg)) == NULL)
		return NULL;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_MAC_CTX_set_params(ctx, params) != 1 || pthread_setspecific(hmac_tls, ctx) != 0) {
		EVP_MAC_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static msgr_result
hmac(const char *key, const void *data, size_t len, unsigned char mac[32])
{
	EVP_MAC_CTX *ctx;
	size_t maclen = 0;

	if (key == NULL || key[0] == '\0')
		return MSGR_ERR_INVALID;
	if ((ctx = hmac_ctx()) == NULL)
		return MSGR_ERR_NOMEM;
	return EVP_MAC_init(ctx, (const unsigned char *)key, strlen(key), NULL) == 1 &&
	    EVP_MAC_update(ctx, data, len) == 1 && EVP_MAC_final(ctx, mac, &maclen, 32) == 1 &&
	    maclen == 32 ? MSGR_OK : MSGR_ERR_INVALID;
}

msgr_result
msgr_signature_verify(const char *secret, const void *body, size_t len, const char *header)
{
	unsigned char want[32], got[32];
	msgr_result rc;
	size_t i;

	if ((rc = hmac(secret, body, len, want)) != MSGR_OK)
		return rc;
	if (header == NULL || strncmp(header, "sha256=", 7) != 0)
		return MSGR_ERR_SIGNATURE;
	header += 7;
	if (strlen(header) != MSGR_SIGNATURE_HEX_LEN)
		return MSGR_ERR_SIGNATURE;
	for (i = 0; i < 32; i++) {
		int hi = msgr_signature_hex_digit((unsigned char)header[2 * i]);
		int lo = msgr_signature_hex_digit((unsigned char)header[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return MSGR_ERR_SIGNATURE;
		got[i] = (unsigned char)(hi << 4 | lo);
	}
	return CRYPTO_memcmp(want, got, sizeof(want)) == 0 ? MSGR_OK : MSGR_ERR_SIGNATURE;
}

msgr_result
msgr_signature_format(const char *secret, const void *body, size_t len,
    char out[MSGR_SIGNATURE_HEADER_LEN + 1])
{
	memcpy(out, "sha256=", 7);
	return msgr_signature_hmac_hex(secret, body, len, out + 7);
}

msgr_result
msgr_signature_hmac_hex(const char *key, const void *data, size_t len,
    char out[MSGR_SIGNATURE_HEX_LEN + 1])
{
	unsigned char mac[32];
	msgr_result rc;

	if ((rc = hmac(key, data, len, mac)) != MSGR_OK)
		return rc;
	msgr_signature_hex(mac, sizeof(mac), out);
	return MSGR_OK;
}

void
msgr_signature_hex(const unsigned char *bytes, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 0xf];
	}
	out[2 * n] = '\0';
}

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void
sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

const EVP_MD *
msgr_signature_md_sha256(void)
{
	if (pthread_once(&sha256_once, sha256_fetch) != 0)
		return NULL;
	return sha256_md;
}

msgr_result
msgr_signature_sha256_hex(const void *data, size_t len, size_t nbytes, char *out)
{
	const EVP_MD *sha256 = msgr_signature_md_sha256();
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	out[0] = '\0';
	if (nbytes == 0 || nbytes > 32 || sha256 == NULL ||
	    EVP_Digest(data, len, md, &mdlen, sha256, NULL) != 1 || mdlen != 32)
		return MSGR_ERR_INVALID;
	msgr_signature_hex(md, nbytes, out);
	return MSGR_OK;
}

int
msgr_signature_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
msgr_signature_equal(const char *expected, const char *given)
{
	size_t elen, glen, i;
	unsigned char diff = 0;

	if (expected == NULL || given == NULL)
		return 0;
	elen = strlen(expected);
	glen = strlen(given);
	/* Walk the expected length only; reading given stops at its end. */
	for (i = 0; i < elen; i++)
		diff |= (unsigned char)expected[i] ^ (unsigned char)(i < glen ? given[i] : 0);
	return diff == 0 && elen == glen;
}
