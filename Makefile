# firkin: `make run` sets everything up and runs the main job; `make test` runs the whole suite.
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz

.PHONY: all deps sdk build asan test test-asan run fuzz format check-format clean install

all: build

deps:
	@scripts/deps.sh --check 2>/dev/null || scripts/deps.sh

build: deps
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD)
	ninja -C $(BUILD)

asan: deps
	@[ -f $(ASAN_BUILD)/build.ninja ] || meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
	ninja -C $(ASAN_BUILD)

# The E2B SDK that tests/e2b and the fkd benchmark drive, pinned by tests/e2b/package-lock.json
# (installed once; without npm those suites skip).
sdk: deps
	@[ -d tests/e2b/node_modules/e2b ] || ! command -v npm >/dev/null \
	  || npm ci --prefix tests/e2b --no-audit --no-fund --loglevel=error

test: build sdk
	tests/run $(BUILD) tests

test-asan: asan sdk
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  tests/run $(ASAN_BUILD) asan

run: build
	scripts/run.sh $(BUILD)

# make install [PREFIX=/usr/local] [DESTDIR=DIR]: the programs, the library, headers, firkin.pc,
# man pages and completions (the build dir is configured for PREFIX: fk-agent's path is in it).
PREFIX ?= /usr/local
install: deps
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD)
	meson configure $(BUILD) -Dprefix=$(PREFIX)
	ninja -C $(BUILD)
	meson install -C $(BUILD) --no-rebuild $(if $(DESTDIR),--destdir $(DESTDIR))

fuzz: deps
	@[ -f $(FUZZ_BUILD)/build.ninja ] || CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
	ninja -C $(FUZZ_BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

check-format:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
