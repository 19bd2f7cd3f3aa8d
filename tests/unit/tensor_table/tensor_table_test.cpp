// The tensor tables against checkpoints transformers wrote (tests/fixtures/models, the bundled
// model): every tensor the table gives a config is in the checkpoint with the table's shape, and
// every tensor of the text model in the checkpoint is one the table names.
#include "engine/models/tensor_table.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "engine/util/error.h"

namespace streammoe {
namespace {

namespace fs = std::filesystem;
using R = TensorRole;
using ::testing::HasSubstr;

const fs::path kSource = STREAMMOE_SOURCE_DIR;

fs::path model_dir(const std::string& name) {
  return name.starts_with("tiny-") ? kSource / "models" / name
                                   : kSource / "tests/fixtures/models" / name;
}

class FixtureTables : public ::testing::TestWithParam<std::string> {};

TEST_P(FixtureTables, TableNamesEveryTextTensorWithItsShape) {
  const fs::path dir = model_dir(GetParam());
  const ModelConfig c = load_config(dir);
  const TensorStore store = TensorStore::open(dir);
  const ModelTensors tensors(c);

  std::set<std::string> named;
  for (const NamedTensor& t : tensors.resident()) {
    EXPECT_NO_THROW(store.get(t.name, t.shape)) << t.name;
    EXPECT_EQ(tensors.role_of(t.name), t.role) << t.name;
    named.insert(t.name);
  }
  for (int64_t l = 0; l < c.num_layers; ++l) {
    if (c.ffn_types[l] != FfnKind::kMoe) continue;
    for (int64_t e = 0; e < c.num_experts; ++e) {
      const StoredExpert x = locate_expert(store, tensors, l, e);
      for (const StoredMatrix* m : {&x.gate, &x.up, &x.down}) {
        named.insert(m->tensor->name);
        EXPECT_TRUE(tensors.is_routed_expert_name(m->tensor->name)) << m->tensor->name;
        EXPECT_LE(m->offset + m->bytes(), m->tensor->data.size()) << m->tensor->name;
      }
      EXPECT_EQ(x.gate.rows, c.moe_intermediate_size);
      EXPECT_EQ(x.gate.cols, c.hidden_size);
      EXPECT_EQ(x.down.rows, c.hidden_size);
      EXPECT_EQ(x.down.cols, c.moe_intermediate_size);
    }
  }
  // The text model's tensors (and the head) are exactly those the table names; the rest (a
  // vision tower) is outside the prefix.
  for (const std::string& name : store.names()) {
    const bool text = name.rfind(c.tensor_prefix, 0) == 0 || name == tensors.name(R::kLmHead);
    EXPECT_EQ(named.count(name) == 1, text) << name;
  }
  EXPECT_EQ(store.has(tensors.name(R::kLmHead)), !c.tie_word_embeddings);
}

INSTANTIATE_TEST_SUITE_P(Checkpoints, FixtureTables,
                         ::testing::Values("q35_text_f32", "q35_vl_bf16_sharded", "q35_fused_f16",
                                           "q3moe_f32", "q3moe_bf16", "tiny-qwen35moe",
                                           "tiny-qwen35moe-256e"));

TEST(TensorTable, NamesFillPrefixLayerAndExpert) {
  ModelConfig c = load_config(model_dir("q35_vl_bf16_sharded"));
  const ModelTensors tensors(c);
  EXPECT_EQ(tensors.name(R::kQProj, 4), "model.language_model.layers.4.self_attn.q_proj.weight");
  EXPECT_EQ(tensors.name(R::kExpertDown, 2, 13),
            "model.language_model.layers.2.mlp.experts.13.down_proj.weight");
  EXPECT_EQ(tensors.name(R::kExpertsGateUp, 0),
            "model.language_model.layers.0.mlp.experts.gate_up_proj");
  EXPECT_EQ(tensors.name(R::kLmHead), "lm_head.weight");
  EXPECT_EQ(tensors.name(R::kEmbed), "model.language_model.embed_tokens.weight");
}

TEST(TensorTable, ShapesFollowTheConfig) {
  ModelConfig c = load_config(model_dir("q35_vl_bf16_sharded"));  // 8 q heads of 16, output gate
  EXPECT_EQ(ModelTensors(c).shape(R::kQProj), (TensorShape{2 * 8 * 16, c.hidden_size}));
  c.attn_output_gate = false;
  EXPECT_EQ(ModelTensors(c).shape(R::kQProj), (TensorShape{8 * 16, c.hidden_size}));
  EXPECT_EQ(ModelTensors(c).shape(R::kExpertsGateUp),
            (TensorShape{c.num_experts, 2 * c.moe_intermediate_size, c.hidden_size}));
}

TEST(TensorTable, LayersHoldTheirKindsTensors) {
  ModelConfig q3 = load_config(model_dir("q3moe_f32"));  // mlp_only_layers [1]
  const ModelTensors t3(q3);
  EXPECT_TRUE(t3.holds(R::kMlpGate, 1));
  EXPECT_FALSE(t3.holds(R::kRouter, 1));
  EXPECT_TRUE(t3.holds(R::kRouter, 0));
  EXPECT_FALSE(t3.holds(R::kSharedGate, 0));    // Qwen3-MoE has no shared expert
  EXPECT_FALSE(t3.holds(R::kLinearConv1d, 0));  // nor linear attention
  EXPECT_THROW(t3.name(R::kLinearConv1d, 0), Error);

  ModelConfig q35 = load_config(model_dir("q35_text_f32"));  // linear x3, full
  const ModelTensors t35(q35);
  EXPECT_TRUE(t35.holds(R::kLinearConv1d, 0));
  EXPECT_FALSE(t35.holds(R::kQProj, 0));
  EXPECT_TRUE(t35.holds(R::kQProj, 3));
  EXPECT_TRUE(t35.holds(R::kSharedExpertGate, 3));
  q35.shared_expert_intermediate_size = 0;
  EXPECT_FALSE(ModelTensors(q35).holds(R::kSharedExpertGate, 3));
}

TEST(TensorTable, RoutedExpertNamesUnderAnyPrefix) {
  const ModelConfig c = load_config(model_dir("q35_text_f32"));  // prefix "model."
  const ModelTensors t(c);
  EXPECT_TRUE(t.is_routed_expert_name("model.layers.3.mlp.experts.7.gate_proj.weight"));
  EXPECT_TRUE(t.is_routed_expert_name("model.layers.3.mlp.experts.gate_up_proj"));
  EXPECT_TRUE(t.is_routed_expert_name("mtp.layers.0.mlp.experts.1.down_proj.weight"));
  EXPECT_TRUE(
      t.is_routed_expert_name("language_model.model.layers.0.mlp.switch_mlp.up_proj.weight"));
  EXPECT_FALSE(t.is_routed_expert_name("model.layers.3.mlp.gate.weight"));
  EXPECT_FALSE(t.is_routed_expert_name("model.layers.3.mlp.shared_expert.gate_proj.weight"));
  EXPECT_FALSE(t.is_routed_expert_name("model.layers.x.mlp.experts.7.gate_proj.weight"));
  EXPECT_FALSE(t.is_routed_expert_name("model.layers.3.mlp.experts.7.gate_proj.weight.extra"));
  EXPECT_EQ(t.role_of("other.layers.3.mlp.gate.weight"), std::nullopt);
  EXPECT_EQ(t.role_of("model.layers.3.mlp.gate.weight"), R::kRouter);
  EXPECT_EQ(t.role_of("lm_head.weight"), R::kLmHead);
}

TEST(TensorTable, FusedExpertsAreSlabsOfTheStackedTensors) {
  // q35_fused_f16: 4 experts, moe_intermediate 24, hidden 32, f16.
  const fs::path dir = model_dir("q35_fused_f16");
  const ModelConfig c = load_config(dir);
  const TensorStore store = TensorStore::open(dir);
  const StoredExpert x = locate_expert(store, ModelTensors(c), 1, 3);
  EXPECT_EQ(x.gate.tensor, x.up.tensor);
  EXPECT_EQ(x.gate.offset, 3u * 48 * 32 * 2);            // slab 3 of [4, 48, 32]
  EXPECT_EQ(x.up.offset, x.gate.offset + 24u * 32 * 2);  // its second half
  EXPECT_EQ(x.down.offset, 3u * 32 * 24 * 2);            // slab 3 of [4, 32, 24]
  EXPECT_EQ(x.gate.bytes(), 24u * 32 * 2);
}

TEST(TensorTable, MissingExpertTensorIsNamed) {
  const fs::path dir = model_dir("q3moe_f32");
  ModelConfig c = load_config(dir);
  c.num_experts += 1;  // expert 8 does not exist
  const TensorStore store = TensorStore::open(dir);
  try {
    locate_expert(store, ModelTensors(c), 0, 8);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(),
                HasSubstr("missing tensor model.layers.0.mlp.experts.8.gate_proj.weight"));
  }
}

}  // namespace
}  // namespace streammoe
