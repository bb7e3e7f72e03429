#include "worker/metrics/supervisor_history.h"

#include <poll.h>
#include <rapidjson/document.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/poll_timeout.h"
#include "common/unique_fd.h"

namespace dynoguard::worker {
namespace {

using common::MemoryEvent;
using common::MemoryHistory;
using common::MemoryHistorySnapshot;
using common::MemoryPoint;
using common::Result;
using common::Status;
using common::UniqueFd;
using Clock = std::chrono::steady_clock;

// A full history is ~60 KB of JSON; anything much larger is not one.
constexpr size_t kMaxAnswerBytes = 1024 * 1024;

size_t MaxPoints() {
  size_t n = 0;
  for (const auto& ring : MemoryHistory::kRings) n += ring.capacity;
  return n;
}

std::string StringOr(const rapidjson::Value& object, const char* key,
                     std::string fallback) {
  auto it = object.FindMember(key);
  if (it == object.MemberEnd() || !it->value.IsString()) return fallback;
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

double NumberOr(const rapidjson::Value& object, const char* key,
                double fallback) {
  auto it = object.FindMember(key);
  if (it == object.MemberEnd() || !it->value.IsNumber()) return fallback;
  return it->value.GetDouble();
}

// Milliseconds left until `deadline`, at least 0.
int MsLeft(Clock::time_point deadline) {
  return common::PollTimeoutMs(deadline - Clock::now());
}

}  // namespace

Result<MemoryHistorySnapshot> ParseSupervisorHistory(std::string_view json) {
  rapidjson::Document d;
  d.Parse(json.data(), json.size());
  if (d.HasParseError() || !d.IsObject()) {
    return Status::InvalidArgument("history: not a JSON object");
  }
  auto ok = d.FindMember("ok");
  if (ok == d.MemberEnd() || !ok->value.IsBool() || !ok->value.GetBool()) {
    return Status::InvalidArgument("history refused: " +
                                   StringOr(d, "error", "no \"ok\":true"));
  }
  MemoryHistorySnapshot s;
  s.keeper = StringOr(d, "keeper", "supervisor");
  s.source = StringOr(d, "source", "");
  if (auto it = d.FindMember("now");
      it != d.MemberEnd() && it->value.IsInt64()) {
    s.now_ms = it->value.GetInt64();
  }
  if (auto it = d.FindMember("limit");
      it != d.MemberEnd() && it->value.IsUint64()) {
    s.limit_bytes = it->value.GetUint64();
  }
  if (auto it = d.FindMember("thresholds");
      it != d.MemberEnd() && it->value.IsObject()) {
    s.standard_percent = NumberOr(it->value, "standard", s.standard_percent);
    s.emergency_percent = NumberOr(it->value, "emergency", s.emergency_percent);
    s.restart_percent = NumberOr(it->value, "restart", s.restart_percent);
  }
  if (auto it = d.FindMember("points");
      it != d.MemberEnd() && it->value.IsArray()) {
    const size_t cap = MaxPoints();
    for (const auto& p : it->value.GetArray()) {
      if (s.points.size() >= cap) break;
      if (!p.IsArray() || p.Size() != 4 || !p[0].IsInt64() || !p[1].IsInt64() ||
          !p[2].IsUint64() || !p[3].IsUint64() || p[1].GetInt64() <= 0) {
        continue;
      }
      s.points.push_back(MemoryPoint{p[0].GetInt64(), p[1].GetInt64(),
                                     p[2].GetUint64(), p[3].GetUint64()});
    }
  }
  if (auto it = d.FindMember("events");
      it != d.MemberEnd() && it->value.IsArray()) {
    for (const auto& e : it->value.GetArray()) {
      if (s.events.size() >= MemoryHistory::kMaxEvents) break;
      if (!e.IsObject()) continue;
      auto kind = common::MemoryEventKindFromString(StringOr(e, "kind", ""));
      auto time = e.FindMember("time");
      if (!kind || time == e.MemberEnd() || !time->value.IsInt64()) continue;
      MemoryEvent event;
      event.time_ms = time->value.GetInt64();
      event.kind = *kind;
      event.detail = StringOr(e, "detail", "");
      if (event.detail.size() > MemoryHistory::kMaxDetail)
        event.detail.resize(MemoryHistory::kMaxDetail);
      if (auto b = e.FindMember("bytes");
          b != e.MemberEnd() && b->value.IsUint64()) {
        event.bytes = b->value.GetUint64();
      }
      s.events.push_back(std::move(event));
    }
  }
  return s;
}

Result<MemoryHistorySnapshot> FetchSupervisorHistory(
    const std::string& socket_path, std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  sockaddr_un address{};
  if (socket_path.empty() || socket_path.size() >= sizeof address.sun_path) {
    return Status::InvalidArgument("control socket path empty or too long");
  }
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, socket_path.data(), socket_path.size());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return Status::IOError("socket", std::strerror(errno));
  // A unix stream connect does not block for long: the supervisor's backlog
  // answers at once, a missing socket file fails at once.
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address),
                sizeof address) != 0) {
    return Status::Unavailable("no supervisor on " + socket_path + ": " +
                               std::strerror(errno));
  }
  static constexpr std::string_view kRequest = "history\n";
  if (::send(fd.get(), kRequest.data(), kRequest.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(kRequest.size())) {
    return Status::IOError("send to " + socket_path, std::strerror(errno));
  }
  std::string answer;
  char buffer[16384];
  for (;;) {
    pollfd pfd{fd.get(), POLLIN, 0};
    int ready = ::poll(&pfd, 1, MsLeft(deadline));
    if (ready == 0) return Status::IOError(socket_path, "history timed out");
    if (ready < 0) {
      if (errno == EINTR) continue;
      return Status::IOError("poll " + socket_path, std::strerror(errno));
    }
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return Status::IOError("read " + socket_path, std::strerror(errno));
    }
    if (n == 0) break;
    answer.append(buffer, static_cast<size_t>(n));
    if (answer.size() > kMaxAnswerBytes) {
      return Status::IOError(socket_path, "history answer too large");
    }
  }
  while (!answer.empty() && answer.back() == '\n') answer.pop_back();
  return ParseSupervisorHistory(answer);
}

}  // namespace dynoguard::worker
