// Every table dispatch can return (kernels/dispatch.cpp, retrieval/scan.cpp) is complete and
// named: no null entry, whichever ISA. The kernel tables are checked as built, also those this
// CPU cannot run (AVX-512 on a Zen 3: its entries are inspected, never called).
#include <gtest/gtest.h>

#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/kernels.h"
#include "retrieval/scan.h"

namespace bk = bertrank::kernels;
namespace scan = bertrank::retrieval::scan;
using bk::Isa;

TEST(DispatchTables, EveryBuiltKernelTableIsCompleteAndNamed) {
  int built = 0;
  for (Isa isa : bk::kAllIsas) {
    const bk::KernelTable* t = bk::kernels_built(isa);
    if (!t) {
      std::printf("[ info ] this build has no %s table\n", bk::isa_name(isa));
      continue;
    }
    ++built;
    EXPECT_EQ(t->isa, isa) << bk::isa_name(isa);
    EXPECT_STRNE(bk::isa_name(t->isa), "unknown");
    const char* missing = bk::kernel_table_missing_entry(*t);
    EXPECT_EQ(missing, nullptr) << bk::isa_name(isa) << " table has no " << (missing ? missing : "");
    // What dispatch hands out for this ISA is that same table, or nothing on this CPU.
    const bk::KernelTable* run = bk::kernels_for(isa);
    if (run) {
      EXPECT_EQ(run, t);
    } else {
      EXPECT_FALSE(bk::cpu_supports(isa)) << bk::isa_name(isa);
      std::printf("[ info ] this CPU cannot run the %s table; its entries were inspected only\n",
                  bk::isa_name(isa));
    }
  }
  EXPECT_GE(built, 1);
  EXPECT_NE(bk::kernels_built(Isa::ref), nullptr);
}

TEST(DispatchTables, SelectedKernelTablesAreComplete) {
  std::vector<std::string> envs = {""};
  for (Isa isa : bk::kAllIsas) envs.push_back(bk::isa_name(isa));
  for (const std::string& name : envs) {
    const char* env = name.c_str();
    const bk::KernelTable* t = nullptr;
    try {
      t = &bk::select_kernels(env);
    } catch (const std::runtime_error& e) {  // this CPU or build lacks it: said so
      EXPECT_NE(std::string(e.what()).find("lacks"), std::string::npos) << e.what();
      continue;
    }
    EXPECT_EQ(bk::kernel_table_missing_entry(*t), nullptr) << env;
    if (*env) {
      EXPECT_STREQ(bk::isa_name(t->isa), env);
    }
  }
  EXPECT_EQ(bk::kernel_table_missing_entry(bk::active()), nullptr);
}

TEST(DispatchTables, MissingKernelEntryIsNamed) {
  bk::KernelTable t = *bk::kernels_built(Isa::ref);
  t.gemm_bf16_pack = nullptr;
  ASSERT_NE(bk::kernel_table_missing_entry(t), nullptr);
  EXPECT_STREQ(bk::kernel_table_missing_entry(t), "gemm_bf16_pack");
  t = *bk::kernels_built(Isa::ref);
  t.gemm_packed_floats = nullptr;
  EXPECT_STREQ(bk::kernel_table_missing_entry(t), "gemm_packed_floats");
}

TEST(DispatchTables, ScanTablesAreCompleteAndNamed) {
  std::vector<const scan::ScanTable*> tables = {&scan::ref_table(), &scan::active()};
  if (const scan::ScanTable* t = scan::avx2_table()) {
    tables.push_back(t);
  } else {
    std::printf("[ info ] no avx2 scan table on this CPU or build\n");
  }
  for (const scan::ScanTable* t : tables) {
    const char* missing = scan::scan_table_missing_entry(*t);
    EXPECT_EQ(missing, nullptr) << (t->name ? t->name : "(unnamed)") << " scan table has no "
                                << (missing ? missing : "");
  }
  EXPECT_STREQ(scan::ref_table().name, "ref");
  if (const scan::ScanTable* t = scan::avx2_table()) {
    EXPECT_STREQ(t->name, "avx2");
  }
  scan::ScanTable broken = scan::ref_table();
  broken.f32_to_f16 = nullptr;
  EXPECT_STREQ(scan::scan_table_missing_entry(broken), "f32_to_f16");
  broken = scan::ref_table();
  broken.name = "";
  EXPECT_STREQ(scan::scan_table_missing_entry(broken), "name");
}
