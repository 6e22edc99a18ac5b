-- luarocks make rockspecs/mqttc-0.1.0-1.rockspec   (from the top of the source tree)
package = "mqttc"
version = "0.1.0-1"
source = {
   url = "git+file://.", -- `luarocks make` builds the tree it is run in
   tag = "v0.1.0",
}
description = {
   summary = "MQTT 3.1.1 and 5.0 client: the Barracuda App Server mqttc API on stock Lua",
   detailed = [==[
require"mqttc".connect(addr, onpub [, op]) (MQTT 3.1.1) with publish, subscribe,
unsubscribe, disconnect and run, and require"mqttc".create(addr, onstatus [, onpub]
[, opt [, prop]]) (MQTT 5: properties, subscription options, reconnects decided by onstatus,
a bounded offline queue), over the single-header C client mqttc.h. Blocking, asynchronous
(getfd/events/timeout/step for socket.select or luv) and cosocket (cqueues) modes; TLS
through OpenSSL (op.secure); broker URLs and proxies (op.proxy).]==],
   license = "MIT",
}
dependencies = {
   "lua >= 5.1, < 5.5",
}
external_dependencies = {
   OPENSSL = {
      header = "openssl/ssl.h",
      library = "ssl",
   },
}
build = {
   type = "builtin",
   modules = {
      mqttc = {
         sources = { "mqttc_lua.c" },
         defines = { "MQTTC_WITH_OPENSSL" },
         incdirs = { ".", "$(OPENSSL_INCDIR)" },
         libdirs = { "$(OPENSSL_LIBDIR)" },
         libraries = { "ssl", "crypto" },
      },
   },
}
