#pragma once
// --resident-bits, shared by `pack` and `synth`: the flag and the summary line of what it did.
#include <CLI/CLI.hpp>
#include <string>

#include "engine/convert/packed_writer.h"

namespace streammoe::cli {

void add_resident_bits_option(CLI::App& cmd, int& bits);
// "resident weights: 8-bit symmetric, groups of 64: 52 linear weights and embeddings quantised\n"
std::string resident_summary(const PackResult& r);

}  // namespace streammoe::cli
