// Tests of IpAddress and Cidr (include/braid/ip_address.h): parsing of both
// families (compared with inet_pton, which defines what an address is),
// canonical text, masking, network/broadcast, host bits and containment.
#include "braid/ip_address.h"

#include <arpa/inet.h>

#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace braid {
namespace {

IpAddress MustParse(std::string_view text) {
  std::optional<IpAddress> a = IpAddress::Parse(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(IpAddress());
}

Cidr MustParseCidr(std::string_view text) {
  std::optional<Cidr> c = Cidr::Parse(text);
  EXPECT_TRUE(c.has_value()) << text;
  return c.value_or(Cidr());
}

TEST(IpAddressTest, ParsesIpv4) {
  IpAddress a = MustParse("10.1.2.3");
  EXPECT_TRUE(a.is_v4());
  EXPECT_EQ(a.family(), AddressFamily::kV4);
  EXPECT_EQ(a.bits(), 32);
  EXPECT_EQ(a.v4(), 0x0a010203u);
  EXPECT_EQ(a.hi(), 0u);
  EXPECT_EQ(a, IpAddress::V4(0x0a010203));
  EXPECT_EQ(MustParse("0.0.0.0"), IpAddress::V4(0));
  EXPECT_EQ(MustParse("255.255.255.255"), IpAddress::V4(0xffffffff));
}

TEST(IpAddressTest, ParsesIpv6) {
  IpAddress a = MustParse("2001:db8::1");
  EXPECT_FALSE(a.is_v4());
  EXPECT_EQ(a.family(), AddressFamily::kV6);
  EXPECT_EQ(a.bits(), 128);
  EXPECT_EQ(a.hi(), 0x20010db800000000u);
  EXPECT_EQ(a.lo(), 1u);
  EXPECT_EQ(MustParse("::"), IpAddress::V6(0, 0));
  EXPECT_EQ(MustParse("::1"), IpAddress::V6(0, 1));
  EXPECT_EQ(MustParse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
            IpAddress::V6(~uint64_t{0}, ~uint64_t{0}));
  EXPECT_EQ(MustParse("1:2:3:4:5:6:7:8"),
            IpAddress::V6(0x0001000200030004u, 0x0005000600070008u));
}

TEST(IpAddressTest, MappedIpv4IsIpv6) {
  IpAddress a = MustParse("::ffff:10.0.0.1");
  EXPECT_FALSE(a.is_v4());
  EXPECT_EQ(a, IpAddress::V6(0, 0x0000ffff0a000001u));
  EXPECT_NE(a, IpAddress::V4(0x0a000001));
}

TEST(IpAddressTest, FamiliesNeverCompareEqual) {
  // Same 128-bit value, different family.
  EXPECT_NE(IpAddress::V4(0x0a000001), IpAddress::V6(0, 0x0a000001));
  EXPECT_NE(MustParse("10.0.0.1"), MustParse("::a00:1"));
  EXPECT_NE(IpAddress::V4(0), IpAddress::V6(0, 0));
}

TEST(IpAddressTest, ToStringIsCanonical) {
  struct Case {
    const char* in;
    const char* out;
  };
  const std::vector<Case> cases = {
      {"10.1.2.3", "10.1.2.3"},
      {"0.0.0.0", "0.0.0.0"},
      {"255.255.255.255", "255.255.255.255"},
      {"2001:DB8::1", "2001:db8::1"},
      {"2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"},
      {"::", "::"},
      {"::1", "::1"},
      {"fe80::", "fe80::"},
      {"1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"},
      {"::ffff:10.0.0.1", "::ffff:10.0.0.1"},
  };
  for (const Case& c : cases) {
    IpAddress a = MustParse(c.in);
    EXPECT_EQ(a.ToString(), c.out) << c.in;
    // And the text parses back to the same address.
    EXPECT_EQ(MustParse(a.ToString()), a) << c.in;
  }
}

// What an address is, is what inet_pton says: IpAddress::Parse must accept
// exactly the strings inet_pton accepts (for the family the text implies).
TEST(IpAddressTest, AcceptsExactlyWhatInetPtonAccepts) {
  const std::vector<std::string> inputs = {
      "1.2.3.4",     "01.2.3.4",   "1.2.3.04",        "1.2.3",          "1.2.3.4.5",
      "256.1.1.1",   "1.2.3.256",  " 1.2.3.4",        "1.2.3.4 ",       "1.2.3.4/24",
      "0x1.2.3.4",   "1..2.3",     "",                "a.b.c.d",        "-1.2.3.4",
      "::",          "::1",        "2001:db8::1",     "2001:db8:::1",   "2001:db8::1::2",
      "[::1]",       "fe80::1%eth0", "::ffff:1.2.3.4", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9",
      "12345::",     "g::",        ":",               ":::",            "::ffff:1.2.3",
      "2001:db8::1 ", "1.2.3.4:80",
  };
  for (const std::string& s : inputs) {
    unsigned char buf[16];
    bool v6 = s.find(':') != std::string::npos;
    bool want = inet_pton(v6 ? AF_INET6 : AF_INET, s.c_str(), buf) == 1;
    std::optional<IpAddress> got = IpAddress::Parse(s);
    EXPECT_EQ(got.has_value(), want) << '"' << s << '"';
    if (got && want) {
      EXPECT_EQ(got->is_v4(), !v6) << s;
    }
  }
}

TEST(IpAddressTest, RejectsObviousJunk) {
  for (const char* s : {"", "1.2.3", "1.2.3.4.5", "256.0.0.0", " 1.2.3.4", "1.2.3.4 ",
                        "1.2.3.4/32", "[::1]", "fe80::1%eth0", "localhost", "::g", "1:2:3:4:5:6:7:8:9"}) {
    EXPECT_FALSE(IpAddress::Parse(s).has_value()) << '"' << s << '"';
  }
  // A string_view that is not NUL-terminated must not be read past its end.
  std::string padded = "10.0.0.1999";
  EXPECT_EQ(IpAddress::Parse(std::string_view(padded).substr(0, 8)), IpAddress::V4(0x0a000001));
  std::string long_text(200, '1');
  EXPECT_FALSE(IpAddress::Parse(long_text).has_value());
}

TEST(IpAddressTest, Masked) {
  IpAddress a = MustParse("10.1.2.3");
  EXPECT_EQ(a.Masked(0), IpAddress::V4(0));
  EXPECT_EQ(a.Masked(8), IpAddress::V4(0x0a000000));
  EXPECT_EQ(a.Masked(31), IpAddress::V4(0x0a010202));
  EXPECT_EQ(a.Masked(32), a);
  EXPECT_TRUE(a.Masked(8).is_v4());

  IpAddress b = IpAddress::V6(~uint64_t{0}, ~uint64_t{0});
  EXPECT_EQ(b.Masked(0), IpAddress::V6(0, 0));
  EXPECT_EQ(b.Masked(1), IpAddress::V6(uint64_t{1} << 63, 0));
  EXPECT_EQ(b.Masked(63), IpAddress::V6(~uint64_t{0} << 1, 0));
  EXPECT_EQ(b.Masked(64), IpAddress::V6(~uint64_t{0}, 0));
  EXPECT_EQ(b.Masked(65), IpAddress::V6(~uint64_t{0}, uint64_t{1} << 63));
  EXPECT_EQ(b.Masked(127), IpAddress::V6(~uint64_t{0}, ~uint64_t{0} << 1));
  EXPECT_EQ(b.Masked(128), b);
}

TEST(CidrTest, ParsesWithAndWithoutLength) {
  Cidr c = MustParseCidr("10.1.2.0/24");
  EXPECT_EQ(c.address(), IpAddress::V4(0x0a010200));
  EXPECT_EQ(c.prefix_len(), 24);
  EXPECT_EQ(c.family(), AddressFamily::kV4);

  // A bare address is a host route.
  EXPECT_EQ(MustParseCidr("10.1.2.3").prefix_len(), 32);
  EXPECT_EQ(MustParseCidr("2001:db8::1").prefix_len(), 128);
  EXPECT_EQ(MustParseCidr("2001:db8::1").family(), AddressFamily::kV6);

  EXPECT_EQ(MustParseCidr("0.0.0.0/0").prefix_len(), 0);
  EXPECT_EQ(MustParseCidr("1.2.3.4/32").prefix_len(), 32);
  EXPECT_EQ(MustParseCidr("::/0").prefix_len(), 0);
  EXPECT_EQ(MustParseCidr("::/128").prefix_len(), 128);
  EXPECT_EQ(MustParseCidr("2001:db8::/64").prefix_len(), 64);
  EXPECT_EQ(MustParseCidr("::ffff:10.0.0.0/104").family(), AddressFamily::kV6);
}

TEST(CidrTest, KeepsHostBitsAsWritten) {
  Cidr c = MustParseCidr("10.0.0.5/24");
  EXPECT_EQ(c.address(), IpAddress::V4(0x0a000005));
  EXPECT_EQ(c.network(), IpAddress::V4(0x0a000000));
  EXPECT_TRUE(c.has_host_bits());
  EXPECT_EQ(c.ToString(), "10.0.0.5/24");
  EXPECT_FALSE(MustParseCidr("10.0.0.0/24").has_host_bits());
  EXPECT_FALSE(MustParseCidr("10.0.0.5").has_host_bits());
  EXPECT_TRUE(MustParseCidr("2001:db8::1/64").has_host_bits());
  EXPECT_FALSE(MustParseCidr("2001:db8::/64").has_host_bits());
  EXPECT_TRUE(MustParseCidr("::1/127").has_host_bits());
  EXPECT_TRUE(MustParseCidr("1.2.3.4/0").has_host_bits());
}

TEST(CidrTest, Rejects) {
  for (const char* s : {"1.2.3.4/33", "1.2.3.4/-1", "1.2.3.4/08", "1.2.3.4/00", "1.2.3.4/+8",
                        "::/129", "::/0128", "1.2.3", "1.2.3/8", " 1.2.3.4", "1.2.3.4 ",
                        "1.2.3.4/", "1.2.3.4/ 8", "1.2.3.4/8 ", "1.2.3.4//8", "1.2.3.4/8/8",
                        "/8", "", "/", "1.2.3.4/1000", "1.2.3.4/0x8", "1.2.3.4/8a",
                        "::1/1000000000000000000000", "1.2.3.4/4294967304", "300.0.0.0/8",
                        "10.0.0.0/24.0", "[::1]/128", "10.0.0.300/24"}) {
    EXPECT_FALSE(Cidr::Parse(s).has_value()) << '"' << s << '"';
  }
}

TEST(CidrTest, ToString) {
  EXPECT_EQ(MustParseCidr("10.1.2.0/24").ToString(), "10.1.2.0/24");
  EXPECT_EQ(MustParseCidr("10.1.2.3").ToString(), "10.1.2.3/32");
  EXPECT_EQ(MustParseCidr("2001:DB8::/32").ToString(), "2001:db8::/32");
  EXPECT_EQ(MustParseCidr("::/0").ToString(), "::/0");
  for (const char* s : {"10.1.2.0/24", "0.0.0.0/0", "2001:db8::1/64", "::/0", "fe80::/10"}) {
    EXPECT_EQ(MustParseCidr(MustParseCidr(s).ToString()), MustParseCidr(s)) << s;
  }
}

struct BlockCase {
  const char* cidr;
  const char* network;
  const char* broadcast;
};

TEST(CidrTest, NetworkAndBroadcast) {
  const std::vector<BlockCase> cases = {
      {"10.1.2.3/8", "10.0.0.0", "10.255.255.255"},
      {"10.1.2.3/24", "10.1.2.0", "10.1.2.255"},
      {"10.1.2.3/31", "10.1.2.2", "10.1.2.3"},
      {"10.1.2.3/32", "10.1.2.3", "10.1.2.3"},
      {"10.1.2.3/0", "0.0.0.0", "255.255.255.255"},
      {"192.168.1.130/25", "192.168.1.128", "192.168.1.255"},
      {"2001:db8::1/64", "2001:db8::", "2001:db8::ffff:ffff:ffff:ffff"},
      {"2001:db8::1/63", "2001:db8::", "2001:db8:0:1:ffff:ffff:ffff:ffff"},
      {"2001:db8::8000:0:0:1/65", "2001:db8::8000:0:0:0", "2001:db8::ffff:ffff:ffff:ffff"},
      {"2001:db8::1/128", "2001:db8::1", "2001:db8::1"},
      {"2001:db8::1/127", "2001:db8::", "2001:db8::1"},
      {"2001:db8::1/0", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
      {"ffff::/1", "8000::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
  };
  for (const BlockCase& c : cases) {
    Cidr cidr = MustParseCidr(c.cidr);
    EXPECT_EQ(cidr.network(), MustParse(c.network)) << c.cidr;
    EXPECT_EQ(cidr.broadcast(), MustParse(c.broadcast)) << c.cidr;
    EXPECT_EQ(cidr.network().family(), cidr.family()) << c.cidr;
    EXPECT_EQ(cidr.broadcast().family(), cidr.family()) << c.cidr;
  }
}

TEST(CidrTest, ContainsAddress) {
  Cidr net = MustParseCidr("10.1.2.0/24");
  EXPECT_TRUE(net.Contains(MustParse("10.1.2.0")));
  EXPECT_TRUE(net.Contains(MustParse("10.1.2.255")));
  EXPECT_FALSE(net.Contains(MustParse("10.1.1.255")));
  EXPECT_FALSE(net.Contains(MustParse("10.1.3.0")));

  // Host bits are ignored for matching.
  EXPECT_TRUE(MustParseCidr("10.1.2.77/24").Contains(MustParse("10.1.2.1")));

  // Families never mix, not even for /0.
  EXPECT_TRUE(MustParseCidr("0.0.0.0/0").Contains(MustParse("1.2.3.4")));
  EXPECT_FALSE(MustParseCidr("0.0.0.0/0").Contains(MustParse("::1")));
  EXPECT_FALSE(MustParseCidr("0.0.0.0/0").Contains(MustParse("::ffff:1.2.3.4")));
  EXPECT_TRUE(MustParseCidr("::/0").Contains(MustParse("::ffff:1.2.3.4")));
  EXPECT_FALSE(MustParseCidr("::/0").Contains(MustParse("1.2.3.4")));
  EXPECT_FALSE(MustParseCidr("::/96").Contains(IpAddress::V4(0x0a000001)));

  Cidr v6 = MustParseCidr("2001:db8::/64");
  EXPECT_TRUE(v6.Contains(MustParse("2001:db8::ffff:ffff:ffff:ffff")));
  EXPECT_FALSE(v6.Contains(MustParse("2001:db8:0:1::")));
  EXPECT_FALSE(v6.Contains(MustParse("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff")));
  Cidr host = MustParseCidr("2001:db8::1");
  EXPECT_TRUE(host.Contains(MustParse("2001:db8::1")));
  EXPECT_FALSE(host.Contains(MustParse("2001:db8::2")));
}

TEST(CidrTest, ContainsCidr) {
  EXPECT_TRUE(MustParseCidr("10.0.0.0/8").Contains(MustParseCidr("10.1.0.0/16")));
  EXPECT_TRUE(MustParseCidr("10.0.0.0/8").Contains(MustParseCidr("10.0.0.0/8")));
  EXPECT_FALSE(MustParseCidr("10.1.0.0/16").Contains(MustParseCidr("10.0.0.0/8")));
  EXPECT_FALSE(MustParseCidr("10.0.0.0/8").Contains(MustParseCidr("11.0.0.0/16")));
  EXPECT_TRUE(MustParseCidr("0.0.0.0/0").Contains(MustParseCidr("1.2.3.4")));
  EXPECT_FALSE(MustParseCidr("0.0.0.0/0").Contains(MustParseCidr("::/0")));
  EXPECT_FALSE(MustParseCidr("::/0").Contains(MustParseCidr("0.0.0.0/0")));
  EXPECT_TRUE(MustParseCidr("2001:db8::/32").Contains(MustParseCidr("2001:db8:1::/48")));
  // Host bits on the inner block do not matter, on the outer block neither.
  EXPECT_TRUE(MustParseCidr("10.0.0.9/8").Contains(MustParseCidr("10.1.2.3/16")));
}

}  // namespace
}  // namespace braid
