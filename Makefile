# herald: the two commands a newcomer needs are `make run` and `make test`.
.PHONY: all deps test-deps herald package build run test test-unit test-sanitize lint test-tsan fuzz fuzz-smoke soak bench bench-deps format tidy clean

BUILD ?= build
BUILD_ASAN ?= build-asan
JOBS ?= $(shell nproc)
LISTEN ?= 127.0.0.1:8080
GENERATOR := $(shell command -v ninja >/dev/null 2>&1 && echo "-G Ninja")

all: build

# What building and running herald needs; test-deps adds what the tests and tools need (Chromium,
# Prometheus's promtool, nginx, redis-server, GoogleTest, Node packages...).
deps:
	@scripts/install-deps run
test-deps:
	@scripts/install-deps test

$(BUILD)/build.ninja $(BUILD)/Makefile:
	cmake -S . -B $(BUILD) $(GENERATOR) -DCMAKE_BUILD_TYPE=Release

# The server alone: all `make run` needs. A fresh tree is configured without the tests and benchmarks,
# whose libraries run-only machines lack; `make build` (and so `make test`) turns them back on.
herald: deps
	@test -f $(BUILD)/CMakeCache.txt || \
	  cmake -S . -B $(BUILD) $(GENERATOR) -DCMAKE_BUILD_TYPE=Release -DHERALD_TESTS=OFF -DHERALD_BENCH=OFF
	cmake --build $(BUILD) -j $(JOBS) --target herald

# The Debian package, herald_<version>_<arch>.deb in $(BUILD)/package/ (docs/operations.md), from the
# release build `make herald` makes (CPack installs from it: nothing is compiled twice).
package: herald
	cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=/usr >/dev/null  # a tree configured before /usr was the default
	cmake --build $(BUILD) -j $(JOBS) --target herald
	cd $(BUILD) && cpack -G DEB
	@ls $(BUILD)/package/herald_*.deb

build: test-deps $(BUILD)/build.ninja
	@! grep -qs '^HERALD_TESTS:BOOL=OFF' $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) -DHERALD_TESTS=ON -DHERALD_BENCH=ON
	cmake --build $(BUILD) -j $(JOBS)

# Builds and starts herald with its demo pages on http://$(LISTEN)/ (embedded broker, no Redis needed),
# with two demo accounts for the cross-device login.
run: herald
	@mkdir -p var
	@$(BUILD)/herald users add alice --password alice-demo --if-missing --config config/herald.toml
	@$(BUILD)/herald users add bob --password bob-demo --if-missing --config config/herald.toml
	@scripts/demo-addresses $(LISTEN) config/herald.toml
	$(BUILD)/herald serve --listen $(LISTEN) --config config/herald.toml

# Every test, as CI runs it (.ci/run), the quickest to fail first:
#  1. lint: clang-format and clang-tidy over the tree; a finding fails the run;
#  2. the ASan+UBSan build, and every test in it: the unit tests, and the integration suite twice, on the
#     memory broker and with every herald on one Redis (each test file starts what it needs: redis-server,
#     nginx, Chromium), then a focused part of it on a Redis Cluster (integration-redis-cluster), all under
#     the sanitizers;
#  3. the release build `make run` uses (server, tests and benchmarks compiled with -O3), its unit tests, and
#     the package test (builds the .deb from that build, installs, runs and purges it: needs root, as CI has);
#  4. a short fuzz run of every parser.
# Where the time goes on 2 cores (a fresh clone, 2026-12-07, load about 1): 18.7 minutes in all, 10.5 of them
# the sanitizer build's tests (the integration passes side by side); lint and the builds take little while
# ccache holds what an earlier checkout compiled (README, "What make test runs").
test: test-deps
	$(MAKE) lint
	$(MAKE) test-sanitize
	$(MAKE) build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -E integration
	$(MAKE) fuzz-smoke

test-unit: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -E integration

# Every test of the sanitizer build in one ctest run, $(JOBS) at a time: the unit tests, and the integration
# suite on the memory broker and on Redis side by side (each pass runs its files one at a time; most of
# their time is waiting on timers and the network, so the two passes overlap well on two cores).
test-sanitize: test-deps
	cmake -S . -B $(BUILD_ASAN) $(GENERATOR) -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" -DHERALD_SANITIZE=ON
	cmake --build $(BUILD_ASAN) -j $(JOBS)
	cd $(BUILD_ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS) --timeout 900

# Formatting and clang-tidy (with the committed .clang-format and .clang-tidy; every warning an error).
# clang-tidy reads its own configuration of the tree: GCC's precompiled header means nothing to clang.
LINT_SOURCES = $$(git ls-files 'src/*.cpp' 'src/*.hpp' 'tests/*.cpp' 'tests/*.hpp' 'fuzz/*.cpp' 'bench/*.cpp' 'bench/*.hpp')
lint: test-deps
	clang-format --dry-run --Werror $(LINT_SOURCES)
	cmake -S . -B build-tidy $(GENERATOR) -DHERALD_PCH=OFF -DHERALD_TESTS=OFF -DHERALD_BENCH=ON >/dev/null
	JOBS=$(JOBS) scripts/tidy build-tidy $$(git ls-files 'src/*.cpp' 'bench/src/*.cpp' | grep -v asio_impl)

# libFuzzer (clang) over every parser herald owns, each from its committed corpus in fuzz/corpus/.
# fuzz-smoke is the short run in `make test`; `make fuzz` (FUZZ_LONG_SECONDS, 600 each) is the long one. New inputs go
# to build-fuzz/found/ (a crash is written there as crash-*: add it to the corpus once fixed).
FUZZ_TARGETS := cursor channel_name ws_frame config login_codes subscribe_token
FUZZ_SECONDS ?= 12
fuzz-smoke: test-deps
	cmake -S . -B build-fuzz $(GENERATOR) -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug -DHERALD_FUZZ=ON >/dev/null
	cmake --build build-fuzz -j $(JOBS)
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p build-fuzz/found/$$t && \
	  echo "fuzz: $$t for $(FUZZ_SECONDS) s" && \
	  ASAN_OPTIONS=detect_leaks=1 build-fuzz/fuzz/$${t}_fuzz build-fuzz/found/$$t fuzz/corpus/$$t \
	    -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=10 -print_final_stats=0 \
	    -artifact_prefix=build-fuzz/found/$$t/ 2>build-fuzz/found/$$t.log || { tail -40 build-fuzz/found/$$t.log; exit 1; }; \
	done

FUZZ_LONG_SECONDS ?= 600
fuzz:
	$(MAKE) fuzz-smoke FUZZ_SECONDS=$(FUZZ_LONG_SECONDS)

# ThreadSanitizer over the concurrency tests: every unit test (hub, broker, login state machine under
# threads) and the integration files that drive several event loops at once. The browser tests are left
# out: they test pages, not threads, and are slow under TSan.
TSAN_INTEGRATION := fanout.test.mjs resume.test.mjs websocket.test.mjs sse.test.mjs poll.test.mjs login.test.mjs login_abuse.test.mjs chaos.test.mjs \
  metrics.test.mjs presence.test.mjs tls.test.mjs
test-tsan: test-deps
	cmake -S . -B build-tsan $(GENERATOR) -DCMAKE_BUILD_TYPE=Debug \
	  -DCMAKE_CXX_FLAGS="-O1 -g1 -fsanitize=thread -Wno-maybe-uninitialized -Wno-tsan" -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread
	cmake --build build-tsan -j $(JOBS)
	TSAN_OPTIONS=halt_on_error=1 build-tsan/tests/herald_unit_tests --gtest_brief=1
	cd tests/integration && TSAN_OPTIONS=halt_on_error=1 HERALD_BIN=../../build-tsan/herald \
	  node --test --test-reporter=dot $(notdir $(wildcard $(addprefix tests/integration/,$(TSAN_INTEGRATION))))

# The soak (10 minutes, not part of `make test`): the release binary under steady mixed load — 600 subscribers
# resuming on every streaming transport, 200 publishes/s, WebSocket churn, login starts, reads of unknown
# channels — printing its RSS every 10 s; it fails if memory still grows after a 4-minute warm-up, or if any
# subscriber misses, repeats or reorders a message. SOAK_MINUTES, SOAK_BROKER=redis and the other figures:
# `node tests/soak/soak.mjs --help`; docs/limits.md says how to read it.
soak: test-deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS) --target herald
	cd tests/soak && HERALD_BIN=$(abspath $(BUILD))/herald node soak.mjs

# The benchmark suite (under 20 minutes): herald against Nchan, Node ws and Socket.IO on loopback, written to
# bench/results/<date>/ (CSV, report.md, SVG charts). `make bench-deps` installs the peers and gnuplot once.
bench-deps:
	@bench/peers/install

bench: build bench-deps
	bench/run

format:
	clang-format -i $(LINT_SOURCES)

# clang-tidy alone (lint runs it too; scripts/tidy remembers the units that passed).
tidy: test-deps
	cmake -S . -B build-tidy $(GENERATOR) -DHERALD_PCH=OFF -DHERALD_TESTS=OFF -DHERALD_BENCH=ON >/dev/null
	JOBS=$(JOBS) scripts/tidy build-tidy $$(git ls-files 'src/*.cpp' 'bench/src/*.cpp' | grep -v asio_impl)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) build-tsan build-tidy build-fuzz
