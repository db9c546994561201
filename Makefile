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
TEST_PKGS := chromium protobuf-compiler

.PHONY: all deps test-deps build test test-sanitize demo install bench clean

all: build

deps:
	@tools/ensure-packages $(DEB_PKGS)

test-deps: deps
	@tools/ensure-packages $(TEST_PKGS)
	@# node and npm may come from elsewhere (nodesource's nodejs bundles npm
	@# and conflicts with Debian's npm package): ask Debian only when absent.
	@command -v node >/dev/null && command -v npm >/dev/null || tools/ensure-packages nodejs npm
	@tools/ensure-node-modules

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

test: test-deps build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The C code that runs in our own process (record, analyze, summary) under
# ASan and UBSan, on the tests that exercise it.
test-sanitize: test-deps
	cmake -S . -B $(ASAN_BUILD) -DGILSCOPE_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS) -L sanitize

demo: build
	@tools/demo $(BUILD)

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

bench: build
	bench/run $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
