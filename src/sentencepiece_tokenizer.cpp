// detail::SentencePieceModel: the one place ved calls libsentencepiece, so that its headers
// (and their absl/protobuf baggage) stay out of ved's public headers.

#include <sentencepiece_processor.h>

#include <string>
#include <string_view>
#include <vector>

#include "ved/error.hpp"
#include "ved/processing/sentencepiece_tokenizer.hpp"

namespace ved::detail {

struct SentencePieceModel::Impl {
  sentencepiece::SentencePieceProcessor processor;
  std::string where;
};

SentencePieceModel::SentencePieceModel(std::string_view serialized, const std::string& where)
    : impl_(std::make_unique<Impl>()) {
  impl_->where = where;
  const auto status = impl_->processor.LoadFromSerializedProto(serialized);
  if (!status.ok())
    throw FormatError(where + ": not a usable SentencePiece model (" + status.ToString() + ")");
  if (impl_->processor.GetPieceSize() <= 0)
    throw FormatError(where + ": the SentencePiece model has no pieces");
}

SentencePieceModel::~SentencePieceModel() = default;

int SentencePieceModel::size() const {
  return impl_->processor.GetPieceSize();
}

int SentencePieceModel::unk_id() const {
  return impl_->processor.unk_id();
}

int SentencePieceModel::piece_to_id(std::string_view piece) const {
  return impl_->processor.PieceToId(piece);
}

std::string SentencePieceModel::id_to_piece(int id) const {
  // libsentencepiece does not check the range itself.
  if (id < 0 || id >= size())
    throw InvalidArgument(impl_->where + ": SentencePiece id " + std::to_string(id) +
                          " is out of range (" + std::to_string(size()) + " pieces)");
  return impl_->processor.IdToPiece(id);
}

void SentencePieceModel::encode(std::string_view text, std::vector<std::string>& pieces) const {
  std::vector<std::string> out;
  const auto status = impl_->processor.Encode(text, &out);
  if (!status.ok())
    throw InvalidArgument(impl_->where + ": SentencePiece could not encode the text (" +
                          status.ToString() + ")");
  pieces.insert(pieces.end(), std::make_move_iterator(out.begin()),
                std::make_move_iterator(out.end()));
}

}  // namespace ved::detail
