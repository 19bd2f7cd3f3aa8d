// `streammoe synth`: a random-weight model at any shape (e.g. the real Qwen3.5-397B-A17B expert
// shapes with fewer layers), packed by default, so at-scale I/O experiments run without the real
// weights.
#include <fstream>
#include <iostream>

#include "engine/cli/common.h"
#include "engine/cli/lz4_option.h"
#include "engine/cli/resident_option.h"
#include "engine/convert/packed_writer.h"
#include "engine/convert/progress_bar.h"
#include "engine/convert/synth.h"
#include "engine/util/error.h"

namespace streammoe::cli {
namespace {

struct SynthArgs {
  std::string like;
  std::string output;
  int64_t layers = 0;
  int64_t vocab = 0;
  int bits = 4;
  int group_size = 64;
  int resident_bits = 16;
  uint64_t seed = 1;
  std::string format = "packed";
  int threads = 0;
  bool lz4 = false;
};

void run_synth(const SynthArgs& a) {
  nlohmann::json like;
  {
    std::ifstream in(a.like);
    if (!in) fail("{}: cannot open --like", a.like);
    try {
      like = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      fail("{}: not valid JSON: {}", a.like, e.what());
    }
  }
  SynthOptions options;
  options.layers = a.layers;
  options.vocab = a.vocab;
  options.seed = a.seed;
  const nlohmann::json config = synth_config(like, options, a.like);
  if (a.format == "hf") {
    if (a.lz4)
      fail("--lz4 with --format hf: LZ4 expert files are copies of packed ones (synth a packed folder, or pack "
           "this one with --lz4)");
    if (a.resident_bits != 16)
      fail("--resident-bits {} with --format hf: a Hugging Face folder holds unquantised weights "
           "(pack it with --resident-bits {})",
           a.resident_bits, a.resident_bits);
    write_synth_hf(config, options, a.output);
    std::cout << fmt::format("wrote a random Hugging Face checkpoint to {}\n", a.output);
    return;
  }
  auto input = make_synth_input(config, options, a.like);
  PackOptions pack;
  pack.bits = a.bits;
  pack.group_size = a.group_size;
  pack.resident = resident_format_for_bits(a.resident_bits);
  pack.threads = a.threads;
  std::unique_ptr<ProgressBar> bar;
  pack.progress = [&bar](const PackProgress& p) {
    if (!bar) bar = std::make_unique<ProgressBar>("synth", p.total);
    bar->update(p.done, p.stage);
  };
  const PackResult r = write_packed_model(*input, a.output, pack);
  if (bar) bar->finish();
  std::cout << fmt::format(
      "synth {} -> {}: {}\n  {}-bit experts, {} bytes each, {:.3f} GB of expert files; resident "
      "{:.3f} GB; {:.1f} s\n  {}",
      a.like, a.output, input->config().summary(), r.manifest.layout.bits,
      r.manifest.layout.expert_bytes, r.expert_file_bytes / 1e9, r.resident_bytes / 1e9, r.seconds,
      resident_summary(r));
  if (a.lz4) std::cout << write_lz4_copies(a.output);
}

}  // namespace

void register_synth(CLI::App& app) {
  auto args = std::make_shared<SynthArgs>();
  CLI::App* cmd = app.add_subcommand(
      "synth", "write a random-weight model at any shape (packed, or HF with --format hf)");
  cmd->add_option("--like", args->like, "config.json whose shapes to copy")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--out", args->output, "output folder (must not exist or be empty)")->required();
  cmd->add_option("--layers", args->layers, "number of layers (0: as in the config)")
      ->capture_default_str();
  cmd->add_option("--vocab", args->vocab, "vocabulary size (0: as in the config)")
      ->capture_default_str();
  cmd->add_option("--bits", args->bits, "bits per expert weight")
      ->check(CLI::IsMember({2, 4}))
      ->capture_default_str();
  cmd->add_option("--group-size", args->group_size, "values per scale/bias group")
      ->capture_default_str();
  add_resident_bits_option(*cmd, args->resident_bits);
  add_lz4_flag(*cmd, args->lz4);
  cmd->add_option("--seed", args->seed, "random seed")->capture_default_str();
  cmd->add_option("--format", args->format,
                  "packed | hf (dense bf16 experts, the reference for pack)")
      ->check(CLI::IsMember({"packed", "hf"}))
      ->capture_default_str();
  cmd->add_option("--threads", args->threads, "worker threads (0: all cores)")
      ->capture_default_str();
  cmd->callback([args] { run_synth(*args); });
}

}  // namespace streammoe::cli
