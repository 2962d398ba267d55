// Loading a checkpoint folder: every way it can be wrong is a ved::Error that names the culprit.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "../test_util.hpp"
#include "ved/log.hpp"
#include "ved/models/vision_encoder_decoder.hpp"

namespace ved {
namespace {

namespace fs = std::filesystem;

const std::string kModel = "models/vit-gpt2";

// A writable copy of a fixture checkpoint whose config and weights a test can edit.
class CheckpointCopy {
 public:
  explicit CheckpointCopy(const std::string& fixture) {
    static int n = 0;
    dir_ = fs::temp_directory_path() /
           ("ved_ckpt_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
    fs::create_directories(dir_);
    for (const auto& e : fs::directory_iterator(test::fixture(fixture)))
      fs::copy(e.path(), dir_ / e.path().filename());
    config_ = detail::read_json_file((dir_ / "config.json").string());
  }
  ~CheckpointCopy() { fs::remove_all(dir_); }

  std::string dir() const { return dir_.string(); }
  std::string file(const std::string& name) const { return (dir_ / name).string(); }
  detail::json& config() { return config_; }
  void save_config() const { std::ofstream(file("config.json")) << config_.dump(2); }

  // Rewrites model.safetensors after `edit` changed the list of tensors.
  void edit_weights(const std::function<void(std::vector<TensorToWrite>&)>& edit) const {
    std::vector<TensorToWrite> tensors;
    {
      auto f = SafetensorsFile::open(file("model.safetensors"));
      for (const auto& [name, rec] : f->records())
        tensors.push_back(to_write(name, f->tensor<float>(name).clone()));
    }
    edit(tensors);
    write_safetensors(file("model.safetensors"), tensors);
  }

 private:
  fs::path dir_;
  detail::json config_;
};

template <typename E>
void expect_load_error(const std::string& dir, const std::vector<std::string>& needles) {
  try {
    VisionEncoderDecoderModel::from_pretrained(dir);
    FAIL() << "expected an error";
  } catch (const E& e) {
    for (const auto& n : needles)
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos)
          << "'" << n << "' not in: " << e.what();
  } catch (const std::exception& e) {
    FAIL() << "wrong exception type: " << e.what();
  }
}

TEST(Loading, LoadsFixtureAndReadsGenerationConfig) {
  const auto model = VisionEncoderDecoderModel::from_pretrained(test::fixture(kModel));
  EXPECT_EQ(model.encoder().hidden_size(), 32);
  EXPECT_EQ(model.decoder().vocab_size(), 199);
  EXPECT_EQ(model.generation_config().decoder_start_token_id, 198);
  EXPECT_EQ(model.generation_config().eos_token_id, std::vector<int64_t>{198});
  EXPECT_EQ(model.generation_config().max_length, 20);
}

TEST(Loading, FallsBackToConfigJsonWithoutGenerationConfig) {
  CheckpointCopy c(kModel);
  fs::remove(c.file("generation_config.json"));
  c.config()["decoder"]["max_length"] =
      7;  // decoder values fill what the top level leaves at default
  c.config()["pad_token_id"] = 5;
  c.save_config();
  const auto model = VisionEncoderDecoderModel::from_pretrained(c.dir());
  EXPECT_EQ(model.generation_config().max_length, 7);
  EXPECT_EQ(model.generation_config().pad_token_id, 5);
  EXPECT_EQ(model.generation_config().decoder_start_token_id, 198);
}

TEST(LoadingBadInput, MissingFolderAndFiles) {
  expect_load_error<IoError>("/nonexistent/ved-model", {"/nonexistent/ved-model"});
  CheckpointCopy c(kModel);
  fs::remove(c.file("model.safetensors"));
  expect_load_error<IoError>(c.dir(), {"model.safetensors", c.dir()});
  fs::remove(c.file("config.json"));
  expect_load_error<IoError>(c.dir(), {"config.json"});
}

TEST(LoadingBadInput, MalformedJson) {
  CheckpointCopy c(kModel);
  std::ofstream(c.file("config.json")) << "{\"model_type\": \"vision-encoder-decoder\", ";
  expect_load_error<FormatError>(c.dir(), {"config.json", "malformed JSON"});
  CheckpointCopy g(kModel);
  std::ofstream(g.file("generation_config.json")) << "[1, 2";
  expect_load_error<FormatError>(g.dir(), {"generation_config.json"});
}

TEST(LoadingBadInput, UnknownModelTypes) {
  CheckpointCopy a(kModel);
  a.config()["encoder"]["model_type"] = "resnet";
  a.save_config();
  expect_load_error<ConfigError>(a.dir(), {"resnet", "encoder", "vit"});
  CheckpointCopy b(kModel);
  b.config()["decoder"]["model_type"] = "llama";
  b.save_config();
  expect_load_error<ConfigError>(b.dir(), {"llama", "decoder", "gpt2"});
  CheckpointCopy t(kModel);
  t.config()["model_type"] = "vit";
  t.save_config();
  expect_load_error<ConfigError>(t.dir(), {"model_type", "vit"});
  CheckpointCopy m(kModel);
  m.config().erase("encoder");
  m.save_config();
  expect_load_error<ConfigError>(m.dir(), {"encoder"});
}

TEST(LoadingBadInput, WrongFieldTypesAndValues) {
  CheckpointCopy a(kModel);
  a.config()["encoder"]["hidden_size"] = "32";
  a.save_config();
  expect_load_error<ConfigError>(a.dir(), {"hidden_size", "encoder"});
  CheckpointCopy b(kModel);
  b.config()["decoder"]["n_head"] = 5;  // 32 is not a multiple of 5
  b.save_config();
  expect_load_error<ConfigError>(b.dir(), {"n_head"});
  CheckpointCopy c(kModel);
  c.config()["decoder"]["activation_function"] = "mish2";
  c.save_config();
  expect_load_error<ConfigError>(c.dir(), {"mish2"});
  CheckpointCopy d(kModel);
  d.config()["eos_token_id"] = "198";
  d.save_config();
  expect_load_error<ConfigError>(d.dir(), {"eos_token_id"});
}

TEST(LoadingBadInput, MissingTensor) {
  CheckpointCopy c(kModel);
  c.edit_weights([](auto& t) {
    t.erase(std::remove_if(t.begin(), t.end(),
                           [](const auto& x) {
                             return x.name ==
                                    "decoder.transformer.h.1.crossattention.q_attn.weight";
                           }),
            t.end());
  });
  expect_load_error<WeightError>(c.dir(), {"decoder.transformer.h.1.crossattention.q_attn.weight",
                                           "not found", "model.safetensors"});
}

TEST(LoadingBadInput, WrongShape) {
  CheckpointCopy c(kModel);
  c.edit_weights([](auto& t) {
    for (auto& x : t)
      if (x.name == "encoder.encoder.layer.0.attention.attention.query.weight") x.shape = {16, 64};
  });
  expect_load_error<WeightError>(
      c.dir(),
      {"encoder.encoder.layer.0.attention.attention.query.weight", "[32, 32]", "[16, 64]"});
}

TEST(LoadingBadInput, UnsupportedDtype) {
  CheckpointCopy c(kModel);
  c.edit_weights([](auto& t) {
    for (auto& x : t)
      if (x.name == "decoder.transformer.ln_f.bias") {
        x.dtype = DType::I32;  // same byte count, but no float weight can be read from it
      }
  });
  expect_load_error<WeightError>(c.dir(), {"decoder.transformer.ln_f.bias", "I32"});
}

// Collects ved's warnings for the life of the object (and silences stderr).
class CapturedWarnings {
 public:
  CapturedWarnings()
      : previous_(set_warning_handler([this](const std::string& m) { messages_.push_back(m); })) {}
  ~CapturedWarnings() { set_warning_handler(previous_); }
  const std::vector<std::string>& messages() const { return messages_; }

 private:
  std::vector<std::string> messages_;
  WarningHandler previous_;
};

// Tensors transformers does not use either (the pooler of an AutoModel encoder, recomputed
// buffers, a stored copy of a tied head) load without a word.
TEST(Loading, TensorsTransformersIgnoresToo) {
  CheckpointCopy c(kModel);
  c.edit_weights([](auto& t) {
    t.push_back(to_write("encoder.pooler.dense.weight", Tensor<float>({32, 32})));
    t.push_back(to_write("encoder.pooler.dense.bias", Tensor<float>({32})));
    t.push_back(to_write("decoder.transformer.h.0.attn.bias", Tensor<float>({1, 1, 4, 4})));
    t.push_back(to_write("decoder.lm_head.weight", Tensor<float>({4, 32})));
  });
  CapturedWarnings warnings;
  ModelOptions strict;
  strict.strict = true;
  const auto model = VisionEncoderDecoderModel::from_pretrained(c.dir(), strict);
  EXPECT_TRUE(model.unused_weights().empty());
  EXPECT_TRUE(warnings.messages().empty());
}

// A look-alike with parameters the architecture does not have (vikp/texify's extra embeddings
// under a stock model_type): a warning names them, strict loading refuses the folder.
TEST(LoadingBadInput, UnusedTensorsAreReported) {
  CheckpointCopy c(kModel);
  c.edit_weights([](auto& t) {
    t.push_back(to_write("encoder.embeddings.row_embeddings.weight", Tensor<float>({8, 32})));
    t.push_back(to_write("encoder.embeddings.column_embeddings.weight", Tensor<float>({8, 32})));
  });
  {
    CapturedWarnings warnings;
    const auto model = VisionEncoderDecoderModel::from_pretrained(c.dir());
    EXPECT_EQ(model.unused_weights(),
              (std::vector<std::string>{"encoder.embeddings.column_embeddings.weight",
                                        "encoder.embeddings.row_embeddings.weight"}));
    ASSERT_EQ(warnings.messages().size(), 1u);
    const std::string& m = warnings.messages()[0];
    for (const char* needle : {"model.safetensors", "2 tensors", "vit + gpt2",
                               "encoder.embeddings.row_embeddings.weight",
                               "encoder.embeddings.column_embeddings.weight"})
      EXPECT_NE(m.find(needle), std::string::npos) << "'" << needle << "' not in: " << m;
  }
  ModelOptions strict;
  strict.strict = true;
  const std::string m = test::expect_throw_message<WeightError>(
      [&] { VisionEncoderDecoderModel::from_pretrained(c.dir(), strict); });
  EXPECT_NE(m.find("encoder.embeddings.row_embeddings.weight"), std::string::npos) << m;
}

// A folder with only an ONNX export (breezedeus/pix2text-mfr) names its files and says why.
TEST(LoadingBadInput, OnnxOnlyFolder) {
  CheckpointCopy c(kModel);
  fs::remove(c.file("model.safetensors"));
  fs::create_directories(c.file("onnx"));
  for (const char* name :
       {"encoder_model.onnx", "decoder_model.onnx", "onnx/decoder_with_past.onnx"})
    std::ofstream(c.file(name)) << "onnx";
  expect_load_error<IoError>(
      c.dir(), {"model.safetensors", "only ONNX", "decoder_model.onnx", "encoder_model.onnx",
                "onnx/decoder_with_past.onnx", "does not run"});
}

TEST(LoadingBadInput, TensorFlowOnlyFolder) {
  CheckpointCopy c(kModel);
  fs::remove(c.file("model.safetensors"));
  std::ofstream(c.file("tf_model.h5")) << "hdf5";
  expect_load_error<IoError>(c.dir(), {"tf_model.h5", "TensorFlow"});
}

// Settings that change what the weights compute and that ved does not implement are refused,
// naming the field, rather than ignored.
TEST(LoadingBadInput, UnsupportedFlags) {
  {
    CheckpointCopy c(kModel);
    c.config()["tie_encoder_decoder"] = true;
    c.save_config();
    expect_load_error<ConfigError>(c.dir(), {"config.json", "tie_encoder_decoder", "true"});
  }
  {
    CheckpointCopy c(kModel);
    c.config()["decoder"]["pruned_heads"] = {{"0", {1}}};
    c.save_config();
    expect_load_error<ConfigError>(c.dir(), {"config.json: decoder", "pruned_heads"});
  }
  {
    CheckpointCopy c(kModel);
    c.config()["quantization_config"] = {{"quant_method", "bitsandbytes"}, {"load_in_8bit", true}};
    c.save_config();
    expect_load_error<ConfigError>(c.dir(), {"quantization_config", "bitsandbytes"});
  }
  {
    CheckpointCopy c("models/vit-bert");
    c.config()["decoder"]["position_embedding_type"] = "relative_key";
    c.save_config();
    expect_load_error<ConfigError>(c.dir(), {"position_embedding_type", "relative_key"});
  }
  {  // Their inert values load as before.
    CheckpointCopy c(kModel);
    c.config()["tie_encoder_decoder"] = false;
    c.config()["decoder"]["pruned_heads"] = detail::json::object();
    c.save_config();
    EXPECT_NO_THROW(VisionEncoderDecoderModel::from_pretrained(c.dir()));
  }
}

TEST(InputsBadInput, PixelValuesOfTheWrongShape) {
  const auto model = VisionEncoderDecoderModel::from_pretrained(test::fixture(kModel));
  for (const Shape& s :
       {Shape{1, 3, 32}, Shape{1, 1, 32, 32}, Shape{1, 3, 64, 64}, Shape{0, 3, 32, 32}}) {
    try {
      model.generate(Tensor<float>(s));
      FAIL() << "accepted pixel_values " << shape_str(s);
    } catch (const InvalidArgument& e) {
      EXPECT_NE(std::string(e.what()).find("pixel_values"), std::string::npos) << e.what();
    }
  }
}

TEST(InputsBadInput, DecoderInputIdsOutOfVocabulary) {
  const auto model = VisionEncoderDecoderModel::from_pretrained(test::fixture(kModel));
  const Tensor<float> px({1, 3, 32, 32});
  EXPECT_THROW(model.forward(px, Tensor<int64_t>::from_vector({1, 2}, {198, 199})),
               InvalidArgument);
  EXPECT_THROW(model.forward(px, Tensor<int64_t>::from_vector({1, 2}, {198, -1})), InvalidArgument);
  EXPECT_THROW(model.forward(px, Tensor<int64_t>::from_vector({2, 1}, {198, 198})),
               InvalidArgument);  // batch mismatch
  // Past n_positions (64) there is no position embedding.
  EXPECT_THROW(model.generate(px, {{"max_new_tokens", 100}}), InvalidArgument);
}

TEST(InputsBadInput, GenerateArguments) {
  const auto model = VisionEncoderDecoderModel::from_pretrained(test::fixture(kModel));
  const Tensor<float> px({1, 3, 32, 32});
  EXPECT_THROW(model.generate(px, {{"max_new_tokenz", 3}}), ConfigError);
  EXPECT_THROW(model.generate(px, {{"max_new_tokens", "3"}}), ConfigError);
  EXPECT_THROW(model.generate(px, {{"max_new_tokens", 0}}), InvalidArgument);
  EXPECT_THROW(model.generate(px, {{"eos_token_id", 500}}), InvalidArgument);
  EXPECT_THROW(model.generate(px, {{"num_return_sequences", 2}}), InvalidArgument);
  EXPECT_THROW(model.generate(px, {{"do_sample", true}, {"temperature", 0.0}}), InvalidArgument);
}

TEST(Generate, SamplingIsReproducibleWithASeed) {
  const auto model = VisionEncoderDecoderModel::from_pretrained(test::fixture(kModel));
  const Tensor<float> px = SafetensorsFile::open(test::fixture(kModel + "/expected.safetensors"))
                               ->tensor<float>("pixel_values");
  const detail::json args = {{"do_sample", true}, {"seed", 7}, {"max_new_tokens", 8}, {"top_k", 0}};
  const auto a = model.generate(px, args), b = model.generate(px, args);
  EXPECT_EQ(a.sequences, b.sequences);
  ASSERT_EQ(a.sequences.size(), 2u);
  EXPECT_EQ(a.sequences[0].size(), 9u);
  // top_k=1 sampling can only pick the argmax: it must reproduce greedy decoding.
  const auto greedy = model.generate(px, {{"max_new_tokens", 8}});
  const auto topk1 = model.generate(px, {{"do_sample", true}, {"top_k", 1}, {"max_new_tokens", 8}});
  EXPECT_EQ(greedy.sequences, topk1.sequences);
}

}  // namespace
}  // namespace ved
