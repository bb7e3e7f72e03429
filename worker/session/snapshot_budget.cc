#include "worker/session/snapshot_budget.h"

#include <algorithm>
#include <array>
#include <optional>
#include <vector>

#include "worker/session/snapshot_codec.h"
#include "worker/session/snapshot_json.h"

namespace dynoguard::worker {
namespace {

// The droppable lists in the order they are dropped from.
constexpr size_t kLists = 5;  // seen, windows, awaiting_status, inbox, outbox

// Stops refining once the document fills this share of the cap.
constexpr double kCloseEnough = 0.99;
// Encodes of the whole state at most (then the best fit found is taken).
constexpr int kMaxEncodes = 8;

// Drops the first `count` entries of `v`.
template <typename T>
void DropFront(std::vector<T>* v, size_t count) {
  v->erase(v->begin(), v->begin() + static_cast<std::ptrdiff_t>(count));
}

// How many of each list the first `k` droppable entries (in order) are.
std::array<size_t, kLists> Split(size_t k,
                                 const std::array<size_t, kLists>& sizes) {
  std::array<size_t, kLists> out{};
  for (size_t i = 0; i < kLists; ++i) {
    out[i] = std::min(k, sizes[i]);
    k -= out[i];
  }
  return out;
}

// `state` without the first `k` droppable entries.
SessionState Without(const SessionState& state, size_t k) {
  const std::array<size_t, kLists> n = Split(
      k, {state.seen.size(), state.windows.size(), state.awaiting_status.size(),
          state.inbox.size(), state.outbox.size()});
  SessionState s = state;
  DropFront(&s.seen, n[0]);
  DropFront(&s.windows, n[1]);
  DropFront(&s.awaiting_status, n[2]);
  DropFront(&s.inbox, n[3]);
  DropFront(&s.outbox, n[4]);
  return s;
}

// Document bytes per byte of raw JSON of list `index` of `state`: the
// document of that list alone against an empty one's. Lists compress
// differently (dedup keys hardly, webhook bodies very well), so one average
// would drop far too much or too little.
double ListCost(const SessionState& state, size_t index,
                const std::vector<size_t>& sizes, const SnapshotKey* key) {
  SessionState only;
  switch (index) {
    case 0:
      only.seen = state.seen;
      break;
    case 1:
      only.windows = state.windows;
      break;
    case 2:
      only.awaiting_status = state.awaiting_status;
      break;
    case 3:
      only.inbox = state.inbox;
      break;
    default:
      only.outbox = state.outbox;
      break;
  }
  size_t raw = 0;
  for (size_t size : sizes) raw += size;
  common::Result<std::string> with = EncodeSnapshot(only, key);
  common::Result<std::string> without = EncodeSnapshot(SessionState{}, key);
  if (!with.ok() || !without.ok() || raw == 0 ||
      with->size() <= without->size()) {
    return 1.0;
  }
  return static_cast<double>(with->size() - without->size()) /
         static_cast<double>(raw);
}

}  // namespace

common::Result<std::string> EncodeWithinBudget(SessionState* state,
                                               const SnapshotKey* key,
                                               size_t max_bytes,
                                               FitReport* report) {
  FitReport local;
  FitReport& r = report != nullptr ? *report : local;
  r = FitReport{};
  common::Result<std::string> doc = EncodeSnapshot(*state, key);
  r.encodes = 1;
  if (!doc.ok()) return doc;
  if (doc->size() <= max_bytes) {
    r.bytes = doc->size();
    return doc;
  }

  // The estimated saving of dropping the first k entries: each entry's JSON
  // size times its list's cost. cumulative[k], k = 0 … total.
  const EntrySizes sizes = JsonEntrySizes(*state);
  const std::vector<size_t>* lists[kLists] = {&sizes.seen, &sizes.windows,
                                              &sizes.awaiting_status,
                                              &sizes.inbox, &sizes.outbox};
  std::vector<double> cumulative = {0.0};
  for (size_t i = 0; i < kLists; ++i) {
    if (lists[i]->empty()) continue;
    const double cost = ListCost(*state, i, *lists[i], key);
    for (size_t size : *lists[i]) {
      cumulative.push_back(cumulative.back() +
                           static_cast<double>(size) * cost);
    }
  }
  const size_t total = cumulative.size() - 1;
  // The smallest k whose estimated saving reaches `saving`.
  auto k_for = [&](double saving, size_t lo, size_t hi) {
    const size_t k = static_cast<size_t>(
        std::lower_bound(cumulative.begin(), cumulative.end(), saving) -
        cumulative.begin());
    return std::clamp(k, lo, hi);
  };

  // Search k between lo (known too large) and hi (known to fit, once
  // found): first by the estimate, then by interpolating between what the
  // encodes measured (the estimate is off by the entries' compression
  // against each other). Aim a little under the cap.
  const double aim = static_cast<double>(max_bytes) * 0.995;
  size_t lo = 0;
  double lo_size = static_cast<double>(doc->size());
  std::optional<size_t> hi;
  double hi_size = 0;
  std::string hi_doc;
  double scale = 1.0;  // measured saving / estimated saving
  double margin = 1.0;
  while (r.encodes < kMaxEncodes && lo < total) {
    size_t k;
    if (!hi) {
      const double need = (lo_size - aim) / scale * margin;
      k = k_for(cumulative[lo] + need, lo + 1, total);
      margin *= 1.5;
    } else {
      const double t = (lo_size - aim) / (lo_size - hi_size);
      k = k_for(cumulative[lo] + (cumulative[*hi] - cumulative[lo]) * t, lo + 1,
                *hi - 1);
    }
    SessionState candidate = Without(*state, k);
    doc = EncodeSnapshot(candidate, key);
    ++r.encodes;
    if (!doc.ok()) return doc;
    const double size = static_cast<double>(doc->size());
    if (cumulative[k] > cumulative[lo]) {
      scale = std::clamp((lo_size - size) / (cumulative[k] - cumulative[lo]),
                         0.05, 20.0);
    }
    if (doc->size() <= max_bytes) {
      hi = k;
      hi_size = size;
      hi_doc = std::move(*doc);
    } else {
      lo = k;
      lo_size = size;
    }
    if (hi && (*hi - lo <= 1 || hi_size >= kCloseEnough * max_bytes)) break;
  }
  if (!hi) {
    // Not found within the encodes allowed, or nothing left to drop.
    hi = total;
    if (lo != total) {
      doc = EncodeSnapshot(Without(*state, total), key);
      ++r.encodes;
      if (!doc.ok()) return doc;
    }
    hi_doc = std::move(*doc);
    r.pending_over_cap = hi_doc.size() > max_bytes;
  }
  const std::array<size_t, kLists> n =
      Split(*hi, {state->seen.size(), state->windows.size(),
                  state->awaiting_status.size(), state->inbox.size(),
                  state->outbox.size()});
  *state = Without(*state, *hi);
  r.dropped.seen = n[0];
  r.dropped.windows = n[1];
  r.dropped.awaiting_status = n[2];
  r.dropped.inbox = n[3];
  r.dropped.outbox = n[4];
  r.bytes = hi_doc.size();
  return hi_doc;
}

}  // namespace dynoguard::worker
