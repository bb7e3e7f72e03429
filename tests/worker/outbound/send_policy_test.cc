#include "worker/outbound/send_policy.h"

#include <catch2/catch.hpp>

namespace dynoguard::worker {
namespace {

using Verdict = SendPolicy::Verdict;

SendPolicy::Options Options(int concurrency, int64_t delay_ms) {
  SendPolicy::Options options;
  options.concurrency = concurrency;
  options.send_delay_ms = delay_ms;
  return options;
}

TEST_CASE("send policy: the defaults are the single-flight queue",
          "[send-policy]") {
  SendPolicy policy({});
  CHECK(policy.MayStart(0).verdict == Verdict::kStart);
  policy.OnStarted("a", 0);
  CHECK(policy.MayStart(0).verdict == Verdict::kFull);
  policy.OnFinished("a");
  // 600 ms between the starts of two sends.
  auto decision = policy.MayStart(100);
  CHECK(decision.verdict == Verdict::kWait);
  CHECK(decision.wait_ms == 500);
  CHECK(policy.MayStart(600).verdict == Verdict::kStart);
}

TEST_CASE("send policy: concurrency counts sends in flight, clamped to 1..64",
          "[send-policy]") {
  SendPolicy policy(Options(3, 0));
  for (const char* to : {"a", "b", "c"}) {
    REQUIRE(policy.MayStart(0).verdict == Verdict::kStart);
    policy.OnStarted(to, 0);
  }
  CHECK(policy.in_flight() == 3);
  CHECK(policy.MayStart(0).verdict == Verdict::kFull);
  CHECK(policy.SendingTo("b"));
  policy.OnFinished("b");
  CHECK_FALSE(policy.SendingTo("b"));
  CHECK(policy.MayStart(0).verdict == Verdict::kStart);
  policy.OnFinished("nobody");  // ignored
  CHECK(policy.in_flight() == 2);

  CHECK(SendPolicy(Options(0, 0)).options().concurrency == 1);
  CHECK(SendPolicy(Options(1000, 0)).options().concurrency == 64);
  CHECK(SendPolicy(Options(2, -5)).options().send_delay_ms == 0);
}

TEST_CASE("send policy: the delay spaces the starts, whatever the answers",
          "[send-policy]") {
  SendPolicy policy(Options(4, 50));
  policy.OnStarted("a", 1000);
  auto wait = policy.MayStart(1010);
  CHECK(wait.verdict == Verdict::kWait);
  CHECK(wait.wait_ms == 40);
  CHECK(policy.MayStart(1050).verdict == Verdict::kStart);
  policy.OnStarted("b", 1050);
  policy.OnFinished("a");
  policy.OnFinished("b");
  CHECK(policy.MayStart(1099).verdict == Verdict::kWait);
  CHECK(policy.MayStart(1100).verdict == Verdict::kStart);
}

TEST_CASE(
    "send policy: 131056 waits 4^n seconds per recipient, reset on a "
    "success",
    "[send-policy]") {
  SendPolicy policy(Options(4, 0));
  CHECK(policy.OnSlowRecipient("a", 0) == 4000);
  CHECK(policy.OnSlowRecipient("a", 4000) == 16000);
  CHECK(policy.OnSlowRecipient("a", 20000) == 64000);
  CHECK(policy.SlowHits("a") == 3);
  CHECK(policy.SlowHits("b") == 0);
  CHECK(policy.OnSlowRecipient("b", 20000) == 4000);  // others: their own n
  CHECK(policy.SlowedRecipients(21000) == 2);
  CHECK(policy.SlowedRecipients(24000) == 1);  // b's wait is over
  CHECK(policy.SlowedRecipients(84000) == 0);
  policy.OnSucceeded("a");
  CHECK(policy.SlowHits("a") == 0);
  CHECK(policy.OnSlowRecipient("a", 90000) == 4000);
  // Slow-downs never hold the others: sends may start.
  CHECK(policy.MayStart(90000).verdict == Verdict::kStart);
}

TEST_CASE("send policy: the slow-down is capped and the table bounded",
          "[send-policy]") {
  SendPolicy::Options options;
  options.max_slowed = 2;
  SendPolicy policy(options);
  int64_t delay = 0;
  for (int i = 0; i < 40; ++i) delay = policy.OnSlowRecipient("a", 0);
  CHECK(delay == 4096 * 1000);  // 4^6 s, never overflowing
  policy.OnSlowRecipient("b", 0);
  policy.OnSlowRecipient("c", 0);  // forgets the one whose wait ends first
  CHECK(policy.SlowHits("b") == 0);
  CHECK(policy.SlowHits("a") == 40);
  CHECK(policy.SlowHits("c") == 1);
}

TEST_CASE(
    "send policy: a pause holds every send until the transport is "
    "connected again",
    "[send-policy]") {
  SendPolicy policy(Options(4, 0));
  policy.OnStarted("a", 0);
  policy.OnStarted("b", 0);
  policy.Pause("token_invalid", 10);
  policy.Pause("account_blocked", 11);  // the first reason stays
  CHECK(policy.paused());
  CHECK(policy.pause_reason() == "token_invalid");
  // The transport went down with the answer.
  CHECK_FALSE(policy.ObserveConnection(false, 12));
  CHECK(policy.MayStart(13).verdict == Verdict::kDisconnected);
  CHECK(policy.MayStart(100000).verdict == Verdict::kDisconnected);
  CHECK(policy.ObserveConnection(true, 200000));  // the pause ends here
  CHECK_FALSE(policy.paused());
  CHECK(policy.pause_reason().empty());
  CHECK(policy.MayStart(200000).verdict == Verdict::kStart);
}

TEST_CASE(
    "send policy: a pause on a transport that stays connected ends "
    "with a probe after pause_probe_ms",
    "[send-policy]") {
  SendPolicy::Options options = Options(1, 0);
  options.pause_probe_ms = 1000;
  SendPolicy policy(options);
  policy.Pause("spam_rate_limited", 500);
  auto wait = policy.MayStart(600);
  CHECK(wait.verdict == Verdict::kWait);
  CHECK(wait.wait_ms == 900);
  CHECK_FALSE(policy.ObserveConnection(true, 1400));
  CHECK(policy.paused());
  CHECK(policy.ObserveConnection(true, 1500));
  CHECK(policy.MayStart(1500).verdict == Verdict::kStart);
}

TEST_CASE("send policy: never a start while the transport is not connected",
          "[send-policy]") {
  SendPolicy policy({});
  policy.ObserveConnection(false, 0);
  CHECK_FALSE(policy.connected());
  CHECK(policy.MayStart(0).verdict == Verdict::kDisconnected);
  CHECK_FALSE(policy.paused());  // not a pause: nothing to end
  policy.ObserveConnection(true, 1);
  CHECK(policy.MayStart(1).verdict == Verdict::kStart);
}

}  // namespace
}  // namespace dynoguard::worker
