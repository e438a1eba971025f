// The container labels' sources on their own: /proc/PID/cgroup lines as docker,
// containerd, CRI-O and podman write them (cgroup v1 and v2, cgroupfs and systemd drivers,
// copied in shape from real hosts), environment blocks, and a file read inside another
// root where a plain open would leave it through an absolute symlink.
// tests/bpf/agent_container_test.cpp checks the three labels on a real containerised process.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "agent/proc/container_identity.h"

namespace goscry {
namespace {

namespace fs = std::filesystem;

const std::string kId = "4f797c539e6c745de61a93ca3ff892358ecbcaccd8414d5db545c38428142970";
const std::string kOther = "9ec39b91f3d70e1beff50a308f77067065ea6be0d91a3378375056cd4422cf3d";

TEST(ContainerId, DockerCgroupfsV1EveryControllerLine) {
  std::string text;
  for (const char* c : {"10:net_prio", "9:perf_event", "4:memory", "2:cpu,cpuacct"})
    text += std::string(c) + ":/docker/" + kId + "\n";
  text += "1:name=systemd:/docker/" + kId + "\n0::/\n";
  EXPECT_EQ(container_id_from_cgroup(text), kId);
}

TEST(ContainerId, DockerSystemdDriverV1AndV2) {
  EXPECT_EQ(container_id_from_cgroup("8:memory:/system.slice/docker-" + kId + ".scope\n"
                                     "1:name=systemd:/system.slice/docker-" + kId + ".scope\n"),
            kId);
  EXPECT_EQ(container_id_from_cgroup("0::/system.slice/docker-" + kId + ".scope\n"), kId);
  EXPECT_EQ(container_id_from_cgroup("0::/docker/" + kId + "\n"), kId);
}

TEST(ContainerId, KubernetesContainerdSystemdAndCgroupfs) {
  EXPECT_EQ(container_id_from_cgroup(
                "0::/kubepods.slice/kubepods-burstable.slice/"
                "kubepods-burstable-pod5c0a8a5e_2f7b_4f6e_9a53_3f2c1f0e6a1b.slice/"
                "cri-containerd-" + kId + ".scope\n"),
            kId);
  EXPECT_EQ(container_id_from_cgroup(
                "12:memory:/kubepods/besteffort/pod5c0a8a5e-2f7b-4f6e-9a53-3f2c1f0e6a1b/" + kId +
                "\n11:pids:/kubepods/besteffort/pod5c0a8a5e-2f7b-4f6e-9a53-3f2c1f0e6a1b/" + kId +
                "\n0::/\n"),
            kId);
  EXPECT_EQ(container_id_from_cgroup("0::/kubepods/pod5c0a8a5e-2f7b-4f6e-9a53-3f2c1f0e6a1b/" +
                                     kId + "\n"),
            kId);
}

TEST(ContainerId, CriO) {
  EXPECT_EQ(container_id_from_cgroup(
                "0::/kubepods.slice/kubepods-besteffort.slice/"
                "kubepods-besteffort-pod0f1e2d3c_4b5a_6978_8796_a5b4c3d2e1f0.slice/crio-" +
                kId + ".scope\n"),
            kId);
}

TEST(ContainerId, PodmanRootAndRootless) {
  EXPECT_EQ(container_id_from_cgroup("0::/machine.slice/libpod-" + kId + ".scope\n"), kId);
  // crun puts the payload one level below the scope.
  EXPECT_EQ(container_id_from_cgroup("0::/user.slice/user-1000.slice/user@1000.service/"
                                     "user.slice/libpod-" + kId + ".scope/container\n"),
            kId);
}

TEST(ContainerId, RelativeToTheAgentsCgroupNamespace) {
  // An agent in its own cgroup namespace sees other pods' paths above its root.
  EXPECT_EQ(container_id_from_cgroup("0::/../../kubepods-besteffort-pod0f1e2d3c_4b5a.slice/"
                                     "cri-containerd-" + kId + ".scope\n"),
            kId);
}

TEST(ContainerId, NestedContainersGiveTheInnermost) {
  EXPECT_EQ(container_id_from_cgroup("0::/docker/" + kOther + "/docker/" + kId + "\n"), kId);
}

TEST(ContainerId, TheV2LineWinsOverV1Lines) {
  EXPECT_EQ(container_id_from_cgroup("4:memory:/docker/" + kOther + "\n0::/system.slice/docker-" +
                                     kId + ".scope\n"),
            kId);
}

TEST(ContainerId, NoneOnTheHost) {
  EXPECT_EQ(container_id_from_cgroup("0::/init.scope\n"), "");
  EXPECT_EQ(container_id_from_cgroup("0::/system.slice/ssh.service\n"), "");
  EXPECT_EQ(container_id_from_cgroup("0::/user.slice/user-1000.slice/session-3.scope\n"), "");
  EXPECT_EQ(container_id_from_cgroup("0::/user.slice/user-1000.slice/user@1000.service/app.slice/"
                                     "app-gnome-firefox-4242.scope\n"),
            "");
  // 32 hex digits (a sandbox's cgroup name) are not a container id.
  EXPECT_EQ(container_id_from_cgroup("9:name=systemd:/\n4:memory:/process_api/"
                                     "a63078b75d8ffb4532c7e9e802eb9300\n0::/\n"),
            "");
  EXPECT_EQ(container_id_from_cgroup(""), "");
}

TEST(ContainerId, NotQuiteAnIdIsNone) {
  EXPECT_EQ(container_id_from_cgroup("0::/docker/" + kId.substr(1) + "\n"), "");  // 63
  EXPECT_EQ(container_id_from_cgroup("0::/docker/" + kId + "0\n"), "");           // 65
  std::string upper = kId;
  for (auto& c : upper) c = char(std::toupper(c));
  EXPECT_EQ(container_id_from_cgroup("0::/docker/" + upper + "\n"), "");
  std::string not_hex = kId;
  not_hex[10] = 'g';
  EXPECT_EQ(container_id_from_cgroup("0::/docker/" + not_hex + "\n"), "");
}

TEST(ContainerId, MalformedLinesAreSkipped) {
  EXPECT_EQ(container_id_from_cgroup("garbage\n0:\n:\n\n\xff\xfe:x\n" + kId + "\n"), "");
  EXPECT_EQ(container_id_from_cgroup("garbage\n0::/docker/" + kId), kId);  // no final newline
}

TEST(EnvironValue, FindsTheExactName) {
  using namespace std::string_literals;
  const std::string env = "PATH=/usr/bin\0HOSTNAMEX=no\0HOSTNAME=api-7d9f8b6c5-x2kqz\0TERM=x"s;
  EXPECT_EQ(environ_value(env, "HOSTNAME"), "api-7d9f8b6c5-x2kqz");
  EXPECT_EQ(environ_value(env, "TERM"), "x");  // the last entry, without its NUL
  EXPECT_EQ(environ_value(env, "HOME"), "");
  EXPECT_EQ(environ_value(""s, "HOSTNAME"), "");
  EXPECT_EQ(environ_value("HOSTNAME\0"s, "HOSTNAME"), "");
}

class FakeRoot : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(::testing::TempDir()) / ("goscry-root-" + std::to_string(getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_ / "run/secrets/kubernetes.io/serviceaccount");
    fs::create_directories(root_ / "var");
    // As in Debian-based images: absolute, so through a plain open it would lead to the
    // reader's own /run.
    fs::create_symlink("/run", root_ / "var/run");
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path root_;
  const std::string ns_path_ = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
};

TEST_F(FakeRoot, AbsoluteSymlinksResolveInsideTheRoot) {
  std::ofstream(root_ / "run/secrets/kubernetes.io/serviceaccount/namespace") << "team-a";
  auto ns = read_file_in_root(root_.string(), ns_path_, 256);
  ASSERT_TRUE(ns) << ns.error().message;
  EXPECT_EQ(*ns, "team-a");
  // The oracle that the symlink was followed inside: our own /run has no such file.
  EXPECT_FALSE(fs::exists("/run/secrets/kubernetes.io/serviceaccount/namespace"));
}

TEST_F(FakeRoot, AFifoIsRefusedWithoutBlocking) {
  ASSERT_EQ(mkfifo((root_ / "run/secrets/kubernetes.io/serviceaccount/namespace").c_str(), 0600),
            0);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(read_file_in_root(root_.string(), ns_path_, 256));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_F(FakeRoot, MissingOrOversizedIsAnError) {
  EXPECT_FALSE(read_file_in_root(root_.string(), ns_path_, 256));
  std::ofstream(root_ / "run/secrets/kubernetes.io/serviceaccount/namespace")
      << std::string(1000, 'a');
  EXPECT_FALSE(read_file_in_root(root_.string(), ns_path_, 256));
  EXPECT_FALSE(read_file_in_root((root_ / "nowhere").string(), ns_path_, 256));
}

TEST(ContainerIdentity, AVanishedProcessHasEmptyLabels) {
  // pid_max is at most 2^22: this pid never exists.
  ContainerIdentity id = read_container_identity(pid_t(1) << 23);
  EXPECT_EQ(id.container_id, "");
  EXPECT_EQ(id.pod, "");
  EXPECT_EQ(id.kube_namespace, "");
}

}  // namespace
}  // namespace goscry
