// The continuous profiler's settings and the shape of its Pyroscope requests, on their own:
// the YAML keys (and what they refuse), the --profile-hz flag over the file, and the
// ingest URL, query and application name pyroscope-go would send for the same profile.
#include <gtest/gtest.h>

#include "agent/daemon/agent_config.h"
#include "agent/daemon/pyroscope_push.h"

namespace goscry {
namespace {

using namespace std::chrono_literals;

TEST(ProfilingConfig, ParsesTheKeysWithTheirDefaults) {
  auto d = parse_agent_config("");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->profile_hz, 19);
  EXPECT_EQ(d->pyroscope_url, "");
  EXPECT_EQ(d->pyroscope_interval, 15s);

  auto c = parse_agent_config(
      "profile_hz: 0\npyroscope_url: https://pyro.example:4040/p\npyroscope_interval: 1m\n"
      "pyroscope_labels: {env: prod, zone_1: eu-west}\n");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->profile_hz, 0);
  EXPECT_EQ(c->pyroscope_url, "https://pyro.example:4040/p");
  EXPECT_EQ(c->pyroscope_interval, 60s);
  EXPECT_EQ(c->pyroscope_labels,
            (std::map<std::string, std::string>{{"env", "prod"}, {"zone_1", "eu-west"}}));
}

TEST(ProfilingConfig, RefusesWhatPyroscopeOrTheSamplerCannotTake) {
  EXPECT_EQ(parse_agent_config("profile_hz: 1001\n").error().message,
            "profile_hz: must be between 0 (off) and 1000");
  EXPECT_EQ(parse_agent_config("profile_hz: -1\n").error().message,
            "profile_hz: must be between 0 (off) and 1000");
  EXPECT_EQ(parse_agent_config("profile_hz: fast\n").error().message,
            "profile_hz: not a valid value");
  EXPECT_EQ(parse_agent_config("pyroscope_url: pyro:4040\n").error().message,
            "pyroscope_url: must start with http:// or https://");
  EXPECT_EQ(parse_agent_config("pyroscope_interval: 500ms\n").error().message,
            "pyroscope_interval: must be at least 1s");
  EXPECT_EQ(parse_agent_config("pyroscope_labels: [a]\n").error().message,
            "pyroscope_labels: must be a mapping of label names to values");
  EXPECT_EQ(parse_agent_config("pyroscope_labels: {1x: a}\n").error().message,
            "pyroscope_labels: \"1x\" is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)");
  EXPECT_EQ(parse_agent_config("pyroscope_labels: {env: 'a,b'}\n").error().message,
            "pyroscope_labels: env: a value may not hold , { } = or \"");
}

TEST(ProfilingConfig, TheFlagWinsOverTheFile) {
  ConfigFlags flags;
  flags.profile_hz = 49;
  auto c = load_agent_config(flags);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->profile_hz, 49);
  flags.profile_hz = 5000;
  EXPECT_EQ(load_agent_config(flags).error().message,
            "--profile-hz: must be between 0 (off) and 1000");
}

TEST(PyroscopePush, NamesTheApplicationAndBuildsTheIngestQuery) {
  EXPECT_EQ(pyroscope_name("/srv/bin/api-server", 42, {}), "api-server{pid=42}");
  EXPECT_EQ(pyroscope_name("/x/we{ird},name", 7, {{"env", "prod"}, {"az", "1"}}),
            "we_ird__name{pid=7,az=1,env=prod}");
  EXPECT_EQ(pyroscope_name("", 1, {}), "unknown{pid=1}");

  PyroscopePush p{"api{pid=42,env=prod}", 1700000000, 1700000015, 19, "gz"};
  auto t = pyroscope_target("http://pyro:4040", p);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(*t,
            "/ingest?name=api%7Bpid%3D42%2Cenv%3Dprod%7D&from=1700000000&until=1700000015"
            "&spyName=goscry&sampleRate=19&units=samples&aggregationType=sum");
  // A path prefix (a server behind a reverse proxy) is kept; trailing slashes are not doubled.
  EXPECT_TRUE(pyroscope_target("https://h/pyroscope/", p)->starts_with("/pyroscope/ingest?"));
  EXPECT_FALSE(pyroscope_target("pyro:4040", p));
}

}  // namespace
}  // namespace goscry
