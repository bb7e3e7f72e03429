// Route plumbing shared by the route groups (health_routes, message_routes,
// sandbox_routes, maintenance_routes): how a handler is installed, guarded and
// answered. A guarded handler never throws (500 internal), holds its route's
// body limit (413, body_limit.h) and, for a protected route, runs only for an
// authorized caller (401 unauthorized / 403 forbidden, api_auth.h). Another
// method on a known path answers 405 method_not_allowed with Allow.
#ifndef DYNOGUARD_WORKER_HTTP_ROUTE_H_
#define DYNOGUARD_WORKER_HTTP_ROUTE_H_

#include <httplib.h>

#include <functional>
#include <memory>
#include <string>

#include "common/config.h"
#include "common/json_writer.h"
#include "common/log.h"
#include "worker/outbound/message_request.h"

namespace dynoguard::worker {

using HttpHandler =
    std::function<void(const httplib::Request&, httplib::Response&)>;

enum RouteMethod : unsigned { kGet = 1, kPost = 2, kDelete = 4 };

// Public routes answer anyone; protected ones need API_KEY (or a local caller
// when no key is set).
enum class Access { kPublic, kProtected };

// What every guard reads. Both must outlive the server.
struct RouteContext {
  const common::Config* config = nullptr;
  const common::Logger* log = nullptr;
};

// Installs `handler`, guarded as above, for `methods` (RouteMethod bits) on
// `pattern` (an httplib regex). REQUIRES: before the server serves.
void AddRoute(httplib::Server& server, const RouteContext& context,
              const std::string& pattern, unsigned methods, Access access,
              HttpHandler handler);

// A handler that calls `fn` on the shared route-group object `group` (which
// the handler keeps alive).
template <typename Group>
HttpHandler Bind(std::shared_ptr<Group> group,
                 void (Group::*fn)(const httplib::Request&,
                                   httplib::Response&)) {
  return [group = std::move(group), fn](const httplib::Request& req,
                                        httplib::Response& res) {
    ((*group).*fn)(req, res);
  };
}

// `res` = `status` with the JSON body of `json`.
void SendJson(httplib::Response& res, int status,
              const common::JsonWriter& json);

// A refused request body: 400 with its code, message and field.
void SendRequestError(httplib::Response& res, const RequestError& error);

// False, answered 415 invalid_field naming Content-Type, unless the request
// says its body is JSON (IsJsonContentType).
bool RequireJsonBody(const httplib::Request& req, httplib::Response& res);

}  // namespace dynoguard::worker

#endif  // DYNOGUARD_WORKER_HTTP_ROUTE_H_
