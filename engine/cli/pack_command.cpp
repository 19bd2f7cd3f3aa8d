// `streammoe pack`: a Hugging Face (bf16/f16/f32) or MLX 4-bit checkpoint in, a packed model
// folder out (engine/io/packed_format.h): 4- or 2-bit experts at a fixed, 4096-aligned stride,
// one file per layer, resident weights in one safetensors file.
#include <iostream>

#include "engine/cli/common.h"
#include "engine/cli/lz4_option.h"
#include "engine/cli/resident_option.h"
#include "engine/convert/pack.h"
#include "engine/convert/progress_bar.h"
#include "engine/util/error.h"

namespace streammoe::cli {
namespace {

struct PackArgs {
  std::string input;
  std::string output;
  int bits = 4;
  int group_size = 0;  // 0: 64, or the MLX checkpoint's own
  int resident_bits = 16;
  int threads = 0;
  bool lz4 = false;
};

void run_pack(const PackArgs& a) {
  PackRequest req;
  req.input = a.input;
  req.output = a.output;
  req.bits = a.bits;
  if (a.group_size != 0) req.group_size = a.group_size;
  req.resident_bits = a.resident_bits;
  req.threads = a.threads;
  std::unique_ptr<ProgressBar> bar;
  req.progress = [&bar](const PackProgress& p) {
    if (!bar) bar = std::make_unique<ProgressBar>("packing", p.total);
    bar->update(p.done, p.stage);
  };
  const PackResult r = pack_model(req);
  if (bar) bar->finish();
  const PackedManifest& m = r.manifest;
  std::cout << fmt::format(
      "packed {} ({}) -> {}\n  experts: {}-bit, group {}, {} layers x {} experts, {} bytes each "
      "(stride {}), {:.3f} GB\n"
      "  resident: {} tensors, {:.3f} GB in {}{}\n  {}"
      "  {:.1f} s, {:.0f} MB/s written\n",
      m.source, m.source_kind, a.output, m.layout.bits, m.layout.group_size, m.layers.size(),
      m.num_experts, m.layout.expert_bytes, m.layout.expert_stride, r.expert_file_bytes / 1e9,
      r.resident_tensors, r.resident_bytes / 1e9, m.resident_file,
      r.skipped_tensors ? fmt::format(" ({} unused tensors left out)", r.skipped_tensors) : "",
      resident_summary(r),
      r.seconds, r.seconds > 0 ? (r.expert_file_bytes + r.resident_bytes) / r.seconds / 1e6 : 0.0);
  if (a.lz4) std::cout << write_lz4_copies(a.output);
}

}  // namespace

void register_pack(CLI::App& app) {
  auto args = std::make_shared<PackArgs>();
  CLI::App* cmd =
      app.add_subcommand("pack", "convert a checkpoint into a packed 4/2-bit expert folder");
  cmd->add_option("--hf", args->input,
                  "input folder: Hugging Face checkpoint, or MLX affine-quantised checkpoint "
                  "('quantization' in "
                  "config.json; its expert codes are copied, not requantised)")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--out", args->output, "output folder (must not exist or be empty)")->required();
  cmd->add_option("--bits", args->bits, "bits per expert weight")
      ->check(CLI::IsMember({2, 4}))
      ->capture_default_str();
  add_resident_bits_option(*cmd, args->resident_bits);
  cmd->add_option("--group-size", args->group_size,
                  "values per scale/bias group; must divide hidden and moe_intermediate [default: "
                  "64, or MLX's]");
  add_lz4_flag(*cmd, args->lz4);
  cmd->add_option("--threads", args->threads, "worker threads (0: all cores)")
      ->capture_default_str();
  cmd->callback([args] { run_pack(*args); });
}

}  // namespace streammoe::cli
