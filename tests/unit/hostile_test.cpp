// The hostile corpus (tests/data/hostile, see MANIFEST.tsv and make_hostile.py): every crafted
// file must make its entry point raise exactly the ved error type the manifest names, with a
// message naming the file -- never crash, hang or allocate what the file claims.

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <typeinfo>
#include <vector>

#include "../test_util.hpp"
#include "ved/config.hpp"
#include "ved/generation/generation_config.hpp"
#include "ved/io/checkpoint.hpp"
#include "ved/io/image.hpp"
#include "ved/io/safetensors.hpp"
#include "ved/io/torch_checkpoint.hpp"
#include "ved/processing/auto_tokenizer.hpp"
#include "ved/processing/image_processor.hpp"

namespace ved {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

const std::string kHostile = test::data_path("hostile");

struct Row {
  std::string file, entry, expected, why;
};

std::vector<Row> manifest() {
  std::ifstream in(kHostile + "/MANIFEST.tsv");
  EXPECT_TRUE(in.good()) << "cannot read " << kHostile << "/MANIFEST.tsv";
  std::vector<Row> rows;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cols;
    std::stringstream ss(line);
    std::string col;
    while (std::getline(ss, col, '\t')) cols.push_back(col);
    EXPECT_EQ(cols.size(), 4u) << "bad manifest line: " << line;
    if (cols.size() == 4) rows.push_back({cols[0], cols[1], cols[2], cols[3]});
  }
  return rows;
}

// The most derived ved error type, by name.
std::string category(const Error& e) {
  if (dynamic_cast<const IoError*>(&e)) return "IoError";
  if (dynamic_cast<const FormatError*>(&e)) return "FormatError";
  if (dynamic_cast<const ConfigError*>(&e)) return "ConfigError";
  if (dynamic_cast<const WeightError*>(&e)) return "WeightError";
  if (dynamic_cast<const InvalidArgument*>(&e)) return "InvalidArgument";
  return "Error";
}

// Copies the tokenizer files of `from` into `dir`.
void copy_folder(const std::string& from, const TempDir& dir) {
  for (const auto& f : fs::directory_iterator(from))
    fs::copy_file(f.path(), dir.path() / f.path().filename());
}

// Where the file under test goes: itself, or for tokenizer files a file of an otherwise valid
// tokenizer folder in `dir`. Returns the path the error message must name.
std::string prepare(const std::string& entry, const std::string& path, const TempDir& dir) {
  std::string target;
  if (entry == "vocab.json" || entry == "merges") {
    copy_folder(test::data_path("../../examples/models/demo-vit-gpt2"), dir);
    target = dir.file(entry == "merges" ? "merges.txt" : "vocab.json");
  } else if (entry == "vocab.txt") {
    dir.write("tokenizer_config.json", R"({"tokenizer_class": "BertTokenizer"})");
    target = dir.file("vocab.txt");
  } else if (entry == "tokenizer.json") {
    target = dir.file("tokenizer.json");
  } else {
    return path;
  }
  fs::copy_file(path, target, fs::copy_options::overwrite_existing);
  return target;
}

// Opens `path` through `entry` the way a product would, and reads everything it yields.
void open_through(const std::string& entry, const std::string& path, const TempDir& dir) {
  if (entry == "safetensors") {
    const auto f = SafetensorsFile::open(path);
    for (const auto& [name, r] : f->records()) (void)f->tensor<float>(name);
  } else if (entry == "bin") {
    const auto f = TorchCheckpoint::open(path);
    for (const auto& [name, r] : f->records()) (void)f->tensor<float>(name);
  } else if (entry == "config") {
    (void)VisionEncoderDecoderConfig::from_file(path);
  } else if (entry == "generation_config") {
    GenerationConfig::from_file(path).validate();
  } else if (entry == "generation_from_config") {
    // A checkpoint without generation_config.json takes its settings from config.json.
    (void)GenerationConfig::from_model_config(detail::read_json_file(path), path);
  } else if (entry == "preprocessor_config") {
    (void)ImageProcessor::from_pretrained(path);
  } else if (entry == "image") {
    (void)load_image(path);
  } else if (entry == "vocab.json" || entry == "merges" || entry == "vocab.txt" ||
             entry == "tokenizer.json") {
    (void)Tokenizer::from_pretrained(dir.str());
  } else {
    ADD_FAILURE() << "unknown entry point '" << entry << "' in MANIFEST.tsv";
  }
}

long peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024;
}

TEST(Hostile, EveryFileRaisesItsExpectedError) {
  const std::vector<Row> rows = manifest();
  ASSERT_GE(rows.size(), 50u);
  const long rss_before = peak_rss_mb();
  for (const Row& row : rows) {
    SCOPED_TRACE(row.file + " (" + row.entry + ": " + row.why + ")");
    const std::string path = kHostile + "/" + row.file;
    ASSERT_TRUE(fs::is_regular_file(path));
    TempDir dir;
    const std::string named = prepare(row.entry, path, dir);
    std::string got = "no error";
    std::string message;
    const auto start = std::chrono::steady_clock::now();
    try {
      open_through(row.entry, named, dir);
    } catch (const Error& e) {
      got = category(e);
      message = e.what();
    } catch (const std::exception& e) {
      got = std::string("non-ved exception ") + typeid(e).name();
      message = e.what();
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_EQ(got, row.expected) << message;
    EXPECT_NE(message.find(named), std::string::npos)
        << "the message does not name " << named << ": " << message;
    EXPECT_LT(seconds, 10.0) << "a hostile file must fail fast";
  }
  // Many files declare gigabytes (65535 x 65535 images, 2^93-element views, 51 GB processor
  // outputs); none may be allocated.
  EXPECT_LT(peak_rss_mb() - rss_before, 512) << "peak RSS grew by that many MiB";
}

// The bases the hostile files were derived from load: each hostile variant fails for the reason
// it was made for, not because make_hostile.py writes broken files.
TEST(Hostile, ControlFilesLoad) {
  const std::string control = kHostile + "/control/";
  const auto st = SafetensorsFile::open(control + "valid.safetensors");
  EXPECT_EQ(st->tensor<float>("w").shape(), (Shape{2, 2}));
  const auto bin = TorchCheckpoint::open(control + "valid.bin");
  const Tensor<float> w = bin->tensor<float>("w");
  ASSERT_EQ(w.shape(), (Shape{2, 2}));
  EXPECT_EQ(w.data()[3], 4.0f);
  const Image png = load_image(control + "valid.png");
  EXPECT_EQ(png.width, 4);
  EXPECT_EQ(png.height, 3);
  const Image bmp = load_image(control + "valid.bmp");
  EXPECT_EQ(bmp.width, 4);
}

// Every file in the folder is in the manifest (an unlisted file would never be tested), and
// every file is small.
TEST(Hostile, ManifestListsEveryFile) {
  std::set<std::string> listed;
  for (const Row& row : manifest()) {
    EXPECT_TRUE(listed.insert(row.file).second) << row.file << " is listed twice";
    EXPECT_TRUE(row.expected == "FormatError" || row.expected == "IoError" ||
                row.expected == "ConfigError" || row.expected == "WeightError" ||
                row.expected == "InvalidArgument")
        << row.file << ": " << row.expected;
  }
  for (const auto& f : fs::directory_iterator(kHostile)) {
    const std::string name = f.path().filename().string();
    if (!f.is_regular_file() || name == "MANIFEST.tsv" || name == "make_hostile.py") continue;
    EXPECT_EQ(listed.count(name), 1u) << name << " is not in MANIFEST.tsv";
    EXPECT_LT(f.file_size(), 100u * 1024) << name;
  }
}

}  // namespace
}  // namespace ved
