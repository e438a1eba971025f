#include "exporters/flamegraph.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <regex>

#include "tests/support/fixtures.h"

namespace goscry::flame {
namespace {

std::vector<StackCount> sample_stacks() {
  return {
      {{"runtime.goexit", "main.main", "main.work"}, 20},
      {{"runtime.goexit", "main.main", "main.other"}, 10},
      {{"runtime.goexit", "main.main", "main.work"}, 5},
      {{"runtime.goexit", "main.(*T).M[...]", "syscall.read", "do_syscall_64 [k]"}, 3},
      {{"main;odd"}, 1},
  };
}

TEST(Flamegraph, FoldedMergesEqualStacksAndSortsLines) {
  EXPECT_EQ(folded(sample_stacks()),
            "main:odd 1\n"
            "runtime.goexit;main.(*T).M[...];syscall.read;do_syscall_64 [k] 3\n"
            "runtime.goexit;main.main;main.other 10\n"
            "runtime.goexit;main.main;main.work 25\n");
}

// python3's XML parser is the oracle for well-formedness; the frame widths must be the
// sample shares.
TEST(Flamegraph, SvgIsWellFormedAndFrameWidthsAreSampleShares) {
  SvgOptions options;
  options.title = "t <&> \"q\"";
  std::string doc = svg(sample_stacks(), options);
  std::string path = ::testing::TempDir() + "/flame.svg";
  std::ofstream(path) << doc;
  auto r = testing::run_command({"python3", "-c",
                                 "import sys, xml.dom.minidom as m\n"
                                 "d = m.parse(sys.argv[1])\n"
                                 "for g in d.getElementsByTagName('g'):\n"
                                 "  if g.getAttribute('class') == 'f':\n"
                                 "    print(g.getAttribute('data-name') + '\\t' + g.getAttribute('data-w'))\n",
                                 path});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, double> width;
  for (const auto& line : testing::split_lines(r.out)) {
    auto tab = line.find('\t');
    width[line.substr(0, tab)] += std::stod(line.substr(tab + 1));
  }
  const double total = 39;
  EXPECT_NEAR(width["all"], 1.0, 1e-9);
  EXPECT_NEAR(width["main.work"], 25 / total, 1e-6);
  EXPECT_NEAR(width["main.other"], 10 / total, 1e-6);
  EXPECT_NEAR(width["main.(*T).M[...]"], 3 / total, 1e-6);
  EXPECT_NEAR(width["do_syscall_64 [k]"], 3 / total, 1e-6);
  EXPECT_NEAR(width["main:odd"], 1 / total, 1e-6);
}

TEST(Flamegraph, EmptyProfileSaysSo) {
  std::string doc = svg({});
  EXPECT_NE(doc.find("no samples"), std::string::npos);
  EXPECT_EQ(folded({}), "");
}

}  // namespace
}  // namespace goscry::flame
