/* sessions/handoff.c: one waiting handoff per session, who ended it, the
 * timeout read lazily, and the account scoping. */
#include "common/pb.h"
#include "sessions/handoff.h"
#include "test.h"

#include <string.h>
#include <time.h>

static void test_lifecycle(void) {
  pb_handoff h, g;
  ASSERT_EQ(pb_handoff_get("s1", 7, &h), PB_ENOTFOUND);
  ASSERT_EQ(pb_handoff_start("s1", 7, "Please log in", 60000, "link1", &h), 0);
  ASSERT_EQ(h.state, PB_HANDOFF_WAITING);
  ASSERT_STR_EQ(h.message, "Please log in");
  ASSERT_EQ(strlen(h.id), PB_HANDOFF_ID_LEN);
  /* One at a time. */
  ASSERT_EQ(pb_handoff_start("s1", 7, "again", 60000, "link2", &g), PB_EEXIST);
  ASSERT_STR_EQ(g.id, h.id);
  /* Another account sees nothing and ends nothing. */
  ASSERT_EQ(pb_handoff_get("s1", 8, &g), PB_ENOTFOUND);
  ASSERT_EQ(pb_handoff_end("s1", 8, PB_HANDOFF_BY_AGENT, &g), PB_ENOTFOUND);
  unsigned v0 = pb_handoff_version();
  ASSERT_EQ(pb_handoff_end("s1", 7, PB_HANDOFF_BY_PERSON, &g), 0);
  ASSERT(pb_handoff_version() != v0);
  ASSERT_EQ(g.state, PB_HANDOFF_COMPLETED);
  ASSERT_STR_EQ(pb_handoff_by_text(g.ended_by), "person");
  ASSERT_EQ(pb_handoff_end("s1", 7, PB_HANDOFF_BY_AGENT, &g), PB_EEXIST); /* ended already */
  ASSERT_STR_EQ(pb_handoff_by_text(g.ended_by), "person");
  /* A new one replaces the ended one. */
  ASSERT_EQ(pb_handoff_start("s1", 7, NULL, 60000, "link3", &g), 0);
  ASSERT(strcmp(g.id, h.id) != 0);
  ASSERT_STR_EQ(g.message, "");
  ASSERT_EQ(pb_handoff_take("s1", &g), 0);
  ASSERT_EQ(g.state, PB_HANDOFF_WAITING);
  ASSERT_EQ(pb_handoff_get("s1", 7, &g), PB_ENOTFOUND);
}

static void test_timeout(void) {
  pb_handoff h;
  ASSERT_EQ(pb_handoff_start("s2", 7, "x", 1, "l", &h), 0);
  struct timespec ts = {0, 5 * 1000000};
  nanosleep(&ts, NULL); /* the clock is the subject here */
  ASSERT_EQ(pb_handoff_get("s2", 7, &h), 0);
  ASSERT_EQ(h.state, PB_HANDOFF_TIMEOUT);
  ASSERT_STR_EQ(pb_handoff_by_text(h.ended_by), "timeout");
  ASSERT_EQ(pb_handoff_end("s2", 7, PB_HANDOFF_BY_PERSON, &h), PB_EEXIST);
  ASSERT_EQ(h.state, PB_HANDOFF_TIMEOUT);
  /* Caps: a message cut on a character, a timeout at most an hour. */
  char msg[PB_HANDOFF_MESSAGE_MAX + 8];
  memset(msg, 'a', sizeof(msg));
  msg[PB_HANDOFF_MESSAGE_MAX - 2] = (char)0xC3;
  msg[PB_HANDOFF_MESSAGE_MAX - 1] = (char)0xA9;
  msg[sizeof(msg) - 1] = '\0';
  ASSERT_EQ(pb_handoff_start("s3", 7, msg, 1LL << 40, "l", &h), 0);
  ASSERT_EQ(strlen(h.message), PB_HANDOFF_MESSAGE_MAX - 2);
  ASSERT(h.deadline_wall_ms - h.created_wall_ms <= PB_HANDOFF_TIMEOUT_MAX_MS);
  ASSERT_EQ(pb_handoff_start(NULL, 7, "x", 1, "l", &h), PB_EINVAL);
}

int main(void) {
  RUN(test_lifecycle);
  RUN(test_timeout);
  DONE();
}
