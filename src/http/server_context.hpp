#pragma once
// What every request handler may reach: settings, the broker and the subscriber counts.
#include <atomic>

#include "app/config.hpp"
#include "broker/broker.hpp"
#include "core/subscriber_counts.hpp"

namespace herald {

struct ServerContext {
  const Config& config;
  Broker& broker;
  SubscriberCounts& counts;
  std::atomic<bool> shutting_down{false};
};

}  // namespace herald
