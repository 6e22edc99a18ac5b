# mqttc - build, test, demo. Every output goes under build/.
#   make            the broker, the examples and the test programs
#   make test       installs what tests need (apt-get), then runs every suite
#   make demo       the bundled broker with messages (and a will) flowing
#   make install    header and programs under $(DESTDIR)$(PREFIX)
CC       ?= cc
CXX      ?= c++
PREFIX   ?= /usr/local
WARN     := -Wall -Wextra -Werror
CFLAGS   ?= -O2 -g
SANITIZE ?= 0
ifeq ($(SANITIZE),1)
  BUILD  ?= build/asan
  CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
  LDFLAGS += -fsanitize=address,undefined
else
  BUILD  ?= build
endif
# scripts find the programs of this build here
export MQTTC_BUILD := $(abspath $(BUILD))
export SANITIZE
ALL_CFLAGS := -std=c99 -D_POSIX_C_SOURCE=200809L $(WARN) $(CFLAGS) -I.
LDLIBS   += -lpthread
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)

TEST_SRCS    := $(wildcard tests/test_*.c)
TEST_BINS    := $(patsubst tests/%.c,$(BUILD)/%,$(TEST_SRCS))
EXAMPLE_SRCS := $(filter-out examples/mqttc_pub.c examples/mqttc_sub.c,$(wildcard examples/*.c))
EXAMPLE_BINS := $(patsubst examples/%.c,$(BUILD)/%,$(EXAMPLE_SRCS))
PROGRAMS     := $(BUILD)/minibroker

.PHONY: all test check-compile demo install clean deps
all: $(PROGRAMS) $(EXAMPLE_BINS) $(TEST_BINS)

$(BUILD):
	@mkdir -p $(BUILD)

$(BUILD)/minibroker: minibroker/minibroker.c mqttc.h | $(BUILD)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDFLAGS) $(LDLIBS)

$(BUILD)/test_%: tests/test_%.c mqttc.h tests/test.h $(wildcard tests/*.h) | $(BUILD)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDFLAGS) $(LDLIBS)

$(BUILD)/%: examples/%.c mqttc.h | $(BUILD)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDFLAGS) $(LDLIBS)

# The header compiles as C99 and as C++ in every configuration: one matrix, in
# tests/t_compile.sh (a counted suite of make test); `make check-compile` runs it alone.
check-compile:
	@bash tests/t_compile.sh

deps:
	@bash tests/deps.sh

test: deps
	@$(MAKE) --no-print-directory -j$(JOBS) all $(TEST_EXTRA)
	@bash tests/run.sh

demo: $(BUILD)/minibroker $(EXAMPLE_BINS)
	@bash examples/demo.sh

install: $(PROGRAMS)
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin
	install -m 644 mqttc.h $(DESTDIR)$(PREFIX)/include/mqttc.h
	install -m 755 $(PROGRAMS) $(INSTALL_PROGRAMS) $(DESTDIR)$(PREFIX)/bin/

clean:
	rm -rf $(BUILD)

# Each area (tools, Lua, TLS, benchmarks, fuzzing) adds its own rules here.
-include $(wildcard mk/*.mk)

# Integration programs driven by script suites (not run on their own by tests/run.sh).
$(BUILD)/live_%: tests/live_%.c mqttc.h | $(BUILD)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDFLAGS) $(LDLIBS)
TEST_EXTRA += $(BUILD)/live_client
TEST_EXTRA += $(BUILD)/live_v5
TEST_EXTRA += $(BUILD)/live_reconnect
TEST_EXTRA += $(BUILD)/live_transport
$(BUILD)/live_transport: LDLIBS += -lssl -lcrypto # wss (tests/t_transport.sh)
ifeq ($(SANITIZE),1)
# Helgrind cannot run an ASan program: the sanitizer pass checks threads with TSan instead.
$(BUILD)/live_client_tsan: tests/live_client.c mqttc.h | $(BUILD)
	$(CC) -std=c99 -D_POSIX_C_SOURCE=200809L $(WARN) -O1 -g -fsanitize=thread -I. -o $@ $< -fsanitize=thread -lpthread
TEST_EXTRA += $(BUILD)/live_client_tsan
endif
