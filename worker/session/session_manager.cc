#include "worker/session/session_manager.h"

#include <sys/stat.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "common/byte_size.h"
#include "worker/memory/malloc_tuning.h"
#include "worker/session/session_collector.h"
#include "worker/session/session_merge.h"
#include "worker/session/snapshot_budget.h"
#include "worker/session/snapshot_codec.h"
#include "worker/storage/atomic_file.h"

namespace dynoguard::worker {

using common::Result;
using common::Status;

// What the restore loaded from each store (loop thread).
struct SessionManager::Loaded {
  bool file_done = false;
  bool remote_done = false;
  Result<std::optional<std::string>> file = std::optional<std::string>();
  Result<std::optional<std::string>> remote = std::optional<std::string>();
};

// One snapshot made on the manager's thread, handed to the loop.
struct SessionManager::Encoded {
  Status error;  // the collect or encode failure; then nothing else is set
  std::string digest;
  bool need_file = false;
  bool need_remote = false;
  std::string document;
  uint64_t sequence = 0;
  FitReport fit;
  size_t pending = 0;
  // The pending messages alone passed SESSION_MAX_BYTES while they were
  // read: nothing was encoded (`pending` is the queue's depth).
  bool pending_over_cap = false;
};

namespace {

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// "{}" with any whitespace: what a JSONBin bin made by hand holds.
bool IsEmptyRecord(std::string_view doc) {
  std::string compact;
  for (char ch : doc) {
    if (ch != ' ' && ch != '\n' && ch != '\r' && ch != '\t') compact += ch;
    if (compact.size() > 2) return false;
  }
  return compact == "{}";
}

// One decoded candidate of the restore.
struct Candidate {
  std::string store;
  std::optional<SessionState> state;
  uint64_t sequence = 0;
};

// "3 pending, 12 seen, …" of the non-zero parts of `c`.
std::string Describe(const SessionCounts& c) {
  std::string out;
  auto add = [&](size_t n, const char* what) {
    if (n == 0) return;
    if (!out.empty()) out += ", ";
    out += std::to_string(n) + " " + what;
  };
  add(c.pending, "pending");
  add(c.awaiting_status, "awaiting a status");
  add(c.inbox, "inbox");
  add(c.outbox, "outbox");
  add(c.seen, "seen");
  add(c.windows, "windows");
  return out.empty() ? "nothing" : out;
}

}  // namespace

SessionManager::SessionManager(uv_loop_t* loop, Options options,
                               SessionSources sources,
                               std::unique_ptr<SessionStore> file,
                               std::unique_ptr<SessionStore> remote,
                               PostToLoop post, const common::Logger& log)
    : loop_(loop),
      options_(std::move(options)),
      sources_(std::move(sources)),
      file_(std::move(file)),
      remote_(options_.backup_enabled ? std::move(remote) : nullptr),
      post_(std::move(post)),
      log_(log),
      thread_(std::make_unique<StoreThread>("session")),
      remote_policy_(options_.remote_policy) {
  report_.name = options_.name;
  report_.storage = options_.storage;
  report_.encrypted = options_.key.has_value();
  report_.backup_enabled = options_.backup_enabled;

  timer_ = new uv_timer_t;
  uv_timer_init(loop_, timer_);
  timer_->data = this;
  restore_timer_ = new uv_timer_t;
  uv_timer_init(loop_, restore_timer_);
  restore_timer_->data = this;
  request_async_ = new uv_async_t;
  uv_async_init(loop_, request_async_, [](uv_async_t* a) {
    static_cast<SessionManager*>(a->data)->Cycle(false, nullptr);
  });
  request_async_->data = this;
}

SessionManager::~SessionManager() { Close(); }

bool SessionManager::Post(std::function<void()> task) {
  return post_(std::move(task));
}

void SessionManager::Restore(std::function<void()> done) {
  restore_done_ = std::move(done);
  auto loading = std::make_shared<Loaded>();
  loading_ = loading;
  file_->Load([this, loading](Result<std::optional<std::string>> r) {
    if (closed_ || loading_ != loading) return;
    loading->file = std::move(r);
    loading->file_done = true;
    FinishLoads();
  });
  if (remote_ == nullptr) {
    loading->remote_done = true;
    return;
  }
  remote_->Load([this, loading](Result<std::optional<std::string>> r) {
    if (closed_ || loading_ != loading || loading->remote_done) return;
    loading->remote = std::move(r);
    loading->remote_done = true;
    FinishLoads();
  });
  uv_timer_start(
      restore_timer_,
      [](uv_timer_t* t) {
        auto* self = static_cast<SessionManager*>(t->data);
        if (self->loading_ == nullptr || self->loading_->remote_done) return;
        self->loading_->remote = Status::Unavailable(
            std::string(self->remote_->kind()) + ": no answer within " +
            std::to_string(self->options_.restore_timeout.count() / 1000) +
            " s");
        self->loading_->remote_done = true;
        self->FinishLoads();
      },
      static_cast<uint64_t>(options_.restore_timeout.count()), 0);
}

void SessionManager::FinishLoads() {
  if (loading_ == nullptr || !loading_->file_done || !loading_->remote_done)
    return;
  uv_timer_stop(restore_timer_);
  std::shared_ptr<Loaded> loaded = std::move(loading_);
  loading_.reset();
  const std::string remote_kind =
      remote_ ? std::string(remote_->kind()) : std::string();
  // Decoding and merging write SQLite and take milliseconds: off the loop.
  bool submitted = thread_->Submit([this, loaded, remote_kind] {
    const SnapshotKey* key = options_.key ? &*options_.key : nullptr;
    const int64_t now = options_.now_ms();
    std::vector<std::string> notes;
    std::vector<Candidate> candidates;
    uint64_t highest = 0;
    auto consider = [&](const std::string& store,
                        const Result<std::optional<std::string>>& loaded_doc) {
      if (!loaded_doc.ok() && store == "file") {
        // The local file: unreadable or too large, not "unreachable".
        notes.push_back("file refused: " + loaded_doc.status().message());
        log_.Error(
            "session-snapshot-invalid",
            {{"store", store}, {"error", loaded_doc.status().message()}});
        return;
      }
      if (!loaded_doc.ok()) {
        notes.push_back(store +
                        " unreachable: " + loaded_doc.status().message());
        log_.Warn("session-store-unreachable",
                  {{"store", store}, {"error", loaded_doc.status().message()}});
        return;
      }
      if (!loaded_doc.value()) {
        notes.push_back(store + ": no snapshot");
        return;
      }
      const std::string& doc = *loaded_doc.value();
      if (IsEmptyRecord(doc)) {
        // A bin made by hand holds "{}" until the first backup.
        notes.push_back(store + ": no snapshot (an empty record)");
        return;
      }
      auto header = ReadSnapshotHeader(doc);
      if (header.ok()) highest = std::max(highest, header->sequence);
      auto state = DecodeSnapshot(doc, key);
      if (state.ok() && state->name != options_.name) {
        state = Status::InvalidArgument("the snapshot is of session '" +
                                        state->name + "', not '" +
                                        options_.name + "' (SESSION_NAME)");
      }
      if (!state.ok()) {
        notes.push_back(store +
                        " snapshot refused: " + state.status().message());
        log_.Error("session-snapshot-invalid",
                   {{"store", store}, {"error", state.status().message()}});
        return;
      }
      Candidate c;
      c.store = store;
      c.sequence = state->sequence;
      c.state = std::move(state.value());
      candidates.push_back(std::move(c));
    };
    consider("file", loaded->file);
    if (!remote_kind.empty()) consider(remote_kind, loaded->remote);

    auto best = std::max_element(candidates.begin(), candidates.end(),
                                 [](const Candidate& a, const Candidate& b) {
                                   return a.sequence < b.sequence;
                                 });
    std::string from;
    std::string detail;
    SessionCounts restored;
    SessionCounts skipped;
    bool merged_ok = true;
    if (FileExists(options_.marker_path)) {
      from = "local";
      detail = "DATA_DIR kept the state of the previous instance";
    } else if (best == candidates.end()) {
      from = "fresh";
      detail = "no valid snapshot";
    } else {
      auto merged = MergeSession(*best->state, sources_, now);
      if (!merged.ok()) {
        merged_ok = false;
        from = "fresh";
        detail = "merging the " + best->store +
                 " snapshot failed: " + merged.status().message();
        log_.Error(
            "session-restore-failed",
            {{"store", best->store}, {"error", merged.status().message()}});
      } else {
        from = best->store;
        restored = merged->restored;
        skipped = merged->skipped;
        detail = "sequence " + std::to_string(best->sequence) + ": " +
                 Describe(restored) + " restored";
        if (skipped.pending + skipped.outbox > 0) {
          detail += " (" + Describe(skipped) + " already there or expired)";
        }
      }
    }
    for (const std::string& note : notes) detail += "; " + note;
    if (merged_ok) {
      Status marker = storage::WriteFileAtomically(
          options_.marker_path, "{\"restoredFrom\":\"" + from +
                                    "\",\"at\":" + std::to_string(now) + "}\n");
      if (!marker.ok()) {
        log_.Error("session-marker-failed", {{"error", marker.message()}});
      }
    }
    const bool remote_failed = !remote_kind.empty() && !loaded->remote.ok();
    Post([this, from, detail, highest, restored, remote_failed] {
      if (closed_) return;
      next_sequence_ = std::max(next_sequence_, highest + 1);
      {
        std::lock_guard<std::mutex> lock(mu_);
        report_.restored_from = from;
        report_.restore_detail = detail;
        report_.sequence = highest;
        report_.remote_failing = remote_failed;
      }
      if (from == "local" || from == "fresh") {
        log_.Info("session-start", {{"from", from}, {"", detail}});
      } else {
        log_.Info("session-restored",
                  {{"from", from},
                   {"pending", static_cast<int64_t>(restored.pending)},
                   {"outbox", static_cast<int64_t>(restored.outbox)},
                   {"seen", static_cast<int64_t>(restored.seen)},
                   {"", detail}});
      }
      if (restore_done_) {
        auto done = std::move(restore_done_);
        restore_done_ = nullptr;
        done();
      }
    });
  });
  if (!submitted && restore_done_) {
    auto done = std::move(restore_done_);
    restore_done_ = nullptr;
    done();
  }
}

void SessionManager::StartAutosave() {
  if (closed_) return;
  const auto period = static_cast<uint64_t>(
      std::max<int64_t>(1000, options_.autosave_period.count()));
  uv_timer_start(
      timer_,
      [](uv_timer_t* t) {
        static_cast<SessionManager*>(t->data)->Cycle(false, nullptr);
      },
      period, period);
}

void SessionManager::RequestBackup(std::string_view why) {
  (void)why;
  uv_async_send(request_async_);
}

void SessionManager::FinalBackup(std::function<void()> done) {
  if (closed_) {
    if (done) done();
    return;
  }
  uv_timer_stop(timer_);
  Cycle(true, [this, done = std::move(done)] {
    SessionReport report = Report();
    log_.Info("session-final-backup",
              {{"sequence", static_cast<int64_t>(report.sequence)},
               {"file", report.last_file ? report.last_file->result : "none"},
               {"remote", report.last_remote ? report.last_remote->result
                          : remote_          ? "not written"
                                             : "none"}});
    if (done) done();
  });
}

void SessionManager::Cycle(bool final, std::function<void()> done) {
  if (closed_) {
    if (done) done();
    return;
  }
  if (busy_) {
    if (final) {
      after_busy_ = [this, done = std::move(done)] { Cycle(true, done); };
    } else if (done) {
      done();
    }
    return;
  }
  busy_ = true;
  const int64_t now = options_.now_ms();
  const bool remote_wanted =
      remote_ != nullptr && (final || remote_policy_.Due(now));
  const std::string file_digest = file_digest_;
  const std::string remote_digest = remote_digest_;
  const uint64_t sequence = next_sequence_;
  bool submitted = thread_->Submit([this, final, done, now, remote_wanted,
                                    file_digest, remote_digest, sequence] {
    auto encoded = std::make_shared<Encoded>();
    CollectLimits limits;
    limits.pending_max_bytes = options_.max_bytes;
    CollectReport collected;
    auto state = CollectSession(sources_, now, limits, &collected);
    if (!state.ok()) {
      encoded->error = state.status();
    } else if (collected.pending_over_cap) {
      encoded->pending_over_cap = true;
      auto stats = sources_.queue->Stats();
      if (stats.ok()) encoded->pending = static_cast<size_t>(stats->depth);
    } else {
      state->name = options_.name;
      state->transport = options_.transport;
      state->sequence = sequence;
      // The digest leaves out what changes without anything to save (the
      // heartbeat's time, counters).
      ConnectionFacts facts = std::move(state->connection);
      auto counters = std::move(state->counters);
      state->connection = ConnectionFacts();
      state->counters.clear();
      encoded->digest = StateDigest(*state);
      state->connection = std::move(facts);
      state->counters = std::move(counters);
      // An empty digest (SHA-256 failed) is unknown: save.
      const bool unknown = encoded->digest.empty();
      encoded->need_file = unknown || encoded->digest != file_digest;
      encoded->need_remote =
          remote_wanted && (unknown || encoded->digest != remote_digest);
      encoded->pending = state->pending.size();
      if (encoded->need_file || encoded->need_remote) {
        const SnapshotKey* key = options_.key ? &*options_.key : nullptr;
        auto doc =
            EncodeWithinBudget(&*state, key, options_.max_bytes, &encoded->fit);
        if (!doc.ok()) {
          encoded->error = doc.status();
        } else {
          encoded->document = std::move(doc.value());
          encoded->sequence = sequence;
        }
      }
    }
    // Free the collected state (the document lives on in `encoded`) and
    // hand the pages back: a snapshot of thousands of messages is
    // megabytes, made every autosave while the queue changes.
    if (state.ok()) *state = SessionState();
    (void)ReleaseFreeHeap();
    Post([this, encoded, final, done] { OnEncoded(encoded, final, done); });
  });
  if (!submitted) CycleDone(std::move(done));
}

void SessionManager::OnEncoded(std::shared_ptr<Encoded> encoded, bool final,
                               std::function<void()> done) {
  if (closed_) {
    CycleDone(std::move(done));
    return;
  }
  (void) final;
  if (!encoded->error.ok()) {
    // A warning, once per failing spell: a store that cannot be read (a full
    // disk, a corrupt queue) reports its own error; the session follows it.
    if (!collect_failing_) {
      log_.Warn("session-snapshot-failed",
                {{"error", encoded->error.message()},
                 {"", "the last snapshot is kept; retried at every autosave"}});
    }
    collect_failing_ = true;
    CycleDone(std::move(done));
    return;
  }
  collect_failing_ = false;
  if (encoded->pending_over_cap) {
    OnPendingOverCap(*encoded);
    CycleDone(std::move(done));
    return;
  }
  if (!encoded->need_file && !encoded->need_remote) {
    CycleDone(std::move(done));
    return;
  }
  next_sequence_ = std::max(next_sequence_, encoded->sequence + 1);
  {
    std::lock_guard<std::mutex> lock(mu_);
    report_.sequence = encoded->sequence;
    report_.over_cap = encoded->fit.pending_over_cap;
    report_.dropped = encoded->fit.dropped;
  }
  if (encoded->fit.pending_over_cap && !over_cap_logged_) {
    over_cap_logged_ = true;
    log_.Error("session-over-cap",
               {{"pending", static_cast<int64_t>(encoded->pending)},
                {"bytes", common::FormatByteSize(encoded->document.size())},
                {"max", common::FormatByteSize(options_.max_bytes)},
                {"",
                 "the pending messages alone exceed SESSION_MAX_BYTES: the "
                 "snapshot is kept whole in the local file only"}});
  } else if (!encoded->fit.pending_over_cap) {
    over_cap_logged_ = false;
  }
  auto after_file = [this, encoded, done]() mutable {
    if (encoded->need_remote && !encoded->fit.pending_over_cap) {
      SaveRemote(encoded, std::move(done));
    } else {
      if (encoded->need_remote) {
        std::lock_guard<std::mutex> lock(mu_);
        report_.last_remote = SessionReport::Backup{
            options_.now_ms(), std::string(remote_->kind()),
            "skipped: the pending messages exceed SESSION_MAX_BYTES",
            encoded->document.size(), encoded->sequence};
      }
      CycleDone(std::move(done));
    }
  };
  if (!encoded->need_file) {
    after_file();
    return;
  }
  file_->Save(encoded->document, encoded->sequence,
              [this, encoded, after_file](Status status) mutable {
                if (closed_) return;
                {
                  std::lock_guard<std::mutex> lock(mu_);
                  report_.last_file = SessionReport::Backup{
                      options_.now_ms(), "file", status.ToString(),
                      encoded->document.size(), encoded->sequence};
                }
                if (status.ok()) {
                  file_digest_ = encoded->digest;
                } else {
                  log_.Error("session-backup-failed",
                             {{"store", "file"}, {"error", status.message()}});
                }
                after_file();
              });
}

void SessionManager::OnPendingOverCap(const Encoded& encoded) {
  const int64_t now = options_.now_ms();
  constexpr const char* kSkipped =
      "skipped: the pending messages exceed SESSION_MAX_BYTES";
  {
    std::lock_guard<std::mutex> lock(mu_);
    report_.over_cap = true;
    report_.last_file =
        SessionReport::Backup{now, "file", kSkipped, 0, next_sequence_};
    if (remote_ != nullptr) {
      report_.last_remote = SessionReport::Backup{
          now, std::string(remote_->kind()), kSkipped, 0, next_sequence_};
    }
  }
  if (over_cap_logged_) return;
  over_cap_logged_ = true;
  log_.Error("session-over-cap",
             {{"pending", static_cast<int64_t>(encoded.pending)},
              {"max", common::FormatByteSize(options_.max_bytes)},
              {"",
               "the pending messages alone exceed SESSION_MAX_BYTES: no "
               "snapshot is made until the queue is back under it (DATA_DIR's "
               "queue still holds every message; a new dyno would start "
               "without them)"}});
}

void SessionManager::SaveRemote(std::shared_ptr<Encoded> encoded,
                                std::function<void()> done) {
  remote_policy_.OnAttempt(options_.now_ms());
  remote_->Save(
      encoded->document, encoded->sequence,
      [this, encoded, done = std::move(done)](Status status) mutable {
        if (closed_) return;
        const int64_t now = options_.now_ms();
        bool was_failing;
        std::string last_error;
        {
          std::lock_guard<std::mutex> lock(mu_);
          was_failing = report_.remote_failing;
          if (report_.last_remote) last_error = report_.last_remote->result;
          report_.last_remote = SessionReport::Backup{
              now, std::string(remote_->kind()), status.ToString(),
              encoded->document.size(), encoded->sequence};
          report_.remote_failing = !status.ok();
        }
        if (status.ok()) {
          remote_policy_.OnSuccess();
          remote_digest_ = encoded->digest;
          if (was_failing || !remote_ok_logged_) {
            remote_ok_logged_ = true;
            log_.Info(
                was_failing ? "session-store-recovered" : "session-backup",
                {{"store", remote_->kind()},
                 {"sequence", static_cast<int64_t>(encoded->sequence)},
                 {"bytes", common::FormatByteSize(encoded->document.size())}});
          }
        } else {
          remote_policy_.OnFailure(now);
          // One line per spell (and per new error), not one per attempt.
          if (!was_failing || status.message() != last_error) {
            log_.Warn(
                "session-backup-failed",
                {{"store", remote_->kind()},
                 {"error", status.message()},
                 {"retry_in_s",
                  (remote_policy_.next_allowed_ms() - now + 999) / 1000},
                 {"", "the local file is kept current; sending goes on"}});
          }
        }
        CycleDone(std::move(done));
      });
}

void SessionManager::CycleDone(std::function<void()> done) {
  busy_ = false;
  if (done) done();
  if (after_busy_) {
    auto next = std::move(after_busy_);
    after_busy_ = nullptr;
    next();
  }
}

void SessionManager::Close() {
  if (closed_) return;
  closed_ = true;
  for (uv_handle_t* handle : {reinterpret_cast<uv_handle_t*>(timer_),
                              reinterpret_cast<uv_handle_t*>(restore_timer_)}) {
    uv_close(handle,
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  }
  uv_close(reinterpret_cast<uv_handle_t*>(request_async_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_async_t*>(h); });
  file_->Stop([] {});
  if (remote_) remote_->Stop([] {});
  thread_->Join();
}

SessionReport SessionManager::Report() const {
  std::lock_guard<std::mutex> lock(mu_);
  return report_;
}

}  // namespace dynoguard::worker
