// Ranking metrics on hand-computed examples, the gain mappings, query / judgement readers, and
// Cranfield's query numbering on the shared collection when it is beside the checkout.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "retrieval/metrics.h"
#include "tests/model_test_util.h"
#include "tests/test_paths.h"

using namespace bertrank::retrieval;
using bertrank::TextDecodeReport;
using bertrank::TextEncoding;

namespace {
std::string write_temp(const std::string& name, const std::string& content) {
  std::string path = ::testing::TempDir() + name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}
const double kLog2_3 = std::log2(3.0), kLog2_5 = std::log2(5.0);
}  // namespace

TEST(Metrics, CanonicalIds) {
  EXPECT_EQ(canonical_id("001"), "1");
  EXPECT_EQ(canonical_id("000"), "0");
  EXPECT_EQ(canonical_id("120"), "120");
  EXPECT_EQ(canonical_id("q01"), "q01");
  EXPECT_EQ(canonical_id(""), "");
}

TEST(Metrics, GainMappings) {
  EXPECT_EQ(gain_for_grade(1, GainMapping::gain_cleverdon), 4.0);
  EXPECT_EQ(gain_for_grade(2, GainMapping::gain_cleverdon), 3.0);
  EXPECT_EQ(gain_for_grade(3, GainMapping::gain_cleverdon), 2.0);
  EXPECT_EQ(gain_for_grade(4, GainMapping::gain_cleverdon), 1.0);
  EXPECT_EQ(gain_for_grade(-1, GainMapping::gain_cleverdon), 0.0);
  EXPECT_EQ(gain_for_grade(5, GainMapping::gain_cleverdon), 0.0);
  EXPECT_EQ(gain_for_grade(2, GainMapping::gain_identity), 2.0);
  EXPECT_EQ(gain_for_grade(0, GainMapping::gain_identity), 0.0);
  EXPECT_EQ(gain_for_grade(-1, GainMapping::gain_identity), 0.0);
  EXPECT_THROW(gain_for_grade(1, GainMapping::gain_auto), std::invalid_argument);

  std::vector<Qrel> cran = {{"1", "10", 2}, {"1", "11", -1}, {"2", "3", 4}};
  std::vector<Qrel> med = {{"1", "10", 1}, {"1", "11", 1}};
  std::vector<Qrel> trec = {{"1", "10", 2}, {"1", "11", 0}, {"1", "12", -1}};
  EXPECT_EQ(resolve_gain_mapping(cran, GainMapping::gain_auto), GainMapping::gain_cleverdon);
  EXPECT_EQ(resolve_gain_mapping(med, GainMapping::gain_auto), GainMapping::gain_identity);
  EXPECT_EQ(resolve_gain_mapping(trec, GainMapping::gain_auto), GainMapping::gain_identity);
  EXPECT_EQ(resolve_gain_mapping(med, GainMapping::gain_cleverdon), GainMapping::gain_cleverdon);
}

TEST(Metrics, NdcgHandComputed) {
  // Judged gains: a=3, b=2, c=1, x=0 (judged not relevant). Ranking: x, b, u (unjudged), a.
  std::unordered_map<std::string, double> g = {{"a", 3}, {"b", 2}, {"c", 1}, {"x", 0}};
  std::vector<std::string> r = {"x", "b", "u", "a"};
  // DCG = 0/1 + 2/log2(3) + 0/2 + 3/log2(5); IDCG = 3/1 + 2/log2(3) + 1/2.
  const double dcg = 2 / kLog2_3 + 3 / kLog2_5;
  const double idcg = 3 + 2 / kLog2_3 + 0.5;
  EXPECT_NEAR(ndcg_at(r, g, 10), dcg / idcg, 1e-12);
  // Cut at 2: DCG@2 = 2/log2(3); IDCG@2 = 3 + 2/log2(3).
  EXPECT_NEAR(ndcg_at(r, g, 2), (2 / kLog2_3) / (3 + 2 / kLog2_3), 1e-12);
  // Perfect ranking, and the ideal only over judged gains (not over what was retrieved).
  EXPECT_NEAR(ndcg_at({"a", "b", "c"}, g, 10), 1.0, 1e-12);
  EXPECT_NEAR(ndcg_at({"a"}, g, 1), 1.0, 1e-12);
  EXPECT_NEAR(ndcg_at({"a"}, g, 10), 3 / idcg, 1e-12);
  // Nothing relevant retrieved, empty ranking, no relevant judgement.
  EXPECT_EQ(ndcg_at({"x", "u"}, g, 10), 0.0);
  EXPECT_EQ(ndcg_at({}, g, 10), 0.0);
  EXPECT_EQ(ndcg_at({"x"}, {{"x", 0}}, 10), 0.0);
  // A repeated document counts once; the repeat does not take a rank.
  EXPECT_NEAR(ndcg_at({"x", "x", "b", "b", "u", "a"}, g, 10), dcg / idcg, 1e-12);
}

TEST(Metrics, NdcgBinaryMatchesTextbook) {
  // Binary relevance, 2 relevant of which one at rank 3: (1/log2(4)) / (1 + 1/log2(3)).
  std::unordered_map<std::string, double> g = {{"7", 1}, {"9", 1}};
  EXPECT_NEAR(ndcg_at({"1", "2", "7", "4"}, g, 10), 0.5 / (1 + 1 / kLog2_3), 1e-12);
  // Scaling every gain leaves NDCG unchanged (MEDLINE's 1s under either mapping).
  std::unordered_map<std::string, double> g4 = {{"7", 4}, {"9", 4}};
  EXPECT_NEAR(ndcg_at({"1", "2", "7", "4"}, g4, 10), ndcg_at({"1", "2", "7", "4"}, g, 10), 1e-12);
}

TEST(Metrics, MrrHandComputed) {
  std::unordered_map<std::string, double> g = {{"a", 3}, {"b", 1}, {"x", 0}};
  EXPECT_EQ(mrr_at({"a", "b"}, g, 10), 1.0);
  EXPECT_EQ(mrr_at({"x", "u", "b", "a"}, g, 10), 1.0 / 3);  // judged-irrelevant x does not count
  EXPECT_EQ(mrr_at({"x", "u", "b"}, g, 2), 0.0);             // first relevant past the cut-off
  EXPECT_EQ(mrr_at({"u", "u", "u", "b"}, g, 10), 0.5);        // repeats take no rank
  EXPECT_EQ(mrr_at({}, g, 10), 0.0);
}

TEST(Metrics, RecallHandComputed) {
  std::unordered_map<std::string, double> g = {{"a", 3}, {"b", 1}, {"c", 2}, {"x", 0}};
  EXPECT_NEAR(recall_at({"a", "x", "u", "c"}, g, 100), 2.0 / 3, 1e-12);
  EXPECT_NEAR(recall_at({"a", "x", "u", "c"}, g, 3), 1.0 / 3, 1e-12);
  EXPECT_NEAR(recall_at({"a", "a", "a"}, g, 100), 1.0 / 3, 1e-12);
  EXPECT_EQ(recall_at({"x"}, {{"x", 0}}, 100), 0.0);
  // Recall@100 sees exactly 100 ranks.
  std::vector<std::string> r;
  for (int i = 0; i < 99; ++i) r.push_back("n" + std::to_string(i));
  r.push_back("b");
  r.push_back("a");
  EXPECT_NEAR(recall_at(r, g, 100), 1.0 / 3, 1e-12);
}

TEST(Metrics, EvaluateRunAveragesOverQueriesWithRelevant) {
  std::vector<Qrel> qrels = {{"1", "10", 1}, {"1", "11", 1}, {"2", "20", 1}, {"3", "30", -1}};
  // Mapping cleverdon: q1 gains 4,4; q2 4; q3 has only a non-relevant judgement (skipped).
  Judgements j = make_judgements(qrels, GainMapping::gain_cleverdon);
  EXPECT_EQ(j.relevant_count("1"), 2u);
  EXPECT_EQ(j.relevant_count("3"), 0u);
  EXPECT_EQ(j.relevant_count("9"), 0u);
  std::unordered_map<std::string, std::vector<std::string>> run = {
      {"1", {"11", "99", "10"}},  // ndcg = (1 + 1/2) / (1 + 1/log2 3), mrr 1, recall 1
      {"3", {"30"}},
      // q2 has no ranking: counts as 0
  };
  EvalSummary s = evaluate_run({"1", "2", "3", "4"}, run, j);
  EXPECT_EQ(s.queries, 2u);
  EXPECT_EQ(s.skipped, 2u);
  ASSERT_EQ(s.per_query.size(), 2u);
  EXPECT_EQ(s.per_query[0].query_id, "1");
  const double n1 = 1.5 / (1 + 1 / kLog2_3);
  EXPECT_NEAR(s.per_query[0].ndcg10, n1, 1e-12);
  EXPECT_EQ(s.per_query[1].ndcg10, 0.0);
  EXPECT_NEAR(s.ndcg10, n1 / 2, 1e-12);
  EXPECT_NEAR(s.mrr10, 0.5, 1e-12);
  EXPECT_NEAR(s.recall100, 0.5, 1e-12);
}

TEST(Metrics, DuplicateJudgementKeepsLargerGain) {
  Judgements j = make_judgements({{"1", "5", 3}, {"01", "005", 1}}, GainMapping::gain_cleverdon);
  ASSERT_EQ(j.by_query.size(), 1u);
  EXPECT_EQ(j.by_query.at("1").at("5"), 4.0);
}

TEST(Metrics, ReadsJsonlAndSmartQueries) {
  QueryFileFormat f;
  auto p = write_temp("q1.jsonl", "{\"id\": \"q7\", \"text\": \"first\"}\n\n{\"id\": 12, \"text\": \"second\"}\n");
  auto q = read_queries(p, &f);
  EXPECT_EQ(f, QueryFileFormat::query_jsonl);
  ASSERT_EQ(q.size(), 2u);
  EXPECT_EQ(q[0].id, "q7");
  EXPECT_EQ(q[1].id, "12");
  EXPECT_EQ(q[1].text, "second");

  auto s = write_temp("q2.qry", ".I 001\n.W\nwhat is lift ?\n.I 004\n.W\nboundary layers\n");
  q = read_queries(s, &f);
  EXPECT_EQ(f, QueryFileFormat::query_smart);
  ASSERT_EQ(q.size(), 2u);
  EXPECT_EQ(q[0].id, "1");
  EXPECT_EQ(q[1].id, "4");
  EXPECT_EQ(q[1].text, "boundary layers");
}

TEST(Metrics, RefusesBadQueryFiles) {
  auto expect_error = [](const std::string& content, const std::string& needle) {
    auto p = write_temp("qbad.jsonl", content);
    try {
      read_queries(p);
      ADD_FAILURE() << "accepted: " << content;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error("{\"id\": \"1\", \"text\": \"a\"}\nnot json\n", ":2: not a JSON object");
  expect_error("{\"text\": \"a\"}\n", "missing \"id\"");
  expect_error("{\"id\": 1}\n", "missing \"text\"");
  expect_error("{\"id\": [1], \"text\": \"a\"}\n", "\"id\" must be");
  expect_error("{\"id\": \"\", \"text\": \"a\"}\n", "\"id\" is empty");
  expect_error("{\"id\": \"1\", \"text\": \"a\"}\n{\"id\": \"01\", \"text\": \"b\"}\n", "appears twice");
  EXPECT_THROW(read_queries(::testing::TempDir() + "does-not-exist.jsonl"), std::runtime_error);
}

TEST(Metrics, QueryNumberingAuto) {
  std::vector<QueryInput> q = {{"1", "a"}, {"2", "b"}, {"4", "c"}};
  // Judgement ids 1..3 with 3 not a query id: ordinal (Cranfield).
  EXPECT_EQ(resolve_query_numbering(q, QueryFileFormat::query_smart, {{"3", "1", 1}, {"1", "2", 1}},
                                    QueryNumbering::numbering_auto),
            QueryNumbering::numbering_ordinal);
  // All judged ids are query ids: record ids (MEDLINE).
  EXPECT_EQ(resolve_query_numbering(q, QueryFileFormat::query_smart, {{"4", "1", 1}, {"1", "2", 1}},
                                    QueryNumbering::numbering_auto),
            QueryNumbering::numbering_record_id);
  // A judged id past the number of queries: record ids.
  EXPECT_EQ(resolve_query_numbering(q, QueryFileFormat::query_smart, {{"3", "1", 1}, {"9", "2", 1}},
                                    QueryNumbering::numbering_auto),
            QueryNumbering::numbering_record_id);
  // jsonl files always use their ids; explicit choices are kept.
  EXPECT_EQ(resolve_query_numbering(q, QueryFileFormat::query_jsonl, {{"3", "1", 1}}, QueryNumbering::numbering_auto),
            QueryNumbering::numbering_record_id);
  EXPECT_EQ(resolve_query_numbering(q, QueryFileFormat::query_jsonl, {{"3", "1", 1}},
                                    QueryNumbering::numbering_ordinal),
            QueryNumbering::numbering_ordinal);
  renumber_queries_ordinal(q);
  EXPECT_EQ(q[2].id, "3");
}

TEST(Metrics, SharedCollections) {
  const std::string ir = bertrank::test::shared_data_dir() + "/ir";
  if (!bertrank::test::exists(ir + "/cranfield/cran.qry")) GTEST_SKIP() << "no " << ir;
  QueryFileFormat f;
  auto cq = read_queries(ir + "/cranfield/cran.qry", &f);
  auto cr = read_qrels_file(ir + "/cranfield/cranqrel");
  ASSERT_EQ(cq.size(), 225u);
  EXPECT_EQ(resolve_query_numbering(cq, f, cr, QueryNumbering::numbering_auto), QueryNumbering::numbering_ordinal);
  EXPECT_EQ(resolve_gain_mapping(cr, GainMapping::gain_auto), GainMapping::gain_cleverdon);
  Judgements cj = make_judgements(cr, GainMapping::gain_auto);
  size_t with_rel = 0;
  for (size_t i = 1; i <= 225; ++i) with_rel += cj.relevant_count(std::to_string(i)) > 0;
  EXPECT_EQ(with_rel, 225u);

  auto mq = read_queries(ir + "/medline/MED.QRY", &f);
  auto mr = read_qrels_file(ir + "/medline/MED.REL");
  ASSERT_EQ(mq.size(), 30u);
  EXPECT_EQ(resolve_query_numbering(mq, f, mr, QueryNumbering::numbering_auto), QueryNumbering::numbering_record_id);
  EXPECT_EQ(resolve_gain_mapping(mr, GainMapping::gain_auto), GainMapping::gain_identity);
  Judgements mj = make_judgements(mr, GainMapping::gain_auto);
  size_t n = 0;
  for (const auto& q : mq) n += mj.relevant_count(q.id) > 0;
  EXPECT_EQ(n, 30u);
  // A perfect run scores 1 everywhere.
  std::unordered_map<std::string, std::vector<std::string>> run;
  std::vector<std::string> ids;
  for (const auto& q : mq) {
    ids.push_back(q.id);
    for (const auto& [d, g] : mj.by_query[q.id]) run[q.id].push_back(d);
  }
  EvalSummary s = evaluate_run(ids, run, mj);
  EXPECT_EQ(s.queries, 30u);
  EXPECT_NEAR(s.ndcg10, 1.0, 1e-12);
  EXPECT_NEAR(s.mrr10, 1.0, 1e-12);
  EXPECT_NEAR(s.recall100, 1.0, 1e-12);
}

TEST(Metrics, MatchQrelsCountsUnknownQueriesAndDocuments) {
  const std::vector<QueryInput> q = {{"1", "a"}, {"2", "b"}};
  const std::vector<Qrel> r = {{"1", "10", 1}, {"01", "0011", 1}, {"3", "10", 1}, {"2", "99", 1}, {"4", "98", 0}};
  size_t asked = 0;
  const auto m = match_qrels(r, q, [&](const std::string& d) {
    ++asked;
    return d == "10" || d == "11";
  });
  EXPECT_EQ(m.judgements, 5u);
  EXPECT_EQ(m.unknown_queries, 2u);    // 3, 4
  EXPECT_EQ(m.unknown_documents, 2u);  // 99, 98
  EXPECT_EQ(m.matched, 2u);            // (1, 10), (1, 11): ids compared canonically
  EXPECT_EQ(m.first_unknown_query, "3");
  EXPECT_EQ(m.first_unknown_document, "99");
  EXPECT_EQ(asked, 4u);  // each distinct document once
  const auto none = match_qrels({}, q, [](const std::string&) { return true; });
  EXPECT_EQ(none.judgements, 0u);
  EXPECT_EQ(none.matched, 0u);
}

TEST(Metrics, QueriesAndQrelsAreDecoded) {
  const std::string R = "\xEF\xBF\xBD";
  auto j = write_temp("q_bad.jsonl", "{\"id\": \"q\xE9\", \"text\": \"caf\xE9\"}\n");
  TextDecodeReport rep;
  auto q = read_queries(j, nullptr, TextEncoding::text_utf8, &rep);
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q[0].id, "q" + R);
  EXPECT_EQ(q[0].text, "caf" + R);
  EXPECT_EQ(rep.replaced, 1u);
  q = read_queries(j, nullptr, TextEncoding::text_latin1);
  EXPECT_EQ(q[0].id, "q\xC3\xA9");
  auto s = write_temp("q_bad.qry", ".I 1\n.W\nna\xEFve\n");
  q = read_queries(s, nullptr, TextEncoding::text_latin1);
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q[0].text, "na\xC3\xAFve");
  q = read_queries(s);
  EXPECT_EQ(q[0].text, "na" + R + "ve");
  auto r = write_temp("qrels_bad.txt", "1 0 5 1\nq\xE9 0 6 1\n");
  TextDecodeReport rr;
  auto qr = read_qrels_file(r, TextEncoding::text_latin1, &rr);
  ASSERT_EQ(qr.size(), 2u);
  EXPECT_EQ(qr[1].query_id, "q\xC3\xA9");
  EXPECT_EQ(rr.replaced, 0u);
  qr = read_qrels_file(r, TextEncoding::text_utf8, &rr);
  EXPECT_EQ(qr[1].query_id, "q" + R);
  EXPECT_EQ(rr.replaced, 1u);
  EXPECT_EQ(rr.first_replaced, r + ":2");
}

namespace {
std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

// `bertrank eval` says how many judgements name queries not in the queries file or documents not
// in the index (issue 13, defect 5), and refuses to print zeros when no judgement matches.
TEST(EvalCli, ReportsUnknownIdsAndFailsWhenNothingMatches) {
  const std::string cli = std::string(BERTRANK_BINARY_DIR) + "/bertrank";
  if (!bertrank::test::exists(cli)) GTEST_SKIP() << "no " << cli << " (build the bertrank target)";
  const std::string dir = bertrank::test::tmp_dir("eval_unknown");
  bertrank::test::TinyModel().write(dir + "/tiny.brm");
  {
    std::ofstream docs(dir + "/docs.jsonl");
    const char* texts[] = {"hello world", "the world", "a hello", "hello hello", "worlds", "the a"};
    for (int i = 0; i < 6; ++i) docs << "{\"id\": " << i << ", \"text\": \"" << texts[i] << "\"}\n";
    std::ofstream(dir + "/q.jsonl") << "{\"id\": \"q1\", \"text\": \"hello world\"}\n"
                                    << "{\"id\": \"q2\", \"text\": \"the a\"}\n"
                                    << "{\"id\": \"q3\", \"text\": \"worlds\"}\n";
    // q1: one known document, one unknown (999); q2: known; q9, q10: not in the queries file;
    // q3 has no judgement.
    std::ofstream(dir + "/qrels.txt") << "q1 0 0 1\nq1 0 999 1\nq2 0 5 1\nq9 0 1 1\nq10 0 777 1\n";
    std::ofstream(dir + "/none.txt") << "q7 0 1 1\nq8 0 2 1\nq1 0 4242 1\n";
  }
  ASSERT_EQ(std::system((cli + " index build -m " + dir + "/tiny.brm --docs " + dir + "/docs.jsonl --bm25 -o " + dir +
                         "/x.bri > /dev/null 2>&1")
                            .c_str()),
            0);
  const std::string base = cli + " eval -i " + dir + "/x.bri --queries " + dir + "/q.jsonl --mode bm25 --qrels ";
  ASSERT_EQ(std::system((base + dir + "/qrels.txt > " + dir + "/out.json 2> " + dir + "/err.txt").c_str()), 0)
      << slurp(dir + "/err.txt");
  const auto r = nlohmann::json::parse(slurp(dir + "/out.json"));
  EXPECT_EQ(r.value("qrels", -1), 5);
  EXPECT_EQ(r.value("qrels_unknown_queries", -1), 2);    // q9, q10
  EXPECT_EQ(r.value("qrels_unknown_documents", -1), 2);  // 999, 777
  EXPECT_EQ(r.value("queries", -1), 2);                  // q1, q2
  EXPECT_EQ(r.value("queries_without_judgements", -1), 1);  // q3
  const std::string err = slurp(dir + "/err.txt");
  EXPECT_NE(err.find("2 of 5 judgements name a query not in"), std::string::npos) << err;
  EXPECT_NE(err.find("2 of 5 judgements name a document not in the index"), std::string::npos) << err;

  // No judgement names a known query and a known document: an error, not a row of zeros.
  EXPECT_NE(std::system((base + dir + "/none.txt > " + dir + "/out2.json 2> " + dir + "/err2.txt").c_str()), 0);
  const std::string err2 = slurp(dir + "/err2.txt");
  EXPECT_NE(err2.find("no judgement"), std::string::npos) << err2;
  EXPECT_NE(err2.find("none.txt"), std::string::npos) << err2;
  EXPECT_EQ(slurp(dir + "/out2.json"), "");

  // Judgements that match but are all non-relevant, or none at all: an error too.
  std::ofstream(dir + "/nonrel.txt") << "q1 0 0 0\nq2 0 1 -3\n";
  std::ofstream(dir + "/empty.txt") << "\n";
  EXPECT_NE(std::system((base + dir + "/nonrel.txt > /dev/null 2> " + dir + "/err3.txt").c_str()), 0);
  EXPECT_NE(slurp(dir + "/err3.txt").find("has a relevant judgement"), std::string::npos) << slurp(dir + "/err3.txt");
  EXPECT_NE(std::system((base + dir + "/empty.txt > /dev/null 2> " + dir + "/err4.txt").c_str()), 0);
  EXPECT_NE(slurp(dir + "/err4.txt").find("holds no judgements"), std::string::npos) << slurp(dir + "/err4.txt");

  // --encoding applies to the queries and qrels files: a Latin-1 query id matches its judgement
  // only when both are decoded the same way; the default warns about the replaced bytes.
  std::ofstream(dir + "/q1.jsonl", std::ios::binary) << "{\"id\": \"q\xE9\", \"text\": \"hello\"}\n";
  std::ofstream(dir + "/r1.txt", std::ios::binary) << "q\xE9 0 0 1\n";
  const std::string e1 = cli + " eval -i " + dir + "/x.bri --queries " + dir + "/q1.jsonl --mode bm25 --qrels " + dir +
                         "/r1.txt";
  ASSERT_EQ(std::system((e1 + " --encoding latin-1 > " + dir + "/l.json 2> " + dir + "/l.err").c_str()), 0)
      << slurp(dir + "/l.err");
  EXPECT_EQ(nlohmann::json::parse(slurp(dir + "/l.json")).value("queries", -1), 1);
  EXPECT_EQ(slurp(dir + "/l.err"), "");
  ASSERT_EQ(std::system((e1 + " > /dev/null 2> " + dir + "/u.err").c_str()), 0) << slurp(dir + "/u.err");
  EXPECT_NE(slurp(dir + "/u.err").find("eval: 1 of 1 queries had invalid UTF-8"), std::string::npos)
      << slurp(dir + "/u.err");
  EXPECT_NE(std::system((e1 + " --encoding ebcdic > /dev/null 2>&1").c_str()), 0);
}
