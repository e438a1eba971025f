// The SVG flame graph of `goscry record` in a real browser: headless Chromium (Debian
// `chromium`, installed by scripts/setup.sh) loads it inside a page that, once everything
// has loaded, lists every <text> of the SVG with the width the browser laid it out at.
// --dump-dom prints that page. The oracle is the browser's own rendering: the frame names
// must be there with non-zero rendered widths, and the SVG's script must have run (the
// "?s=" search it performs on load fills in its "Matched:" line).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>

#include "agent/probes/bpf_loader.h"
#include "tests/support/fixtures.h"
#include "tests/support/live_process.h"
#include "tests/support/recording.h"

namespace goscry {
namespace {

using testing::LiveProcess;
using testing::run_command;
using testing::split_lines;

const char* kPage = R"HTML(<html><body><object id="o" data="flame.svg?s=main%5C.burnTwice"
 type="image/svg+xml" width="1200" height="600"></object><pre id="out"></pre><script>
window.addEventListener("load", function () {
  var d = document.getElementById("o").contentDocument, out = [];
  if (!d) { document.getElementById("out").textContent = "NO ACCESS"; return; }
  d.querySelectorAll("text").forEach(function (t) {
    out.push("TEXT\t" + t.textContent + "\t" + t.getComputedTextLength().toFixed(1));
  });
  document.getElementById("out").textContent = out.join("\n");
});
</script></body></html>
)HTML";

TEST(RecordSvgBrowser, ChromiumRendersTheFrameNamesAndRunsTheScript) {
  SKIP_OR_FAIL_WITHOUT_BPF();
  if (access("/usr/bin/chromium", X_OK) != 0) {
    const char* ci = std::getenv("CI");
    if (ci && std::string(ci) == "true") FAIL() << "chromium missing: run scripts/setup.sh";
    GTEST_SKIP() << "chromium missing: run scripts/setup.sh";
  }
  const auto f = testing::newest_fixture("cpuburn");
  ASSERT_TRUE(f) << "no cpuburn fixture was built";
  auto target = LiveProcess::start({f->path});
  ASSERT_TRUE(target) << target.error().message;
  const std::string dir = testing::temp_path("browser");
  ASSERT_EQ(run_command({"mkdir", "-p", dir}).exit_code, 0);
  ASSERT_EQ(testing::record((*target)->pid(), {"-d", "2s", "-o", dir + "/flame.svg"}).exit_code, 0);
  std::ofstream(dir + "/page.html") << kPage;

  // Root needs --no-sandbox; file:// pages may read each other only with
  // --allow-file-access-from-files; the virtual time budget lets the load handlers run
  // before the DOM is dumped.
  auto r = run_command({"timeout", "90", "/usr/bin/chromium", "--headless", "--no-sandbox",
                        "--disable-gpu", "--allow-file-access-from-files",
                        "--virtual-time-budget=5000", "--dump-dom", "file://" + dir + "/page.html"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, double> width;  // rendered text -> widest rendering
  std::string matched;
  for (const auto& line : split_lines(r.out)) {
    auto start = line.find("TEXT\t");
    if (start == std::string::npos) continue;
    auto tab = line.rfind('\t');
    std::string text = line.substr(start + 5, tab - start - 5);
    width[text] = std::max(width[text], std::atof(line.c_str() + tab + 1));
    if (text.starts_with("Matched: ")) matched = text;
  }
  ASSERT_FALSE(width.empty()) << r.out;
  std::printf("rendered widths: main.burnTwice %.1f, main.burnOnce %.1f, main.burn %.1f px; %s\n",
              width["main.burnTwice"], width["main.burnOnce"], width["main.burn"], matched.c_str());
  for (const char* name : {"main.burnTwice", "main.burnOnce", "main.burn", "all"})
    EXPECT_GT(width[name], 10.0) << name << " not rendered\n" << r.out;
  // Stacks end below runtime.goexit, as runtime/pprof's do (docs/go-runtime.md).
  EXPECT_FALSE(width.contains("runtime.goexit")) << r.out;
  // burnTwice has half of the burn: the script's search found it.
  ASSERT_FALSE(matched.empty()) << "the SVG's script did not run\n" << r.out;
  const double pct = std::atof(matched.c_str() + 9);
  EXPECT_GT(pct, 25.0) << matched;
  EXPECT_LT(pct, 75.0) << matched;
}

}  // namespace
}  // namespace goscry
