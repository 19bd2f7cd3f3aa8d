// PackedExpertSource: the views it hands out are exactly the records in the layer files, read
// in parallel, whatever the I/O mode and thread count; its counters say K x expert_bytes.
#include "engine/io/packed_expert_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <memory>

#include <fstream>

#include "engine/convert/packed_writer.h"
#include "engine/convert/synth.h"
#include "engine/util/error.h"
#include "tests/common/temp_dir.h"

namespace streammoe {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

nlohmann::json config() {
  return {{"model_type", "qwen3_moe"},   {"vocab_size", 64},
          {"hidden_size", 128},          {"intermediate_size", 64},
          {"num_hidden_layers", 3},      {"num_attention_heads", 2},
          {"num_key_value_heads", 1},    {"head_dim", 32},
          {"num_experts", 16},           {"num_experts_per_tok", 4},
          {"moe_intermediate_size", 64}, {"mlp_only_layers", {1}},
          {"rms_norm_eps", 1e-6}};
}

// The record of `expert` in `layer`, straight from the file.
std::vector<std::byte> file_record(const std::filesystem::path& folder, int64_t layer, int64_t expert,
                                   const PackedManifest& m) {
  std::vector<std::byte> bytes(m.layout.expert_bytes);
  std::ifstream in(folder / expert_file_name(layer), std::ios::binary);
  in.seekg(static_cast<std::streamoff>(expert * m.layout.expert_stride));
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return bytes;
}

class PackedSource : public ::testing::TestWithParam<int> {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<TempDir>("packed-source");
    PackOptions options;
    options.bits = 4;
    write_packed_model(*make_synth_input(config(), {}, "test"), dir_->path() / "m", options);
  }
  static void TearDownTestSuite() { dir_.reset(); }
  static std::filesystem::path folder() { return dir_->path() / "m"; }

  static std::vector<std::byte> record(int64_t layer, int64_t expert, const PackedManifest& m) {
    return file_record(folder(), layer, expert, m);
  }

  static std::unique_ptr<TempDir> dir_;
};
std::unique_ptr<TempDir> PackedSource::dir_;

void expect_view_equals(const QuantMatRef& view, const PackedMatrix& m,
                        const std::vector<std::byte>& record) {
  EXPECT_EQ(view.rows, m.rows);
  EXPECT_EQ(view.cols, m.cols);
  EXPECT_EQ(view.bits, 4);
  EXPECT_EQ(std::memcmp(view.q, record.data() + m.q.offset, m.q.bytes), 0);
  EXPECT_EQ(std::memcmp(view.scales, record.data() + m.scales.offset, m.scales.bytes), 0);
  EXPECT_EQ(std::memcmp(view.biases, record.data() + m.biases.offset, m.biases.bytes), 0);
}

TEST_P(PackedSource, ViewsAreTheRecordsInTheFile) {
  const PackedManifest m = read_packed_manifest(folder());
  ExpertIoOptions io;
  io.io_threads = GetParam();
  PackedExpertSource source(folder(), m, io, 4);
  const int32_t experts[] = {15, 0, 7, 3};
  std::vector<ExpertWeights> out(4);
  for (int64_t layer : {0, 2}) {
    source.fetch(layer, experts, out);
    for (size_t i = 0; i < 4; ++i) {
      const auto rec = record(layer, experts[i], m);
      ASSERT_TRUE(out[i].gate.quantized());
      expect_view_equals(out[i].gate.quant, m.layout.gate, rec);
      expect_view_equals(out[i].up.quant, m.layout.up, rec);
      expect_view_equals(out[i].down.quant, m.layout.down, rec);
    }
  }
  EXPECT_EQ(source.stats().fetches, 2u);
  EXPECT_EQ(source.stats().experts_loaded, 8u);
  EXPECT_EQ(source.stats().bytes_read, 8u * m.layout.expert_bytes);
}

// fetch_each (--expert-order arrival): every expert handed out once, on the calling thread, its
// view valid when it is handed out, and the counters of a fetch() of the same experts.
void expect_fetch_each_matches_fetch(const std::filesystem::path& folder, const PackedManifest& m,
                                     const ExpertIoOptions& io) {
  PackedExpertSource each(folder, m, io, 4), whole(folder, m, io, 4);
  const int32_t experts[] = {15, 0, 7, 3, 9};  // more than the 4 slots: the buffers grow
  std::vector<ExpertWeights> out(5), reference(5);
  for (int64_t layer : {0, 2, 0}) {
    std::vector<int> handed(5, 0);
    each.fetch_each(layer, experts, out, [&](size_t i) {
      handed.at(i) += 1;
      const auto rec = file_record(folder, layer, experts[i], m);
      expect_view_equals(out[i].gate.quant, m.layout.gate, rec);
      expect_view_equals(out[i].down.quant, m.layout.down, rec);
    });
    EXPECT_THAT(handed, ::testing::Each(1));
    whole.fetch(layer, experts, reference);
  }
  const ExpertIoStats &a = each.stats(), &b = whole.stats();
  EXPECT_EQ(a.fetches, b.fetches);
  EXPECT_EQ(a.experts_loaded, b.experts_loaded);
  EXPECT_EQ(a.bytes_read, b.bytes_read);
  EXPECT_EQ(a.bytes_read, 15u * each.bytes_per_expert_read());
  EXPECT_EQ(a.bytes_from_page_cache + a.bytes_from_disk, a.bytes_read);

  // An error thrown by the caller's compute ends the fetch; the source still works after it.
  EXPECT_THROW(each.fetch_each(2, experts, out, [](size_t) { fail("compute failed"); }), Error);
  size_t handed = 0;
  each.fetch_each(2, experts, out, [&](size_t) { ++handed; });
  EXPECT_EQ(handed, 5u);
  expect_view_equals(out[4].up.quant, m.layout.up, file_record(folder, 2, 9, m));
}

TEST_P(PackedSource, FetchEachHandsOutEveryRecordOnce) {
  ExpertIoOptions io;
  io.io_threads = GetParam();
  expect_fetch_each_matches_fetch(folder(), read_packed_manifest(folder()), io);
}

INSTANTIATE_TEST_SUITE_P(IoThreads, PackedSource, ::testing::Values(0, 1, 3));

TEST_F(PackedSource, FetchEachInEveryIoMode) {
  for (IoMode mode : {IoMode::kDirect, IoMode::kDontneed, IoMode::kUring, IoMode::kMmap}) {
    SCOPED_TRACE(enum_name(mode));
    ExpertIoOptions io;
    io.mode = mode;
    try {
      PackedExpertSource probe(folder(), read_packed_manifest(folder()), io, 4);
    } catch (const Error& e) {  // O_DIRECT refused by the filesystem, or no io_uring here
      std::printf("skipped %s: %s\n", std::string(enum_name(mode)).c_str(), e.what());
      continue;
    }
    expect_fetch_each_matches_fetch(folder(), read_packed_manifest(folder()), io);
  }
}

TEST_F(PackedSource, DirectModeReadsWholeStrides) {
  const PackedManifest m = read_packed_manifest(folder());
  ExpertIoOptions io;
  io.mode = IoMode::kDirect;
  std::unique_ptr<PackedExpertSource> source;
  try {
    source = std::make_unique<PackedExpertSource>(folder(), m, io, 4);
  } catch (const Error& e) {
    GTEST_SKIP() << e.what();
  }
  const int32_t experts[] = {1, 2};
  std::vector<ExpertWeights> out(2);
  source->fetch(2, experts, out);
  expect_view_equals(out[1].down.quant, m.layout.down, record(2, 2, m));
  EXPECT_EQ(source->stats().bytes_read, 2u * m.layout.expert_stride);
}

TEST_F(PackedSource, GrowsItsBuffersForALargerK) {
  const PackedManifest m = read_packed_manifest(folder());
  PackedExpertSource source(folder(), m, {}, 2);
  EXPECT_EQ(source.buffer_bytes(), 2 * m.layout.expert_stride);
  const int32_t experts[] = {0, 1, 2, 3, 4, 5};
  std::vector<ExpertWeights> out(6);
  source.fetch(0, experts, out);
  EXPECT_EQ(source.buffer_bytes(), 6 * m.layout.expert_stride);
  expect_view_equals(out[5].up.quant, m.layout.up, record(0, 5, m));
}

TEST_F(PackedSource, BadRequestsAreClearErrors) {
  const PackedManifest m = read_packed_manifest(folder());
  PackedExpertSource source(folder(), m, {}, 4);
  std::vector<ExpertWeights> out(1);
  const int32_t too_big[] = {16};
  EXPECT_THROW(source.fetch(0, too_big, out), Error);
  const int32_t fine[] = {1};
  try {
    source.fetch(1, fine, out);  // layer 1 is a dense layer: no expert file
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("layer 1"));
  }
}

// mmap mode (issue 11: the reference system's "mmap" variant on packed files) serves the same
// record bytes as a read, and out-of-range requests are the same clear errors.
TEST_F(PackedSource, MmapServesTheBytesAReadDoes) {
  const PackedManifest m = read_packed_manifest(folder());
  ExpertIoOptions mmap;
  mmap.mode = IoMode::kMmap;
  PackedExpertSource mapped(folder(), m, mmap, 4), read(folder(), m, {}, 4);
  AlignedBuffer a(mapped.record_bytes(), kDirectIoAlignment), b(read.record_bytes(), kDirectIoAlignment);
  mapped.read_record(0, 3, a.bytes());
  read.read_record(0, 3, b.bytes());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), read.record_read_bytes()), 0);
  std::vector<ExpertWeights> out(1);
  const int32_t too_big[] = {16};
  EXPECT_THROW(mapped.fetch(0, too_big, out), Error);
}

TEST_F(PackedSource, TruncatedFileFailsAtOpen) {
  TempDir copy("packed-source-copy");
  std::filesystem::copy(folder(), copy / "m", std::filesystem::copy_options::recursive);
  const PackedManifest m = read_packed_manifest(copy / "m");
  std::filesystem::resize_file(copy / "m" / expert_file_name(2), m.layer_file_bytes() - 1);
  try {
    PackedExpertSource source(copy / "m", m, {}, 4);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), AllOf(HasSubstr("layer_002.bin"), HasSubstr("truncated")));
  }
}

}  // namespace
}  // namespace streammoe
