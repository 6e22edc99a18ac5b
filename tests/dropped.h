/* tests/dropped.h - an options.on_dropped that records what the client gave up: how many
   (dropped), and for the first 16 why and which packet id. Include after mqttc.h. */
#ifndef MQTTC_TEST_DROPPED_H
#define MQTTC_TEST_DROPPED_H
static int dropped, dropped_why[16];
static unsigned short dropped_ids[16];

static void on_dropped(mqttc_client *c, const mqttc_publish_info *m, int why, void *u) {
    (void)c;
    (void)u;
    if (dropped < 16) {
        dropped_why[dropped] = why;
        dropped_ids[dropped] = m->packet_id;
    }
    dropped++;
}
#endif
