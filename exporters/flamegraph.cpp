#include "exporters/flamegraph.h"

#include "exporters/markup_escape.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>

namespace goscry::flame {
namespace {

std::string clean_frame(const std::string& f) {
  std::string out;
  out.reserve(f.size());
  for (char c : f) {
    if (c == ';') out += ':';
    else if (c != '\n' && c != '\r') out += c;
  }
  return out;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// A prefix tree of stacks: children sorted by name so the picture is stable (flame graphs
// order alphabetically, not by time).
struct Node {
  std::string name;
  std::uint64_t total = 0;
  std::map<std::string, std::unique_ptr<Node>> children;
};

Node build_tree(const std::vector<StackCount>& stacks) {
  Node root;
  root.name = "all";
  for (const auto& s : stacks) {
    if (s.count == 0) continue;
    root.total += s.count;
    Node* n = &root;
    for (const auto& f : s.frames) {
      auto& child = n->children[clean_frame(f)];
      if (!child) {
        child = std::make_unique<Node>();
        child->name = clean_frame(f);
      }
      child->total += s.count;
      n = child.get();
    }
  }
  return root;
}

int depth_of(const Node& n) {
  int d = 0;
  for (const auto& [_, c] : n.children) d = std::max(d, depth_of(*c));
  return d + 1;
}

// Warm colours for user code, blue-green for the Go runtime, orange for kernel frames
// (goscry marks them with a "[k]" suffix), yellow for cgo/native frames ("[native]").
std::string colour(const std::string& name) {
  std::size_t h = std::hash<std::string>{}(name);
  int v1 = h % 55, v2 = (h >> 8) % 55;
  char buf[32];
  if (name.ends_with("[k]")) std::snprintf(buf, sizeof buf, "rgb(%d,%d,%d)", 230, 120 + v1, 30);
  else if (name.ends_with("[native]")) std::snprintf(buf, sizeof buf, "rgb(%d,%d,%d)", 200 + v1 / 2, 200 + v1 / 2, 60);
  else if (name.starts_with("runtime.")) std::snprintf(buf, sizeof buf, "rgb(%d,%d,%d)", 80 + v1, 170 + v2 / 2, 190);
  else std::snprintf(buf, sizeof buf, "rgb(%d,%d,%d)", 205 + v1, 80 + v2 * 2, 50);
  return buf;
}

const char* kScript = R"JS(
"use strict";
var svg = document.documentElement, details, searchBtn, matchedTxt, total;
function init() {
  details = document.getElementById("details").firstChild;
  searchBtn = document.getElementById("search");
  matchedTxt = document.getElementById("matched");
  total = parseFloat(svg.getAttribute("data-total"));
  document.getElementById("unzoom").addEventListener("click", unzoom);
  searchBtn.addEventListener("click", function () { search(prompt("Search (regular expression)", "")); });
  var frames = document.getElementById("frames");
  frames.addEventListener("click", function (e) {
    var g = e.target.closest("g.f"); if (g) zoom(g);
  });
  frames.addEventListener("mouseover", function (e) {
    var g = e.target.closest("g.f"); if (g) details.nodeValue = g.querySelector("title").textContent;
  });
  frames.addEventListener("mouseout", function () { details.nodeValue = " "; });
  var q = new URLSearchParams(location.search).get("s");
  if (q) search(q);
}
function attr(e, n) { return parseFloat(e.getAttribute(n)); }
function frameName(g) { return g.getAttribute("data-name"); }
function update(g, x, w) {
  var r = g.querySelector("rect"), t = g.querySelector("text");
  r.setAttribute("x", x); r.setAttribute("width", Math.max(0, w));
  t.setAttribute("x", x + 3);
  var name = frameName(g), fit = Math.floor((w - 6) / 7);
  t.textContent = fit < 3 ? "" : (name.length <= fit ? name : name.substring(0, fit - 2) + "..");
  g.style.display = w < 0.1 ? "none" : "";
}
function zoom(target) {
  var width = attr(svg, "data-width"), pad = 10, span = width - 2 * pad;
  var tx = attr(target, "data-x"), tw = attr(target, "data-w"), ty = attr(target, "data-depth");
  var scale = span / tw;
  document.querySelectorAll("g.f").forEach(function (g) {
    var x = attr(g, "data-x"), w = attr(g, "data-w"), d = attr(g, "data-depth");
    var inside = x >= tx - 1e-9 && x + w <= tx + tw + 1e-9;
    if (d < ty) { g.classList.add("parent"); update(g, pad, span); }
    else if (inside) { g.classList.remove("parent"); update(g, pad + (x - tx) * scale, w * scale); }
    else { update(g, 0, 0); }
  });
  document.getElementById("unzoom").style.opacity = 1;
}
function unzoom() {
  var width = attr(svg, "data-width"), pad = 10, span = width - 2 * pad;
  document.querySelectorAll("g.f").forEach(function (g) {
    g.classList.remove("parent");
    update(g, pad + attr(g, "data-x") * span, attr(g, "data-w") * span);
  });
  document.getElementById("unzoom").style.opacity = 0;
}
function search(term) {
  document.querySelectorAll("g.f rect.m").forEach(function (r) {
    r.setAttribute("fill", r.getAttribute("data-fill")); r.classList.remove("m");
  });
  if (!term) { matchedTxt.textContent = ""; return; }
  var re = new RegExp(term), spans = [];
  document.querySelectorAll("g.f").forEach(function (g) {
    if (!re.test(frameName(g))) return;
    var r = g.querySelector("rect");
    r.setAttribute("data-fill", r.getAttribute("fill"));
    r.setAttribute("fill", "rgb(230,0,230)"); r.classList.add("m");
    spans.push([attr(g, "data-x"), attr(g, "data-w")]);
  });
  // Count each sample once: nested matches overlap their parents.
  spans.sort(function (a, b) { return a[0] - b[0]; });
  var covered = 0, end = -1;
  spans.forEach(function (s) {
    if (s[0] >= end) { covered += s[1]; end = s[0] + s[1]; }
    else if (s[0] + s[1] > end) { covered += s[0] + s[1] - end; end = s[0] + s[1]; }
  });
  matchedTxt.textContent = "Matched: " + (100 * covered).toFixed(1) + "%";
}
window.addEventListener("load", init);
)JS";

}  // namespace

std::string folded(const std::vector<StackCount>& stacks) {
  std::map<std::string, std::uint64_t> lines;
  for (const auto& s : stacks) {
    if (s.count == 0 || s.frames.empty()) continue;
    std::string key;
    for (const auto& f : s.frames) {
      if (!key.empty()) key += ';';
      key += clean_frame(f);
    }
    lines[key] += s.count;
  }
  std::string out;
  for (const auto& [stack, n] : lines) out += stack + " " + std::to_string(n) + "\n";
  return out;
}

std::string svg(const std::vector<StackCount>& stacks, const SvgOptions& o) {
  Node root = build_tree(stacks);
  const int depth = root.total == 0 ? 1 : depth_of(root);
  const int top = 60, bottom = 30, pad = 10;
  const int height = top + depth * o.frame_height + bottom;
  const double span = o.width - 2.0 * pad;
  std::string out;
  out += "<?xml version=\"1.0\" standalone=\"no\"?>\n";
  out += "<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(o.width) +
         "\" height=\"" + std::to_string(height) + "\" viewBox=\"0 0 " + std::to_string(o.width) + " " +
         std::to_string(height) + "\" data-width=\"" + std::to_string(o.width) + "\" data-total=\"" +
         std::to_string(root.total) + "\">\n";
  out += "<style>text{font-family:monospace;font-size:12px;fill:#000}"
         "g.f:hover rect{stroke:#000;stroke-width:0.5;cursor:pointer}"
         "g.parent rect{opacity:0.5}#title{font-size:17px;text-anchor:middle}"
         ".btn{cursor:pointer;fill:#333}</style>\n";
  out += "<script type=\"text/ecmascript\"><![CDATA[" + std::string(kScript) + "]]></script>\n";
  out += "<rect x=\"0\" y=\"0\" width=\"100%\" height=\"100%\" fill=\"#f8f8f8\"/>\n";
  out += "<text id=\"title\" x=\"" + std::to_string(o.width / 2) + "\" y=\"24\">" + markup_escape(o.title) + "</text>\n";
  if (!o.subtitle.empty())
    out += "<text x=\"" + std::to_string(o.width / 2) + "\" y=\"42\" style=\"text-anchor:middle\">" +
           markup_escape(o.subtitle) + "</text>\n";
  out += "<text id=\"unzoom\" class=\"btn\" x=\"10\" y=\"24\" style=\"opacity:0\">Reset Zoom</text>\n";
  out += "<text id=\"search\" class=\"btn\" x=\"" + std::to_string(o.width - 110) + "\" y=\"24\">Search</text>\n";
  out += "<text id=\"matched\" x=\"" + std::to_string(o.width - 110) + "\" y=\"" + std::to_string(height - 10) + "\"></text>\n";
  out += "<text id=\"details\" x=\"10\" y=\"" + std::to_string(height - 10) + "\"> </text>\n";
  out += "<g id=\"frames\">\n";
  if (root.total == 0) {
    out += "<text x=\"" + std::to_string(o.width / 2) + "\" y=\"" + std::to_string(top + 12) +
           "\" style=\"text-anchor:middle\">no samples</text>\n";
  }
  // Depth 0 ("all") at the bottom, leaves on top: the classic orientation.
  std::function<void(const Node&, double, int)> draw = [&](const Node& n, double x, int d) {
    if (root.total == 0) return;
    double frac_w = double(n.total) / double(root.total);
    double w = frac_w * span;
    if (w < o.min_width_px) return;
    double px = pad + x * span;
    double y = top + (depth - 1 - d) * o.frame_height;
    double pct = 100.0 * frac_w;
    std::string name = markup_escape(n.name);
    out += "<g class=\"f\" data-name=\"" + name + "\" data-x=\"" + fmt("%.9f", x) + "\" data-w=\"" +
           fmt("%.9f", frac_w) + "\" data-depth=\"" + std::to_string(d) + "\"><title>" + name + " (" +
           std::to_string(n.total) + " " + markup_escape(o.unit) + ", " + fmt("%.2f", pct) + "%)</title>";
    out += "<rect x=\"" + fmt("%.2f", px) + "\" y=\"" + fmt("%.1f", y) + "\" width=\"" + fmt("%.2f", w) +
           "\" height=\"" + std::to_string(o.frame_height - 1) + "\" rx=\"2\" fill=\"" + colour(n.name) + "\"/>";
    std::size_t fit = w < 6 ? 0 : static_cast<std::size_t>((w - 6) / 7);
    std::string label = fit < 3 ? "" : (n.name.size() <= fit ? n.name : n.name.substr(0, fit - 2) + "..");
    out += "<text x=\"" + fmt("%.2f", px + 3) + "\" y=\"" + fmt("%.1f", y + o.frame_height - 4) + "\">" +
           markup_escape(label) + "</text></g>\n";
    double cx = x;
    for (const auto& [_, c] : n.children) {
      draw(*c, cx, d + 1);
      cx += double(c->total) / double(root.total);
    }
  };
  draw(root, 0.0, 0);
  out += "</g>\n</svg>\n";
  return out;
}

}  // namespace goscry::flame
