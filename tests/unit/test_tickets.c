/* Connect tickets: single use, 60 s, bound to one session and account, a
 * bounded table that never evicts another account's tickets. */
#include "http/tickets.h"

#include "common/pb.h"
#include "test.h"

#include <stdint.h>

#define T0 INT64_C(5000000) /* an arbitrary monotonic reading */

static pb_auth account(int64_t id) {
  pb_auth a;
  memset(&a, 0, sizeof(a));
  a.account_id = id;
  snprintf(a.account, sizeof(a.account), "acct%lld", (long long)id);
  a.token_id = 100 + id;
  a.expires_ms = INT64_MAX;
  return a;
}

static void test_single_use(void) {
  pb_tickets *t = NULL;
  ASSERT_EQ(pb_tickets_new(&t), 0);
  pb_auth a = account(1), got;
  char tk[PB_TICKET_LEN + 1];
  ASSERT_EQ(pb_tickets_issue(t, &a, "sess1", T0, tk), 0);
  ASSERT_EQ(strlen(tk), PB_TICKET_LEN);
  ASSERT_EQ(strspn(tk, "0123456789abcdef"), PB_TICKET_LEN);
  char tk2[PB_TICKET_LEN + 1];
  ASSERT_EQ(pb_tickets_issue(t, &a, "sess1", T0, tk2), 0);
  ASSERT(strcmp(tk, tk2)); /* fresh randomness each time */
  memset(&got, 0, sizeof(got));
  ASSERT_EQ(pb_tickets_redeem(t, tk, "sess1", T0 + 1, &got), 0);
  ASSERT_EQ(got.account_id, 1);
  ASSERT_EQ(got.token_id, 101);
  ASSERT_STR_EQ(got.account, "acct1");
  ASSERT_EQ(pb_tickets_redeem(t, tk, "sess1", T0 + 2, &got), PB_ENOTFOUND);
  ASSERT_EQ(pb_tickets_count(t, T0 + 2), 1);
  /* Malformed and unknown. */
  ASSERT_EQ(pb_tickets_redeem(t, "", "sess1", T0, &got), PB_ENOTFOUND);
  ASSERT_EQ(pb_tickets_redeem(t, "abc", "sess1", T0, &got), PB_ENOTFOUND);
  ASSERT_EQ(pb_tickets_redeem(t, "00000000000000000000000000000000", "sess1", T0, &got),
            PB_ENOTFOUND);
  ASSERT_EQ(pb_tickets_issue(t, &a, "", T0, tk), PB_EINVAL);
  pb_tickets_free(t);
  pb_tickets_free(NULL);
}

/* Another session's URL, or a ticket past its TTL: refused, and gone. */
static void test_bound_and_expiring(void) {
  pb_tickets *t = NULL;
  ASSERT_EQ(pb_tickets_new(&t), 0);
  pb_auth a = account(1), got;
  char tk[PB_TICKET_LEN + 1];
  ASSERT_EQ(pb_tickets_issue(t, &a, "sess1", T0, tk), 0);
  ASSERT_EQ(pb_tickets_redeem(t, tk, "sess2", T0, &got), PB_EFORBIDDEN);
  ASSERT_EQ(pb_tickets_redeem(t, tk, "sess1", T0, &got), PB_ENOTFOUND);

  ASSERT_EQ(pb_tickets_issue(t, &a, "sess1", T0, tk), 0);
  ASSERT_EQ(pb_tickets_redeem(t, tk, "sess1", T0 + PB_TICKET_TTL_MS - 1, &got), 0);
  ASSERT_EQ(pb_tickets_issue(t, &a, "sess1", T0, tk), 0);
  ASSERT_EQ(pb_tickets_redeem(t, tk, "sess1", T0 + PB_TICKET_TTL_MS, &got), PB_EEXPIRED);
  ASSERT_EQ(pb_tickets_redeem(t, tk, "sess1", T0 + PB_TICKET_TTL_MS, &got), PB_ENOTFOUND);
  pb_tickets_free(t);
}

/* An account holding its maximum loses its own oldest ticket; a full table
 * refuses new tickets rather than evict another account's. */
static void test_bounded(void) {
  pb_tickets *t = NULL;
  ASSERT_EQ(pb_tickets_new(&t), 0);
  pb_auth a = account(1), b = account(2), got;
  char first[PB_TICKET_LEN + 1], tk[PB_TICKET_LEN + 1], bt[PB_TICKET_LEN + 1];
  ASSERT_EQ(pb_tickets_issue(t, &b, "sessb", T0, bt), 0);
  ASSERT_EQ(pb_tickets_issue(t, &a, "sess1", T0, first), 0);
  for (int i = 1; i < PB_TICKETS_PER_ACCOUNT; i++)
    ASSERT_EQ(pb_tickets_issue(t, &a, "sess1", T0 + i, tk), 0);
  ASSERT_EQ(pb_tickets_count(t, T0 + 100), PB_TICKETS_PER_ACCOUNT + 1);
  ASSERT_EQ(pb_tickets_issue(t, &a, "sess1", T0 + 100, tk), 0);
  ASSERT_EQ(pb_tickets_count(t, T0 + 100), PB_TICKETS_PER_ACCOUNT + 1);
  ASSERT_EQ(pb_tickets_redeem(t, first, "sess1", T0 + 100, &got), PB_ENOTFOUND);
  ASSERT_EQ(pb_tickets_redeem(t, tk, "sess1", T0 + 100, &got), 0);

  /* Fill the table with many accounts' tickets. */
  int64_t id = 10;
  int n = pb_tickets_count(t, T0 + 100);
  while (n < PB_TICKETS_MAX) {
    pb_auth x = account(id++);
    for (int k = 0; k < PB_TICKETS_PER_ACCOUNT && n < PB_TICKETS_MAX; k++, n++)
      ASSERT_EQ(pb_tickets_issue(t, &x, "sessx", T0 + 100, tk), 0);
  }
  pb_auth newcomer = account(99999);
  ASSERT_EQ(pb_tickets_issue(t, &newcomer, "sessn", T0 + 100, tk), PB_EBUSY);
  ASSERT_EQ(pb_tickets_redeem(t, bt, "sessb", T0 + 100, &got), 0); /* b's was kept */
  ASSERT_EQ(got.account_id, 2);
  /* Space again once one is used, and once the rest expire. */
  ASSERT_EQ(pb_tickets_issue(t, &newcomer, "sessn", T0 + 100, tk), 0);
  ASSERT_EQ(pb_tickets_issue(t, &newcomer, "sessn", T0 + 100, tk), PB_EBUSY);
  ASSERT_EQ(pb_tickets_issue(t, &newcomer, "sessn", T0 + PB_TICKET_TTL_MS + 1000, tk), 0);
  ASSERT_EQ(pb_tickets_count(t, T0 + PB_TICKET_TTL_MS + 1000), 1);
  pb_tickets_free(t);
}

int main(void) {
  RUN(test_single_use);
  RUN(test_bound_and_expiring);
  RUN(test_bounded);
  DONE();
}
