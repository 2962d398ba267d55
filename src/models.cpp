// config.json's model_type -> model family. Every family is compiled here, once.

#include <map>
#include <string>

#include "ved/models/all.hpp"

namespace ved {
namespace {

template <typename Base>
using Factory = std::unique_ptr<Base> (*)(const PretrainedConfig&, const WeightLoader&);

template <typename Base, typename Model, typename Config>
std::unique_ptr<Base> build(const PretrainedConfig& c, const WeightLoader& w) {
  return std::make_unique<Model>(Config::from(c), w);
}

const std::map<std::string, Factory<VisionEncoder>>& encoders() {
  static const std::map<std::string, Factory<VisionEncoder>> m{
      {"beit", build<VisionEncoder, BeitModel, BeitConfig>},
      {"deit", build<VisionEncoder, DeiTModel, DeiTConfig>},
      {"donut-swin", build<VisionEncoder, DonutSwinModel, DonutSwinConfig>},
      {"swin", build<VisionEncoder, SwinModel, SwinConfig>},
      {"vit", build<VisionEncoder, ViTModel, ViTConfig>},
  };
  return m;
}

const std::map<std::string, Factory<TextDecoder>>& decoders() {
  static const std::map<std::string, Factory<TextDecoder>> m{
      {"bart", build<TextDecoder, BartForCausalLM, BartConfig>},
      {"bert", build<TextDecoder, BertLMHeadModel, BertConfig>},
      {"gpt2", build<TextDecoder, GPT2LMHeadModel, GPT2Config>},
      {"mbart", build<TextDecoder, MBartForCausalLM, MBartConfig>},
      {"roberta", build<TextDecoder, RobertaForCausalLM, RobertaConfig>},
      {"trocr", build<TextDecoder, TrOCRForCausalLM, TrOCRConfig>},
  };
  return m;
}

template <typename Map>
std::vector<std::string> names(const Map& m) {
  std::vector<std::string> out;
  for (const auto& kv : m) out.push_back(kv.first);
  return out;
}

template <typename Map>
auto make(const Map& m, const char* half, const PretrainedConfig& config,
          const WeightLoader& weights) {
  const auto it = m.find(config.model_type);
  if (it == m.end()) {
    std::string supported;
    for (const std::string& name : names(m)) supported += (supported.empty() ? "" : ", ") + name;
    throw ConfigError(config.source + ": unknown " + half + " model_type '" + config.model_type +
                      "' (supported: " + supported + ")");
  }
  return it->second(config, weights);
}

}  // namespace

std::unique_ptr<VisionEncoder> make_encoder(const PretrainedConfig& config,
                                            const WeightLoader& weights) {
  return make(encoders(), "encoder", config, weights);
}

std::unique_ptr<TextDecoder> make_decoder(const PretrainedConfig& config,
                                          const WeightLoader& weights) {
  return make(decoders(), "decoder", config, weights);
}

std::vector<std::string> encoder_model_types() {
  return names(encoders());
}
std::vector<std::string> decoder_model_types() {
  return names(decoders());
}

}  // namespace ved
