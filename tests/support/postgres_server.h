// PostgresServer: a real PostgreSQL (Debian's postgresql package) for tests,
// on 127.0.0.1 in a temporary directory: initdb with a random password for
// the role "dynoguard" (scram-sha-256 over TCP), pg_ctl -w start on a free
// port, stopped and removed when it goes away. It can be stopped and started
// again on the same port and data (outage tests).
#ifndef DYNOGUARD_TESTS_SUPPORT_POSTGRES_SERVER_H_
#define DYNOGUARD_TESTS_SUPPORT_POSTGRES_SERVER_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "tests/support/temp_dir.h"

namespace dynoguard::testing {

struct PostgresServerOptions {
  // TLS on (ssl=on, a self-signed certificate for 127.0.0.1 made with the
  // openssl command, which postgresql's ssl-cert dependency installs), for
  // sslmode=require. Default: off, as libpq's "prefer" then finds it.
  bool tls = false;
};

// Not thread-safe.
class PostgresServer {
 public:
  // initdb (about a second) and start. The binaries are found by the glob
  // /usr/lib/postgresql/*/bin (the newest version); PostgreSQL refuses to run
  // as root, so as root every command runs as the user "postgres" (created
  // by the package; runuser) and the directory is handed to it.
  // Errors: NotFound "... install the Debian package postgresql ..." when
  // PostgreSQL is missing; Internal with the command's output or the
  // server log's tail when initdb or the start fails.
  static common::Result<std::unique_ptr<PostgresServer>> Start(
      PostgresServerOptions options = {});

  // pg_ctl stop -m fast (when running), then the directory is removed.
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // postgresql://dynoguard:<password>@127.0.0.1:<port>/postgres
  std::string url() const;
  // The same URL with another password (authentication tests).
  std::string UrlWithPassword(std::string_view password) const;
  const std::string& password() const { return password_; }
  int port() const { return port_; }
  bool running() const { return running_; }

  // pg_ctl stop -m fast -w: connections are ended, the port is closed.
  common::Status Stop();
  // pg_ctl start -w again, on the same port and data.
  common::Status Restart();

 private:
  PostgresServer() = default;
  common::Status StartOnPort();
  // Runs a PostgreSQL program of bin_dir_ (as "postgres" when root).
  common::Status RunTool(const std::string& tool,
                         const std::vector<std::string>& args,
                         std::string_view what);

  common::Status MakeCertificate();

  TempDir dir_;
  PostgresServerOptions options_;
  std::string bin_dir_;
  std::string password_;
  int port_ = 0;
  bool running_ = false;
};

// The server the tests of this process share (one start per test binary
// process; ctest runs each test case in a process of its own), started on
// first use. REQUIRES (Catch2): it starts; otherwise the test fails there
// with Start's message.
PostgresServer& SharedPostgresServer();

}  // namespace dynoguard::testing

#endif  // DYNOGUARD_TESTS_SUPPORT_POSTGRES_SERVER_H_
