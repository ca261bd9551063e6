# messenger-fcgi — plain Makefile, pkg-config for every dependency.
#
#   make                 libmsgr (static + shared), cgi-bin/messenger.fcgi, bin/msgrctl,
#                        cgi-bin/simulator.fcgi (the Messenger simulator, docs/simulator.md)
#   make check           every test: unit (cmocka), fuzz corpus replay, integration (cgi-fcgi, web servers)
#   make check SAN=1     the same, built and run under AddressSanitizer + UndefinedBehaviorSanitizer
#   make valgrind        integration tests with the responder and msgrctl under valgrind memcheck
#   make tsan            the threaded responder's tests built with ThreadSanitizer (TSAN=1)
#   make fuzz-run        each fuzz target under libFuzzer (clang) for FUZZ_SECONDS seconds
#   make CC=clang        builds clean with clang as well as gcc
#   make install         honours PREFIX and DESTDIR
#
# Sources are found by wildcard (lib/*.c, tests/unit/test_*.c) so adding a module needs no edit here.

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
SYSCONFDIR ?= $(PREFIX)/etc
LIBEXECDIR ?= $(PREFIX)/lib/messenger-fcgi
MANDIR     ?= $(PREFIX)/share/man
DESTDIR    ?=

CC         ?= cc
PKG_CONFIG ?= pkg-config
# Link lists by who calls what: PKGS are the library's (libmsgr.so, msgrctl, the tests);
# FCGI_PKGS only the FastCGI programs' (the responder, the simulator: lib/fcgi_io.c, built
# into libmsgr_fcgi.a). libunistring ships no .pc: plain -lunistring.
PKGS        = jansson libconfig libcrypto libcurl sqlite3
FCGI_PKGS   = fcgi
# PQ=1 (the default): the PostgreSQL store backend, on libpq (docs/store.md); PQ=0 leaves it
# out (the portable build, docs/portable.md), and state.backend = "postgresql" is refused.
PQ         ?= 1
ifeq ($(PQ),1)
PKGS       += libpq
PQFLAGS     = -DMSGR_WITH_PQ
endif

WARN  = -Wall -Wextra -Wpedantic -Wshadow -Wformat=2 -Wstrict-prototypes \
        -Wmissing-prototypes -Wvla -Werror
OPT  ?= -O2 -g
DEPCFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) $(FCGI_PKGS))
# lib/commit.c (group commit) is built on pthreads: everything that links libmsgr links
# -pthread, and libmsgr.so records it as a dependency.
DEPLIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS)) -lunistring -pthread
FCGILIBS  := $(shell $(PKG_CONFIG) --libs $(FCGI_PKGS))

CFLAGS_ALL = -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(WARN) $(OPT) \
             -fPIC -pthread -iquote lib $(DEPCFLAGS) $(PQFLAGS) \
             -DMSGR_DEFAULT_CONFIG='"$(SYSCONFDIR)/messenger-fcgi/msgr.conf"' $(CFLAGS)
LDFLAGS_ALL = $(LDFLAGS)

# SAN=1 builds everything into build/san with ASan+UBSan; the normal build lives in build/.
# FUZZ=1 (with CC=clang): the library is instrumented for libFuzzer's coverage too.
ifeq ($(FUZZ),1)
CFLAGS_ALL += -fsanitize=fuzzer-no-link,address,undefined
endif

# TSAN=1 builds into build/tsan with ThreadSanitizer (make tsan runs it).
ifeq ($(SAN),1)
O           = build/san
SANFLAGS    = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
else ifeq ($(TSAN),1)
O           = build/tsan
SANFLAGS    = -fsanitize=thread -fno-omit-frame-pointer
endif
ifneq ($(SANFLAGS),)
CFLAGS_ALL += $(SANFLAGS)
LDFLAGS_ALL += $(SANFLAGS)
FCGI_OUT    = $(O)/cgi-bin/messenger.fcgi
CTL_OUT     = $(O)/bin/msgrctl
SIM_OUT     = $(O)/cgi-bin/simulator.fcgi
else
O           = build
FCGI_OUT    = cgi-bin/messenger.fcgi
CTL_OUT     = bin/msgrctl
SIM_OUT     = cgi-bin/simulator.fcgi
endif

LIB_SRC  = $(filter-out lib/fcgi_%.c,$(sort $(wildcard lib/*.c)))
LIB_OBJ  = $(LIB_SRC:%.c=$(O)/%.o)
FCGI_LIB_OBJ = $(patsubst %.c,$(O)/%.o,$(sort $(wildcard lib/fcgi_*.c)))
FCGI_LIB = $(O)/libmsgr_fcgi.a
UNIT_SRC = $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN = $(UNIT_SRC:%.c=$(O)/%)
FUZZ_SRC = $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN = $(FUZZ_SRC:%.c=$(O)/%)
STATIC   = $(O)/libmsgr.a
SHARED   = $(O)/libmsgr.so

.PHONY: all check unit integration fuzz install uninstall clean symbols valgrind tsan tsan-run \
  fuzz-run
all: $(STATIC) $(SHARED) $(FCGI_OUT) $(CTL_OUT) $(SIM_OUT)

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c -o $@ $<

$(STATIC): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

# The FastCGI transport (lib/fcgi_*.c), apart so that only the programs served over FastCGI
# link libfcgi; not installed.
$(FCGI_LIB): $(FCGI_LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

# Only msgr_ symbols leave the shared library: lib/libmsgr.map makes every other global local
# (tests/integration/test_build.py checks the export list).
$(SHARED): $(LIB_OBJ) lib/libmsgr.map
	$(CC) -shared -Wl,-soname,libmsgr.so.0 -Wl,--version-script=lib/libmsgr.map \
	  $(LDFLAGS_ALL) -o $@ $(LIB_OBJ) $(DEPLIBS)

FCGI_OBJ = $(O)/src/messenger_fcgi.o $(patsubst %.c,$(O)/%.o,$(sort $(wildcard src/fcgi_*.c)))
$(FCGI_OUT): $(FCGI_OBJ) $(FCGI_LIB) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $(FCGI_OBJ) $(FCGI_LIB) $(STATIC) $(FCGILIBS) $(DEPLIBS)

CTL_OBJ = $(O)/src/msgrctl.o $(patsubst %.c,$(O)/%.o,$(sort $(wildcard src/ctl*.c)))
$(CTL_OUT): $(CTL_OBJ) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $(CTL_OBJ) $(STATIC) $(DEPLIBS)

# The simulator (sim/): a program of its own on libmsgr.a, never linked into the responder.
SIM_OBJ = $(patsubst %.c,$(O)/%.o,$(sort $(wildcard sim/*.c)))
$(SIM_OUT): $(SIM_OBJ) $(FCGI_LIB) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $(SIM_OBJ) $(FCGI_LIB) $(STATIC) $(FCGILIBS) $(DEPLIBS)

$(O)/tests/unit/%: tests/unit/%.c tests/unit/unit.h tests/unit/pgtest.h $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Wno-missing-prototypes -iquote tests/unit -o $@ $< $(STATIC) \
	  $(LDFLAGS_ALL) $(DEPLIBS) $$($(PKG_CONFIG) --libs cmocka)

# Fuzz targets: with clang and FUZZ=1 they are libFuzzer binaries; otherwise a small driver
# (tests/fuzz/driver.c) replays the corpus so every build checks the targets still hold.
ifeq ($(FUZZ),1)
$(O)/tests/fuzz/%: tests/fuzz/%.c $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Wno-missing-prototypes -fsanitize=fuzzer,address,undefined -o $@ $< \
	  $(STATIC) $(DEPLIBS)
else
$(O)/tests/fuzz/%: tests/fuzz/%.c tests/fuzz/driver.c $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Wno-missing-prototypes -o $@ $< tests/fuzz/driver.c $(STATIC) \
	  $(LDFLAGS_ALL) $(DEPLIBS)
endif

fuzz: $(FUZZ_BIN)

# Every test tier, one closing "N passed, N failed" line (tests/run).
check: all $(UNIT_BIN) $(FUZZ_BIN)
	MSGR_BUILD=$(O) MSGR_FCGI=$(FCGI_OUT) MSGRCTL=$(CTL_OUT) MSGR_SIM=$(SIM_OUT) SAN=$(SAN) \
	  sh tests/run

# Memory: the integration tests with the responder and msgrctl under valgrind memcheck, on
# the plain build (tests/valgrind/wrap.sh writes the programs the tests start; tests/proclogs.py
# turns each process's reports into a TAP line after each test: any invalid access or
# definite leak fails). Every integration test but those below, so a new one is in by
# default; why each is out: docs/SECURITY.md "Valgrind". test_build, test_install,
# test_portable, test_fake_graph and test_proclogs (which checks this very check on programs
# of its own) run no $MSGR_FCGI or $MSGRCTL; test_cgi_fcgi_start finds
# its responders by /proc/PID/exe (valgrind's, under the wrapper); test_group_commit asserts
# throughput of request threads, which valgrind runs one at a time (make tsan covers them);
# test_lighttpd: lighttpd spawns and stops the responders itself, on its own clock, and
# under valgrind one run lost their exit line, the next a POST's answer; the fault tests
# (test_store_faults, test_graph_faults, test_hostile_clients) assert how long things take
# (a drain bounded by a timeout plus slack, a p99 under attack), which valgrind multiplies;
# test_kill_soak runs through lighttpd as test_lighttpd does, and its echoes must come within
# worker.echo_wait_ms.
VALGRIND_SKIP  = test_build.py test_install.py test_portable.py test_fake_graph.py \
  test_proclogs.py test_cgi_fcgi_start.py test_group_commit.py test_lighttpd.py \
  test_store_faults.py test_graph_faults.py test_hostile_clients.py test_kill_soak.py
VALGRIND_TESTS ?= $(filter-out $(VALGRIND_SKIP),$(notdir $(wildcard tests/integration/test_*.py)))
VG = $(O)/valgrind
valgrind: all
	@[ "$(SAN)$(TSAN)" = "" ] || { echo "make valgrind: on the plain build, without SAN=1 or TSAN=1" >&2; exit 1; }
	rm -rf $(VG)
	sh tests/valgrind/wrap.sh $(FCGI_OUT) $(VG)/messenger.fcgi $(VG)/logs
	sh tests/valgrind/wrap.sh $(CTL_OUT) $(VG)/msgrctl $(VG)/logs
	MSGR_BUILD=$(O) MSGR_FCGI=$(VG)/messenger.fcgi MSGRCTL=$(VG)/msgrctl MSGR_SIM=$(SIM_OUT) \
	  MSGR_SLOW=valgrind MSGR_PROC_LOGS=$(VG)/logs MSGR_PROC_LOGS_KIND=valgrind \
	  TIERS=integration INTEGRATION="$(VALGRIND_TESTS)" sh tests/run

# Threads: the tests of the threaded responder (responder.threads > 1: group commit, the
# worker after the answer in request threads, the answers written by the answerer thread,
# lib/answerer.c), of the host committer (its threads, in the
# unit test: test_host_commit.py asserts that requests of several processes overlap, which
# ThreadSanitizer's slowdown took away in one run of three), of the simulator (16 request
# threads on the same lib/fcgi_pool.c) and of msgrctl's workers (drain --threads, worker
# --threads: on SQLite fibers of one thread with a sync thread beside them, test_turns,
# test_fibers and test_ctl_work.py; each thread with its own PostgreSQL connection,
# test_ctl_work_pg.py), built with ThreadSanitizer into
# build/tsan; any report of any process fails (tests/proclogs.py).
TSAN_UNIT  = test_commit test_hostcommit test_answerer test_turns test_fibers
TSAN_TESTS = test_group_commit.py test_group_commit_pg.py test_simulator.py test_ctl_work.py \
  test_ctl_work_pg.py
tsan:
	$(MAKE) --no-print-directory TSAN=1 tsan-run
tsan-run: all $(TSAN_UNIT:%=$(O)/tests/unit/%)
	@[ "$(TSAN)" = 1 ] || { echo "make tsan-run: TSAN=1 only (make tsan)" >&2; exit 1; }
	rm -rf $(O)/tsan-logs && mkdir -p $(O)/tsan-logs
	TSAN_OPTIONS="halt_on_error=0 exitcode=66 second_deadlock_stack=1 log_path=$(abspath $(O))/tsan-logs/tsan" \
	  MSGR_BUILD=$(O) MSGR_FCGI=$(FCGI_OUT) MSGRCTL=$(CTL_OUT) MSGR_SIM=$(SIM_OUT) \
	  MSGR_PROC_LOGS=$(O)/tsan-logs MSGR_PROC_LOGS_KIND=tsan \
	  TIERS="unit integration" UNIT="$(TSAN_UNIT)" INTEGRATION="$(TSAN_TESTS)" sh tests/run

# Fuzzing for a bounded time: each target under libFuzzer (clang, ASan + UBSan, the library
# instrumented) for FUZZ_SECONDS on a copy of its corpus; a crash fails, its input kept in
# build/fuzz/crashes/ (tests/fuzz/run.sh, docs/fuzzing.md "Bounded runs").
FUZZ_SECONDS ?= 25
fuzz-run:
	$(MAKE) --no-print-directory O=build/fuzz CC=clang FUZZ=1 SAN= TSAN= fuzz
	sh tests/fuzz/run.sh build/fuzz $(FUZZ_SECONDS)

unit: all $(UNIT_BIN)
	MSGR_BUILD=$(O) MSGR_FCGI=$(FCGI_OUT) MSGRCTL=$(CTL_OUT) MSGR_SIM=$(SIM_OUT) SAN=$(SAN) \
	  TIERS=unit sh tests/run

integration: all
	MSGR_BUILD=$(O) MSGR_FCGI=$(FCGI_OUT) MSGRCTL=$(CTL_OUT) MSGR_SIM=$(SIM_OUT) SAN=$(SAN) \
	  TIERS=integration sh tests/run

# What `make install` puts beside the library for its users: the public headers (not those
# only the library's own files or the programs include) and a libmsgr.pc naming its
# dependencies, so `pkg-config --cflags --libs libmsgr` builds a program on it.
VERSION    ?= 0.1
PRIVATE_HDR = lib/cfgread.h lib/lsan_libconfig.h $(wildcard lib/fcgi_*.h)
PUBLIC_HDR  = $(filter-out $(PRIVATE_HDR),$(sort $(wildcard lib/*.h)))
PC          = $(O)/libmsgr.pc
$(PC): Makefile
	@mkdir -p $(dir $@)
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' 'includedir=$(INCLUDEDIR)' '' \
	  'Name: libmsgr' 'Description: Facebook Messenger connector library (messenger-fcgi)' \
	  'Version: $(VERSION)' 'Requires.private: $(PKGS)' 'Libs: -L$${libdir} -lmsgr' \
	  'Libs.private: -lunistring -pthread' 'Cflags: -I$${includedir}/msgr' > $@

# Exported symbols of the shared library that do not start with msgr_ (should print nothing).
symbols: $(SHARED)
	@nm -D --defined-only $(SHARED) | awk '$$2 ~ /[TDBR]/ && $$3 !~ /^msgr_/ {print $$3}'

install: all $(PC)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/msgr \
	  $(DESTDIR)$(LIBDIR)/pkgconfig \
	  $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(SYSCONFDIR)/messenger-fcgi
	install -m 755 $(CTL_OUT) $(DESTDIR)$(BINDIR)/msgrctl
	install -m 755 $(FCGI_OUT) $(DESTDIR)$(LIBEXECDIR)/messenger.fcgi
	install -m 644 $(STATIC) $(DESTDIR)$(LIBDIR)/libmsgr.a
	install -m 755 $(SHARED) $(DESTDIR)$(LIBDIR)/libmsgr.so.0
	ln -sf libmsgr.so.0 $(DESTDIR)$(LIBDIR)/libmsgr.so
	install -m 644 $(PUBLIC_HDR) $(DESTDIR)$(INCLUDEDIR)/msgr/
	install -m 644 $(PC) $(DESTDIR)$(LIBDIR)/pkgconfig/libmsgr.pc
	$(MAKE) --no-print-directory install-man install-doc

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/msgrctl $(DESTDIR)$(LIBEXECDIR)/messenger.fcgi \
	  $(DESTDIR)$(LIBDIR)/libmsgr.a $(DESTDIR)$(LIBDIR)/libmsgr.so.0 $(DESTDIR)$(LIBDIR)/libmsgr.so \
	  $(DESTDIR)$(LIBDIR)/pkgconfig/libmsgr.pc
	rm -rf $(DESTDIR)$(INCLUDEDIR)/msgr
	rm -f $(DESTDIR)$(MANDIR)/man8/messenger.fcgi.8 $(DESTDIR)$(MANDIR)/man1/msgrctl.1 \
	  $(DESTDIR)$(MANDIR)/man5/msgr.conf.5
	rm -rf $(DESTDIR)$(DOCDIR)

clean:
	rm -rf build cgi-bin/messenger.fcgi cgi-bin/simulator.fcgi bin/msgrctl

-include $(LIB_OBJ:.o=.d) $(FCGI_LIB_OBJ:.o=.d) $(FCGI_OBJ:.o=.d) $(CTL_OBJ:.o=.d) \
  $(SIM_OBJ:.o=.d)

# The benchmark's baseline responder (bench/run.sh).
build/bench/bare_fcgi: bench/bare_fcgi.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(LDFLAGS_ALL) $(FCGILIBS) $(DEPLIBS)

# The Graph API the drain and latency runs send to: C, libc only, answering at once.
build/bench/graph_fast: bench/graph_fast.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 $(WARN) -o $@ $<

# What the Graph API calls cost by themselves: libcurl over loopback (bench/calls_ceiling.c).
build/bench/calls_ceiling: bench/calls_ceiling.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(LDFLAGS_ALL) $(DEPLIBS)

# The store's own cost per event, without a web server (bench/store_enqueue.c).
build/bench/store_enqueue: bench/store_enqueue.c $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(LDFLAGS_ALL) $(STATIC) $(DEPLIBS)

# The resident set of the responder's libraries before any code of ours (bench/rss_floor.c):
# linked without --as-needed so that each one is loaded, as the responder loads them.
build/bench/rss_floor: bench/rss_floor.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(LDFLAGS_ALL) -Wl,--no-as-needed $(FCGILIBS) $(DEPLIBS)

# Every measurement of docs/benchmarks.md (bench/all.sh): not part of `make check`.
bench: all build/bench/bare_fcgi build/bench/graph_fast build/bench/store_enqueue \
  build/bench/rss_floor build/bench/calls_ceiling
	sh bench/all.sh
.PHONY: bench

# Man pages and the documentation folder (examples to copy); part of `make install`.
DOCDIR ?= $(PREFIX)/share/doc/messenger-fcgi
install-man:
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 644 man/msgrctl.1 $(DESTDIR)$(MANDIR)/man1/msgrctl.1
	install -m 644 man/msgr.conf.5 $(DESTDIR)$(MANDIR)/man5/msgr.conf.5
	install -m 644 man/messenger.fcgi.8 $(DESTDIR)$(MANDIR)/man8/messenger.fcgi.8

install-doc:
	install -d $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR)/docs
	cp -R examples/. $(DESTDIR)$(DOCDIR)/examples/
	install -m 644 README.md $(DESTDIR)$(DOCDIR)/
	install -m 644 docs/*.md $(DESTDIR)$(DOCDIR)/docs/

# A responder and msgrctl for a Debian 12 host without -dev packages or root: dist/
# (docs/portable.md). DIST=dir to put them elsewhere.
DIST ?= dist
portable:
	sh scripts/build-portable.sh $(DIST)
.PHONY: install-man install-doc portable
