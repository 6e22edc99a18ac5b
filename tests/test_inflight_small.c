/* tests/test_inflight_small.c - test_inflight.c in the small build's bookkeeping
   (-DMQTTC_NO_INDEX: records found by a scan, removed by moving the rest down): the same
   model, the same expectations, at windows a small build is for (a scan per message makes
   a full 65,535 window quadratic: minutes under Valgrind). */
#define MQTTC_NO_INDEX
#define FULL_WINDOW 3000
#define WIDE_WINDOW 500
#include "test_inflight.c"
