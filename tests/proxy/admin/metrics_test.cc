// Metric primitives and their Prometheus text rendering.
#include "proxy/admin/metrics.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proxy/admin/gateway_metrics.h"

namespace braid::proxy {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(MetricsTest, CounterFamilyRendersOneSeriesPerLabelSetWithEscapedValues) {
  Family<Counter> f("braid_x_total", "Things.", {"peer", "rule"});
  f.With({"gw-a", "r1"}).Add(3);
  f.With({"gw-a", "r1"}).Add();
  f.With({"gw-b", "quote\"back\\slash\nline"}).Add(2);
  std::string out;
  RenderCounters(f, &out);
  EXPECT_EQ(out,
            "# HELP braid_x_total Things.\n"
            "# TYPE braid_x_total counter\n"
            "braid_x_total{peer=\"gw-a\",rule=\"r1\"} 4\n"
            "braid_x_total{peer=\"gw-b\",rule=\"quote\\\"back\\\\slash\\nline\"} 2\n");
}

TEST(MetricsTest, WithReturnsTheSameSeriesForTheSameLabels) {
  Family<Gauge> f("g", "G.", {"peer"});
  Gauge& a = f.With({"x"});
  a.Add(5);
  f.With({"x"}).Sub(2);
  EXPECT_EQ(&a, &f.With({"x"}));
  EXPECT_EQ(a.value(), 3);
}

TEST(MetricsTest, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  static constexpr double kBounds[] = {0.1, 1, 10};
  HistogramFamily f("braid_d_seconds", "D.", {}, kBounds);
  Histogram& h = f.With({});
  h.Observe(0.05);  // first bucket
  h.Observe(0.1);   // a bound is inclusive (le)
  h.Observe(5);
  h.Observe(100);   // only +Inf
  std::string out;
  RenderHistograms(f, &out);
  EXPECT_THAT(out, HasSubstr("# TYPE braid_d_seconds histogram\n"));
  EXPECT_THAT(out, HasSubstr("braid_d_seconds_bucket{le=\"0.1\"} 2\n"));
  EXPECT_THAT(out, HasSubstr("braid_d_seconds_bucket{le=\"1\"} 2\n"));
  EXPECT_THAT(out, HasSubstr("braid_d_seconds_bucket{le=\"10\"} 3\n"));
  EXPECT_THAT(out, HasSubstr("braid_d_seconds_bucket{le=\"+Inf\"} 4\n"));
  EXPECT_THAT(out, HasSubstr("braid_d_seconds_sum 105.15\n"));
  EXPECT_THAT(out, HasSubstr("braid_d_seconds_count 4\n"));
}

TEST(MetricsTest, GatewayMetricsRenderEveryFamilyOnceWithHelpAndType) {
  GatewayMetrics m;
  m.flows_live.Add(2);
  m.flows_ended.With({"ingress", "completed", ""}).Add();
  m.limit_hits.With({"max_flows"}).Add();
  std::string out;
  m.RenderPrometheus(&out);
  for (const char* name : {"braid_flows_live", "braid_flows_ended_total", "braid_flow_duration_seconds",
                           "braid_sft_decisions_total", "braid_limit_hits_total", "braid_tunnels_up", "braid_lanes_up",
                           "braid_peer_bytes_total", "braid_lane_bytes_total", "braid_tls_handshakes_total",
                           "braid_tunnel_setup_seconds", "braid_tls_key_updates_total",
                           "braid_reassembly_buffered_bytes", "braid_policy_version", "braid_reloads_total"}) {
    EXPECT_THAT(out, HasSubstr(std::string("# HELP ") + name + " ")) << name;
    EXPECT_THAT(out, HasSubstr(std::string("# TYPE ") + name + " ")) << name;
  }
  EXPECT_THAT(out, HasSubstr("braid_flows_live 2\n"));
  EXPECT_THAT(out, HasSubstr("braid_flows_ended_total{side=\"ingress\",reason=\"completed\",rule=\"\"} 1\n"));
  EXPECT_THAT(out, HasSubstr("braid_limit_hits_total{limit=\"max_flows\"} 1\n"));
  EXPECT_THAT(out, Not(HasSubstr("nan")));
}

}  // namespace
}  // namespace braid::proxy
