#include "common/memory_history.h"

#include <algorithm>
#include <cstring>

#include "common/json_writer.h"

namespace dynoguard::common {
namespace {

constexpr uint64_t kKib = 1024;

uint32_t ToKib(uint64_t bytes) {
  uint64_t kib = (bytes + kKib / 2) / kKib;
  return static_cast<uint32_t>(std::min<uint64_t>(kib, UINT32_MAX));
}

bool DetailCharAllowed(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '=' || c == '.' || c == '_' || c == '-';
}

// The bucket of a ring that `time_ms` falls in starts at this multiple of its
// width (floor, also for times before the epoch).
int64_t BucketStart(int64_t time_ms, int64_t width_ms) {
  int64_t q = time_ms / width_ms;
  if (time_ms % width_ms != 0 && time_ms < 0) --q;
  return q * width_ms;
}

}  // namespace

std::string_view ToString(MemoryEventKind kind) {
  switch (kind) {
    case MemoryEventKind::kWorkerStart:
      return "start";
    case MemoryEventKind::kStandardCleanup:
      return "cleanup-standard";
    case MemoryEventKind::kEmergencyCleanup:
      return "cleanup-emergency";
    case MemoryEventKind::kRestart:
      return "restart";
    case MemoryEventKind::kExit:
      return "exit";
  }
  return "start";
}

std::optional<MemoryEventKind> MemoryEventKindFromString(
    std::string_view name) {
  for (MemoryEventKind kind :
       {MemoryEventKind::kWorkerStart, MemoryEventKind::kStandardCleanup,
        MemoryEventKind::kEmergencyCleanup, MemoryEventKind::kRestart,
        MemoryEventKind::kExit}) {
    if (ToString(kind) == name) return kind;
  }
  return std::nullopt;
}

MemoryHistory::MemoryHistory() {
  for (size_t i = 0; i < kRings.size(); ++i) {
    rings_[i].buckets.resize(kRings[i].capacity);
  }
  events_.resize(kMaxEvents);
}

void MemoryHistory::AddSample(int64_t now_ms, uint64_t bytes) {
  const uint32_t kib = ToKib(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  last_kib_ = kib;
  if (!first_sample_ms_) first_sample_ms_ = now_ms;
  for (size_t i = 0; i < kRings.size(); ++i) {
    RingState& ring = rings_[i];
    const int64_t width = kRings[i].width_ms;
    const size_t capacity = ring.buckets.size();
    if (ring.size > 0) {
      Bucket& newest = ring.buckets[(ring.head + ring.size - 1) % capacity];
      // Same bucket, or a clock that stepped back: into the newest one.
      if (now_ms < newest.start_ms + width) {
        newest.min_kib = std::min(newest.min_kib, kib);
        newest.max_kib = std::max(newest.max_kib, kib);
        continue;
      }
    }
    Bucket fresh{BucketStart(now_ms, width), kib, kib};
    if (ring.size < capacity) {
      ring.buckets[(ring.head + ring.size) % capacity] = fresh;
      ++ring.size;
    } else {
      ring.buckets[ring.head] = fresh;
      ring.head = (ring.head + 1) % capacity;
    }
  }
}

void MemoryHistory::AddEvent(int64_t now_ms, MemoryEventKind kind,
                             std::string_view detail, uint64_t bytes) {
  StoredEvent event{};
  event.time_ms = now_ms;
  event.kind = kind;
  event.detail_size = static_cast<uint8_t>(std::min(detail.size(), kMaxDetail));
  for (size_t i = 0; i < event.detail_size; ++i) {
    event.detail[i] = DetailCharAllowed(detail[i]) ? detail[i] : '_';
  }
  std::lock_guard<std::mutex> lock(mu_);
  event.kib = bytes != 0 ? ToKib(bytes) : last_kib_;
  if (events_size_ < kMaxEvents) {
    events_[(events_head_ + events_size_) % kMaxEvents] = event;
    ++events_size_;
  } else {
    events_[events_head_] = event;
    events_head_ = (events_head_ + 1) % kMaxEvents;
  }
}

MemoryHistorySnapshot MemoryHistory::Snapshot() const {
  MemoryHistorySnapshot out;
  std::lock_guard<std::mutex> lock(mu_);
  size_t total = 0;
  for (const RingState& ring : rings_) total += ring.size;
  out.points.reserve(total);
  // Coarsest first, each ring only before the first bucket of the next finer
  // one, so the series is in time order without overlaps.
  for (size_t r = kRings.size(); r-- > 0;) {
    const RingState& ring = rings_[r];
    std::optional<int64_t> finer_start;
    for (size_t f = r; f-- > 0;) {
      if (rings_[f].size > 0) {
        int64_t start = std::max(rings_[f].buckets[rings_[f].head].start_ms,
                                 first_sample_ms_.value_or(0));
        finer_start = finer_start ? std::min(*finer_start, start) : start;
      }
    }
    for (size_t i = 0; i < ring.size; ++i) {
      const Bucket& b = ring.buckets[(ring.head + i) % ring.buckets.size()];
      int64_t start = std::max(b.start_ms, first_sample_ms_.value_or(0));
      if (finer_start && start >= *finer_start) break;
      out.points.push_back(MemoryPoint{start, kRings[r].width_ms,
                                       uint64_t{b.min_kib} * kKib,
                                       uint64_t{b.max_kib} * kKib});
    }
  }
  out.events.reserve(events_size_);
  for (size_t i = 0; i < events_size_; ++i) {
    const StoredEvent& e = events_[(events_head_ + i) % kMaxEvents];
    out.events.push_back(MemoryEvent{e.time_ms, e.kind,
                                     std::string(e.detail, e.detail_size),
                                     uint64_t{e.kib} * kKib});
  }
  return out;
}

size_t MemoryHistory::FootprintBytes() {
  size_t bytes = sizeof(MemoryHistory);
  for (const Ring& ring : kRings) bytes += ring.capacity * sizeof(Bucket);
  bytes += kMaxEvents * sizeof(StoredEvent);
  return bytes;
}

std::string MemoryHistoryJson(const MemoryHistorySnapshot& s) {
  JsonWriter w;
  w.StartObject();
  w.Key("ok").Bool(true);
  w.Key("keeper").String(s.keeper);
  w.Key("source").String(s.source);
  w.Key("now").Int(s.now_ms);
  w.Key("limit").Uint(s.limit_bytes);
  w.Key("thresholds").StartObject();
  w.Key("standard").Double(s.standard_percent);
  w.Key("emergency").Double(s.emergency_percent);
  w.Key("restart").Double(s.restart_percent);
  w.EndObject();
  w.Key("points").StartArray();
  for (const MemoryPoint& p : s.points) {
    w.StartArray()
        .Int(p.time_ms)
        .Int(p.width_ms)
        .Uint(p.min_bytes)
        .Uint(p.max_bytes)
        .EndArray();
  }
  w.EndArray();
  w.Key("events").StartArray();
  for (const MemoryEvent& e : s.events) {
    w.StartObject();
    w.Key("time").Int(e.time_ms);
    w.Key("kind").String(ToString(e.kind));
    w.Key("detail").String(e.detail);
    w.Key("bytes").Uint(e.bytes);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return w.str();
}

}  // namespace dynoguard::common
