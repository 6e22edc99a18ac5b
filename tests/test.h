/* tests/test.h - the smallest test harness that does the job.
   TEST(name) { CHECK(cond); CHECK_EQ_INT(a, b); ... }   then in main:  RUN(name); ...  return test_report();
   Each test counts once: passed if none of its checks failed. The last line printed is
   "N passed, N failed", which tests/run.sh adds up. */
#ifndef MQTTC_TEST_H
#define MQTTC_TEST_H
#include <stdio.h>
#include <string.h>

static int test__passed, test__failed, test__current_failed;

#define TEST(name) static void name(void)
#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);    \
            test__current_failed = 1;                                                     \
        }                                                                                 \
    } while (0)
#define CHECK_EQ_INT(a, b)                                                                \
    do {                                                                                  \
        long long test__a = (long long)(a), test__b = (long long)(b);                     \
        if (test__a != test__b) {                                                         \
            fprintf(stderr, "  %s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, \
                    #a, #b, test__a, test__b);                                            \
            test__current_failed = 1;                                                     \
        }                                                                                 \
    } while (0)
#define CHECK_MEM(p, q, n) CHECK(memcmp((p), (q), (n)) == 0)
#define RUN(name)                                                                         \
    do {                                                                                  \
        test__current_failed = 0;                                                         \
        name();                                                                           \
        if (test__current_failed) { test__failed++; printf("not ok - %s\n", #name); }     \
        else { test__passed++; printf("ok - %s\n", #name); }                              \
        fflush(stdout);                                                                   \
    } while (0)

static int test_report(void) {
    printf("%d passed, %d failed\n", test__passed, test__failed);
    return test__failed ? 1 : 0;
}
#endif
