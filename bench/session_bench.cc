// session_bench: the session snapshot's cost on this machine, for
// docs/benchmarks.md ("Session snapshot"; bench/run_benchmarks.py --only
// session runs it). A realistic session of about --bytes of raw JSON
// (pending texts, messages awaiting a status, forwarding events carrying
// the webhook JSON, dedup keys, 24-hour windows), median of --runs:
//   json        SessionStateToJson alone (the raw JSON)
//   encode      EncodeSnapshot: JSON + zlib + AES-256-GCM (+ base64)
//   write       storage::WriteFileAtomically (temp file, fsync, rename,
//               fsync of the directory) of that document in --dir
//   restore     ReadWholeFile + DecodeSnapshot (decrypt, inflate, checksum,
//               parse)
//   plain       EncodeSnapshot without a key, and its decode
//   header      ReadSnapshotHeader
//   digest      StateDigest
//   budget      EncodeWithinBudget to 512 KiB (SESSION_MAX_BYTES' default)
//               of a state 8× that size
// Prints one JSON object (times in ms, sizes in bytes).
//
//   session_bench [--bytes 524288] [--runs 21] [--dir /tmp]
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "tests/fuzz/snapshot_samples.h"
#include "worker/session/snapshot_budget.h"
#include "worker/session/snapshot_codec.h"
#include "worker/session/snapshot_json.h"
#include "worker/storage/atomic_file.h"

namespace {

using dynoguard::worker::DecodeSnapshot;
using dynoguard::worker::EncodeSnapshot;
using dynoguard::worker::EncodeWithinBudget;
using dynoguard::worker::FitReport;
using dynoguard::worker::ReadSnapshotHeader;
using dynoguard::worker::SessionState;
using dynoguard::worker::SessionStateToJson;
using dynoguard::worker::SnapshotKey;
using dynoguard::worker::StateDigest;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The median wall time of `runs` calls of `f`, in ms.
double TimeMs(int runs, const std::function<void()>& f) {
  std::vector<double> samples;
  for (int i = 0; i < runs; ++i) {
    const auto start = std::chrono::steady_clock::now();
    f();
    samples.push_back(std::chrono::duration<double, std::milli>(
                          std::chrono::steady_clock::now() - start)
                          .count());
  }
  return Median(samples);
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "session_bench: %s\n", what.c_str());
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  size_t bytes = 512 * 1024;
  int runs = 21;
  std::string dir = "/tmp";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--bytes") == 0) {
      bytes = std::stoul(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--runs") == 0) {
      runs = std::max(1, std::stoi(argv[i + 1]));
    } else if (std::strcmp(argv[i], "--dir") == 0) {
      dir = argv[i + 1];
    } else {
      Die(std::string("unknown option ") + argv[i]);
    }
  }
  std::string templ = dir + "/dg-session-bench-XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) Die("mkdtemp in " + dir);
  const std::string path = templ + "/session.snapshot";

  SnapshotKey key;
  for (size_t i = 0; i < key.bytes.size(); ++i) {
    key.bytes[i] = static_cast<unsigned char>(i * 13 + 1);
  }
  const SessionState state = dynoguard::worker::testing::SizedState(bytes);
  const size_t raw_bytes = SessionStateToJson(state).size();

  const double json_ms = TimeMs(runs, [&] {
    if (SessionStateToJson(state).empty()) Die("json");
  });
  std::string doc;
  const double encode_ms = TimeMs(runs, [&] {
    auto r = EncodeSnapshot(state, &key);
    if (!r.ok()) Die(r.status().message());
    doc = std::move(r.value());
  });
  const double write_ms = TimeMs(runs, [&] {
    auto s = dynoguard::worker::storage::WriteFileAtomically(path, doc);
    if (!s.ok()) Die(s.message());
  });
  const double encode_write_ms = TimeMs(runs, [&] {
    auto r = EncodeSnapshot(state, &key);
    if (!r.ok()) Die(r.status().message());
    auto s = dynoguard::worker::storage::WriteFileAtomically(path, *r);
    if (!s.ok()) Die(s.message());
  });
  const double restore_ms = TimeMs(runs, [&] {
    auto file =
        dynoguard::worker::storage::ReadWholeFile(path, uint64_t{64} << 20);
    if (!file.ok() || !file->has_value()) Die("read " + path);
    auto r = DecodeSnapshot(**file, &key);
    if (!r.ok()) Die(r.status().message());
    if (r->pending.size() != state.pending.size()) Die("restore lost data");
  });
  const double decode_ms = TimeMs(runs, [&] {
    auto r = DecodeSnapshot(doc, &key);
    if (!r.ok()) Die(r.status().message());
  });
  std::string plain;
  const double plain_encode_ms = TimeMs(runs, [&] {
    auto r = EncodeSnapshot(state, nullptr);
    if (!r.ok()) Die(r.status().message());
    plain = std::move(r.value());
  });
  const double plain_decode_ms = TimeMs(runs, [&] {
    auto r = DecodeSnapshot(plain, nullptr);
    if (!r.ok()) Die(r.status().message());
  });
  const double header_ms = TimeMs(runs, [&] {
    if (!ReadSnapshotHeader(doc).ok()) Die("header");
  });
  std::string digest;
  const double digest_ms = TimeMs(runs, [&] { digest = StateDigest(state); });

  const SessionState big = dynoguard::worker::testing::SizedState(8 * bytes);
  const size_t big_raw = SessionStateToJson(big).size();
  FitReport report;
  const double budget_ms = TimeMs(std::max(1, runs / 4), [&] {
    SessionState s = big;
    auto r = EncodeWithinBudget(&s, &key, 512 * 1024, &report);
    if (!r.ok()) Die(r.status().message());
  });

  unlink(path.c_str());
  rmdir(templ.c_str());
  std::printf(
      "{\"runs\":%d,\"raw_bytes\":%zu,\"document_bytes\":%zu,"
      "\"plain_document_bytes\":%zu,\"pending\":%zu,\"awaiting_status\":%zu,"
      "\"outbox\":%zu,\"seen\":%zu,\"windows\":%zu,"
      "\"json_ms\":%.2f,\"encode_ms\":%.2f,\"write_ms\":%.2f,\"encode_write_"
      "ms\":%.2f,"
      "\"restore_ms\":%.2f,\"decode_ms\":%.2f,\"plain_encode_ms\":%.2f,"
      "\"plain_decode_ms\":%.2f,\"header_ms\":%.3f,\"digest_ms\":%.2f,"
      "\"budget_raw_bytes\":%zu,\"budget_ms\":%.2f,\"budget_bytes\":%zu,"
      "\"budget_encodes\":%d,\"budget_dropped\":%zu}\n",
      runs, raw_bytes, doc.size(), plain.size(), state.pending.size(),
      state.awaiting_status.size(), state.outbox.size(), state.seen.size(),
      state.windows.size(), json_ms, encode_ms, write_ms, encode_write_ms,
      restore_ms, decode_ms, plain_encode_ms, plain_decode_ms, header_ms,
      digest_ms, big_raw, budget_ms, report.bytes, report.encodes,
      report.dropped.seen + report.dropped.windows +
          report.dropped.awaiting_status + report.dropped.inbox +
          report.dropped.outbox);
  return 0;
}
