# mk/tls.mk - TLS (MQTTC_WITH_OPENSSL): the header's OpenSSL build, its tests and checks.
# None of it is part of `make all`: a build that does not ask for TLS needs no OpenSSL.
# `make test` (after tests/deps.sh installed libssl-dev and openssl, see tests/deps.d/tls.list)
# builds:
#   build/test_tls     the hermetic C suite, TLS against an in-process server over memory
#                      (tests/run.sh runs it under Valgrind like every build/test_*)
#   build/tls_client   the socket scenarios tests/t_tls.sh runs against mosquitto
# (the header's OpenSSL compile checks are in tests/t_compile.sh's matrix, with the rest)
TLS_LIBS := -lssl -lcrypto

$(BUILD)/test_tls: tests/tls/test_tls.c mqttc.h tests/test.h tests/mem_transport.h | $(BUILD)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDFLAGS) $(TLS_LIBS) $(LDLIBS)

$(BUILD)/tls_client: tests/tls/tls_client.c mqttc.h | $(BUILD)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDFLAGS) $(TLS_LIBS) $(LDLIBS)

TEST_EXTRA += $(BUILD)/test_tls $(BUILD)/tls_client
