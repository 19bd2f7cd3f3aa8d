#pragma once
// --lz4, shared by `pack` and `synth`: the flag, and writing the LZ4 copies of a packed folder's
// expert files (engine/convert/lz4_writer.h) with the line that reports them.
#include <CLI/CLI.hpp>
#include <filesystem>
#include <string>

namespace streammoe::cli {

void add_lz4_flag(CLI::App& cmd, bool& lz4);
// Writes experts/layer_LLL.lz4 beside the folder's expert files; returns
// "  lz4: 1.234 GB of experts -> 1.100 GB (ratio 0.891) in experts/layer_LLL.lz4\n".
std::string write_lz4_copies(const std::filesystem::path& folder);

}  // namespace streammoe::cli
