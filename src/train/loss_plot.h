// The loss curve of a run as a self-contained SVG (no script, no external fonts), so it opens in any
// browser or image viewer: each step's own loss ("step_loss") as a line over optimizer steps, eval
// loss as dots.
#pragma once
#include <cstddef>
#include <span>
#include <string>

#include "train/metrics.h"

namespace frugal {

struct LossPlotOptions {
  std::string title = "Training loss";
  int width = 800, height = 450;  // pixels
  // Longer train curves are averaged over consecutive buckets down to this many points, which keeps
  // the file small and the line readable; shorter ones are drawn point for point.
  size_t max_points = 2000;
};

// Non-finite losses are skipped. With no data the axes are drawn around an empty range.
std::string loss_plot_svg(std::span<const LossPoint> train, std::span<const LossPoint> eval,
                          const LossPlotOptions& options = {});

// loss_plot_svg, written atomically (a viewer never sees a half-written file).
void write_loss_plot(const std::string& path, std::span<const LossPoint> train, std::span<const LossPoint> eval,
                     const LossPlotOptions& options = {});

}  // namespace frugal
