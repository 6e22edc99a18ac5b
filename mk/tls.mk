# mk/tls.mk - TLS (MQTTC_WITH_OPENSSL): the header's OpenSSL build, its tests and checks.
# None of it is part of `make all`: a build that does not ask for TLS needs no OpenSSL.
# `make test` (after tests/deps.sh installed libssl-dev and openssl, see tests/deps.d/tls.list)
# builds:
#   build/test_tls     the hermetic C suite, TLS against an in-process server over memory
#                      (tests/run.sh runs it under Valgrind like every build/test_*)
#   build/tls_client   the socket scenarios tests/t_tls.sh runs against mosquitto
#   compile checks of the header with MQTTC_WITH_OPENSSL: C99 (-pedantic), C99 with
#   MQTTC_STATIC, C99 without sockets, C++
TLS_LIBS := -lssl -lcrypto

$(BUILD)/test_tls: tests/tls/test_tls.c mqttc.h tests/test.h tests/mem_transport.h | $(BUILD)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDFLAGS) $(TLS_LIBS) $(LDLIBS)

$(BUILD)/tls_client: tests/tls/tls_client.c mqttc.h | $(BUILD)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDFLAGS) $(TLS_LIBS) $(LDLIBS)

TLS_COMPILE := $(BUILD)/compile-tls-c99.ok $(BUILD)/compile-tls-c99-static.ok \
               $(BUILD)/compile-tls-c99-nosockets.ok $(BUILD)/compile-tls-cxx.ok
$(BUILD)/compile-tls-c99.ok: mqttc.h tests/compile_check.c | $(BUILD)
	$(CC) -std=c99 -pedantic $(WARN) -DMQTTC_WITH_OPENSSL -I. -c tests/compile_check.c -o $(BUILD)/cc-tls-c99.o && touch $@
$(BUILD)/compile-tls-c99-static.ok: mqttc.h tests/compile_check.c | $(BUILD)
	$(CC) -std=c99 -pedantic $(WARN) -DMQTTC_WITH_OPENSSL -DMQTTC_STATIC -I. -c tests/compile_check.c -o $(BUILD)/cc-tls-c99s.o && touch $@
$(BUILD)/compile-tls-c99-nosockets.ok: mqttc.h tests/compile_check.c | $(BUILD)
	$(CC) -std=c99 -pedantic $(WARN) -DMQTTC_WITH_OPENSSL -DMQTTC_NO_SOCKETS -I. -c tests/compile_check.c -o $(BUILD)/cc-tls-c99n.o && touch $@
$(BUILD)/compile-tls-cxx.ok: mqttc.h tests/compile_check.c | $(BUILD)
	$(CXX) -x c++ -std=c++11 $(WARN) -DMQTTC_WITH_OPENSSL -I. -c tests/compile_check.c -o $(BUILD)/cc-tls-cxx.o && touch $@

TEST_EXTRA += $(BUILD)/test_tls $(BUILD)/tls_client $(TLS_COMPILE)
