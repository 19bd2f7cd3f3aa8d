#pragma once
// Summary statistics for repeated measurements: median, quantiles, and percentile-bootstrap
// confidence intervals with a fixed seed, so the same samples always give the same interval.
#include <cstdint>
#include <span>
#include <vector>

namespace streammoe::lab {

inline constexpr uint64_t kBootstrapSeed = 0x5eed5eed2024ULL;
inline constexpr int kBootstrapResamples = 10000;

struct Interval {
  double low = 0;
  double high = 0;
  bool contains(double x) const { return low <= x && x <= high; }
  // The lab's significance rule: an effect ratio is better or worse only when its whole CI lies
  // above or below 1 (neither holds for NaN bounds).
  bool above(double x) const { return low > x; }
  bool below(double x) const { return high < x; }
};

double mean(std::span<const double> samples);    // NaN when empty
double median(std::span<const double> samples);  // NaN when empty
// Linear-interpolation quantile (R type 7, numpy's default) of the samples; q in [0, 1].
double quantile(std::span<const double> samples, double q);

// Percentile bootstrap CI of the median.
Interval bootstrap_median_ci(std::span<const double> samples, double confidence = 0.95,
                             int resamples = kBootstrapResamples, uint64_t seed = kBootstrapSeed);

struct RatioEstimate {
  double ratio = 0;  // median(numerator) / median(denominator)
  Interval ci;
};
// Percentile bootstrap CI of the ratio of medians, both groups resampled independently (the
// speed-up of a variant over the baseline).
RatioEstimate bootstrap_ratio_of_medians(std::span<const double> numerator,
                                         std::span<const double> denominator,
                                         double confidence = 0.95,
                                         int resamples = kBootstrapResamples,
                                         uint64_t seed = kBootstrapSeed);

// Paired analysis (repeats that share a prompt and a moment): the ratios numerator[i] /
// denominator[i] of the pairs, their median, and a percentile-bootstrap CI over resampled pairs.
// Differences between prompts cancel, so a steady 10% gain on prompts of very different speed
// is significant with a handful of pairs.
RatioEstimate bootstrap_paired_ratio(std::span<const double> numerator,
                                     std::span<const double> denominator, double confidence = 0.95,
                                     int resamples = kBootstrapResamples,
                                     uint64_t seed = kBootstrapSeed);

// Indices of outliers by the modified z-score (Iglewicz and Hoaglin): 0.6745 |x - median| / MAD
// above `threshold`. None when the MAD is zero (more than half the samples are equal).
std::vector<size_t> outliers(std::span<const double> samples, double threshold = 3.5);

// The standard normal quantile z with P(|Z| <= z) = confidence (1.96 for 0.95).
double normal_quantile(double confidence);
// Wilson score interval of a proportion of `successes` out of `trials` (empty when trials = 0).
Interval wilson_interval(int64_t successes, int64_t trials, double confidence = 0.95);
// mean +- z * standard error (NaN when fewer than two samples).
Interval mean_ci(std::span<const double> samples, double confidence = 0.95);

// SplitMix64: tiny, fast, and identical on every platform (std distributions are not).
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next();
  size_t below(size_t n) { return static_cast<size_t>(next() % n); }

 private:
  uint64_t state_;
};

}  // namespace streammoe::lab
