#include "harness/stats.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace streammoe::lab {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double sorted_quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return kNaN;
  double position = std::clamp(q, 0.0, 1.0) * static_cast<double>(sorted.size() - 1);
  size_t below = static_cast<size_t>(std::floor(position));
  size_t above = std::min(below + 1, sorted.size() - 1);
  double fraction = position - static_cast<double>(below);
  return sorted[below] + fraction * (sorted[above] - sorted[below]);
}

double median_in_place(std::vector<double>& values) {
  std::sort(values.begin(), values.end());
  return sorted_quantile(values, 0.5);
}

// The bootstrap distribution of the median, one entry per resample.
std::vector<double> bootstrap_medians(std::span<const double> samples, int resamples,
                                      SplitMix64& rng) {
  std::vector<double> medians(resamples), draw(samples.size());
  for (int b = 0; b < resamples; ++b) {
    for (auto& x : draw) x = samples[rng.below(samples.size())];
    medians[b] = median_in_place(draw);
  }
  return medians;
}

Interval percentile_interval(std::vector<double> distribution, double confidence) {
  std::sort(distribution.begin(), distribution.end());
  double alpha = 1.0 - confidence;
  return {sorted_quantile(distribution, alpha / 2), sorted_quantile(distribution, 1 - alpha / 2)};
}

}  // namespace

uint64_t SplitMix64::next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

double mean(std::span<const double> samples) {
  if (samples.empty()) return kNaN;
  double sum = 0;
  for (double x : samples) sum += x;
  return sum / static_cast<double>(samples.size());
}

double median(std::span<const double> samples) { return quantile(samples, 0.5); }

double quantile(std::span<const double> samples, double q) {
  std::vector<double> sorted(samples.begin(), samples.end());
  std::sort(sorted.begin(), sorted.end());
  return sorted_quantile(sorted, q);
}

Interval bootstrap_median_ci(std::span<const double> samples, double confidence, int resamples,
                             uint64_t seed) {
  if (samples.empty()) return {kNaN, kNaN};
  SplitMix64 rng(seed);
  return percentile_interval(bootstrap_medians(samples, resamples, rng), confidence);
}

RatioEstimate bootstrap_ratio_of_medians(std::span<const double> numerator,
                                         std::span<const double> denominator, double confidence,
                                         int resamples, uint64_t seed) {
  if (numerator.empty() || denominator.empty()) return {kNaN, {kNaN, kNaN}};
  SplitMix64 rng(seed);
  auto top = bootstrap_medians(numerator, resamples, rng);
  auto bottom = bootstrap_medians(denominator, resamples, rng);
  std::vector<double> ratios(resamples);
  for (int b = 0; b < resamples; ++b) ratios[b] = top[b] / bottom[b];
  return {median(numerator) / median(denominator), percentile_interval(std::move(ratios), confidence)};
}

RatioEstimate bootstrap_paired_ratio(std::span<const double> numerator,
                                     std::span<const double> denominator, double confidence,
                                     int resamples, uint64_t seed) {
  const size_t n = std::min(numerator.size(), denominator.size());
  if (n == 0) return {kNaN, {kNaN, kNaN}};
  std::vector<double> ratios(n);
  for (size_t i = 0; i < n; ++i) ratios[i] = numerator[i] / denominator[i];
  SplitMix64 rng(seed);
  return {median(ratios), percentile_interval(bootstrap_medians(ratios, resamples, rng), confidence)};
}

std::vector<size_t> outliers(std::span<const double> samples, double threshold) {
  std::vector<size_t> out;
  if (samples.size() < 3) return out;
  double center = median(samples);
  std::vector<double> deviations;
  for (double x : samples) deviations.push_back(std::fabs(x - center));
  double mad = median(deviations);
  if (!(mad > 0)) return out;
  for (size_t i = 0; i < samples.size(); ++i)
    if (0.6745 * std::fabs(samples[i] - center) / mad > threshold) out.push_back(i);
  return out;
}

double normal_quantile(double confidence) {
  // Bisection on erf: P(|Z| <= z) = erf(z / sqrt 2). 60 halvings are exact to double precision.
  double low = 0, high = 10;
  for (int i = 0; i < 60; ++i) {
    double mid = (low + high) / 2;
    (std::erf(mid / std::sqrt(2.0)) < confidence ? low : high) = mid;
  }
  return (low + high) / 2;
}

Interval wilson_interval(int64_t successes, int64_t trials, double confidence) {
  if (trials <= 0) return {kNaN, kNaN};
  const double z = normal_quantile(confidence), n = static_cast<double>(trials);
  const double p = static_cast<double>(successes) / n;
  const double center = (p + z * z / (2 * n)) / (1 + z * z / n);
  const double half = z / (1 + z * z / n) * std::sqrt(p * (1 - p) / n + z * z / (4 * n * n));
  return {std::max(0.0, center - half), std::min(1.0, center + half)};
}

Interval mean_ci(std::span<const double> samples, double confidence) {
  if (samples.size() < 2) return {kNaN, kNaN};
  double m = mean(samples), squares = 0;
  for (double x : samples) squares += (x - m) * (x - m);
  double se = std::sqrt(squares / static_cast<double>(samples.size() - 1) /
                        static_cast<double>(samples.size()));
  double z = normal_quantile(confidence);
  return {m - z * se, m + z * se};
}

}  // namespace streammoe::lab
