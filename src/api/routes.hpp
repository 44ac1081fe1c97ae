#pragma once
// The handlers behind the API routes (see docs/api.md).
#include <boost/url/params_view.hpp>
#include <memory>
#include <string>

#include "http/beast.hpp"

namespace herald {

class HttpSession;

void publish_route(const std::shared_ptr<HttpSession>& session, Request request, std::string channel);
void subscribe_route(const std::shared_ptr<HttpSession>& session, Request request, std::string channel,
                     boost::urls::params_view params);
void multiplex_route(const std::shared_ptr<HttpSession>& session, const Request& request);
void channel_info_route(const std::shared_ptr<HttpSession>& session, const Request& request,
                        const std::string& channel);

}  // namespace herald
