#pragma once
// Pieces every `streammoe` subcommand shares: --model, the engine switches (derived from
// EngineOptions::visit), --variant, token-id lists.
#include <CLI/CLI.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/runtime/engine.h"
#include "engine/runtime/options.h"
#include "engine/tokenizer/tokenizer.h"

namespace streammoe::cli {

struct EngineArgs {
  std::string model;
  std::string variant;
  std::map<std::string, std::string> switches;  // flags given on the command line
};

void add_engine_args(CLI::App& app, EngineArgs& args);
// Variant first, then explicit flags (which override it).
EngineOptions resolve_options(const EngineArgs& args);
std::unique_ptr<Engine> make_engine(const EngineArgs& args);
std::vector<int32_t> parse_ids(const std::string& list);
Tokenizer load_tokenizer(const std::string& model_folder);
// The whole of a text file named by `flag`; Error naming the file and the flag.
std::string read_text_file(const std::string& path, const char* flag);

void register_eval(CLI::App& app);
void register_generate(CLI::App& app);
void register_options(CLI::App& app);
void register_pack(CLI::App& app);
void register_synth(CLI::App& app);

}  // namespace streammoe::cli
