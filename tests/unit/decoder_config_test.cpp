// Text decoder configs and weights: every way they can be wrong is a ved::Error naming the field or
// tensor; transformers' defaults and aliases; the position-id rules.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "../test_util.hpp"
#include "ved/models/all.hpp"

namespace ved {
namespace {

namespace fs = std::filesystem;

PretrainedConfig decoder_config(detail::json raw) {
  PretrainedConfig c;
  c.model_type = raw.value("model_type", "");
  c.raw = std::move(raw);
  c.source = "config.json: decoder";
  return c;
}

// A fixture's decoder config and weights, editable, loaded through make_decoder.
class DecoderCopy {
 public:
  explicit DecoderCopy(const std::string& fixture) : src_(test::fixture(fixture)) {
    config_ = detail::read_json_file(src_ + "/config.json")["decoder"];
    auto f = SafetensorsFile::open(src_ + "/model.safetensors");
    for (const auto& [name, rec] : f->records())
      if (name.rfind("decoder.", 0) == 0)
        tensors_.push_back(to_write(name, f->tensor<float>(name).clone()));
  }

  detail::json& config() { return config_; }
  void remove(const std::string& name) {
    tensors_.erase(std::remove_if(tensors_.begin(), tensors_.end(),
                                  [&](const TensorToWrite& t) { return t.name == name; }),
                   tensors_.end());
  }

  std::unique_ptr<TextDecoder> load() const {
    const test::TempDir dir;
    write_safetensors(dir.file("model.safetensors"), tensors_);
    return make_decoder(decoder_config(config_),
                        WeightLoader(WeightSource::from_dir(dir.str())).sub("decoder"));
  }

 private:
  std::string src_;
  detail::json config_;
  std::vector<TensorToWrite> tensors_;
};

template <typename E>
void expect_error(const std::function<void()>& f, const std::vector<std::string>& needles) {
  try {
    f();
    FAIL() << "expected an error";
  } catch (const E& e) {
    for (const auto& n : needles)
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos)
          << "'" << n << "' not in: " << e.what();
  } catch (const std::exception& e) {
    FAIL() << "wrong exception type: " << e.what();
  }
}

const std::vector<std::string> kFixtures = {"models/vit-bert", "models/beit-roberta",
                                            "models/vit-trocr", "models/deit-trocr",
                                            "models/donutswin-mbart"};

// The activation field of each family.
std::string activation_field(const detail::json& c) {
  return c.contains("hidden_act") ? "hidden_act" : "activation_function";
}

TEST(DecoderConfig, LoadsEveryFixtureDecoder) {
  for (const auto& name : kFixtures) {
    SCOPED_TRACE(name);
    const DecoderCopy d(name);
    const auto dec = d.load();
    ASSERT_NE(dec, nullptr);
    const detail::json c = detail::read_json_file(test::fixture(name) + "/config.json")["decoder"];
    EXPECT_EQ(dec->vocab_size(), c["vocab_size"].get<int64_t>());
    EXPECT_EQ(dec->hidden_size(), c.value("hidden_size", c.value("d_model", int64_t{0})));
  }
}

TEST(DecoderConfig, UnknownActivationNamesTheField) {
  for (const auto& name : kFixtures) {
    SCOPED_TRACE(name);
    DecoderCopy d(name);
    const std::string field = activation_field(d.config());
    d.config()[field] = "gelu_but_not_quite";
    expect_error<ConfigError>([&] { d.load(); }, {field, "gelu_but_not_quite", "decoder"});
  }
}

TEST(DecoderConfig, HeadsMustDivideWidth) {
  for (const auto& name : kFixtures) {
    SCOPED_TRACE(name);
    DecoderCopy d(name);
    const bool bert_like =
        d.config().contains("num_attention_heads") && d.config()["model_type"] != "mbart";
    const std::string field = bert_like ? "num_attention_heads" : "decoder_attention_heads";
    d.config()[field] = 5;
    expect_error<ConfigError>([&] { d.load(); }, {field, "5"});
  }
}

TEST(DecoderConfig, MissingTensorIsNamed) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"models/vit-bert", "decoder.bert.encoder.layer.1.crossattention.self.key.weight"},
      {"models/vit-bert", "decoder.cls.predictions.transform.LayerNorm.bias"},
      {"models/vit-bert", "decoder.cls.predictions.bias"},
      {"models/beit-roberta", "decoder.roberta.embeddings.position_embeddings.weight"},
      {"models/beit-roberta", "decoder.lm_head.layer_norm.weight"},
      {"models/vit-trocr", "decoder.model.decoder.layers.0.encoder_attn.k_proj.weight"},
      {"models/vit-trocr", "decoder.model.decoder.embed_positions.weight"},
      {"models/deit-trocr", "decoder.model.decoder.layernorm_embedding.weight"},
      {"models/donutswin-mbart", "decoder.model.decoder.layer_norm.bias"},
      {"models/donutswin-mbart", "decoder.model.decoder.layers.1.fc2.weight"},
  };
  for (const auto& [fixture, tensor] : cases) {
    SCOPED_TRACE(tensor);
    DecoderCopy d(fixture);
    d.remove(tensor);
    expect_error<WeightError>([&] { d.load(); }, {tensor});
  }
}

TEST(DecoderConfig, UntiedHeadNeedsItsOwnMatrix) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"models/vit-trocr", "decoder.output_projection.weight"},
      {"models/vit-bert", "decoder.cls.predictions.decoder.weight"},
      {"models/beit-roberta", "decoder.lm_head.decoder.weight"},
      {"models/donutswin-mbart", "decoder.lm_head.weight"},
  };
  for (const auto& [fixture, tensor] : cases) {
    SCOPED_TRACE(fixture);
    DecoderCopy d(fixture);
    d.config()["tie_word_embeddings"] = false;
    expect_error<WeightError>([&] { d.load(); }, {tensor, "not found"});
  }
  // deit-trocr stores its untied projection; dropping it is the same error.
  DecoderCopy d("models/deit-trocr");
  d.remove("decoder.output_projection.weight");
  expect_error<WeightError>([&] { d.load(); }, {"decoder.output_projection.weight"});
}

TEST(DecoderConfig, WrongShapesAreNamed) {
  DecoderCopy d("models/vit-trocr");
  d.config()["cross_attention_hidden_size"] = 48;  // the file's k/v read 32 wide
  expect_error<WeightError>([&] { d.load(); }, {"encoder_attn.k_proj.weight", "[48, 48]"});
  DecoderCopy m("models/donutswin-mbart");
  m.config()["max_position_embeddings"] = 100;
  expect_error<WeightError>([&] { m.load(); }, {"embed_positions.weight", "[102, 32]"});
}

TEST(DecoderConfig, BertNeedsDecoderFlags) {
  for (const char* name : {"models/vit-bert", "models/beit-roberta"}) {
    for (const char* flag : {"is_decoder", "add_cross_attention"}) {
      SCOPED_TRACE(std::string(name) + " " + flag);
      DecoderCopy d(name);
      d.config()[flag] = false;
      expect_error<ConfigError>([&] { d.load(); }, {flag});
    }
    DecoderCopy r(name);
    r.config()["position_embedding_type"] = "relative_key";
    expect_error<ConfigError>([&] { r.load(); }, {"position_embedding_type", "relative_key"});
  }
}

TEST(DecoderConfig, FieldTypesAreChecked) {
  DecoderCopy d("models/vit-trocr");
  d.config()["d_model"] = "48";
  expect_error<ConfigError>([&] { d.load(); }, {"d_model"});
}

TEST(DecoderConfig, TransformersDefaultsAndAliases) {
  // Defaults of an empty config, as transformers' config classes have them.
  const BertConfig bert = BertConfig::from(decoder_config(
      {{"model_type", "bert"}, {"is_decoder", true}, {"add_cross_attention", true}}));
  EXPECT_EQ(bert.vocab_size, 30522);
  EXPECT_EQ(bert.hidden_size, 768);
  EXPECT_EQ(bert.max_position_embeddings, 512);
  EXPECT_EQ(bert.layer_norm_eps, 1e-12);
  EXPECT_EQ(bert.pad_token_id, 0);
  const RobertaConfig roberta = RobertaConfig::from(decoder_config(
      {{"model_type", "roberta"}, {"is_decoder", true}, {"add_cross_attention", true}}));
  EXPECT_EQ(roberta.vocab_size, 50265);
  EXPECT_EQ(roberta.pad_token_id, 1);
  const TrOCRConfig trocr = TrOCRConfig::from(decoder_config({{"model_type", "trocr"}}));
  EXPECT_EQ(trocr.d_model, 1024);
  EXPECT_EQ(trocr.decoder_layers, 12);
  EXPECT_EQ(trocr.decoder_attention_heads, 16);
  EXPECT_EQ(trocr.decoder_ffn_dim, 4096);
  EXPECT_EQ(trocr.max_position_embeddings, 512);
  EXPECT_TRUE(trocr.use_learned_position_embeddings);
  EXPECT_TRUE(trocr.layernorm_embedding);
  EXPECT_FALSE(trocr.scale_embedding);
  EXPECT_FALSE(trocr.cross_attention_hidden_size.has_value());
  const MBartConfig mbart = MBartConfig::from(decoder_config({{"model_type", "mbart"}}));
  EXPECT_EQ(mbart.max_position_embeddings, 1024);
  EXPECT_EQ(mbart.activation_function, "gelu");
  const BartConfig bart = BartConfig::from(decoder_config({{"model_type", "bart"}}));
  EXPECT_EQ(bart.d_model, 1024);
  EXPECT_TRUE(bart.tie_word_embeddings);

  // attribute_map: hidden_size is d_model everywhere; TrOCR also maps the layer/head counts,
  // while MBart's num_hidden_layers/num_attention_heads belong to its encoder.
  const TrOCRConfig t = TrOCRConfig::from(decoder_config({{"model_type", "trocr"},
                                                          {"hidden_size", 64},
                                                          {"num_hidden_layers", 3},
                                                          {"num_attention_heads", 8}}));
  EXPECT_EQ(t.d_model, 64);
  EXPECT_EQ(t.decoder_layers, 3);
  EXPECT_EQ(t.decoder_attention_heads, 8);
  const MBartConfig m = MBartConfig::from(decoder_config({{"model_type", "mbart"},
                                                          {"hidden_size", 64},
                                                          {"num_hidden_layers", 3},
                                                          {"num_attention_heads", 3}}));
  EXPECT_EQ(m.d_model, 64);
  EXPECT_EQ(m.decoder_layers, 12);
  EXPECT_EQ(m.decoder_attention_heads, 16);
}

TEST(DecoderConfig, SinusoidalTrOCRChecks) {
  expect_error<ConfigError>(
      [] {
        TrOCRConfig::from(decoder_config({{"model_type", "trocr"},
                                          {"use_learned_position_embeddings", false},
                                          {"pad_token_id", nullptr}}));
      },
      {"pad_token_id"});
  expect_error<ConfigError>(
      [] {
        TrOCRConfig::from(decoder_config({{"model_type", "trocr"},
                                          {"use_learned_position_embeddings", false},
                                          {"d_model", 2},
                                          {"decoder_attention_heads", 1}}));
      },
      {"d_model"});
  expect_error<ConfigError>(
      [] {
        TrOCRConfig::from(
            decoder_config({{"model_type", "trocr"}, {"cross_attention_hidden_size", 0}}));
      },
      {"cross_attention_hidden_size"});
}

TEST(PositionIds, FairseqRuleAsTransformersComputesIt) {
  // padding_idx 1: real tokens count from 2, pads sit at 1 and do not advance the count.
  const auto ids = Tensor<int64_t>::from_vector({2, 4}, {2, 5, 1, 7, 1, 1, 9, 9});
  const auto pos = detail::fairseq_position_ids(ids, 1, 0);
  EXPECT_EQ(std::vector<int64_t>(pos.begin(), pos.end()),
            (std::vector<int64_t>{2, 3, 1, 4, 1, 1, 2, 3}));
  // During cached decoding the count starts at the cache length (pads included), so a row that
  // finished and was fed pads continues from there.
  const auto step = Tensor<int64_t>::from_vector({3, 1}, {7, 1, 0});
  const auto sp = detail::fairseq_position_ids(step, 1, 5);
  EXPECT_EQ(std::vector<int64_t>(sp.begin(), sp.end()), (std::vector<int64_t>{7, 1, 7}));
  const auto seq = detail::sequential_position_ids(2, 3, 4, 2);
  EXPECT_EQ(std::vector<int64_t>(seq.begin(), seq.end()), (std::vector<int64_t>{6, 7, 8, 6, 7, 8}));
}

TEST(PositionIds, MaxPositionsFollowEachScheme) {
  // RoBERTa's table has max_position_embeddings rows and ids reach pad + length.
  EXPECT_EQ(DecoderCopy("models/beit-roberta").load()->max_positions(), 66 - 1 - 1);
  EXPECT_EQ(DecoderCopy("models/vit-bert").load()->max_positions(), 64);
  // Learned offset-2 tables hold max_position_embeddings + 2 rows.
  EXPECT_EQ(DecoderCopy("models/vit-trocr").load()->max_positions(), 64);
  EXPECT_EQ(DecoderCopy("models/donutswin-mbart").load()->max_positions(), 64);
}

TEST(DecoderConfig, RegisteredFamilies) {
  EXPECT_EQ(decoder_model_types(),
            (std::vector<std::string>{"bart", "bert", "gpt2", "mbart", "roberta", "trocr"}));
  EXPECT_EQ(encoder_model_types(),
            (std::vector<std::string>{"beit", "deit", "donut-swin", "swin", "vit"}));
}

}  // namespace
}  // namespace ved
