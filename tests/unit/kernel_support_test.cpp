// What goscry tells a user whose kernel cannot run it: the one-sentence refusal of a kernel
// older than the oldest supported one, the probe of the running kernel's features (checked
// against uname and /sys), and the verifier's explanation pulled out of libbpf's messages of
// a failed load, whole. The logs below are libbpf's real messages, captured in QEMU guests
// running Debian's 5.10 and 6.1 kernels before goscry's programs chose variants per kernel.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include <cstdio>
#include <string>

#include "agent/probes/bpf_loader.h"
#include "agent/proc/privileges.h"

namespace goscry {
namespace {

TEST(KernelSupport, RefusesAKernelWithoutTheRingBufferInOneSentence) {
  KernelFeatures f{.btf = true, .ringbuf = false, .probe_read_user = true};
  EXPECT_EQ(unsupported_kernel("5.4.0-150-generic", f),
            "Linux 5.4.0-150-generic cannot run goscry, which needs Linux 5.8 or newer with "
            "BTF: it lacks the BPF ring buffer (5.8)");
}

TEST(KernelSupport, NamesEveryMissingFeature) {
  EXPECT_EQ(unsupported_kernel("4.19.0-27-amd64", KernelFeatures{}),
            "Linux 4.19.0-27-amd64 cannot run goscry, which needs Linux 5.8 or newer with BTF: "
            "it lacks BTF (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF), the BPF ring buffer "
            "(5.8), bpf_probe_read_user (5.5)");
}

TEST(KernelSupport, AcceptsAKernelWithoutCookies) {
  // 5.10: no bpf_get_attach_cookie, which the probe_regs map stands in for.
  KernelFeatures f{.btf = true, .ringbuf = true, .probe_read_user = true, .attach_cookie = false};
  EXPECT_EQ(unsupported_kernel("5.10.0-32-amd64", f), std::nullopt);
}

// The running kernel, probed, against what uname and sysfs say of it.
TEST(KernelSupport, ProbesTheRunningKernel) {
  if (auto why = missing_privileges()) {
    const char* ci = std::getenv("CI");
    if (ci && std::string(ci) == "true") FAIL() << *why;
    GTEST_SKIP() << *why;
  }
  utsname u{};
  ASSERT_EQ(uname(&u), 0);
  EXPECT_EQ(kernel_release(), u.release);
  int major = 0, minor = 0;
  ASSERT_EQ(std::sscanf(u.release, "%d.%d", &major, &minor), 2);
  struct stat st {};
  const bool btf = ::stat("/sys/kernel/btf/vmlinux", &st) == 0;
  const auto f = probe_kernel_features();
  EXPECT_EQ(f.btf, btf);
  const auto at_least = [&](int ma, int mi) { return major > ma || (major == ma && minor >= mi); };
  EXPECT_EQ(f.ringbuf, at_least(5, 8));
  EXPECT_EQ(f.probe_read_user, at_least(5, 5));
  EXPECT_EQ(f.attach_cookie, btf && at_least(5, 15));
  EXPECT_EQ(unsupported_kernel(u.release, f).has_value(), !(btf && at_least(5, 8)));
}

// libbpf 1.1's messages of the 5.10 refusal (log cut to its last lines).
const char* const k510Messages =
    "libbpf: prog 'goscry_newproc1_ret': BPF program load failed: Invalid argument\n"
    "libbpf: prog 'goscry_newproc1_ret': -- BEGIN PROG LOAD LOG --\n"
    "; switch (bpf_get_attach_cookie(ctx)) {\n"
    "23: (bf) r1 = r8\n"
    "24: (85) call unknown#174\n"
    "invalid func unknown#174\n"
    "verification time 27971 usec\n"
    "stack depth 280\n"
    "processed 27 insns (limit 1000000) max_states_per_insn 0 total_states 3 peak_states 3 "
    "mark_read 2\n"
    "-- END PROG LOAD LOG --\n"
    "libbpf: prog 'goscry_newproc1_ret': failed to load: -22\n"
    "libbpf: failed to load object 'runtime_bpf'\n";

TEST(VerifierFailure, NamesTheProgramAndTheVerifiersCauseThenTheWholeLog) {
  const std::string v = verifier_failure(k510Messages);
  EXPECT_TRUE(v.starts_with("prog 'goscry_newproc1_ret': invalid func unknown#174; the "
                            "verifier's whole log:\n; switch (bpf_get_attach_cookie(ctx)) {\n"))
      << v;
  EXPECT_TRUE(v.ends_with("processed 27 insns (limit 1000000) max_states_per_insn 0 "
                          "total_states 3 peak_states 3 mark_read 2\n"))
      << v;
}

TEST(VerifierFailure, KeepsALogLongerThanAnyFixedBuffer) {
  // The 6.1 refusal came after a long trace: goscry's old 1 KiB buffer cut it off.
  std::string log;
  for (int i = 0; i < 5000; ++i) log += std::to_string(i) + ": (b7) r1 = 0\n";
  log += "invalid indirect read from stack R1 off -280+0 size 248\n";
  const std::string m = "libbpf: prog 'goscry_newproc1_ret': -- BEGIN PROG LOAD LOG --\n" +
                        log + "processed 5001 insns\n-- END PROG LOAD LOG --\n";
  const std::string v = verifier_failure(m);
  EXPECT_TRUE(v.starts_with("prog 'goscry_newproc1_ret': invalid indirect read from stack R1 "
                            "off -280+0 size 248;"))
      << v.substr(0, 200);
  EXPECT_NE(v.find("0: (b7) r1 = 0\n1: (b7)"), std::string::npos);
  EXPECT_NE(v.find("4999: (b7) r1 = 0\n"), std::string::npos);
}

TEST(VerifierFailure, NothingWithoutAVerifierLog) {
  EXPECT_EQ(verifier_failure("libbpf: map 'events': failed to create: Invalid argument(-22)\n"),
            "");
}

}  // namespace
}  // namespace goscry
