// The pool's bookkeeping without sockets: reuse, the size cap, leases, resends.
#include <gtest/gtest.h>

#include "venice_batch/pool_state.hpp"

using namespace venice_batch;

TEST(PoolStateTest, ReusesTheMostRecentlyParkedConnection) {
  ConnectionSlots slots(4);
  auto a = slots.acquire();
  auto b = slots.acquire();
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(a->reused);
  slots.release(a->id, true);
  slots.release(b->id, true);
  auto c = slots.acquire();
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->reused);
  EXPECT_EQ(c->id, b->id) << "the warmest connection first";
  EXPECT_EQ(slots.opened_total(), 2u);
}

TEST(PoolStateTest, NeverOpensMoreThanTheCapAndWaitsInstead) {
  ConnectionSlots slots(2);
  auto a = slots.acquire();
  auto b = slots.acquire();
  EXPECT_FALSE(slots.acquire()) << "at the cap: wait for a release";
  slots.release(a->id, false);
  auto c = slots.acquire();
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->reused) << "a closed slot is opened anew";
  EXPECT_EQ(slots.open(), 2u);
  (void)b;
}

TEST(PoolStateTest, ALeaseClosesItsConnectionUnlessKept) {
  ConnectionSlots slots(2);
  {
    ConnectionLease lease(slots, *slots.acquire());
    EXPECT_EQ(slots.in_use(), 1u);
  }  // an early return or an exception: closed, never parked in an unknown state
  EXPECT_EQ(slots.in_use(), 0u);
  EXPECT_EQ(slots.idle(), 0u);
  {
    ConnectionLease lease(slots, *slots.acquire());
    lease.keep();
  }
  EXPECT_EQ(slots.idle(), 1u);
  auto dropped = slots.drop_idle();
  EXPECT_EQ(dropped.size(), 1u);
  EXPECT_EQ(slots.open(), 0u);
}

TEST(PoolStateTest, ResendsOnAFreshConnectionOnlyWhenAnIdleOneWasFoundClosed) {
  using E = TransportError;
  using S = ExchangeStep;
  EXPECT_TRUE(resend_on_fresh_connection(true, S::read_header, E::connection_lost, 0, 0, 4));
  EXPECT_TRUE(resend_on_fresh_connection(true, S::write, E::connection_lost, 0, 0, 4));
  EXPECT_FALSE(resend_on_fresh_connection(false, S::read_header, E::connection_lost, 0, 0, 4)) << "a new connection";
  EXPECT_FALSE(resend_on_fresh_connection(true, S::read_header, E::connection_lost, 12, 0, 4)) << "an answer began";
  EXPECT_FALSE(resend_on_fresh_connection(true, S::read_header, E::timeout, 0, 0, 4)) << "a slow server is not stale";
  EXPECT_FALSE(resend_on_fresh_connection(true, S::read_body, E::body_truncated, 0, 0, 4));
  EXPECT_TRUE(resend_on_fresh_connection(true, S::read_header, E::connection_lost, 0, 4, 4));
  EXPECT_FALSE(resend_on_fresh_connection(true, S::read_header, E::connection_lost, 0, 5, 4))
      << "a server closing every connection is a real failure";
}

TEST(PoolStateTest, AFreshAcquireNeverHandsOutAParkedConnection) {
  // A try whose answer was for another request goes again on a connection that carried nothing
  // before: a new slot under the cap, else the coldest idle one's slot, else wait.
  ConnectionSlots slots(2);
  auto a = slots.acquire();
  auto b = slots.acquire();
  slots.release(a->id, true);
  auto fresh = slots.acquire_fresh();  // at the cap, one idle: its slot, to be reopened
  ASSERT_TRUE(fresh);
  EXPECT_FALSE(fresh->reused);
  EXPECT_EQ(fresh->id, a->id);
  EXPECT_FALSE(slots.acquire_fresh()) << "both in use: wait";
  slots.release(b->id, true);
  slots.release(fresh->id, false);
  auto under_cap = slots.acquire_fresh();  // one idle, one closed: a new connection, idle kept
  ASSERT_TRUE(under_cap);
  EXPECT_FALSE(under_cap->reused);
  EXPECT_NE(under_cap->id, b->id);
  EXPECT_EQ(slots.idle(), 1u);
  EXPECT_LE(slots.open(), 2u);
}
