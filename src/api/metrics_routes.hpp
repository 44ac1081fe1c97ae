#pragma once
// GET /metrics (Prometheus text) and GET /metrics/feed (the dashboard's live snapshots, on any transport):
// docs/metrics.md. Returns false when the path is neither.
#include <boost/url/url_view.hpp>
#include <memory>

#include "runtime/beast.hpp"

namespace herald {

class HttpSession;

bool route_metrics(const std::shared_ptr<HttpSession>& session, Request& request, const boost::urls::url_view& url);

}  // namespace herald
