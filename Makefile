# herald: the two commands a newcomer needs are `make run` and `make test`.
.PHONY: all deps build run test test-unit test-sanitize test-tsan bench bench-deps format tidy clean

BUILD ?= build
BUILD_ASAN ?= build-asan
JOBS ?= $(shell nproc)
LISTEN ?= 127.0.0.1:8080
GENERATOR := $(shell command -v ninja >/dev/null 2>&1 && echo "-G Ninja")

all: build

deps:
	@scripts/install-deps

$(BUILD)/build.ninja $(BUILD)/Makefile:
	cmake -S . -B $(BUILD) $(GENERATOR) -DCMAKE_BUILD_TYPE=Release

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

# Builds and starts herald with its demo pages on http://$(LISTEN)/ (embedded broker, no Redis needed),
# with two demo accounts for the cross-device login.
run: build
	@mkdir -p var
	@$(BUILD)/herald users add alice --password alice-demo --if-missing --config config/herald.toml
	@$(BUILD)/herald users add bob --password bob-demo --if-missing --config config/herald.toml
	@echo "herald demo: open http://$(LISTEN)/ ; cross-device login at http://$(LISTEN)/login.html"
	@echo "             approve from another browser signed in as alice / alice-demo (or bob / bob-demo)"
	@echo "             for a phone: LISTEN=0.0.0.0:8080 make run, and set login.public_url in config/herald.toml"
	$(BUILD)/herald serve --listen $(LISTEN) --config config/herald.toml

# Every test: unit and integration on the release build, then again under ASan+UBSan.
test: build
	cd $(BUILD) && ctest --output-on-failure --timeout 600
	$(MAKE) test-sanitize

test-unit: build
	cd $(BUILD) && ctest --output-on-failure -E integration

test-sanitize: deps
	cmake -S . -B $(BUILD_ASAN) $(GENERATOR) -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" -DHERALD_SANITIZE=ON
	cmake --build $(BUILD_ASAN) -j $(JOBS)
	cd $(BUILD_ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure --timeout 900

# ThreadSanitizer over the same suite (not part of `make test` yet: one more full build).
test-tsan: deps
	cmake -S . -B build-tsan $(GENERATOR) -DCMAKE_BUILD_TYPE=Debug \
	  -DCMAKE_CXX_FLAGS="-O1 -g1 -fsanitize=thread -Wno-maybe-uninitialized -Wno-tsan" -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread
	cmake --build build-tsan -j $(JOBS)
	cd build-tsan && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure --timeout 900

# The benchmark suite (under 20 minutes): herald against Nchan, Node ws and Socket.IO on loopback, written to
# bench/results/<date>/ (CSV, report.md, SVG charts). `make bench-deps` installs the peers and gnuplot once.
bench-deps:
	@bench/peers/install

bench: build bench-deps
	bench/run

format:
	clang-format -i $$(git ls-files 'src/*.cpp' 'src/*.hpp' 'tests/*.cpp' 'bench/*.cpp' 'bench/*.hpp')

# clang-tidy reads its own configuration of the tree: GCC's precompiled header means nothing to clang.
tidy: deps
	cmake -S . -B build-tidy $(GENERATOR) -DHERALD_PCH=OFF -DHERALD_TESTS=OFF >/dev/null
	clang-tidy -p build-tidy --quiet $$(git ls-files 'src/*.cpp' | grep -v asio_impl)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) build-tsan build-tidy
