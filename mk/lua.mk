# mk/lua.mk - the Lua module require"mqttc" (mqttc_lua.c).
#   make lua               build/mqttc.so for Lua 5.4 (also build/lua5.4/mqttc.so)
#   make lua LUA=5.1       ... for Lua 5.1 (build/lua5.1/mqttc.so), LUA=luajit for LuaJIT
#   make lua-all           the three, each in its own directory; build/mqttc.so is 5.4's
# With OpenSSL (pkg-config openssl) once mqttc.h has its TLS layer, so op.secure works.
LUA ?= 5.4
LUA_VARIANTS := lua5.4 lua5.1 luajit

# the variant's directory and pkg-config name: 5.4 -> lua5.4, luajit (or jit) -> luajit
lua_variant = $(if $(filter luajit jit,$(1)),luajit,lua$(1))
lua_cflags = $(or $(shell pkg-config --cflags $(1) 2>/dev/null),$(if $(filter luajit,$(1)),-I/usr/include/luajit-2.1,-I/usr/include/$(1)))

LUA_TLS := $(shell grep -q MQTTC_WITH_OPENSSL mqttc.h 2>/dev/null && pkg-config --exists openssl 2>/dev/null && echo 1)
LUA_TLS_CFLAGS := $(if $(LUA_TLS),-DMQTTC_WITH_OPENSSL $(shell pkg-config --cflags openssl))
LUA_TLS_LIBS := $(if $(LUA_TLS),$(shell pkg-config --libs openssl))

LUA_SOS := $(foreach v,$(LUA_VARIANTS),$(BUILD)/$(v)/mqttc.so)

# The module is not linked against liblua: the interpreter that loads it provides Lua.
$(BUILD)/%/mqttc.so: mqttc_lua.c mqttc.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -fPIC -shared $(call lua_cflags,$*) $(LUA_TLS_CFLAGS) -o $@ $< $(LDFLAGS) $(LUA_TLS_LIBS)

# Without OpenSSL (op.secure then raises), and as C++ (syntax and linkage: extern "C").
$(BUILD)/lua-notls/mqttc.so: mqttc_lua.c mqttc.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -fPIC -shared $(call lua_cflags,lua5.4) -o $@ $< $(LDFLAGS)
$(BUILD)/lua-cxx.ok: mqttc_lua.c mqttc.h
	@mkdir -p $(@D)
	$(CXX) -x c++ -std=c++11 $(WARN) -I. $(call lua_cflags,lua5.4) $(LUA_TLS_CFLAGS) -fsyntax-only $< && touch $@

.PHONY: lua lua-all
lua: $(BUILD)/$(call lua_variant,$(LUA))/mqttc.so
	cp $< $(BUILD)/mqttc.so

lua-all: $(LUA_SOS) $(BUILD)/lua-notls/mqttc.so $(BUILD)/lua-cxx.ok
	cp $(BUILD)/lua5.4/mqttc.so $(BUILD)/mqttc.so

TEST_EXTRA += lua-all
