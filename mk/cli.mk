# mk/cli.mk - the mosquitto-compatible tools build/mqttc-pub and build/mqttc-sub, with the
# names users type (as mosquitto_pub / mosquitto_sub). With TLS (--cafile ...) when OpenSSL's
# headers are there (make test installs libssl-dev); without them the tools still build and
# refuse TLS flags with a clear message. The Makefile keeps them out of its example rule.
CLI_TOOLS := $(BUILD)/mqttc-pub $(BUILD)/mqttc-sub
ifneq ($(wildcard /usr/include/openssl/ssl.h),)
  CLI_TLS_FLAGS := -DMQTTC_WITH_OPENSSL
  CLI_TLS_LIBS  := -lssl -lcrypto
endif

$(BUILD)/mqttc-pub: examples/mqttc_pub.c examples/cli_common.h mqttc.h | $(BUILD)
	$(CC) $(ALL_CFLAGS) $(CLI_TLS_FLAGS) -o $@ $< $(LDFLAGS) $(CLI_TLS_LIBS) $(LDLIBS)

$(BUILD)/mqttc-sub: examples/mqttc_sub.c examples/cli_common.h examples/cli_format.h mqttc.h | $(BUILD)
	$(CC) $(ALL_CFLAGS) $(CLI_TLS_FLAGS) -o $@ $< $(LDFLAGS) $(CLI_TLS_LIBS) $(LDLIBS)

all: $(CLI_TOOLS)
demo: $(CLI_TOOLS)
install: $(CLI_TOOLS)
TEST_EXTRA += $(CLI_TOOLS)
INSTALL_PROGRAMS += $(CLI_TOOLS)

# tests/t_window.sh runs the tools beside tests/live_window.c (the Makefile's live_% rule):
# the library's default QoS 2 window against a default-configured mosquitto.
all: $(BUILD)/live_window
TEST_EXTRA += $(BUILD)/live_window
