// Post-processing shared by every tokenizer family: truncation, the special-token template,
// padding and batches (the contract is in tokenizer.h).
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <climits>
#include <stdexcept>

#include "common/parallel_errors.h"

namespace bertrank::tokenizer {

SpecialTokenTemplate SpecialTokenTemplate::bert(int32_t cls, int32_t sep) {
  using P = TemplatePiece;
  SpecialTokenTemplate t;
  t.single = {{P::piece_special, cls, 0}, {P::piece_a, -1, 0}, {P::piece_special, sep, 0}};
  t.pair = {{P::piece_special, cls, 0}, {P::piece_a, -1, 0}, {P::piece_special, sep, 0},
            {P::piece_b, -1, 1},        {P::piece_special, sep, 1}};
  return t;
}

SpecialTokenTemplate SpecialTokenTemplate::none() {
  using P = TemplatePiece;
  SpecialTokenTemplate t;
  t.single = {{P::piece_a, -1, 0}};
  t.pair = {{P::piece_a, -1, 0}, {P::piece_b, -1, 1}};
  return t;
}

size_t SpecialTokenTemplate::added_tokens(bool is_pair) const {
  size_t n = 0;
  for (const TemplatePiece& p : is_pair ? pair : single) n += p.kind == TemplatePiece::piece_special;
  return n;
}

int32_t SpecialTokenTemplate::max_type_id() const {
  int32_t m = 0;
  for (const auto* v : {&single, &pair})
    for (const TemplatePiece& p : *v) m = std::max(m, p.type_id);
  return m;
}

void SpecialTokenTemplate::validate(size_t vocab_size) const {
  auto check = [&](const std::vector<TemplatePiece>& v, const char* which, int want_a, int want_b) {
    int na = 0, nb = 0;
    for (const TemplatePiece& p : v) {
      na += p.kind == TemplatePiece::piece_a;
      nb += p.kind == TemplatePiece::piece_b;
      if (p.type_id < 0)
        throw std::invalid_argument(std::string("special-token template (") + which + "): negative type id");
      if (p.kind == TemplatePiece::piece_special && (p.id < 0 || size_t(p.id) >= vocab_size))
        throw std::invalid_argument(std::string("special-token template (") + which + "): token id " +
                                    std::to_string(p.id) + " is outside the vocabulary of " +
                                    std::to_string(vocab_size));
    }
    if (na != want_a || nb != want_b)
      throw std::invalid_argument(std::string("special-token template (") + which + ") must hold " +
                                  (want_b ? "A and B once each" : "A once and no B"));
  };
  check(single, "single", 1, 0);
  check(pair, "pair", 1, 1);
}

void Tokenizer::set_post_processing(SpecialIds ids, SpecialTokenTemplate tmpl) {
  tmpl.validate(vocab_size());
  special_ = ids;
  template_ = std::move(tmpl);
}

std::pair<int, int> Tokenizer::longest_first(int len_a, int len_b, int budget) {
  if (len_b < 0) return {std::min(len_a, std::max(budget, 0)), 0};
  if (len_a + len_b <= budget) return {len_a, len_b};
  // As tokenizers' LongestFirst: give the shorter sequence what it needs up to half, the longer
  // the rest; if both are longer than half, split the budget (the second gets the odd token).
  const bool swap = len_a > len_b;
  int n1 = swap ? len_b : len_a, n2;
  if (n1 > budget) n2 = n1;
  else n2 = std::max(n1, budget - n1);
  if (n1 + n2 > budget) {
    n1 = budget / 2;
    n2 = n1 + budget % 2;
  }
  return swap ? std::pair<int, int>{n2, n1} : std::pair<int, int>{n1, n2};
}

namespace {
void pad_to(Encoding& e, size_t len, int32_t pad_id) {
  if (e.ids.size() >= len) return;
  e.ids.resize(len, pad_id);
  e.type_ids.resize(len, 0);
  e.attention_mask.resize(len, 0);
  e.offsets.resize(len, Offset{0, 0});
}
}  // namespace

Encoding Tokenizer::encode(std::string_view text, const EncodeOptions& opt) const {
  return encode_impl(text, nullptr, opt);
}

Encoding Tokenizer::encode_pair(std::string_view a, std::string_view b, const EncodeOptions& opt) const {
  return encode_impl(a, &b, opt);
}

Encoding Tokenizer::encode_impl(std::string_view a, const std::string_view* b, const EncodeOptions& opt) const {
  Tokens ta, tb;
  tokenize(a, ta.ids, ta.offsets);
  if (b) tokenize(*b, tb.ids, tb.offsets);
  return post_process(ta, b ? &tb : nullptr, opt);
}

Encoding Tokenizer::post_process(const Tokens& a, const Tokens* b, const EncodeOptions& opt) const {
  const std::vector<TemplatePiece>& pieces = b ? template_.pair : template_.single;
  const int specials = opt.add_special_tokens ? int(template_.added_tokens(b != nullptr)) : 0;
  Encoding e;
  size_t na = a.ids.size(), nb = b ? b->ids.size() : 0;
  // A max_length shorter than the special tokens disables truncation, as in tokenizers.
  if (opt.max_length > 0 && opt.max_length >= specials) {
    auto kept = longest_first(int(std::min<size_t>(na, INT32_MAX / 4)),
                              b ? int(std::min<size_t>(nb, INT32_MAX / 4)) : -1, opt.max_length - specials);
    e.truncated = size_t(kept.first) < na || size_t(kept.second) < nb;
    na = size_t(kept.first);
    nb = b ? size_t(kept.second) : 0;
  }
  const size_t total = na + nb + size_t(specials);
  e.ids.reserve(total);
  e.type_ids.reserve(total);
  e.offsets.reserve(total);
  auto put = [&](int32_t id, int32_t type, Offset o) {
    e.ids.push_back(id);
    e.type_ids.push_back(type);
    e.offsets.push_back(o);
  };
  for (const TemplatePiece& p : pieces) {
    switch (p.kind) {
      case TemplatePiece::piece_special:
        if (opt.add_special_tokens) put(p.id, p.type_id, {0, 0});
        break;
      case TemplatePiece::piece_a:
        for (size_t i = 0; i < na; ++i) put(a.ids[i], p.type_id, a.offsets[i]);
        break;
      case TemplatePiece::piece_b:
        for (size_t i = 0; i < nb; ++i) put(b->ids[i], p.type_id, b->offsets[i]);
        break;
    }
  }
  e.attention_mask.assign(e.ids.size(), 1);
  if (opt.padding == Padding::max_length && opt.max_length > 0) pad_to(e, size_t(opt.max_length), special_.pad);
  return e;
}

std::vector<Encoding> Tokenizer::encode_batch(const std::vector<std::string>& texts, const EncodeOptions& opt) const {
  std::vector<Encoding> out(texts.size());
  ParallelErrors errs;  // an exception (bad_alloc) must not leave the OpenMP region
#pragma omp parallel for schedule(dynamic, 16) if (texts.size() > 64)
  for (size_t i = 0; i < texts.size(); ++i) errs.run([&] { out[i] = encode(texts[i], opt); });
  errs.rethrow();
  finish_batch(out, opt);
  return out;
}

std::vector<Encoding> Tokenizer::encode_pair_batch(const std::vector<std::pair<std::string, std::string>>& pairs,
                                                   const EncodeOptions& opt) const {
  std::vector<Encoding> out(pairs.size());
  ParallelErrors errs;
#pragma omp parallel for schedule(dynamic, 16) if (pairs.size() > 64)
  for (size_t i = 0; i < pairs.size(); ++i)
    errs.run([&] { out[i] = encode_pair(pairs[i].first, pairs[i].second, opt); });
  errs.rethrow();
  finish_batch(out, opt);
  return out;
}

void Tokenizer::finish_batch(std::vector<Encoding>& out, const EncodeOptions& opt) const {
  if (opt.padding != Padding::longest) return;
  size_t longest = 0;
  for (const Encoding& e : out) longest = std::max(longest, e.ids.size());
  for (Encoding& e : out) pad_to(e, longest, special_.pad);
}

}  // namespace bertrank::tokenizer
