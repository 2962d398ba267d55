#pragma once

// Image in, text out in one object: a checkpoint folder's model, image processor and tokenizer,
// like transformers' "image-to-text" pipeline, plus the per-image results (text, token ids,
// confidence) that the CLI, the C API and the examples report, and streaming of text as it is
// generated.
//
//   auto p = ved::ImageToText::from_pretrained("trocr-small-printed");
//   ved::TextResult r = p.run(ved::load_image("line.png"), {{"num_beams", 4}});
//   std::cout << r.text << " (" << r.confidence << ")\n";
//
// Thread safety: an ImageToText is immutable after from_pretrained; any number of threads may call
// run() on one instance at once.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ved/detail/json.hpp"
#include "ved/error.hpp"
#include "ved/io/image.hpp"
#include "ved/io/safetensors.hpp"
#include "ved/models/vision_encoder_decoder.hpp"
#include "ved/processing/image_processor.hpp"
#include "ved/processing/postprocess.hpp"
#include "ved/processing/tokenizer.hpp"

namespace ved {

// One generated sequence.
struct TextResult {
  std::string text;  // decoded with skip_special_tokens, then post-processed (set_postprocessor)
  // The decoder sequence as transformers returns it (prompt / decoder start token first), cut
  // after the first eos: the padding a batch adds to rows that finished early is dropped, so a
  // result does not depend on which other images shared its batch.
  std::vector<int64_t> tokens;
  // Log-probability of each token after the prompt under the processed distribution
  // (transformers' compute_transition_scores(..., normalize_logits=True)). Beam search does not
  // record the final eos's log-probability (transformers' hypotheses are stored without it);
  // that entry is 0.
  std::vector<float> token_logprobs;
  // Beam search: transformers' sequences_scores (sum of log-probs / length ** length_penalty).
  // Greedy and sampling: the mean of token_logprobs. Either way higher is better, at most 0.
  double score = 0;
  // exp(mean log-probability of the generated tokens), in (0, 1]: the geometric mean of the
  // per-token probabilities, leaving out beam search's unrecorded eos.
  double confidence = 0;
  // Whether the sequence ended with an eos token (else it reached a length limit, or was
  // stopped).
  bool ended_by_eos = false;
};

// Turns a growing list of token ids into text increments, for printing tokens as they arrive.
// Each step decodes the whole generated prefix and emits what was added since the last step, so
// byte-level BPE pieces and SentencePiece word boundaries come out as the full decode would show
// them. Text that ends in an incomplete UTF-8 character (decoded as U+FFFD) is held back until
// the next token completes it.
class TextStreamer {
 public:
  TextStreamer(const Tokenizer& tokenizer, std::function<void(const std::string&)> sink)
      : tokenizer_(tokenizer), sink_(std::move(sink)) {}

  void put(int64_t id) {
    ids_.push_back(id);
    std::string text = tokenizer_.decode(ids_, /*skip_special_tokens=*/true);
    static const std::string kReplacement = "\xEF\xBF\xBD";
    if (text.size() >= kReplacement.size() &&
        text.compare(text.size() - kReplacement.size(), kReplacement.size(), kReplacement) == 0)
      return;
    emit(std::move(text));
  }

  // Emits whatever was held back (a sequence that really ends in U+FFFD).
  void finish() { emit(tokenizer_.decode(ids_, /*skip_special_tokens=*/true)); }

  // A TokenCallback that streams row 0 (generation of a single image).
  TokenCallback callback() {
    return [this](int64_t, const std::vector<int64_t>& tokens) {
      put(tokens.at(0));
      return true;
    };
  }

 private:
  void emit(std::string text) {
    // Clean-up rules (" ." -> ".") can rewrite text already shown; that cannot be taken back,
    // so only text beyond what was shown is emitted.
    if (text.size() <= shown_.size()) return;
    sink_(text.substr(shown_.size()));
    shown_ = std::move(text);
  }

  const Tokenizer& tokenizer_;
  std::function<void(const std::string&)> sink_;
  std::vector<int64_t> ids_;
  std::string shown_;
};

class ImageToText {
 public:
  static ImageToText from_pretrained(const std::string& dir, const ModelOptions& options = {}) {
    // One at a time, in this order, so that a folder with several problems always reports the
    // model's first (function arguments would be evaluated in an unspecified order).
    VisionEncoderDecoderModel model = VisionEncoderDecoderModel::from_pretrained(dir, options);
    // The constructor sets the channel count from the model already loaded.
    ImageProcessor processor = ImageProcessor::from_pretrained(
        processor_config_path(dir, model.config().encoder.get<int64_t>("num_channels", 3)));
    std::shared_ptr<const Tokenizer> tokenizer = Tokenizer::from_pretrained(dir);
    ImageToText p(std::move(model), std::move(processor), std::move(tokenizer));
    p.set_postprocessor(default_postprocessor(dir));
    return p;
  }

  // A checkpoint folder's image processor alone (no model loaded: `ved preprocess`), preparing as
  // many channels as its encoder reads (config.json's encoder num_channels, when the folder has a
  // config.json). A folder without preprocessor_config.json gets an error that says what to
  // write.
  static ImageProcessor processor_for(const std::string& dir) {
    int64_t channels = 3;
    const std::string config = detail::join_path(dir, "config.json");
    if (detail::is_regular_file(config))
      channels =
          VisionEncoderDecoderConfig::from_file(config).encoder.get<int64_t>("num_channels", 3);
    ImageProcessor processor =
        ImageProcessor::from_pretrained(processor_config_path(dir, channels));
    processor.set_num_channels(channels);
    return processor;
  }

  // What checkpoints need beyond their files, by name ("manga-ocr"): some models are used with
  // steps their folders do not announce. Call before sharing the object between threads.
  //   manga-ocr  kha-white/manga-ocr-base and fine-tunes of it: the image is converted to grey
  //              (convert('L').convert('RGB')) before the processor, and the text gets manga_ocr's
  //              post-processing (postprocess "manga-ocr").
  static const std::vector<std::string>& preset_names() {
    static const std::vector<std::string> names = {"manga-ocr"};
    return names;
  }
  ImageToText& set_preset(const std::string& name) {
    if (name == "manga-ocr") {
      processor_.set_grayscale(true);
      return set_postprocessor("manga-ocr");
    }
    std::string known;
    for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
    throw InvalidArgument("unknown preset '" + name + "' (known: " + known + ")");
  }

  // The post-processor a checkpoint's text gets unless told otherwise: "nougat" for Nougat's
  // tokenizer (tokenizer_config.json's tokenizer_class NougatTokenizer or NougatTokenizerFast),
  // whose raw pages every Nougat user runs through post_process_generation; else "none".
  static std::string default_postprocessor(const std::string& dir) {
    const std::string path = detail::join_path(dir, "tokenizer_config.json");
    if (!detail::is_regular_file(path)) return "none";
    const detail::json config = detail::read_json_file(path);
    const std::string cls = detail::get_or<std::string>(config, "tokenizer_class", "", path);
    return cls.rfind("NougatTokenizer", 0) == 0 ? "nougat" : "none";
  }

  // Chooses the post-processor applied to TextResult::text (postprocessor_names(); "none"
  // keeps the decoded text). Streamed text (on_text) is never post-processed: the rules look at
  // the whole page. Call before sharing the object between threads.
  ImageToText& set_postprocessor(const std::string& name, const PostprocessOptions& options = {}) {
    const auto& names = postprocessor_names();
    if (std::find(names.begin(), names.end(), name) == names.end())
      postprocess(name, "");  // throws InvalidArgument listing the known names
    postprocessor_ = name;
    postprocess_options_ = options;
    return *this;
  }
  const std::string& postprocessor() const { return postprocessor_; }

  ImageToText(VisionEncoderDecoderModel model, ImageProcessor processor,
              std::shared_ptr<const Tokenizer> tokenizer)
      : model_(std::move(model)),
        processor_(std::move(processor)),
        tokenizer_(std::move(tokenizer)) {
    // The processor prepares as many channels as the encoder reads (grey for a 1-channel one).
    processor_.set_num_channels(model_.config().encoder.get<int64_t>("num_channels", 3));
  }

  const VisionEncoderDecoderModel& model() const { return model_; }
  const ImageProcessor& processor() const { return processor_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }

  // What a caller can watch and control while run() generates (the server's streams, deadlines
  // and dropped connections).
  struct GenerateHooks {
    // One image (B == 1), greedy or sampling: each new token and the text it adds to the decoded
    // text (empty while a UTF-8 character is incomplete: it comes with a later token). Returning
    // false stops generation; the results then hold the tokens so far.
    std::function<bool(int64_t id, const std::string& text)> on_token;
    // Text held back when generation ended (see TextStreamer::finish).
    std::function<void(const std::string& rest)> on_finish;
    // Any batch, greedy or sampling: asked after every step; false stops generation there.
    // Beam search always runs to its end.
    std::function<bool()> keep_going;
    GenerateTimings* timings = nullptr;  // each stage's time is added to it
  };

  // Generates for preprocessed pixel_values [B, C, H, W]. `kwargs` are generate()'s keyword
  // arguments as in transformers, "decoder_input_ids" included. `on_text` streams the text of a
  // single image (B == 1, greedy or sampling) as it is generated.
  // One result per returned sequence: num_return_sequences consecutive results per image.
  std::vector<TextResult> run(const Tensor<float>& pixel_values,
                              const detail::json& kwargs = detail::json::object(),
                              const std::function<void(const std::string&)>& on_text = {}) const {
    if (!on_text) return run(pixel_values, kwargs, GenerateHooks{});
    GenerateHooks hooks;
    // Text held back at the end (a sequence that really ends in U+FFFD) is emitted after the
    // last token, as TextStreamer::finish does.
    hooks.on_token = [&on_text](int64_t, const std::string& text) {
      if (!text.empty()) on_text(text);
      return true;
    };
    hooks.on_finish = [&on_text](const std::string& rest) {
      if (!rest.empty()) on_text(rest);
    };
    return run(pixel_values, kwargs, hooks);
  }

  std::vector<TextResult> run(const Tensor<float>& pixel_values, const detail::json& kwargs,
                              const GenerateHooks& hooks) const {
    GenerationConfig config = model_.generation_config();
    std::vector<std::vector<int64_t>> prompt;
    detail::json rest = kwargs.is_null() ? detail::json::object() : kwargs;
    if (!rest.is_object()) throw InvalidArgument("generate() arguments must be a JSON object");
    if (rest.contains("decoder_input_ids")) {
      prompt = VisionEncoderDecoderModel::parse_decoder_input_ids(rest["decoder_input_ids"]);
      rest.erase("decoder_input_ids");
    }
    config.update(rest);
    GenerateOutput out;
    if (hooks.on_token) {
      if (pixel_values.ndim() != 4 || pixel_values.dim(0) != 1)
        throw InvalidArgument("streaming generates one image at a time, got pixel_values " +
                              shape_str(pixel_values.shape()));
      std::string piece;
      TextStreamer streamer(*tokenizer_, [&piece](const std::string& s) { piece += s; });
      out = model_.generate(
          pixel_values, config, prompt,
          [&](int64_t, const std::vector<int64_t>& tokens) {
            piece.clear();
            streamer.put(tokens.at(0));
            const bool go = hooks.on_token(tokens[0], piece);
            return go && (!hooks.keep_going || hooks.keep_going());
          },
          hooks.timings);
      piece.clear();
      streamer.finish();
      if (hooks.on_finish) hooks.on_finish(piece);
    } else if (hooks.keep_going && config.num_beams == 1) {
      out = model_.generate(
          pixel_values, config, prompt,
          [&](int64_t, const std::vector<int64_t>&) { return hooks.keep_going(); }, hooks.timings);
    } else {
      out = model_.generate(pixel_values, config, prompt, {}, hooks.timings);
    }
    const size_t eos_count = config.eos_token_id.size();
    std::vector<TextResult> results;
    for (size_t i = 0; i < out.sequences.size(); ++i) {
      TextResult r;
      const auto& seq = out.sequences[i];
      const auto& lp = out.token_logprobs[i];
      const size_t prompt_len = seq.size() - lp.size();
      size_t end = seq.size();
      bool ended_by_eos = false;
      for (size_t t = prompt_len; t < seq.size() && eos_count; ++t)
        if (std::find(config.eos_token_id.begin(), config.eos_token_id.end(), seq[t]) !=
            config.eos_token_id.end()) {
          end = t + 1;
          ended_by_eos = true;
          break;
        }
      r.tokens.assign(seq.begin(), seq.begin() + static_cast<std::ptrdiff_t>(end));
      r.token_logprobs.assign(lp.begin(),
                              lp.begin() + static_cast<std::ptrdiff_t>(end - prompt_len));
      r.ended_by_eos = ended_by_eos;
      const bool beam = !out.sequences_scores.empty();
      size_t counted = r.token_logprobs.size();
      if (beam && ended_by_eos && counted > 0) --counted;
      double sum = 0;
      for (size_t t = 0; t < counted; ++t) sum += r.token_logprobs[t];
      const double mean = counted ? sum / static_cast<double>(counted) : 0.0;
      r.score = beam ? static_cast<double>(out.sequences_scores[i]) : mean;
      r.confidence = std::exp(mean);
      r.text =
          postprocess(postprocessor_, tokenizer_->decode(r.tokens, /*skip_special_tokens=*/true),
                      postprocess_options_);
      results.push_back(std::move(r));
    }
    return results;
  }

  std::vector<TextResult> run(const std::vector<Image>& images,
                              const detail::json& kwargs = detail::json::object()) const {
    return run(processor_.preprocess(images), kwargs);
  }

  // pixel_values [B, C, H, W] for one input file: an image, run through the checkpoint's image
  // processor, or a .safetensors file whose tensor 'pixel_values' was preprocessed already
  // (by `ved preprocess`, or saved from Python), e.g. to compare with transformers' outputs.
  Tensor<float> load_pixel_values(const std::string& path) const {
    const std::string ext = ".safetensors";
    if (path.size() < ext.size() || path.compare(path.size() - ext.size(), ext.size(), ext) != 0)
      return processor_.preprocess(load_image(path));
    const auto file = SafetensorsFile::open(path);
    if (!file->contains("pixel_values"))
      throw WeightError(path + ": no tensor named 'pixel_values'");
    return file->tensor<float>("pixel_values");
  }

  // The best sequence for one image.
  TextResult run(const Image& image, const detail::json& kwargs = detail::json::object(),
                 const std::function<void(const std::string&)>& on_text = {}) const {
    return run(processor_.preprocess(image), kwargs, on_text).at(0);
  }

 private:
  // The folder's preprocessor_config.json, or an error that says what to write when it has none
  // (TexTeller ships none: its repository's own code prepares the images).
  static std::string processor_config_path(const std::string& dir, int64_t channels) {
    if (detail::is_regular_file(dir)) return dir;  // the processor file itself
    const std::string path = detail::join_path(dir, "preprocessor_config.json");
    if (detail::is_regular_file(path)) return path;
    std::string message =
        dir +
        ": no preprocessor_config.json, so ved does not know how this model's images are "
        "prepared. Save the image processor the model was trained with into the folder "
        "(processor.save_pretrained), or write the file by hand (see \"Checkpoints without a "
        "processor file\" in ved's README), or give ready pixel_values (ved generate "
        "--pixel-values)";
    if (channels == 1)
      message +=
          ". This encoder reads 1-channel (grey) images, as OleehyO/TexTeller does: TexTeller's "
          "own code trims the white border, converts to grey, resizes to fit 448x448 keeping the "
          "aspect ratio, pads to 448x448 and normalises with mean 0.9545467 and std 0.15394445";
    throw ConfigError(message);
  }

  VisionEncoderDecoderModel model_;
  ImageProcessor processor_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  std::string postprocessor_ = "none";
  PostprocessOptions postprocess_options_;
};

}  // namespace ved
