#include "worker/session/stores/mongo_error.h"

#include <mongoc/mongoc.h>

#include <algorithm>

namespace dynoguard::worker {
namespace {

constexpr size_t kMinSecret = 4;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      int hi = HexValue(text[i + 1]);
      int lo = HexValue(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

void AddSecret(std::vector<std::string>& secrets, std::string secret) {
  if (secret.size() < kMinSecret) return;
  if (std::find(secrets.begin(), secrets.end(), secret) != secrets.end()) {
    return;
  }
  secrets.push_back(std::move(secret));
}

// Server error codes that mean "try again later": HostUnreachable 6,
// HostNotFound 7, NetworkTimeout 89, ShutdownInProgress 91, PrimarySteppedDown
// 189, ExceededTimeLimit 262, SocketException 9001, NotWritablePrimary 10107,
// InterruptedAtShutdown 11600, InterruptedDueToReplStateChange 11602,
// NotPrimaryNoSecondaryOk 13435, NotPrimaryOrSecondary 13436, MaxTimeMSExpired
// 50, a write concern that timed out 64.
bool IsTransientServerCode(uint32_t code) {
  switch (code) {
    case 6:
    case 7:
    case 50:
    case 64:
    case 89:
    case 91:
    case 189:
    case 262:
    case 9001:
    case 10107:
    case 11600:
    case 11602:
    case 13435:
    case 13436:
      return true;
    default:
      return false;
  }
}

// AuthenticationFailed 18, Unauthorized 13, Atlas's AtlasError 8000 ("bad
// auth : Authentication failed.").
bool IsAuthServerCode(uint32_t code) {
  return code == 18 || code == 13 || code == 8000;
}

}  // namespace

std::vector<std::string> MongoUriSecrets(std::string_view uri) {
  std::vector<std::string> secrets;
  // The whole URI, always: its options may carry credentials too
  // (authMechanismProperties=AWS_SESSION_TOKEN:…).
  AddSecret(secrets, std::string(uri));
  size_t scheme = uri.find("://");
  if (scheme == std::string_view::npos) return secrets;
  std::string_view rest = uri.substr(scheme + 3);
  // The user info ends at the last '@' before the query (a password may
  // hold '/' or '@' when written unencoded; libmongoc refuses that, but its
  // error must not print it either).
  size_t query = rest.find('?');
  std::string_view authority = rest.substr(0, query);
  size_t at = authority.rfind('@');
  if (at == std::string_view::npos) return secrets;
  std::string_view userinfo = rest.substr(0, at);
  AddSecret(secrets, std::string(userinfo));
  size_t colon = userinfo.find(':');
  if (colon != std::string_view::npos) {
    std::string_view password = userinfo.substr(colon + 1);
    AddSecret(secrets, std::string(password));
    AddSecret(secrets, PercentDecode(password));
  }
  // Longest first, so a password inside the user info is not cut in two.
  std::sort(secrets.begin(), secrets.end(),
            [](const std::string& a, const std::string& b) {
              return a.size() > b.size();
            });
  return secrets;
}

std::string ScrubMongoSecrets(std::string message,
                              const std::vector<std::string>& secrets) {
  static constexpr std::string_view kRedacted = "[redacted]";
  for (const std::string& secret : secrets) {
    if (secret.empty()) continue;
    size_t pos = 0;
    while ((pos = message.find(secret, pos)) != std::string::npos) {
      message.replace(pos, secret.size(), kRedacted);
      pos += kRedacted.size();
    }
  }
  return message;
}

common::Status ClassifyMongoError(const bson_error_t& error,
                                  std::string_view action,
                                  const std::vector<std::string>& secrets) {
  const std::string detail = ScrubMongoSecrets(error.message, secrets);
  const std::string prefix = "mongodb " + std::string(action) + ": ";
  auto with = [&](std::string_view what) {
    return prefix + std::string(what) + " (" + detail + ")";
  };
  const uint32_t domain = error.domain;
  const uint32_t code = error.code;

  if (code == MONGOC_ERROR_DUPLICATE_KEY &&
      (domain == MONGOC_ERROR_SERVER || domain == MONGOC_ERROR_COLLECTION ||
       domain == MONGOC_ERROR_COMMAND || domain == MONGOC_ERROR_QUERY)) {
    return common::Status::FailedPrecondition(
        with("a snapshot of this session with a sequence not lower than ours "
             "is stored; kept it"));
  }
  if ((domain == MONGOC_ERROR_CLIENT &&
       code == MONGOC_ERROR_CLIENT_AUTHENTICATE) ||
      domain == MONGOC_ERROR_SASL || domain == MONGOC_ERROR_SCRAM ||
      ((domain == MONGOC_ERROR_SERVER || domain == MONGOC_ERROR_QUERY ||
        domain == MONGOC_ERROR_COMMAND) &&
       IsAuthServerCode(code))) {
    return common::Status::PermissionDenied(
        with("authentication failed: check the user, password and "
             "authSource in MONGODB_URI"));
  }
  switch (domain) {
    case MONGOC_ERROR_SERVER_SELECTION:
      if (code == MONGOC_ERROR_SERVER_SELECTION_BAD_WIRE_VERSION) {
        return common::Status::InvalidArgument(
            with("the server's version is not supported"));
      }
      return common::Status::Unavailable(with("server unreachable"));
    case MONGOC_ERROR_STREAM:
      return common::Status::Unavailable(with("network error or timeout"));
    case MONGOC_ERROR_PROTOCOL:
      if (code == MONGOC_ERROR_PROTOCOL_BAD_WIRE_VERSION) {
        return common::Status::InvalidArgument(
            with("the server's version is not supported"));
      }
      return common::Status::Unavailable(with("bad reply from the server"));
    case MONGOC_ERROR_CLIENT:
      if (code == MONGOC_ERROR_CLIENT_TOO_BIG) {
        return common::Status::InvalidArgument(
            with("the document is too large for the server"));
      }
      if (code == MONGOC_ERROR_CLIENT_NOT_READY ||
          code == MONGOC_ERROR_CLIENT_NO_ACCEPTABLE_PEER) {
        return common::Status::Unavailable(with("server unreachable"));
      }
      break;
    case MONGOC_ERROR_WRITE_CONCERN:
      return common::Status::Unavailable(with("write concern not satisfied"));
    case MONGOC_ERROR_SERVER:
    case MONGOC_ERROR_QUERY:
    case MONGOC_ERROR_COMMAND:
    case MONGOC_ERROR_COLLECTION:
      if (IsTransientServerCode(code)) {
        return common::Status::Unavailable(with("server busy or failing over"));
      }
      break;
    default:
      break;
  }
  return common::Status::InvalidArgument(with("refused"));
}

}  // namespace dynoguard::worker
