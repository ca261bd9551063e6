/* lsan_libconfig.h — the one known leak LeakSanitizer is told to ignore, for the programs
 * that load a config (msgrctl, and the config and stories tests and fuzz targets). Private:
 * never installed with the library headers, since it defines the sanitizer's hooks.
 *
 * libconfig 1.5 leaks the string token that follows a syntax error (its parser drops the
 * lookahead without freeing it). A program reports the error and exits, or loads the config
 * once, so the leak is suppressed by library name only: every leak of our own still shows.
 * Include it in exactly one file of a program: it defines the sanitizer's hooks. */
#ifndef MSGR_LSAN_LIBCONFIG_H
#define MSGR_LSAN_LIBCONFIG_H

#if defined(__SANITIZE_ADDRESS__)
#define MSGR_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MSGR_ASAN 1
#endif
#endif

#ifdef MSGR_ASAN
const char *__lsan_default_suppressions(void);
__attribute__((visibility("default"), used)) const char *
__lsan_default_suppressions(void)
{
	return "leak:libconfig.so\n";
}
const char *__lsan_default_options(void);
__attribute__((visibility("default"), used)) const char *
__lsan_default_options(void)
{
	return "print_suppressions=0";
}
#endif

#endif
