# Front door for builders: `make demo`, `make test`, `make install`.
# CMake does the building; this file installs what is missing first.
BUILD    ?= build
ASAN_BUILD ?= build-asan
PREFIX   ?= /usr/local
JOBS     ?= $(shell nproc)
CMAKE_FLAGS ?= -DGILSCOPE_WERROR=ON

# Debian packages the build, the tests and the demo need.
DEB_PKGS := build-essential cmake pkg-config liblttng-ust-dev lttng-tools \
	liblttng-ctl-dev babeltrace2 libbabeltrace2-dev python3-bt2 \
	libsqlite3-dev sqlite3 python3
# libpython3.11-testsuite: CPython's own tests for Debian's python3, run
# under the recorder by the `cpython` tests (make test-cpython).
TEST_PKGS := chromium protobuf-compiler libpython3.11-testsuite

.PHONY: all deps test-deps pythons build test test-cpython test-sanitize demo install bench clean

all: build

deps:
	@tools/ensure-packages $(DEB_PKGS)

test-deps: deps
	@tools/ensure-packages $(TEST_PKGS)
	@# node and npm may come from elsewhere (nodesource's nodejs bundles npm
	@# and conflicts with Debian's npm package): ask Debian only when absent.
	@command -v node >/dev/null && command -v npm >/dev/null || tools/ensure-packages nodejs npm
	@tools/ensure-node-modules
	@# Debian sid's 3.14 and 3.15 join the per-interpreter tests when the
	@# archive answers; without them those tests say they skip.
	@tools/fetch-pythons || echo "gilscope: going on without Python 3.14/3.15" >&2

# Debian sid's python3.14 and python3.15 into ~/.cache/gilscope/pythons
# (or $$GILSCOPE_PYTHONS_DIR), the system untouched.
pythons:
	@tools/fetch-pythons

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

# Everything but CPython's whole test suites under the recorder (label
# cpython, about an hour): `make test-cpython` runs those.
test: test-deps build
# A test that fails is run up to twice more: timing-sensitive tests on a
# shared 2-core machine fail now and then (tests/README.md); ctest's output
# keeps every failed try.
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE '^cpython$$' --repeat until-pass:3

test-cpython: test-deps build
	cd $(BUILD) && ctest --output-on-failure -j 1 -L '^cpython$$'

# The C code that runs in our own process (record, analyze, summary) under
# ASan and UBSan, on the tests that exercise it.
test-sanitize: test-deps
	cmake -S . -B $(ASAN_BUILD) -DGILSCOPE_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS) -L sanitize --repeat until-pass:3

demo: build
	@tools/demo $(BUILD)

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

bench: build
	bench/run $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
