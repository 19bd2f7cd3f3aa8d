#include "engine/model/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/util/error.h"

namespace streammoe {
namespace {

using ::testing::HasSubstr;

const char* kQwen35Text = R"({
  "model_type": "qwen3_5_moe_text", "vocab_size": 128, "hidden_size": 32, "num_hidden_layers": 4,
  "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8, "rms_norm_eps": 1e-6,
  "layer_types": ["linear_attention", "linear_attention", "linear_attention", "full_attention"],
  "linear_conv_kernel_dim": 4, "linear_key_head_dim": 8, "linear_num_key_heads": 2,
  "linear_num_value_heads": 4, "linear_value_head_dim": 8, "moe_intermediate_size": 16,
  "shared_expert_intermediate_size": 24, "num_experts": 8, "num_experts_per_tok": 2,
  "rope_parameters": {"partial_rotary_factor": 0.25, "rope_theta": 10000.0, "rope_type": "default"},
  "hidden_act": "silu", "tie_word_embeddings": false, "transformers_version": "5.17.0"
})";

std::string replace(std::string s, const std::string& from, const std::string& to) {
  s.replace(s.find(from), from.size(), to);
  return s;
}

std::string error_of(const std::string& json) {
  try {
    parse_config(json, "m/config.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Config, Qwen35Text) {
  ModelConfig c = parse_config(kQwen35Text, "config.json");
  EXPECT_EQ(c.arch, Arch::kQwen3_5Moe);
  EXPECT_EQ(c.tensor_prefix, "model.");
  EXPECT_EQ(c.rotary_dim, 2);
  EXPECT_TRUE(c.norm_one_plus_weight);
  EXPECT_TRUE(c.attn_output_gate);
  EXPECT_EQ(c.num_layers_of(LayerKind::kLinearAttention), 3);
  EXPECT_EQ(c.layer_types[3], LayerKind::kFullAttention);
  EXPECT_EQ(c.shared_expert_intermediate_size, 24);
}

TEST(Config, NestedTextConfigUsesLanguageModelPrefix) {
  std::string nested = std::string(R"({"model_type": "qwen3_5_moe", "vision_config": {"depth": 1}, "text_config": )") +
                       kQwen35Text + "}";
  ModelConfig c = parse_config(nested, "config.json");
  EXPECT_EQ(c.tensor_prefix, "model.language_model.");
  EXPECT_EQ(c.hidden_size, 32);
}

TEST(Config, Qwen3MoeDenseLayersAndDefaults) {
  ModelConfig c = parse_config(R"({"model_type": "qwen3_moe", "vocab_size": 64, "hidden_size": 16,
    "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 40,
    "moe_intermediate_size": 8, "num_experts": 4, "num_experts_per_tok": 2, "mlp_only_layers": [1],
    "decoder_sparse_step": 2, "norm_topk_prob": true})", "config.json");
  EXPECT_EQ(c.head_dim, 4);
  EXPECT_EQ(c.rotary_dim, 4);
  EXPECT_FALSE(c.norm_one_plus_weight);
  // layer i is MoE iff not in mlp_only_layers and (i + 1) % 2 == 0
  EXPECT_EQ(c.ffn_types, (std::vector<FfnKind>{FfnKind::kDense, FfnKind::kDense, FfnKind::kDense, FfnKind::kMoe}));
}

TEST(Config, DefaultLayerPatternFromInterval) {
  std::string json = replace(kQwen35Text, R"("layer_types": ["linear_attention", "linear_attention", "linear_attention", "full_attention"],)",
                             R"("full_attention_interval": 2,)");
  ModelConfig c = parse_config(json, "config.json");
  EXPECT_EQ(c.layer_types[0], LayerKind::kLinearAttention);
  EXPECT_EQ(c.layer_types[1], LayerKind::kFullAttention);
}

TEST(Config, ErrorsNameTheFileAndTheProblem) {
  EXPECT_THAT(error_of("{"), HasSubstr("m/config.json: malformed JSON"));
  EXPECT_THAT(error_of(R"({"model_type": "llama"})"), HasSubstr("unknown model_type 'llama'"));
  EXPECT_THAT(error_of(replace(kQwen35Text, R"("hidden_size": 32,)", "")), HasSubstr("missing key 'hidden_size'"));
  EXPECT_THAT(error_of(replace(kQwen35Text, R"("hidden_size": 32)", R"("hidden_size": "32")")),
              HasSubstr("'hidden_size' must be an integer"));
  EXPECT_THAT(error_of(replace(kQwen35Text, R"("hidden_act": "silu")", R"("hidden_act": "silu", "frobnicate": 1)")),
              HasSubstr("unknown key 'frobnicate'"));
  EXPECT_THAT(error_of(replace(kQwen35Text, R"("rope_type": "default")", R"("rope_type": "yarn")")),
              HasSubstr("rope_type 'yarn' is not supported"));
  EXPECT_THAT(error_of(replace(kQwen35Text, R"("num_experts_per_tok": 2)", R"("num_experts_per_tok": 9)")),
              HasSubstr("exceeds num_experts"));
  EXPECT_THAT(error_of(replace(kQwen35Text, R"("hidden_act": "silu")", R"("hidden_act": "gelu")")),
              HasSubstr("hidden_act 'gelu'"));
  EXPECT_THAT(error_of(R"({"model_type": "qwen3_5_moe"})"), HasSubstr("needs an object 'text_config'"));
}

// Values that parse but would make the model silently wrong (review finding 2), and sizes that
// would be allocated before anything checks them (finding 6).
TEST(Config, RefusesNonPositiveOrNanNormEpsilon) {
  for (const char* eps : {"0", "-1", "-1e-6"})
    EXPECT_THAT(error_of(replace(kQwen35Text, R"("rms_norm_eps": 1e-6)", std::string(R"("rms_norm_eps": )") + eps)),
                HasSubstr("m/config.json: 'rms_norm_eps' must be a finite number > 0"))
        << eps;
  // JSON has no NaN or infinity; a literal too large for a double is refused while parsing.
  EXPECT_THAT(error_of(replace(kQwen35Text, R"("rms_norm_eps": 1e-6)", R"("rms_norm_eps": 1e400)")),
              HasSubstr("m/config.json: malformed JSON"));
  EXPECT_THAT(error_of(replace(kQwen35Text, R"("rope_theta": 10000.0)", R"("rope_theta": -5)")),
              HasSubstr("'rope_theta' must be a finite number > 0"));
}

TEST(Config, RefusesEosOutsideTheVocabulary) {
  const auto with_eos = [](const std::string& eos) {
    return replace(kQwen35Text, R"("hidden_act": "silu")", R"("hidden_act": "silu", "eos_token_id": )" + eos);
  };
  EXPECT_EQ(parse_config(with_eos("127"), "config.json").eos_token_ids, std::vector<int32_t>{127});
  EXPECT_EQ(parse_config(with_eos("[3, 5]"), "config.json").eos_token_ids, (std::vector<int32_t>{3, 5}));
  EXPECT_THAT(error_of(with_eos("128")), HasSubstr("m/config.json: eos_token_id 128 is outside the vocabulary [0, 128)"));
  EXPECT_THAT(error_of(with_eos("-5")), HasSubstr("eos_token_id -5 is outside the vocabulary"));
  EXPECT_THAT(error_of(with_eos("1000000000")), HasSubstr("eos_token_id 1000000000 is outside"));
  EXPECT_THAT(error_of(with_eos("1099511627776")), HasSubstr("eos_token_id 1099511627776 is outside"));
  EXPECT_THAT(error_of(with_eos("[1, 4294967296]")), HasSubstr("eos_token_id 4294967296 is outside"));
  EXPECT_THAT(error_of(with_eos("[1, \"x\"]")), HasSubstr("'eos_token_id' must be a token id"));
}

TEST(Config, RefusesDimensionsBeyondTheEngineLimits) {
  EXPECT_THAT(error_of(replace(kQwen35Text, R"("num_hidden_layers": 4)", R"("num_hidden_layers": 2147483648)")),
              HasSubstr("m/config.json: 'num_hidden_layers' is 2147483648, more than this engine's limit"));
  EXPECT_THAT(error_of(replace(kQwen35Text, R"("vocab_size": 128)", R"("vocab_size": 1099511627776)")),
              HasSubstr("'vocab_size' is 1099511627776"));
  EXPECT_THAT(error_of(replace(kQwen35Text, R"("num_experts": 8)", R"("num_experts": 100000000)")),
              HasSubstr("'num_experts' is 100000000"));
  EXPECT_THAT(error_of(replace(kQwen35Text, R"("moe_intermediate_size": 16)", R"("moe_intermediate_size": 1000000000000)")),
              HasSubstr("'moe_intermediate_size' is 1000000000000"));
}

}  // namespace streammoe
