// Medians, quantiles and bootstrap intervals against hand-computed values.
#include "harness/stats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace streammoe::lab {
namespace {

TEST(Stats, MedianAndQuantile) {
  std::vector<double> odd = {3, 1, 2}, even = {4, 1, 3, 2}, five = {5, 1, 4, 2, 3};
  EXPECT_DOUBLE_EQ(median(odd), 2);
  EXPECT_DOUBLE_EQ(median(even), 2.5);
  EXPECT_TRUE(std::isnan(median(std::vector<double>{})));
  EXPECT_DOUBLE_EQ(quantile(five, 0.25), 2);   // position 1 of sorted 1..5
  EXPECT_DOUBLE_EQ(quantile(five, 0.1), 1.4);  // position 0.4: 1 + 0.4 * (2 - 1)
  EXPECT_DOUBLE_EQ(quantile(five, 1.0), 5);
  EXPECT_DOUBLE_EQ(mean(five), 3);
}

TEST(Stats, BootstrapOfThreeSamplesSpansMinToMax) {
  // The median of a resample of {10, 20, 30} is 10 with probability 7/27 (at least two 10s),
  // far above 2.5%, and 30 likewise: the 95% interval must be exactly [10, 30].
  std::vector<double> samples = {20, 10, 30};
  Interval ci = bootstrap_median_ci(samples);
  EXPECT_DOUBLE_EQ(ci.low, 10);
  EXPECT_DOUBLE_EQ(ci.high, 30);
}

TEST(Stats, BootstrapOfConstantOrSingleSampleIsAPoint) {
  std::vector<double> same = {7, 7, 7, 7}, one = {3.5};
  Interval a = bootstrap_median_ci(same), b = bootstrap_median_ci(one);
  EXPECT_DOUBLE_EQ(a.low, 7);
  EXPECT_DOUBLE_EQ(a.high, 7);
  EXPECT_DOUBLE_EQ(b.low, 3.5);
  EXPECT_DOUBLE_EQ(b.high, 3.5);
}

TEST(Stats, BootstrapIsDeterministicAndBracketsTheMedian) {
  std::vector<double> samples;
  for (int i = 1; i <= 21; ++i) samples.push_back(i * 1.5);
  Interval first = bootstrap_median_ci(samples), second = bootstrap_median_ci(samples);
  EXPECT_EQ(first.low, second.low);
  EXPECT_EQ(first.high, second.high);
  EXPECT_LT(first.low, median(samples));
  EXPECT_GT(first.high, median(samples));
  // The median of 21 evenly spaced values rarely strays past the 6th / 16th order statistic.
  EXPECT_GE(first.low, 6 * 1.5);
  EXPECT_LE(first.high, 16 * 1.5);
  Interval narrow = bootstrap_median_ci(samples, 0.5);
  EXPECT_GE(narrow.low, first.low);
  EXPECT_LE(narrow.high, first.high);
}

TEST(Stats, RatioOfMedians) {
  std::vector<double> twos = {2, 2, 2}, ones = {1, 1, 1, 1};
  RatioEstimate exact = bootstrap_ratio_of_medians(twos, ones);
  EXPECT_DOUBLE_EQ(exact.ratio, 2);
  EXPECT_DOUBLE_EQ(exact.ci.low, 2);
  EXPECT_DOUBLE_EQ(exact.ci.high, 2);
  // Numerator medians range over {10, 20, 30}; the denominator is always 10.
  std::vector<double> spread = {10, 20, 30}, tens = {10, 10, 10};
  RatioEstimate r = bootstrap_ratio_of_medians(spread, tens);
  EXPECT_DOUBLE_EQ(r.ratio, 2);
  EXPECT_DOUBLE_EQ(r.ci.low, 1);
  EXPECT_DOUBLE_EQ(r.ci.high, 3);
  EXPECT_TRUE(std::isnan(bootstrap_ratio_of_medians({}, tens).ratio));
}

TEST(Stats, SplitMixReferenceValues) {
  // First outputs of SplitMix64 seeded with 0 (Vigna's reference implementation).
  SplitMix64 rng(0);
  EXPECT_EQ(rng.next(), 0xe220a8397b1dcdafULL);
  EXPECT_EQ(rng.next(), 0x6e789e6aa1b965f4ULL);
}

}  // namespace
}  // namespace streammoe::lab
