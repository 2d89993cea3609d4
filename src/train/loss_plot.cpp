#include "train/loss_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "train/checkpoint.h"

namespace frugal {

namespace {

struct Point {
  double x, y;
};

// Tick spacing of 1, 2 or 5 times a power of ten giving about `target` ticks: the values people read
// off a chart without arithmetic.
double nice_step(double span, int target) {
  const double raw = span / target;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / power;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * power;
}

std::string num(double v, int decimals) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        // Control characters are not allowed in XML 1.0 text; drop them rather than emit a broken file.
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\t' || c == '\n') out += c;
    }
  }
  return out;
}

std::vector<Point> finite_points(std::span<const LossPoint> points) {
  std::vector<Point> out;
  for (const LossPoint& p : points)
    if (std::isfinite(p.loss)) out.push_back({double(p.step), p.loss});
  return out;
}

std::vector<Point> downsample(const std::vector<Point>& pts, size_t max_points) {
  if (max_points == 0 || pts.size() <= max_points) return pts;
  std::vector<Point> out;
  out.reserve(max_points);
  for (size_t b = 0; b < max_points; ++b) {
    const size_t lo = b * pts.size() / max_points, hi = (b + 1) * pts.size() / max_points;
    Point mean{0, 0};
    for (size_t i = lo; i < hi; ++i) mean.x += pts[i].x, mean.y += pts[i].y;
    out.push_back({mean.x / double(hi - lo), mean.y / double(hi - lo)});
  }
  return out;
}

}  // namespace

std::string loss_plot_svg(std::span<const LossPoint> train_in, std::span<const LossPoint> eval_in,
                          const LossPlotOptions& o) {
  const std::vector<Point> train = downsample(finite_points(train_in), o.max_points);
  const std::vector<Point> eval = finite_points(eval_in);

  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const auto* set : {&train, &eval})
    for (const Point& p : *set)
      x0 = std::min(x0, p.x), x1 = std::max(x1, p.x), y0 = std::min(y0, p.y), y1 = std::max(y1, p.y);
  if (x0 > x1) x0 = 0, x1 = 1, y0 = 0, y1 = 1;  // no data
  if (x1 - x0 < 1) x1 = x0 + 1;
  if (y1 - y0 < 1e-9) y0 -= 0.5, y1 += 0.5;
  const double pad = (y1 - y0) * 0.05;  // keeps the curve off the frame
  y0 -= pad, y1 += pad;

  const double left = 70, right = 20, top = 40, bottom = 50;
  const double pw = o.width - left - right, ph = o.height - top - bottom;
  auto X = [&](double x) { return left + (x - x0) / (x1 - x0) * pw; };
  auto Y = [&](double y) { return top + ph - (y - y0) / (y1 - y0) * ph; };

  std::string s;
  s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(o.width) + "\" height=\"" +
       std::to_string(o.height) + "\" viewBox=\"0 0 " + std::to_string(o.width) + " " + std::to_string(o.height) +
       "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s += "<text x=\"" + num(o.width / 2.0, 1) + "\" y=\"24\" text-anchor=\"middle\" font-size=\"16\">" +
       xml_escape(o.title) + "</text>\n";

  // Grid and tick labels.
  const double xs = std::max(1.0, nice_step(x1 - x0, 8)), ys = nice_step(y1 - y0, 6);
  const int y_decimals = std::max(0, static_cast<int>(std::ceil(-std::log10(ys) - 1e-9)));
  s += "<g stroke=\"#e0e0e0\" stroke-width=\"1\">\n";
  std::string labels;
  for (double k = std::ceil(x0 / xs - 1e-9); k * xs <= x1 + 1e-9 * xs; ++k) {
    const double t = k * xs;  // from an integer count, so ticks do not drift by summed rounding
    s += "<line x1=\"" + num(X(t), 1) + "\" y1=\"" + num(top, 1) + "\" x2=\"" + num(X(t), 1) + "\" y2=\"" +
         num(top + ph, 1) + "\"/>\n";
    labels += "<text x=\"" + num(X(t), 1) + "\" y=\"" + num(top + ph + 16, 1) + "\" text-anchor=\"middle\">" +
              num(t, 0) + "</text>\n";
  }
  for (double k = std::ceil(y0 / ys - 1e-9); k * ys <= y1 + 1e-9 * ys; ++k) {
    const double t = k * ys;
    s += "<line x1=\"" + num(left, 1) + "\" y1=\"" + num(Y(t), 1) + "\" x2=\"" + num(left + pw, 1) + "\" y2=\"" +
         num(Y(t), 1) + "\"/>\n";
    labels += "<text x=\"" + num(left - 6, 1) + "\" y=\"" + num(Y(t) + 4, 1) + "\" text-anchor=\"end\">" +
              num(std::fabs(t) < ys * 1e-6 ? 0.0 : t, y_decimals) + "</text>\n";
  }
  s += "</g>\n" + labels;

  // Axes and their names.
  s += "<g stroke=\"#333\" stroke-width=\"1\">\n<line x1=\"" + num(left, 1) + "\" y1=\"" + num(top + ph, 1) +
       "\" x2=\"" + num(left + pw, 1) + "\" y2=\"" + num(top + ph, 1) + "\"/>\n<line x1=\"" + num(left, 1) +
       "\" y1=\"" + num(top, 1) + "\" x2=\"" + num(left, 1) + "\" y2=\"" + num(top + ph, 1) + "\"/>\n</g>\n";
  s += "<text x=\"" + num(left + pw / 2, 1) + "\" y=\"" + num(o.height - 10.0, 1) +
       "\" text-anchor=\"middle\">optimizer step</text>\n";
  s += "<text x=\"16\" y=\"" + num(top + ph / 2, 1) + "\" text-anchor=\"middle\" transform=\"rotate(-90 16 " +
       num(top + ph / 2, 1) + ")\">loss</text>\n";

  if (!train.empty()) {
    s += "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"";
    for (size_t i = 0; i < train.size(); ++i) {
      if (i) s += ' ';
      s += num(X(train[i].x), 1) + "," + num(Y(train[i].y), 1);
    }
    s += "\"/>\n";
  }
  if (!eval.empty()) {
    s += "<g fill=\"#d62728\">\n";
    for (const Point& p : eval)
      s += "<circle cx=\"" + num(X(p.x), 1) + "\" cy=\"" + num(Y(p.y), 1) + "\" r=\"3.5\"/>\n";
    s += "</g>\n";
  }

  // Legend, top right inside the plot.
  const double lx = left + pw - 120, ly = top + 14;
  s += "<g>\n<line x1=\"" + num(lx, 1) + "\" y1=\"" + num(ly - 4, 1) + "\" x2=\"" + num(lx + 20, 1) + "\" y2=\"" +
       num(ly - 4, 1) + "\" stroke=\"#1f77b4\" stroke-width=\"2\"/>\n<text x=\"" + num(lx + 26, 1) + "\" y=\"" +
       num(ly, 1) + "\">step loss</text>\n";
  if (!eval.empty())
    s += "<circle cx=\"" + num(lx + 10, 1) + "\" cy=\"" + num(ly + 14, 1) +
         "\" r=\"3.5\" fill=\"#d62728\"/>\n<text x=\"" + num(lx + 26, 1) + "\" y=\"" + num(ly + 18, 1) +
         "\">eval loss</text>\n";
  s += "</g>\n</svg>\n";
  return s;
}

void write_loss_plot(const std::string& path, std::span<const LossPoint> train, std::span<const LossPoint> eval,
                     const LossPlotOptions& options) {
  write_file_atomically(path, loss_plot_svg(train, eval, options));
}

}  // namespace frugal
