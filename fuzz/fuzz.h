/* fuzz/fuzz.h - what the fuzz targets (and make_seeds.c, which writes their inputs) share:
   FUZZ_REQUIRE, the input read as a stream of choices, and the ack packets they build.
   Include it after mqttc.h (fuzz_minibroker.c: after minibroker.c, which includes it), with
   FUZZ_TARGET defined as the program's name, which FUZZ_REQUIRE's message starts with. */
#ifndef MQTTC_FUZZ_H
#define MQTTC_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef FUZZ_TARGET
#error "define FUZZ_TARGET (the target's name) before including fuzz/fuzz.h"
#endif

/* A property every input must keep: a violation aborts, which libFuzzer reports as a crash
   (and fuzz/replay.c as a failed replay). */
#define FUZZ_REQUIRE(cond)                                                                    \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, FUZZ_TARGET ": %s:%d: %s\n", __FILE__, __LINE__, #cond);          \
            abort();                                                                          \
        }                                                                                     \
    } while (0)

/* The input, consumed from the front; past its end every byte reads as 0, so an input
   that stops early still makes whole choices. */
typedef struct fz_input {
    const uint8_t *p;
    size_t n;
} fz_input;

static inline unsigned fz_byte(fz_input *in) {
    if (!in->n) return 0;
    in->n--;
    return *in->p++;
}

static inline unsigned fz_u16(fz_input *in) { return (fz_byte(in) << 8) | fz_byte(in); }

/* The next *n bytes of the input, consumed; fewer at its end (*n says how many). */
static inline const uint8_t *fz_take(fz_input *in, size_t *n) {
    const uint8_t *p = in->p;
    if (*n > in->n) *n = in->n;
    in->p += *n;
    in->n -= *n;
    return p;
}

/* An ack of the type with the id, into buf; *n is 0 when the encoder refuses it (id 0). */
static inline void fz_encode_ack(unsigned char *buf, size_t cap, int type, unsigned short id, size_t *n) {
    mqttc_ack_info ai = {0};
    ai.type = type;
    ai.packet_id = id;
    mqttc_encode_ack(buf, cap, MQTTC_PROTOCOL_311, &ai, n);
}

#endif
