# mk/store.mk - the durable store's scenario program (tests/live_store.c, for tests/t_store.sh)
TEST_EXTRA += $(BUILD)/live_store
