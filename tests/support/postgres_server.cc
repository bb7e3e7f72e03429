#include "tests/support/postgres_server.h"

#include <fcntl.h>
#include <glob.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "tests/support/net.h"
#include "tests/support/process.h"

namespace dynoguard::testing {
namespace {

using std::chrono::milliseconds;

constexpr char kRunuser[] = "/usr/sbin/runuser";
constexpr char kRole[] = "dynoguard";
constexpr milliseconds kToolTimeout{60000};

// The newest /usr/lib/postgresql/<version>/bin holding pg_ctl, initdb and
// postgres; empty when there is none. (/usr/local/bin/pg_ctl may be
// something else: only Debian's paths are trusted.)
std::string FindBinDir() {
  glob_t found{};
  std::vector<std::string> dirs;
  if (::glob("/usr/lib/postgresql/*/bin/pg_ctl", 0, nullptr, &found) == 0) {
    for (size_t i = 0; i < found.gl_pathc; ++i) {
      std::string path = found.gl_pathv[i];
      std::string dir =
          path.substr(0, path.size() - std::string("/pg_ctl").size());
      if (::access((dir + "/initdb").c_str(), X_OK) == 0 &&
          ::access((dir + "/postgres").c_str(), X_OK) == 0) {
        dirs.push_back(dir);
      }
    }
  }
  ::globfree(&found);
  if (dirs.empty()) return "";
  // By version number, not text: 9 < 15.
  auto version = [](const std::string& dir) {
    size_t end = dir.rfind("/bin");
    size_t start = dir.rfind('/', end - 1) + 1;
    return std::atof(dir.substr(start, end - start).c_str());
  };
  return *std::max_element(dirs.begin(), dirs.end(),
                           [&](const std::string& a, const std::string& b) {
                             return version(a) < version(b);
                           });
}

std::string RandomPassword() {
  std::random_device random;
  static const char kHex[] = "0123456789abcdef";
  std::string password = "pw-";
  for (int i = 0; i < 24; ++i) password.push_back(kHex[random() % 16]);
  return password;
}

// The last `lines` lines of `text`.
std::string Tail(const std::string& text, int lines) {
  size_t at = text.size();
  for (int i = 0; i <= lines && at != std::string::npos && at > 0; ++i) {
    at = text.rfind('\n', at - 1);
  }
  return at == std::string::npos ? text : text.substr(at + 1);
}

bool AsRoot() { return ::geteuid() == 0; }

// Hands `path` to the user "postgres" when running as root.
common::Status GiveToPostgres(const std::string& path) {
  if (!AsRoot()) return common::Status::Ok();
  passwd* user = ::getpwnam("postgres");
  if (user == nullptr) {
    return common::Status::NotFound(
        "no user 'postgres' (PostgreSQL refuses to run as root): install the "
        "Debian package postgresql, which creates it");
  }
  if (::chown(path.c_str(), user->pw_uid, user->pw_gid) != 0) {
    return common::Status::IOError("chown " + path, std::strerror(errno));
  }
  return common::Status::Ok();
}

}  // namespace

common::Result<std::unique_ptr<PostgresServer>> PostgresServer::Start(
    PostgresServerOptions options) {
  std::string bin_dir = FindBinDir();
  if (bin_dir.empty()) {
    return common::Status::NotFound(
        "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/pg_ctl): "
        "install the Debian package postgresql (scripts/setup.sh --tests "
        "installs it)");
  }
  if (AsRoot() && ::access(kRunuser, X_OK) != 0) {
    return common::Status::NotFound(
        "no /usr/sbin/runuser to run PostgreSQL as 'postgres': install the "
        "Debian package util-linux");
  }
  std::unique_ptr<PostgresServer> server(new PostgresServer());
  server->bin_dir_ = bin_dir;
  server->options_ = options;
  server->password_ = RandomPassword();
  common::Status status = GiveToPostgres(server->dir_.path());
  if (!status.ok()) return status;

  const std::string pwfile = server->dir_.File("pwfile");
  {
    FILE* file = std::fopen(pwfile.c_str(), "w");
    if (file == nullptr) {
      return common::Status::IOError("open " + pwfile, std::strerror(errno));
    }
    std::fprintf(file, "%s\n", server->password_.c_str());
    std::fclose(file);
  }
  status = GiveToPostgres(pwfile);
  if (!status.ok()) return status;
  status = server->RunTool(
      "initdb",
      {"-D", server->dir_.File("data"), "-U", kRole, "--pwfile=" + pwfile,
       "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
       "--locale=C", "-N"},
      "initdb");
  ::unlink(pwfile.c_str());
  if (!status.ok()) return status;
  if (options.tls) {
    status = server->MakeCertificate();
    if (!status.ok()) return status;
  }

  // A port free a moment ago may be taken by the time the server binds it:
  // a few tries with fresh ports.
  for (int attempt = 0;; ++attempt) {
    server->port_ = FreePort();
    status = server->StartOnPort();
    if (status.ok() || attempt == 2) break;
  }
  if (!status.ok()) return status;
  return server;
}

PostgresServer::~PostgresServer() {
  if (running_) (void)Stop();
}

std::string PostgresServer::url() const { return UrlWithPassword(password_); }

std::string PostgresServer::UrlWithPassword(std::string_view password) const {
  return std::string("postgresql://") + kRole + ":" + std::string(password) +
         "@127.0.0.1:" + std::to_string(port_) + "/postgres";
}

common::Status PostgresServer::Stop() {
  common::Status status =
      RunTool("pg_ctl",
              {"-D", dir_.File("data"), "-m", "fast", "-w", "-t", "30", "stop"},
              "pg_ctl stop");
  if (status.ok()) running_ = false;
  return status;
}

common::Status PostgresServer::Restart() { return StartOnPort(); }

common::Status PostgresServer::StartOnPort() {
  // fsync off: test data need not survive a power cut, and a commit then
  // costs no disk flush on a shared CI machine.
  const std::string options =
      "-c listen_addresses=127.0.0.1 -p " + std::to_string(port_) + " -k " +
      dir_.path() + " -c fsync=off -c synchronous_commit=off" +
      " -c full_page_writes=off" +
      (options_.tls ? " -c ssl=on -c ssl_cert_file=" + dir_.File("server.crt") +
                          " -c ssl_key_file=" + dir_.File("server.key")
                    : std::string());
  common::Status status =
      RunTool("pg_ctl",
              {"-D", dir_.File("data"), "-l", dir_.File("postgres.log"), "-w",
               "-t", "30", "-o", options, "start"},
              "pg_ctl start");
  if (!status.ok()) {
    std::string log = ReadFileText(dir_.File("postgres.log")).value_or("");
    return common::Status::Internal(status.message() + "\nserver log:\n" +
                                    Tail(log, 10));
  }
  running_ = true;
  return common::Status::Ok();
}

common::Status PostgresServer::MakeCertificate() {
  const std::string key = dir_.File("server.key");
  const std::string crt = dir_.File("server.crt");
  auto made = Run("/usr/bin/openssl",
                  {"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                   key, "-out", crt, "-days", "2", "-subj", "/CN=127.0.0.1"},
                  {}, dir_.path(), kToolTimeout);
  if (!made.ok() || made->exit_code != 0) {
    return common::Status::Internal(
        "openssl req (the test server's certificate) failed: " +
        (made.ok() ? Tail(made->stderr_text, 5) : made.status().message()));
  }
  // PostgreSQL refuses a key others may read.
  if (::chmod(key.c_str(), 0600) != 0) {
    return common::Status::IOError("chmod " + key, std::strerror(errno));
  }
  common::Status status = GiveToPostgres(key);
  if (!status.ok()) return status;
  return GiveToPostgres(crt);
}

common::Status PostgresServer::RunTool(const std::string& tool,
                                       const std::vector<std::string>& args,
                                       std::string_view what) {
  std::string binary = bin_dir_ + "/" + tool;
  std::vector<std::string> argv = args;
  if (AsRoot()) {
    argv.insert(argv.begin(), {"-u", "postgres", "--", binary});
    binary = kRunuser;
  }
  auto completed = Run(binary, argv, {}, dir_.path(), kToolTimeout);
  if (!completed.ok()) {
    return common::Status::Internal(std::string(what) + ": " +
                                    completed.status().message());
  }
  if (completed->exit_code != 0) {
    return common::Status::Internal(
        std::string(what) + " failed (exit " +
        std::to_string(completed->exit_code) + "):\n" +
        Tail(completed->stdout_text + completed->stderr_text, 15));
  }
  return common::Status::Ok();
}

PostgresServer& SharedPostgresServer() {
  static common::Result<std::unique_ptr<PostgresServer>> server =
      PostgresServer::Start();
  INFO(server.status().message());
  REQUIRE(server.ok());
  return **server;
}

}  // namespace dynoguard::testing
