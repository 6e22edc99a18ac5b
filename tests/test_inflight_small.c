/* tests/test_inflight_small.c - test_inflight.c in the small build's bookkeeping
   (-DMQTTC_NO_INDEX: records found by a scan, removed by moving the rest down): the same
   model, the same expectations. */
#define MQTTC_NO_INDEX
#include "test_inflight.c"
