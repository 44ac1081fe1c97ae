#pragma once
// The handlers behind the API routes (see docs/api.md).
#include <boost/url/params_view.hpp>
#include <memory>
#include <optional>
#include <string>

#include "access/admission.hpp"
#include "core/error.hpp"
#include "runtime/beast.hpp"

namespace herald {

class HttpSession;

void publish_route(const std::shared_ptr<HttpSession>& session, Request request, std::string channel,
                   boost::urls::params_view params);
void subscribe_route(const std::shared_ptr<HttpSession>& session, Request request, std::string channel,
                     boost::urls::params_view params);
// Serves a subscription to `channel` on whichever transport the request asks for, with no check of the
// channel's name or namespace: /sub/{channel} checks those first; /login/events names its own channel.
// `identity` and `expires_at`: who admission found the listener to be, and when its token ends.
void listen_route(const std::shared_ptr<HttpSession>& session, Request request, std::string channel,
                  boost::urls::params_view params, const Identity& identity = std::nullopt, std::int64_t expires_at = 0,
                  std::shared_ptr<void> user_hold = {});
void multiplex_route(const std::shared_ptr<HttpSession>& session, const Request& request,
                     boost::urls::params_view params);
void channel_info_route(const std::shared_ptr<HttpSession>& session, const Request& request,
                        const std::string& channel);
// GET /channels/{channel}/presence: who is here now, across nodes (a presence namespace only).
void presence_route(const std::shared_ptr<HttpSession>& session, const Request& request, const std::string& channel,
                    boost::urls::params_view params);

}  // namespace herald
