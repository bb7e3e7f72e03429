// libpq's messages (as libpq 15 writes them) made one line, and the Status
// each SQLSTATE becomes.
#include "worker/session/stores/postgres_errors.h"

#include <catch2/catch.hpp>
#include <string>

namespace dynoguard::worker {
namespace {

using Code = common::Status::Code;

TEST_CASE("postgres errors: a verbose connect failure gives its SQLSTATE",
          "[postgres]") {
  LibpqMessage m = ParseLibpqMessage(
      "connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  "
      "28P01: password authentication failed for user \"dynoguard\"\n"
      "LOCATION:  auth_failed, auth.c:326\n");
  CHECK(m.sqlstate == "28P01");
  CHECK(m.text ==
        "connection to server at \"127.0.0.1\", port 5432 failed: FATAL: "
        "password authentication failed for user \"dynoguard\"");
}

TEST_CASE("postgres errors: a refused connection is one line without SQLSTATE",
          "[postgres]") {
  LibpqMessage m = ParseLibpqMessage(
      "connection to server at \"127.0.0.1\", port 1 failed: Connection "
      "refused\n\tIs the server running on that host and accepting TCP/IP "
      "connections?\n");
  CHECK(m.sqlstate.empty());
  CHECK(m.text ==
        "connection to server at \"127.0.0.1\", port 1 failed: Connection "
        "refused; Is the server running on that host and accepting TCP/IP "
        "connections?");
}

TEST_CASE("postgres errors: result messages at verbose and default verbosity",
          "[postgres]") {
  LibpqMessage verbose = ParseLibpqMessage(
      "ERROR:  57014: canceling statement due to statement timeout\n"
      "LOCATION:  ProcessInterrupts, postgres.c:3327\n");
  CHECK(verbose.sqlstate == "57014");
  CHECK(verbose.text == "ERROR: canceling statement due to statement timeout");

  LibpqMessage plain = ParseLibpqMessage(
      "FATAL:  terminating connection due to administrator command\n"
      "server closed the connection unexpectedly\n"
      "\tThis probably means the server terminated abnormally\n"
      "\tbefore or while processing the request.\n");
  CHECK(plain.sqlstate.empty());
  CHECK(plain.text ==
        "FATAL: terminating connection due to administrator command; server "
        "closed the connection unexpectedly; This probably means the server "
        "terminated abnormally; before or while processing the request.");
}

TEST_CASE("postgres errors: odd text is kept and never lost", "[postgres]") {
  CHECK(ParseLibpqMessage("").text == "no message from libpq");
  CHECK(ParseLibpqMessage("\n\n").text == "no message from libpq");
  LibpqMessage m = ParseLibpqMessage("XFATAL:  12345: not a severity");
  CHECK(m.sqlstate.empty());
  CHECK(m.text == "XFATAL:  12345: not a severity");
  // Only the first SQLSTATE counts.
  LibpqMessage two =
      ParseLibpqMessage("ERROR:  40P01: deadlock detected\nERROR:  XX000: x");
  CHECK(two.sqlstate == "40P01");
}

TEST_CASE("postgres errors: a long message is cut at a character boundary",
          "[postgres]") {
  std::string long_text = "ERROR:  22021: " + std::string(497, 'x') +
                          "\xC3\xA9" + std::string(1000, 'y');
  LibpqMessage m = ParseLibpqMessage(long_text);
  CHECK(m.sqlstate == "22021");
  // "ERROR: " + 497 x = 504 > 500: cut inside the x run.
  CHECK(m.text == "ERROR: " + std::string(493, 'x') + "...");
  std::string accent = std::string(499, 'a') + "\xC3\xA9" + "tail";
  CHECK(ParseLibpqMessage(accent).text == std::string(499, 'a') + "...");
}

TEST_CASE("postgres errors: each SQLSTATE class becomes its Status",
          "[postgres]") {
  struct Case {
    const char* sqlstate;
    Code code;
  };
  for (const Case& c : {
           Case{"28P01", Code::kPermissionDenied},
           Case{"28000", Code::kPermissionDenied},
           Case{"42501", Code::kPermissionDenied},
           Case{"3D000", Code::kInvalidArgument},
           Case{"08006", Code::kUnavailable},
           Case{"08001", Code::kUnavailable},
           Case{"53300", Code::kUnavailable},
           Case{"53100", Code::kUnavailable},
           Case{"57014", Code::kUnavailable},
           Case{"57P01", Code::kUnavailable},
           Case{"57P03", Code::kUnavailable},
           Case{"55P03", Code::kUnavailable},
           Case{"40001", Code::kUnavailable},
           Case{"40P01", Code::kUnavailable},
           Case{"25006", Code::kUnavailable},
           Case{"", Code::kUnavailable},
           Case{"22021", Code::kInvalidArgument},
           Case{"23505", Code::kInvalidArgument},
           Case{"54000", Code::kInvalidArgument},
           Case{"42P01", Code::kInternal},
           Case{"XX000", Code::kInternal},
       }) {
    common::Status s = PostgresFailure("save 'x'", c.sqlstate, "ERROR: text");
    INFO(c.sqlstate << " → " << s.message());
    CHECK(s.code() == c.code);
    CHECK(s.message().rfind("postgres: save 'x': ERROR: text", 0) == 0);
    if (*c.sqlstate != '\0') {
      CHECK(s.message().find(std::string("(SQLSTATE ") + c.sqlstate + ")") !=
            std::string::npos);
    }
  }
  CHECK(PostgresFailure("connect", "28P01",
                        "FATAL: password authentication "
                        "failed")
            .message()
            .find("DATABASE_URL") != std::string::npos);
  CHECK(PostgresFailure("connect", "3D000", "FATAL: no such database")
            .message()
            .find("DATABASE_URL") != std::string::npos);
}

}  // namespace
}  // namespace dynoguard::worker
