# mk/bench.mk - `make bench`: mqttc (MQTT 3.1.1 and 5) against libmosquitto, Paho C and a
# raw-socket floor.
# Installs what it needs (bench/deps.sh), builds bench/*.c into build/bench/ with fixed
# optimisation (no sanitizers: they would be measured), runs bench/run.sh, which prints the
# table and writes bench/RESULTS.md. Not part of `make test`.
BENCH_DIR    := $(BUILD)/bench
BENCH_CFLAGS := -std=c99 -D_POSIX_C_SOURCE=200809L $(WARN) -O2 -g -I. -Ibench
BENCH_BINS   := $(BENCH_DIR)/bench_raw $(BENCH_DIR)/bench_mqttc $(BENCH_DIR)/bench_mqttc5 $(BENCH_DIR)/bench_mqttcws \
                $(BENCH_DIR)/bench_mqttcstore $(BENCH_DIR)/bench_pahostore \
                $(BENCH_DIR)/bench_mqttctls $(BENCH_DIR)/bench_mosquittotls \
                $(BENCH_DIR)/bench_mosquitto $(BENCH_DIR)/bench_paho $(BENCH_DIR)/alloc_count.so \
                $(BENCH_DIR)/min_pub $(BENCH_DIR)/min_pub_no5

.PHONY: bench bench-deps bench-build
bench: bench-deps
	@$(MAKE) --no-print-directory bench-build
	@bash bench/run.sh

bench-deps:
	@bash bench/deps.sh

bench-build: $(BENCH_BINS)

$(BENCH_DIR):
	@mkdir -p $(BENCH_DIR)

$(BENCH_DIR)/bench_raw: bench/bench_raw.c bench/bench.h | $(BENCH_DIR)
	$(CC) $(BENCH_CFLAGS) -o $@ $<

$(BENCH_DIR)/bench_mqttc: bench/bench_mqttc.c bench/bench.h mqttc.h | $(BENCH_DIR)
	$(CC) $(BENCH_CFLAGS) -o $@ $<

# The same program speaking MQTT 5 (options.protocol_version = 5, nothing else): "mqttc5".
$(BENCH_DIR)/bench_mqttc5: bench/bench_mqttc.c bench/bench.h mqttc.h | $(BENCH_DIR)
	$(CC) $(BENCH_CFLAGS) -DBENCH_MQTT5 -o $@ $<

# the same over WebSocket (ws://, PORT a websockets listener): what the WebSocket stage costs
$(BENCH_DIR)/bench_mqttcws: bench/bench_mqttc.c bench/bench.h mqttc.h | $(BENCH_DIR)
	$(CC) $(BENCH_CFLAGS) -DBENCH_WS -o $@ $<

$(BENCH_DIR)/bench_mosquitto: bench/bench_mosquitto.c bench/bench.h | $(BENCH_DIR)
	$(CC) $(BENCH_CFLAGS) -o $@ $< -lmosquitto

$(BENCH_DIR)/bench_paho: bench/bench_paho.c bench/bench.h | $(BENCH_DIR)
	$(CC) $(BENCH_CFLAGS) -o $@ $< -lpaho-mqtt3a -lpthread

# durable stores, pub1: mqttc's file store (every 100 ms) and Paho's file persistence
$(BENCH_DIR)/bench_mqttcstore: bench/bench_mqttc.c bench/bench.h mqttc.h | $(BENCH_DIR)
	$(CC) $(BENCH_CFLAGS) -DBENCH_STORE -o $@ $<
$(BENCH_DIR)/bench_pahostore: bench/bench_paho.c bench/bench.h | $(BENCH_DIR)
	$(CC) $(BENCH_CFLAGS) -DBENCH_PAHO_STORE -o $@ $< -lpaho-mqtt3a -lpthread

# TLS: mqttc with its OpenSSL stage (options.secure) and libmosquitto with mosquitto_tls_set,
# both to a TLS listener of the same broker (pub0, pub1, sub0, handshake)
$(BENCH_DIR)/bench_mqttctls: bench/bench_mqttc.c bench/bench.h mqttc.h | $(BENCH_DIR)
	$(CC) $(BENCH_CFLAGS) -DBENCH_TLS -DMQTTC_WITH_OPENSSL -o $@ $< -lssl -lcrypto
$(BENCH_DIR)/bench_mosquittotls: bench/bench_mosquitto.c bench/bench.h | $(BENCH_DIR)
	$(CC) $(BENCH_CFLAGS) -DBENCH_TLS -o $@ $< -lmosquitto

$(BENCH_DIR)/alloc_count.so: bench/alloc_count.c | $(BENCH_DIR)
	$(CC) -std=c99 $(WARN) -O2 -shared -fPIC -o $@ $<

# The `size` figures: a minimal publisher, -Os, one translation unit (MQTTC_STATIC drops
# what it does not call), unused sections collected, stripped. Two builds of it:
#   min_pub      the default build (MQTT 5 compiled in; the program speaks 3.1.1)
#   min_pub_no5  the small build, -DMQTTC_NO_MQTT5 -DMQTTC_NO_RECONNECT -DMQTTC_NO_WEBSOCKET
#                -DMQTTC_NO_PROXY (3.1.1, no staying connected, TCP only): the 12 KiB target
MIN_PUB_CFLAGS := -std=c99 -D_POSIX_C_SOURCE=200809L $(WARN) -Os -I. -ffunction-sections \
                  -fdata-sections -Wl,--gc-sections -s
$(BENCH_DIR)/min_pub: bench/min_pub.c mqttc.h | $(BENCH_DIR)
	$(CC) $(MIN_PUB_CFLAGS) -o $@ $<

$(BENCH_DIR)/min_pub_no5: bench/min_pub.c mqttc.h | $(BENCH_DIR)
	$(CC) $(MIN_PUB_CFLAGS) -DMQTTC_NO_MQTT5 -DMQTTC_NO_RECONNECT -DMQTTC_NO_WEBSOCKET -DMQTTC_NO_PROXY -DMQTTC_NO_STORE -DMQTTC_NO_INDEX -o $@ $<
