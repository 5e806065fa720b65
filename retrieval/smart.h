// smart.h — readers for the SMART test collections (Cranfield, MEDLINE, ...) and their
// relevance judgements, as kept in ../shared/data/ir (see its README).
//
// SMART collection file: records start with ".I <id>"; a line ".X" (one capital letter, e.g.
// .T title, .A authors, .B bibliography, .W text) starts field X; the lines after it belong to
// it. A field's text is its lines joined with "\n", stripped of leading and trailing ASCII
// whitespace. A record's `text` is its .W field when that is non-empty, else its .T field
// (Cranfield's .W already begins with the title; MEDLINE has only .W).
//
// Encoding. Every id and field is decoded as common/utf8.h says, with the reader's `encoding`:
// UTF-8 by default (each invalid sequence becomes U+FFFD, so what comes out is always valid
// UTF-8), or Latin-1 on request. The optional TextDecodeReport counts the records (SMART
// records, judgement lines) in which something was replaced. The markers (.I, .W, digits,
// spaces) are ASCII, which decoding never changes, so structure does not depend on encoding.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/utf8.h"

namespace bertrank::retrieval {

struct SmartRecord {
  std::string id;                             // the text after ".I ", trimmed
  std::map<char, std::string> fields;         // field letter -> text
  std::string text;                           // .W if non-empty, else .T
  size_t line = 0;                            // line number of its ".I" (1-based)
};

// Throws std::runtime_error (file name and line number) on unreadable files or text before
// the first ".I" line. report->first_replaced is "path:line (.I id)".
std::vector<SmartRecord> read_smart_file(const std::string& path, TextEncoding encoding = TextEncoding::text_utf8,
                                         TextDecodeReport* report = nullptr);

// True when the first non-blank line of the file starts with ".I" (how document and query
// readers tell a SMART file from jsonl). Throws std::runtime_error if the file cannot be read.
bool is_smart_file(const std::string& path);

// One relevance judgement.
struct Qrel {
  std::string query_id;
  std::string doc_id;
  int grade = 1;
};

// Reads judgements in the forms of ../shared/data/ir: "q d grade" (Cranfield, 3 columns) or
// TREC "q 0 d grade" (4 columns). Blank lines are skipped; anything else is an error naming the
// line. Ids are decoded with `encoding` (see above; report->first_replaced is "path:line").
std::vector<Qrel> read_qrels_file(const std::string& path, TextEncoding encoding = TextEncoding::text_utf8,
                                  TextDecodeReport* report = nullptr);

}  // namespace bertrank::retrieval
