// DATABASE_URL → libpq keywords, and the secrets no message may show.
#include "worker/session/stores/postgres_conninfo.h"

#include <catch2/catch.hpp>
#include <map>
#include <string>

namespace dynoguard::worker {
namespace {

using std::chrono::milliseconds;
using Code = common::Status::Code;

std::map<std::string, std::string> AsMap(const PostgresConnInfo& info) {
  std::map<std::string, std::string> map;
  for (const auto& [key, value] : info.params) map[key] = value;
  return map;
}

bool Holds(const std::vector<std::string>& secrets, const std::string& s) {
  return std::find(secrets.begin(), secrets.end(), s) != secrets.end();
}

TEST_CASE(
    "postgres conninfo: Heroku's URL comes first and our settings after it",
    "[postgres]") {
  const std::string url =
      "postgres://u1abc:p%40ss%3Aw0rd@ec2-1-2-3-4.compute-1.amazonaws.com:"
      "5432/d8abc";
  auto info = MakePostgresConnInfo(url, milliseconds(10000));
  INFO(info.status().message());
  REQUIRE(info.ok());
  REQUIRE_FALSE(info->params.empty());
  // dbname (the URL, expanded by libpq) first: the keywords after it win.
  CHECK(info->params[0].first == "dbname");
  CHECK(info->params[0].second == url);
  auto map = AsMap(*info);
  CHECK(map["connect_timeout"] == "10");
  CHECK(map["keepalives"] == "1");
  CHECK(map["keepalives_idle"] == "10");
  CHECK(map["keepalives_interval"] == "3");
  CHECK(map["keepalives_count"] == "3");
  CHECK(map["tcp_user_timeout"] == "10000");
  CHECK(map["application_name"] == "dynoguard");
  CHECK(map["client_encoding"] == "UTF8");
  CHECK(map.count("sslmode") == 0);  // TLS is what the URL asks
  CHECK(info->statement_timeout_ms == 7500);
  CHECK(Holds(info->secrets, "p%40ss%3Aw0rd"));
  CHECK(Holds(info->secrets, "p@ss:w0rd"));
  CHECK(Holds(info->secrets, url));
}

TEST_CASE("postgres conninfo: short timeouts keep libpq's minimums",
          "[postgres]") {
  auto info = MakePostgresConnInfo("postgresql://u:pw@127.0.0.1:5432/db",
                                   milliseconds(500));
  REQUIRE(info.ok());
  auto map = AsMap(*info);
  CHECK(map["connect_timeout"] == "2");
  CHECK(map["keepalives_idle"] == "1");
  CHECK(map["keepalives_interval"] == "1");
  CHECK(map["tcp_user_timeout"] == "500");
  CHECK(info->statement_timeout_ms == 375);
  auto tiny = MakePostgresConnInfo("postgresql://h/db", milliseconds(10));
  REQUIRE(tiny.ok());
  CHECK(tiny->statement_timeout_ms == 100);
}

TEST_CASE("postgres conninfo: sslmode and key=value strings are accepted",
          "[postgres]") {
  CHECK(
      MakePostgresConnInfo("postgres://u:pw@db.example:5432/x?sslmode=require",
                           milliseconds(10000))
          .ok());
  auto keywords = MakePostgresConnInfo(
      "host=db.example port=5432 user=u password='se cret' dbname=x",
      milliseconds(10000));
  INFO(keywords.status().message());
  REQUIRE(keywords.ok());
  CHECK(Holds(keywords->secrets, "se cret"));
}

TEST_CASE("postgres conninfo: bad URLs are InvalidArgument without secrets",
          "[postgres]") {
  struct Case {
    std::string url;
    std::string says;
  };
  for (const Case& c : {
           Case{"", "DATABASE_URL is empty"},
           Case{"mysql://root:Hunter-2222@db/x", "not mysql://"},
           Case{"postgres://root:Hunter-2222@db/x?nope=1",
                "invalid URI query parameter"},
           Case{"postgres://root:Hunter-2222@db:port/x",
                "port \"port\" is not a number"},
           Case{"postgres://root:Hunter-2222@db:70000/x", "from 1 to 65535"},
           Case{"postgres://root:Hunter-2222@db/x?sslmode=always",
                "sslmode \"always\""},
           Case{"password=Hunter-2222 garbage", "missing \"=\""},
       }) {
    auto info = MakePostgresConnInfo(c.url, milliseconds(10000));
    INFO(c.url);
    REQUIRE_FALSE(info.ok());
    INFO(info.status().message());
    CHECK(info.status().code() == Code::kInvalidArgument);
    CHECK(info.status().message().rfind("postgres: DATABASE_URL", 0) == 0);
    CHECK(info.status().message().find(c.says) != std::string::npos);
    CHECK(info.status().message().find("Hunter-2222") == std::string::npos);
  }
}

TEST_CASE("postgres conninfo: the secrets of a URL even when it fails to parse",
          "[postgres]") {
  // An '@' left unencoded in the password: the user-info ends at the last.
  auto secrets = PostgresUrlSecrets("postgres://u:a@b@host:5432/db");
  CHECK(Holds(secrets, "a@b"));
  CHECK(Holds(secrets, "postgres://u:a@b@host:5432/db"));
  // Longest first.
  for (size_t i = 1; i < secrets.size(); ++i) {
    CHECK(secrets[i - 1].size() >= secrets[i].size());
  }
  // No password: only the URL itself.
  CHECK(PostgresUrlSecrets("postgres://u@host/db") ==
        std::vector<std::string>{"postgres://u@host/db"});
  // A password given as a query parameter.
  CHECK(Holds(PostgresUrlSecrets("postgresql://host/db?user=u&password=q%2Fz"),
              "q/z"));
  // key=value, bare and quoted.
  CHECK(Holds(PostgresUrlSecrets("host=h password=bare-pw user=u"), "bare-pw"));
  CHECK(Holds(PostgresUrlSecrets("host=h password = 'it\\'s' user=u"), "it's"));
  CHECK(PostgresUrlSecrets("").empty());
}

TEST_CASE("postgres conninfo: ScrubSecrets replaces every occurrence",
          "[postgres]") {
  std::vector<std::string> secrets = {"postgres://u:pw-123@h/db", "pw-123"};
  CHECK(ScrubSecrets("bad postgres://u:pw-123@h/db and pw-123, pw-123",
                     secrets) == "bad [redacted] and [redacted], [redacted]");
  CHECK(ScrubSecrets("nothing here", secrets) == "nothing here");
  CHECK(ScrubSecrets("x", {""}) == "x");
}

}  // namespace
}  // namespace dynoguard::worker
