// TLS and basic auth of the agent's HTTP server, from a web config file in the shape the
// Prometheus exporters read. Clients are curl and `openssl s_client`; the password hash is
// the published bcrypt test vector ("U*U" with salt CCC...), not one goscry computed.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/support/fixtures.h"
#include "tests/support/processes.h"
#include "tests/support/prometheus_server.h"
#include "tests/support/raw_http.h"

namespace goscry::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kHash2a = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
constexpr const char* kHash2y = "$2y$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
constexpr const char* kPassword = "U*U";

bool port_accepts(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

class AgentWebConfig : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("goscry-web-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    make_certificate("cert.pem", "key.pem");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  // A self-signed certificate for 127.0.0.1 and its key, as cert/key files in dir_.
  void make_certificate(const std::string& cert, const std::string& key) const {
    auto r = run_command({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                          "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=127.0.0.1",
                          "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1", "-keyout",
                          path(key), "-out", path(cert)});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(dir_ / name) << text;
    return path(name);
  }
  std::string good_config() const {
    return write("web.yml", "tls_server_config:\n  cert_file: cert.pem\n  key_file: " +
                                path("key.pem") + "\n  min_version: TLS12\n" +
                                "basic_auth_users:\n  alice: " + kHash2a + "\n  bob: '" +
                                kHash2y + "'\n");
  }
  HttpReply get(const AgentProcess& a, const std::vector<std::string>& auth) const {
    std::vector<std::string> args = {"--cacert", path("cert.pem")};
    args.insert(args.end(), auth.begin(), auth.end());
    return http_get(a.url("/metrics", true), args);
  }

  std::filesystem::path dir_;
};

TEST_F(AgentWebConfig, BasicAuthOverTlsAcceptsTheRightPasswordOnly) {
  AgentProcess agent({"--no-bpf", "--web.config.file", good_config()});
  ASSERT_TRUE(agent.wait_listening()) << agent.log();
  EXPECT_NE(agent.log().find("tls=true basic_auth=true"), std::string::npos) << agent.log();

  auto ok = get(agent, {"-u", std::string("alice:") + kPassword});
  EXPECT_EQ(ok.status, 200) << ok.error;
  EXPECT_NE(ok.body.find("goscry_build_info"), std::string::npos);
  EXPECT_EQ(get(agent, {"-u", std::string("bob:") + kPassword}).status, 200) << "$2y$ hash";

  auto wrong = get(agent, {"-u", "alice:U*V"});
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(wrong.body.find("goscry_build_info"), std::string::npos);
  EXPECT_EQ(get(agent, {"-u", std::string("mallory:") + kPassword}).status, 401);
  EXPECT_EQ(get(agent, {}).status, 401);
  // Every route is behind the check, not just /metrics.
  EXPECT_EQ(http_get(agent.url("/api/v1/targets", true), {"--cacert", path("cert.pem")}).status,
            401);
  EXPECT_EQ(http_get(agent.url("/", true), {"--cacert", path("cert.pem")}).status, 401);
  // Plain HTTP to the TLS port gets no page.
  EXPECT_NE(http_get(agent.url("/metrics")).status, 200);
}

// The client is set up so that it CAN speak TLS 1.1 (shown against openssl s_server that
// allows it); the agent must be the side that refuses, with a protocol_version alert.
TEST_F(AgentWebConfig, ServerRefusesTls11Clients) {
  const std::vector<std::string> tls11 = {"-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"};
  auto handshake = [&](int port) {
    std::vector<std::string> argv = {"openssl", "s_client", "-connect",
                                     "127.0.0.1:" + std::to_string(port)};
    argv.insert(argv.end(), tls11.begin(), tls11.end());
    return run_command(argv, "");
  };

  int control_port = free_port();
  std::vector<std::string> server = {"openssl", "s_server", "-accept",
                                     std::to_string(control_port), "-cert", path("cert.pem"),
                                     "-key", path("key.pem")};
  server.insert(server.end(), tls11.begin(), tls11.end());
  HeldProcess control(server);
  ASSERT_TRUE(poll_until([&] { return port_accepts(control_port); }, 10s));
  auto c = handshake(control_port);
  EXPECT_NE(c.out.find("Protocol  : TLSv1.1"), std::string::npos) << c.out << c.err;
  EXPECT_EQ(c.out.find("Cipher is (NONE)"), std::string::npos)
      << "the TLS 1.1 client could not even talk to a TLS 1.1 server: " << c.out << c.err;

  AgentProcess agent({"--no-bpf", "--web.config.file", good_config()});
  ASSERT_TRUE(agent.wait_listening()) << agent.log();
  auto r = handshake(agent.port());
  EXPECT_NE(r.out.find("Cipher is (NONE)"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("alert protocol version"), std::string::npos) << r.err;

  // And TLS 1.2 is accepted.
  auto ok = get(agent, {"--tlsv1.2", "--tls-max", "1.2", "-u", std::string("alice:") + kPassword});
  EXPECT_EQ(ok.status, 200) << ok.error;
}

TEST_F(AgentWebConfig, MinVersionTls13RefusesTls12) {
  std::string file = write("web13.yml", "tls_server_config:\n  cert_file: " + path("cert.pem") +
                                            "\n  key_file: " + path("key.pem") +
                                            "\n  min_version: TLS13\n");
  AgentProcess agent({"--no-bpf", "--web.config.file", file});
  ASSERT_TRUE(agent.wait_listening()) << agent.log();
  auto old =
      http_get(agent.url("/healthz", true), {"--cacert", path("cert.pem"), "--tls-max", "1.2"});
  EXPECT_EQ(old.status, 0);
  EXPECT_NE(old.error.find("alert protocol version"), std::string::npos) << old.error;
  auto ok = http_get(agent.url("/healthz", true), {"--cacert", path("cert.pem"), "--tlsv1.3"});
  EXPECT_EQ(ok.status, 200) << ok.error;
}

// SIGHUP re-reads the web config and the files it names, as the exporters' toolkit does:
// users change from the next request and a renewed certificate (new files at the same
// paths, the way cert-manager rotates them) from the next handshake; a broken file or a
// change that needs a new listener keeps everything as it was and says why.
TEST_F(AgentWebConfig, SighupAppliesNewUsersAndARenewedCertificate) {
  std::string file = good_config();
  AgentProcess agent({"--no-bpf", "--web.config.file", file});
  ASSERT_TRUE(agent.wait_listening()) << agent.log();
  const std::string old_ca = write("old-ca.pem", "");
  std::filesystem::copy_file(path("cert.pem"), old_ca,
                             std::filesystem::copy_options::overwrite_existing);
  auto reload = [&](const std::string& marker) {
    auto before = count_of(agent.log(), marker);
    agent.signal(SIGHUP);
    return poll_until([&] { return count_of(agent.log(), marker) > before; }, 10s);
  };
  auto as = [&](const std::string& ca, const std::string& user) {
    return http_get(agent.url("/metrics", true),
                    {"--cacert", ca, "-u", user + ":" + kPassword});
  };

  // New files at the same paths, and carol instead of alice and bob.
  make_certificate("cert.new", "key.new");
  std::filesystem::rename(path("cert.new"), path("cert.pem"));
  std::filesystem::rename(path("key.new"), path("key.pem"));
  write("web.yml", "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n" +
                       std::string("basic_auth_users:\n  carol: ") + kHash2a + "\n");
  EXPECT_EQ(as(path("cert.pem"), "alice").status, 0) << "the new certificate before the reload";
  ASSERT_TRUE(reload("config reloaded")) << agent.log();
  auto carol = as(path("cert.pem"), "carol");
  EXPECT_EQ(carol.status, 200) << carol.error;
  EXPECT_NE(carol.body.find("goscry_config_last_reload_successful 1"), std::string::npos);
  EXPECT_EQ(as(path("cert.pem"), "alice").status, 401);
  auto old = as(old_ca, "carol");
  EXPECT_EQ(old.status, 0) << "the old certificate is still served";
  EXPECT_NE(old.error.find("certificate"), std::string::npos) << old.error;

  // A broken file, then TLS switched off: both refused, carol and the new certificate stay.
  for (const auto& [text, why] : std::vector<std::pair<std::string, std::string>>{
           {"basic_auth_users:\n  carol: secret\n", "basic_auth_users.carol is not a bcrypt hash"},
           {std::string("basic_auth_users:\n  carol: ") + kHash2a + "\n",
            "turning TLS off needs a restart"}}) {
    write("web.yml", text);
    ASSERT_TRUE(reload("config reload failed")) << agent.log();
    EXPECT_NE(agent.log().find(why), std::string::npos) << agent.log();
    auto still = as(path("cert.pem"), "carol");
    EXPECT_EQ(still.status, 200) << text << still.error;
    EXPECT_NE(still.body.find("goscry_config_last_reload_successful 0"), std::string::npos);
  }
}

// Plain HTTP to the TLS port is told so in one sentence, as Go's net/http does, instead of
// a connection closed without a word.
TEST_F(AgentWebConfig, PlainHttpToTheTlsPortIsToldToUseHttps) {
  AgentProcess agent({"--no-bpf", "--web.config.file", good_config()});
  ASSERT_TRUE(agent.wait_listening()) << agent.log();
  RawConnection c(agent.port());
  ASSERT_TRUE(c.send(get_request("/metrics")));
  const std::string answer = c.until_close(5s);
  EXPECT_EQ(status_of(answer), 400) << answer;
  EXPECT_NE(answer.find("Client sent an HTTP request to an HTTPS server."), std::string::npos)
      << answer;
}

// A SIGHUP while cert_file is a FIFO: the reload fails with one sentence at once (it used to
// block the reload thread in open(), so later SIGHUPs and SIGTERM were ignored), the running
// certificate stays, and SIGTERM still stops the agent.
TEST_F(AgentWebConfig, AFifoAsCertFileFailsTheReloadAndLeavesSignalsWorking) {
  AgentProcess agent({"--no-bpf", "--web.config.file", good_config()});
  ASSERT_TRUE(agent.wait_listening()) << agent.log();
  std::filesystem::rename(path("cert.pem"), path("ca.pem"));
  ASSERT_EQ(mkfifo(path("cert.pem").c_str(), 0600), 0);
  agent.signal(SIGHUP);
  const std::string why = "cert_file " + path("cert.pem") + ": a FIFO, not a regular file";
  ASSERT_TRUE(poll_until([&] { return agent.log().find(why) != std::string::npos; }, 10s))
      << agent.log();
  auto still = http_get(agent.url("/metrics", true),
                        {"--cacert", path("ca.pem"), "-u", std::string("alice:") + kPassword});
  EXPECT_EQ(still.status, 200) << still.error;
  agent.signal(SIGTERM);
  EXPECT_EQ(agent.wait_exit(10s), 0) << agent.log();
}

TEST_F(AgentWebConfig, MalformedConfigsRefuseToStartWithOneClearSentence) {
  std::string tls = "tls_server_config:\n  cert_file: " + path("cert.pem") +
                    "\n  key_file: " + path("key.pem") + "\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"tls_server_config: [unclosed\n", "not valid YAML"},
      {"basic_auth_users:\n  alice: secret\n", "basic_auth_users.alice is not a bcrypt hash"},
      {"basic_auth_users:\n  alice: $2b$05$short\n", "basic_auth_users.alice is not a bcrypt hash"},
      {tls + "  min_version: TLS11\n", "min_version TLS11 is below the minimum goscry accepts"},
      {tls + "  min_version: SSL3\n", "min_version must be TLS12 or TLS13"},
      {"tls_server_config:\n  cert_file: " + path("cert.pem") + "\n  key_file: " +
           path("missing.pem") + "\n",
       "key_file " + path("missing.pem") + ": No such file or directory"},
      {"tls_server_config:\n  cert_file: " + path("key.pem") + "\n  key_file: " +
           path("key.pem") + "\n",
       "cannot load certificate"},
      {tls + "  client_auth_type: RequireAndVerifyClientCert\n",
       "tls_server_config.client_auth_type is not supported"},
      {"http_server_config:\n  http2: false\n", "http_server_config is not supported"},
  };
  for (const auto& [text, want] : cases) {
    std::string file = write("bad.yml", text);
    AgentProcess agent({"--no-bpf", "--web.config.file", file});
    auto status = agent.wait_exit();
    ASSERT_TRUE(status.has_value()) << "agent started with:\n" << text << agent.log();
    EXPECT_EQ(*status, 2) << text;
    std::string log = agent.log();
    EXPECT_NE(log.find("bad web config: " + file + ": "), std::string::npos) << log;
    EXPECT_NE(log.find(want), std::string::npos) << "want \"" << want << "\" in:\n" << log;
    EXPECT_EQ(log.find("listening"), std::string::npos) << log;
    EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << "one line:\n" << log;
  }
  AgentProcess missing({"--no-bpf", "--web.config.file", path("nope.yml")});
  EXPECT_EQ(missing.wait_exit(), 2);
  EXPECT_NE(missing.log().find("web config file " + path("nope.yml") +
                               ": No such file or directory"),
            std::string::npos)
      << missing.log();
}

}  // namespace
}  // namespace goscry::testing
