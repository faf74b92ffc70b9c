// ConnectionPolicer and the TcpFlowKey it classifies by: the key read from
// real header layouts, buckets per connection, and the table's bound.
#include "bench/wan/connection_policer.h"

#include <gtest/gtest.h>

#include <chrono>

#include "bench/wan/tcp_flow_key.h"
#include "tests/bench/wan/packet_builder.h"

namespace braid::bench {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::kAddrA;
using testing::kAddrB;
using testing::MakeIpv4;

TEST(TcpFlowKeyTest, ReadsAddressesAndPorts) {
  const auto key = ParseTcpFlowKey(MakeIpv4(kAddrA, kAddrB, 40000, 443, 60));
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(*key, (TcpFlowKey{.src_addr = kAddrA, .dst_addr = kAddrB, .src_port = 40000, .dst_port = 443}));
}

TEST(TcpFlowKeyTest, FindsThePortsAfterIpOptions) {
  std::vector<uint8_t> p = MakeIpv4(kAddrA, kAddrB, 0, 0, 80);
  p[0] = 0x46;  // 24-byte header: the ports are 4 bytes further on
  p[24] = 0x12;
  p[25] = 0x34;
  p[26] = 0x00;
  p[27] = 0x50;
  const auto key = ParseTcpFlowKey(p);
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(key->src_port, 0x1234);
  EXPECT_EQ(key->dst_port, 80);
}

TEST(TcpFlowKeyTest, AcceptsTrailingPaddingAndTheFirstFragment) {
  std::vector<uint8_t> padded = MakeIpv4(kAddrA, kAddrB, 1, 2, 40);
  padded.resize(60);  // read more than the IP total length says
  EXPECT_TRUE(ParseTcpFlowKey(padded).has_value());
  std::vector<uint8_t> first_fragment = MakeIpv4(kAddrA, kAddrB, 1, 2, 40);
  first_fragment[6] = 0x20;  // more fragments, offset 0
  EXPECT_TRUE(ParseTcpFlowKey(first_fragment).has_value());
}

TEST(ConnectionPolicerTest, EachConnectionHasItsOwnBucket) {
  ConnectionPolicer policer(1000, 1500);
  const auto a = MakeIpv4(kAddrA, kAddrB, 1, 80, 1000);
  const auto b = MakeIpv4(kAddrA, kAddrB, 2, 80, 1000);
  EXPECT_EQ(policer.Check(a, seconds(0)), ConnectionPolicer::Verdict::kPass);
  EXPECT_EQ(policer.Check(a, seconds(0)), ConnectionPolicer::Verdict::kDrop);  // 500 tokens left
  EXPECT_EQ(policer.Check(b, seconds(0)), ConnectionPolicer::Verdict::kPass);
  EXPECT_EQ(policer.Check(a, milliseconds(500)), ConnectionPolicer::Verdict::kPass);  // refilled to 1000
  // The bucket never holds more than the burst, however long the pause.
  EXPECT_EQ(policer.Check(a, seconds(100)), ConnectionPolicer::Verdict::kPass);
  EXPECT_EQ(policer.Check(a, seconds(100)), ConnectionPolicer::Verdict::kDrop);
  EXPECT_EQ(policer.connections(), 2u);
}

TEST(ConnectionPolicerTest, TableStaysBoundedAndSweepsIdleConnections) {
  ConnectionPolicer policer(1000, 2000);
  auto packet = [](uint32_t i) {
    return MakeIpv4(kAddrA + (i >> 16), kAddrB, static_cast<uint16_t>(i), 80, 1000);
  };
  constexpr uint32_t kMax = ConnectionPolicer::kMaxConnections;
  for (uint32_t i = 0; i < kMax; ++i) ASSERT_EQ(policer.Check(packet(i), seconds(0)), ConnectionPolicer::Verdict::kPass);
  EXPECT_EQ(policer.connections(), kMax);
  // Every bucket is still in use (half empty): a new connection is not
  // policed, and the table does not grow.
  EXPECT_EQ(policer.Check(packet(kMax), milliseconds(1)), ConnectionPolicer::Verdict::kUnpoliced);
  EXPECT_EQ(policer.table_full(), 1u);
  EXPECT_EQ(policer.connections(), kMax);
  // A second later every bucket has refilled: the idle connections are
  // swept and the new one gets a bucket.
  EXPECT_EQ(policer.Check(packet(kMax), seconds(2)), ConnectionPolicer::Verdict::kPass);
  EXPECT_EQ(policer.connections(), 1u);
}

}  // namespace
}  // namespace braid::bench
