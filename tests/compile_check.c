/* Compiles the whole header (declarations and implementation) in the configurations the
   Makefile's compile matrix names: C99 and C++, with and without MQTTC_STATIC. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"
#include "mqttc.h" /* twice: the guards hold */

int compile_check_main(void);
int compile_check_main(void) {
    mqttc_client c;
    mqttc_options o;
    memset(&o, 0, sizeof o);
    int rc = mqttc_init(&c, &o);
    printf("%s\n", mqttc_errname(rc));
    mqttc_deinit(&c);
    return rc;
}
