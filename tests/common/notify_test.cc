#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <string>

#include "common/notify_client.h"
#include "common/notify_message.h"
#include "common/unique_fd.h"

namespace dynoguard::common {
namespace {

using std::chrono::microseconds;

// A datagram receiver bound to `address` ("/path" or "@abstract"), as systemd
// would be.
UniqueFd BindReceiver(const std::string& address) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  REQUIRE(fd.valid());
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  socklen_t len;
  if (address[0] == '@') {
    std::memcpy(addr.sun_path + 1, address.data() + 1, address.size() - 1);
    len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) +
                                 address.size());
  } else {
    std::memcpy(addr.sun_path, address.data(), address.size());
    len = sizeof(addr);
  }
  REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) == 0);
  return fd;
}

// The next queued datagram; fails the test when none is queued (never blocks).
std::string ReceiveNow(const UniqueFd& fd) {
  char buffer[4096];
  ssize_t n = ::recv(fd.get(), buffer, sizeof(buffer), MSG_DONTWAIT);
  REQUIRE(n >= 0);
  return std::string(buffer, static_cast<size_t>(n));
}

// A fresh directory under the system temp dir, removed with its contents.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "dg-notify-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string UniqueAbstractName(std::string_view tag) {
  static int counter = 0;
  return "@dynoguard-test/" + std::to_string(::getpid()) + "/" +
         std::string(tag) + "/" + std::to_string(++counter);
}

// --- NotifyClient ---

TEST_CASE("NotifyClient: sends one datagram to a path socket", "[notify]") {
  TempDir dir;
  std::string path = dir.path() + "/notify";
  UniqueFd receiver = BindReceiver(path);
  Result<NotifyClient> client = NotifyClient::FromSocketAddress(path);
  REQUIRE(client.ok());
  CHECK(client->enabled());
  CHECK(client->address() == path);

  REQUIRE(client->Send("READY=1\nSTATUS=serving on :8080").ok());
  CHECK(ReceiveNow(receiver) == "READY=1\nSTATUS=serving on :8080");
  REQUIRE(client->Send("WATCHDOG=1").ok());
  CHECK(ReceiveNow(receiver) == "WATCHDOG=1");
}

TEST_CASE("NotifyClient: sends to an abstract socket", "[notify]") {
  std::string address = UniqueAbstractName("abstract");
  UniqueFd receiver = BindReceiver(address);
  Result<NotifyClient> client = NotifyClient::FromSocketAddress(address);
  REQUIRE(client.ok());
  CHECK(client->enabled());
  REQUIRE(client->Send("STOPPING=1").ok());
  CHECK(ReceiveNow(receiver) == "STOPPING=1");
}

TEST_CASE("NotifyClient: survives a move", "[notify]") {
  std::string address = UniqueAbstractName("move");
  UniqueFd receiver = BindReceiver(address);
  Result<NotifyClient> made = NotifyClient::FromSocketAddress(address);
  REQUIRE(made.ok());
  NotifyClient client;
  CHECK_FALSE(client.enabled());
  client = std::move(made).value();
  REQUIRE(client.Send("READY=1").ok());
  CHECK(ReceiveNow(receiver) == "READY=1");
}

TEST_CASE("NotifyClient: empty address gives a disabled client", "[notify]") {
  Result<NotifyClient> client = NotifyClient::FromSocketAddress("");
  REQUIRE(client.ok());
  CHECK_FALSE(client->enabled());
  CHECK(client->Send("READY=1").ok());
  NotifyClient defaulted;
  CHECK_FALSE(defaulted.enabled());
  CHECK(defaulted.Send("WATCHDOG=1").ok());
}

TEST_CASE("NotifyClient: no receiver is an error on send", "[notify]") {
  TempDir dir;
  Result<NotifyClient> client =
      NotifyClient::FromSocketAddress(dir.path() + "/nobody");
  REQUIRE(client.ok());
  Status status = client->Send("READY=1");
  CHECK_FALSE(status.ok());
  CHECK(status.code() == Status::Code::kIOError);
  CHECK(status.message().find("nobody") != std::string::npos);
}

TEST_CASE("NotifyClient: rejects addresses that cannot be used", "[notify]") {
  std::string too_long_path =
      "/" + std::string(sizeof(sockaddr_un{}.sun_path), 'x');
  std::string too_long_abstract =
      "@" + std::string(sizeof(sockaddr_un{}.sun_path), 'x');
  for (const std::string& bad :
       {too_long_path, too_long_abstract, std::string("relative/path"),
        std::string("@")}) {
    Result<NotifyClient> client = NotifyClient::FromSocketAddress(bad);
    CHECK_FALSE(client.ok());
    CHECK(client.status().code() == Status::Code::kInvalidArgument);
  }
}

TEST_CASE("NotifyClient: the longest abstract name fits", "[notify]") {
  std::string address = UniqueAbstractName("long");
  address.resize(sizeof(sockaddr_un{}.sun_path),
                 'y');  // '@' stands for the leading NUL
  UniqueFd receiver = BindReceiver(address);
  Result<NotifyClient> client = NotifyClient::FromSocketAddress(address);
  REQUIRE(client.ok());
  REQUIRE(client->Send("READY=1").ok());
  CHECK(ReceiveNow(receiver) == "READY=1");
}

TEST_CASE("NotifyClient: watchdog period from WATCHDOG_USEC and WATCHDOG_PID",
          "[notify]") {
  CHECK(NotifyClient::WatchdogPeriod("30000000", "", 42) ==
        microseconds(30000000));
  CHECK(NotifyClient::WatchdogPeriod("30000000", "42", 42) ==
        microseconds(30000000));
  CHECK_FALSE(NotifyClient::WatchdogPeriod("30000000", "43", 42).has_value());
  CHECK_FALSE(NotifyClient::WatchdogPeriod("", "", 42).has_value());
  CHECK_FALSE(NotifyClient::WatchdogPeriod("0", "", 42).has_value());
  CHECK_FALSE(NotifyClient::WatchdogPeriod("abc", "", 42).has_value());
  CHECK_FALSE(NotifyClient::WatchdogPeriod("-5", "", 42).has_value());
  CHECK_FALSE(NotifyClient::WatchdogPeriod("100x", "", 42).has_value());
  CHECK_FALSE(NotifyClient::WatchdogPeriod("1000", "x", 42).has_value());
  CHECK_FALSE(NotifyClient::WatchdogPeriod("99999999999999999999999", "", 42)
                  .has_value());
}

// --- ParseNotifyMessage ---

TEST_CASE("ParseNotifyMessage: single assignments", "[notify]") {
  CHECK(ParseNotifyMessage("READY=1").ready);
  CHECK(ParseNotifyMessage("WATCHDOG=1").watchdog);
  CHECK(ParseNotifyMessage("STOPPING=1").stopping);
  CHECK(ParseNotifyMessage("RELOADING=1").reloading);
  NotifyMessage none = ParseNotifyMessage("");
  CHECK_FALSE(none.ready);
  CHECK_FALSE(none.watchdog);
  CHECK_FALSE(none.stopping);
  CHECK_FALSE(none.reloading);
  CHECK_FALSE(none.status.has_value());
  CHECK_FALSE(none.watchdog_usec.has_value());
  CHECK_FALSE(none.mainpid.has_value());
}

TEST_CASE("ParseNotifyMessage: multi-line datagram", "[notify]") {
  NotifyMessage m = ParseNotifyMessage(
      "READY=1\nSTATUS=serving\nMAINPID=1234\nWATCHDOG_USEC=5000000\n");
  CHECK(m.ready);
  CHECK_FALSE(m.watchdog);
  REQUIRE(m.status.has_value());
  CHECK(*m.status == "serving");
  CHECK(m.mainpid == 1234);
  CHECK(m.watchdog_usec == uint64_t{5000000});
}

TEST_CASE("ParseNotifyMessage: STATUS keeps '=' and spaces in its value",
          "[notify]") {
  NotifyMessage m = ParseNotifyMessage("STATUS=queue depth=3 memory=42MB");
  REQUIRE(m.status.has_value());
  CHECK(*m.status == "queue depth=3 memory=42MB");
  NotifyMessage empty = ParseNotifyMessage("STATUS=");
  REQUIRE(empty.status.has_value());
  CHECK(empty.status->empty());
}

TEST_CASE("ParseNotifyMessage: garbage is ignored", "[notify]") {
  NotifyMessage m = ParseNotifyMessage(
      "hello\n=1\nREADY=0\nWATCHDOG=trigger\nFOO=BAR\nMAINPID=abc\nMAINPID=-3\n"
      "WATCHDOG_USEC=12x\n\n\nready=1\nSTOPPING=1");
  CHECK_FALSE(m.ready);
  CHECK_FALSE(m.watchdog);
  CHECK_FALSE(m.mainpid.has_value());
  CHECK_FALSE(m.watchdog_usec.has_value());
  CHECK_FALSE(m.status.has_value());
  CHECK(m.stopping);
}

TEST_CASE("ParseNotifyMessage: last valid assignment wins", "[notify]") {
  NotifyMessage m =
      ParseNotifyMessage("STATUS=one\nSTATUS=two\nMAINPID=10\nMAINPID=bad");
  CHECK(m.status == std::string("two"));
  CHECK(m.mainpid == 10);
}

TEST_CASE("ParseNotifyMessage: a datagram round-trips through the client",
          "[notify]") {
  std::string address = UniqueAbstractName("roundtrip");
  UniqueFd receiver = BindReceiver(address);
  Result<NotifyClient> client = NotifyClient::FromSocketAddress(address);
  REQUIRE(client.ok());
  REQUIRE(client->Send("WATCHDOG=1\nSTATUS=rss=40MB").ok());
  NotifyMessage m = ParseNotifyMessage(ReceiveNow(receiver));
  CHECK(m.watchdog);
  CHECK(m.status == std::string("rss=40MB"));
}

}  // namespace
}  // namespace dynoguard::common
