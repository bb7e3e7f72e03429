#include "worker/http/transport_error.h"

#include <string>

#include "worker/http/api_error.h"

namespace dynoguard::worker {

void SendTransportError(httplib::Response& res, const common::Status& status,
                        std::string_view what) {
  const std::string message = std::string(what) + ": " + status.message();
  switch (status.code()) {
    case common::Status::Code::kNotFound:
      SendError(res, 404, api_error::kNotFound, message);
      return;
    case common::Status::Code::kUnavailable:
      SendError(res, 503, api_error::kUnavailable, message);
      return;
    default:
      SendError(res, 502, api_error::kUnavailable, message);
      return;
  }
}

void SendTransportTimeout(httplib::Response& res, std::string_view what) {
  SendError(
      res, 504, api_error::kUnavailable,
      std::string(what) + ": the transport did not answer in time; try again");
}

}  // namespace dynoguard::worker
