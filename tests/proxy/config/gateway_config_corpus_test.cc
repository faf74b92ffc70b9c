// Replays the seed corpus of gateway_config_fuzz.cc (and any crash
// reproducers saved beside it) as an ordinary test, in every build and with
// any compiler; the fuzz target aborts on a broken invariant.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "gtest/gtest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

TEST(GatewayConfigCorpusTest, EverySeedRuns) {
  size_t inputs = 0;
  for (const auto& entry : std::filesystem::directory_iterator(BRAID_GATEWAY_CONFIG_CORPUS)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    SCOPED_TRACE(entry.path().string());
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(data.data()), data.size());
    ++inputs;
  }
  // A wrong path would otherwise pass with nothing tested.
  EXPECT_GE(inputs, 4u);
}

}  // namespace
