#include "core/hub.hpp"

#include <gtest/gtest.h>

namespace herald {
namespace {

// A subscriber that records what it was handed, as a transport would write it.
class RecordingSubscriber : public Subscriber {
 public:
  explicit RecordingSubscriber(Transport transport = Transport::sse) : transport_(transport) {}
  Delivery deliver(const MessagePtr& message) override {
    if (!cursor.advance(*message)) return Delivery::skipped;
    received.push_back(message);
    if (on_deliver) on_deliver();
    return Delivery::sent;
  }
  void close(CloseReason) override { closed = true; }
  Transport transport() const override { return transport_; }

  SubscriptionCursor cursor;
  std::vector<MessagePtr> received;
  std::function<void()> on_deliver;
  bool closed = false;

 private:
  Transport transport_;
};

MessagePtr message(const std::string& channel, std::uint64_t seq) {
  return std::make_shared<const Message>(channel, Cursor{7, seq}, 0, "", "x", false);
}

TEST(Hub, DeliversOneSharedMessageToEverySubscriberOfItsChannel) {
  SubscriberCounts counts;
  Hub hub(counts);
  RecordingSubscriber a, b, other;
  hub.subscribe("news", &a);
  hub.subscribe("news", &b);
  hub.subscribe("sport", &other);
  auto m = message("news", 1);
  EXPECT_EQ(hub.dispatch(m), 2U);
  ASSERT_EQ(a.received.size(), 1U);
  EXPECT_EQ(a.received[0].get(), m.get());  // the same object, not a copy
  EXPECT_EQ(b.received[0].get(), m.get());
  EXPECT_TRUE(other.received.empty());
}

TEST(Hub, CountsByTransportAndForgetsOnUnsubscribe) {
  SubscriberCounts counts;
  Hub hub(counts);
  RecordingSubscriber ws(Transport::websocket), sse(Transport::sse);
  hub.subscribe("news", &ws);
  hub.subscribe("news", &sse);
  auto found = counts.find("news");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->total(), 2);
  EXPECT_EQ(found->by_transport[static_cast<std::size_t>(Transport::websocket)].load(), 1);
  hub.unsubscribe("news", &ws);
  hub.unsubscribe("news", &sse);
  EXPECT_EQ(found->total(), 0);
  EXPECT_EQ(hub.dispatch(message("news", 1)), 0U);
}

TEST(Hub, SkipsWhatASubscriberAlreadySaw) {
  SubscriberCounts counts;
  Hub hub(counts);
  RecordingSubscriber a;
  a.cursor = SubscriptionCursor(Cursor{7, 2});  // history up to 2 was read already
  hub.subscribe("news", &a);
  EXPECT_EQ(hub.dispatch(message("news", 2)), 0U);
  EXPECT_EQ(hub.dispatch(message("news", 3)), 1U);
}

TEST(Hub, ASubscriberMayLeaveWhileBeingDelivered) {
  SubscriberCounts counts;
  Hub hub(counts);
  RecordingSubscriber a, b, c;
  a.on_deliver = [&] { hub.unsubscribe("news", &a); };  // a long poll answers and leaves
  b.on_deliver = [&] { hub.unsubscribe("news", &c); };  // and one removes another
  hub.subscribe("news", &a);
  hub.subscribe("news", &b);
  hub.subscribe("news", &c);
  hub.dispatch(message("news", 1));
  EXPECT_EQ(a.received.size(), 1U);
  EXPECT_EQ(b.received.size(), 1U);
  EXPECT_TRUE(c.received.empty());
  hub.dispatch(message("news", 2));
  EXPECT_EQ(a.received.size(), 1U);
  EXPECT_EQ(b.received.size(), 2U);
}

TEST(Hub, CloseAllReachesAttachedConnections) {
  SubscriberCounts counts;
  Hub hub(counts);
  RecordingSubscriber a, b;
  hub.attach(&a);
  hub.attach(&b);
  EXPECT_EQ(hub.open_connections(), 2U);
  hub.detach(&b);
  hub.close_all(CloseReason::shutdown);
  EXPECT_TRUE(a.closed);
  EXPECT_FALSE(b.closed);
}

}  // namespace
}  // namespace herald
