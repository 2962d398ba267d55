#pragma once

// Checkpoint folders shaped like real ones, assembled from fixture files: a model of the fixture
// tree with the processor and tokenizer files the real checkpoint ships (or that its users add).

#include <filesystem>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace ved::test {

inline void copy_files(const std::string& from, const std::vector<std::string>& names,
                       const TempDir& to) {
  for (const auto& name : names)
    std::filesystem::copy_file(fixture(from + "/" + name), to.path() / name,
                               std::filesystem::copy_options::overwrite_existing);
}

// kha-white/manga-ocr-base-shaped: the mangaocr-vit-bert model with its character tokenizer and
// the manga-ocr-gray processor config (ViTFeatureExtractor, size 48: this model's input).
inline void make_manga_ocr_folder(const TempDir& dir) {
  copy_files("models/mangaocr-vit-bert",
             {"config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json"}, dir);
  copy_files("images/manga-ocr-gray", {"preprocessor_config.json"}, dir);
}

// OleehyO/TexTeller-shaped: the 1-channel texteller-vit-trocr model with a RoBERTa-style
// tokenizer.json (TexTeller's is one) and, when `with_processor`, a ViT processor config of
// this model's input size (the manga-ocr-gray one: size 48, mean and std 0.5). TexTeller itself
// ships no processor file.
inline void make_texteller_folder(const TempDir& dir, bool with_processor) {
  copy_files("models/texteller-vit-trocr",
             {"config.json", "model.safetensors", "generation_config.json"}, dir);
  copy_files("tokenizers/roberta-fast",
             {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}, dir);
  if (with_processor) copy_files("images/manga-ocr-gray", {"preprocessor_config.json"}, dir);
}

}  // namespace ved::test
