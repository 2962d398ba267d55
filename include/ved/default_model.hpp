#pragma once

// The embedded default model: a small trained OCR checkpoint (tiny-ocr, a ViT + GPT-2 reading
// printed single lines) that ships and installs with ved, so that `ved caption line.png` reads
// text with no --model and an embedder can start without downloading anything.
//
//   auto reader = ved::ImageToText::from_pretrained(ved::default_model_dir());
//
// default_model_dir() returns the first of these that is a checkpoint folder (has config.json):
//   1. the folder given to set_default_model_dir() in this process;
//   2. the VED_DEFAULT_MODEL environment variable;
//   3. share/ved/models/tiny-ocr next to the running executable (a build tree's `ved`);
//   4. ../share/ved/models/tiny-ocr from the running executable's folder (an installed bin/ved,
//      wherever the prefix was moved);
//   5. the install prefix ved was configured with, DATADIR/ved/models/tiny-ocr.
// A folder named by 1 or 2 must exist: a wrong setting is an error, never silently replaced.

#include <string>
#include <vector>

namespace ved {

// One place default_model_dir() looks, in order, and whether a model is there.
struct DefaultModelCandidate {
  std::string dir;
  std::string origin;  // "set_default_model_dir", "VED_DEFAULT_MODEL", "build tree", ...
  bool found = false;
};

// The embedded model's name ("tiny-ocr").
const char* default_model_name();

// Where the default model is looked for, in order (see above).
std::vector<DefaultModelCandidate> default_model_search();

// The folder of the default model; throws IoError naming every place searched if none holds one,
// or the setting at fault if set_default_model_dir() or VED_DEFAULT_MODEL names a folder without
// a config.json.
std::string default_model_dir();

// Makes `dir` this process's default model ("" forgets it). Thread-safe.
void set_default_model_dir(const std::string& dir);

}  // namespace ved
