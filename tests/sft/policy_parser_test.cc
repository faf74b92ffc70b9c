// Tests of the policy parser (ParsePolicy, LoadPolicyFile, PolicyToJson):
// every validation error with its exact message, several errors reported at
// once, the Policy a valid document parses to, and the JSON round trip.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "braid/policy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace braid {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kSource[] = "test.json";

// Doc wraps rule objects (JSON text) into a policy document.
std::string Doc(const std::vector<std::string>& rules) {
  std::string out = R"({"rules": [)";
  for (size_t i = 0; i < rules.size(); ++i) {
    if (i > 0) out += ", ";
    out += rules[i];
  }
  return out + "]}";
}

// A valid rule with id "x" plus extra fields (JSON members, no braces).
std::string RuleX(const std::string& extra) {
  return R"({"id": "x", "action": "permit")" + (extra.empty() ? "" : ", " + extra) + "}";
}

// ErrorLines parses `json` and returns the error lines; a policy that parses
// gives no lines and a test failure.
std::vector<std::string> ErrorLines(std::string_view json) {
  absl::StatusOr<Policy> p = ParsePolicy(json, kSource);
  if (p.ok()) {
    ADD_FAILURE() << "parsed, but should not have:\n" << json;
    return {};
  }
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << p.status();
  std::vector<std::string> lines = absl::StrSplit(p.status().message(), '\n', absl::SkipEmpty());
  for (const std::string& line : lines) {
    EXPECT_THAT(line, StartsWith(std::string(kSource) + ": ")) << "every error names the source";
  }
  return lines;
}

std::string ErrorText(std::string_view json) {
  absl::StatusOr<Policy> p = ParsePolicy(json, kSource);
  return p.ok() ? "<parsed OK>" : std::string(p.status().message());
}

Policy MustParse(std::string_view json) {
  absl::StatusOr<Policy> p = ParsePolicy(json, kSource);
  EXPECT_TRUE(p.ok()) << p.status() << "\n" << json;
  return p.ok() ? *std::move(p) : Policy();
}

void ExpectSamePolicy(const Policy& a, const Policy& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.description, b.description);
  EXPECT_EQ(a.default_action, b.default_action);
  ASSERT_EQ(a.rules.size(), b.rules.size());
  for (size_t i = 0; i < a.rules.size(); ++i) EXPECT_TRUE(a.rules[i] == b.rules[i]) << "rule " << i;
}

Cidr C(std::string_view text) {
  std::optional<Cidr> c = Cidr::Parse(text);
  EXPECT_TRUE(c.has_value()) << text;
  return c.value_or(Cidr());
}

// ---------------------------------------------------------------------------
// One error per document, exact message.

struct ErrorCase {
  const char* name;
  std::string json;
  std::string error;  // the line after "SOURCE: "
};

// Names the case in test listings instead of dumping its bytes.
void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }

class ParserErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ParserErrorTest, ReportsExactlyThisError) {
  const ErrorCase& c = GetParam();
  std::vector<std::string> lines = ErrorLines(c.json);
  EXPECT_THAT(ErrorText(c.json), HasSubstr(std::string(kSource) + ": " + c.error)) << c.json;
  EXPECT_EQ(lines.size(), 1u) << "expected a single error for:\n"
                              << c.json << "\ngot:\n"
                              << ErrorText(c.json);
}

const std::string kOkRule = R"({"id": "ok", "action": "permit"})";

std::vector<ErrorCase> ErrorCases() {
  std::vector<ErrorCase> v = {
      // Unknown keys.
      {"UnknownRuleKey", Doc({kOkRule, RuleX(R"("srcs": ["10.0.0.1"])")}),
       R"(rule #2 (id "x"): unknown key "srcs")"},
      {"UnknownTopKey", R"({"foo": 1, "rules": [{"id": "x", "action": "deny"}]})", R"(unknown key "foo")"},
      {"UnknownKeyCaseSensitive", Doc({RuleX(R"("Src": ["10.0.0.1"])")}), R"(rule #1 (id "x"): unknown key "Src")"},

      // Shapes.
      // Type names are the same in every "expected a X, got Y": "list", not "array".
      {"TopLevelArray", R"([{"id": "x", "action": "deny"}])", "expected a JSON object at the top level, got list"},
      {"TopLevelString", R"("rules")", "expected a JSON object at the top level, got string"},
      {"TopLevelNumber", "42", "expected a JSON object at the top level, got number"},
      {"TopLevelNull", "null", "expected a JSON object at the top level, got null"},
      {"TopLevelBool", "true", "expected a JSON object at the top level, got boolean"},
      {"RuleString", Doc({kOkRule, R"("x")"}), "rule #2: expected an object, got string"},
      {"RuleList", Doc({kOkRule, R"(["x"])"}), "rule #2: expected an object, got list"},
      {"RuleNull", Doc({"null"}), "rule #1: expected an object, got null"},
      {"RuleNumber", Doc({kOkRule, R"({"id": "y", "action": "deny"})", "7"}), "rule #3: expected an object, got number"},

      // id.
      {"IdMissing", Doc({kOkRule, R"({"action": "permit"})"}), "rule #2: id: required"},
      {"IdBadChars", Doc({kOkRule, R"({"id": "bad id!", "action": "permit"})"}),
       R"(rule #2: id: "bad id!" must be 1-64 characters of A-Za-z0-9_.-)"},
      {"IdEmpty", Doc({R"({"id": "", "action": "permit"})"}),
       R"(rule #1: id: "" must be 1-64 characters of A-Za-z0-9_.-)"},
      {"IdTooLong", Doc({R"({"id": ")" + std::string(65, 'a') + R"(", "action": "permit"})"}),
       "rule #1: id: \"" + std::string(65, 'a') + "\" must be 1-64 characters of A-Za-z0-9_.-"},
      {"IdSlash", Doc({R"({"id": "a/b", "action": "permit"})"}),
       R"(rule #1: id: "a/b" must be 1-64 characters of A-Za-z0-9_.-)"},
      {"IdNumber", Doc({R"({"id": 7, "action": "permit"})"}), "rule #1: id: expected a string, got number"},
      {"IdDuplicate",
       Doc({R"({"id": "x", "action": "permit"})", R"({"id": "y", "action": "permit"})",
            R"({"id": "x", "action": "deny"})"}),
       R"(rule #3 (id "x"): id: duplicate of rule #1)"},

      // action.
      {"ActionMissing", Doc({R"({"id": "x"})"}), R"(rule #1 (id "x"): action: required)"},
      {"ActionAllow", Doc({R"({"id": "x", "action": "allow"})"}),
       R"(rule #1 (id "x"): action: "allow" must be "permit" or "deny")"},
      {"ActionUpperCase", Doc({R"({"id": "x", "action": "PERMIT"})"}),
       R"(rule #1 (id "x"): action: "PERMIT" must be "permit" or "deny")"},
      {"ActionWrongType", Doc({R"({"id": "x", "action": true})"}),
       R"(rule #1 (id "x"): action: expected a string, got boolean)"},

      // Wrong types of list fields, every type name.
      {"PortsString", Doc({RuleX(R"("dst_ports": "22")")}), R"(rule #1 (id "x"): dst_ports: expected a list, got string)"},
      {"SrcNull", Doc({RuleX(R"("src": null)")}), R"(rule #1 (id "x"): src: expected a list, got null)"},
      {"DstBool", Doc({RuleX(R"("dst": true)")}), R"(rule #1 (id "x"): dst: expected a list, got boolean)"},
      {"SrcPortsNumber", Doc({RuleX(R"("src_ports": 22)")}), R"(rule #1 (id "x"): src_ports: expected a list, got number)"},
      {"SrcGatewayObject", Doc({RuleX(R"("src_gateway": {})")}),
       R"(rule #1 (id "x"): src_gateway: expected a list, got object)"},
      {"DstGatewayString", Doc({RuleX(R"("dst_gateway": "gw")")}),
       R"(rule #1 (id "x"): dst_gateway: expected a list, got string)"},
      {"ProtoList", Doc({RuleX(R"("proto": ["tcp"])")}), R"(rule #1 (id "x"): proto: expected a string, got list)"},
      {"CommentNumber", Doc({RuleX(R"("comment": 5)")}), R"(rule #1 (id "x"): comment: expected a string, got number)"},

      // Empty lists.
      {"EmptySrc", Doc({RuleX(R"("src": [])")}),
       R"(rule #1 (id "x"): src: must not be empty (leave the field out to match any))"},
      {"EmptyDst", Doc({RuleX(R"("dst": [])")}),
       R"(rule #1 (id "x"): dst: must not be empty (leave the field out to match any))"},
      {"EmptySrcPorts", Doc({RuleX(R"("src_ports": [])")}),
       R"(rule #1 (id "x"): src_ports: must not be empty (leave the field out to match any))"},
      {"EmptyDstPorts", Doc({RuleX(R"("dst_ports": [])")}),
       R"(rule #1 (id "x"): dst_ports: must not be empty (leave the field out to match any))"},
      {"EmptySrcGateway", Doc({RuleX(R"("src_gateway": [])")}),
       R"(rule #1 (id "x"): src_gateway: must not be empty (leave the field out to match any))"},
      {"EmptyDstGateway", Doc({RuleX(R"("dst_gateway": [])")}),
       R"(rule #1 (id "x"): dst_gateway: must not be empty (leave the field out to match any))"},

      // CIDRs.
      {"BadCidrOctet",
       Doc({kOkRule, R"({"id": "b", "action": "deny"})",
            R"({"id": "a-to-b-pg", "action": "permit", "dst": ["10.0.0.300/24"]})"}),
       R"(rule #3 (id "a-to-b-pg"): dst[0]: "10.0.0.300/24" is not a CIDR)"},
      {"BadCidrLength", Doc({RuleX(R"("src": ["10.0.0.0/8", "10.0.0.0/33"])")}),
       R"(rule #1 (id "x"): src[1]: "10.0.0.0/33" is not a CIDR)"},
      {"BadCidrV6Length", Doc({RuleX(R"("dst": ["::/129"])")}), R"(rule #1 (id "x"): dst[0]: "::/129" is not a CIDR)"},
      {"BadCidrSpace", Doc({RuleX(R"("src": [" 10.0.0.1"])")}), R"(rule #1 (id "x"): src[0]: " 10.0.0.1" is not a CIDR)"},
      {"BadCidrEmpty", Doc({RuleX(R"("src": [""])")}), R"(rule #1 (id "x"): src[0]: "" is not a CIDR)"},
      {"BadCidrLeadingZeroLen", Doc({RuleX(R"("src": ["10.0.0.0/08"])")}),
       R"(rule #1 (id "x"): src[0]: "10.0.0.0/08" is not a CIDR)"},
      {"BadCidrHostname", Doc({RuleX(R"("dst": ["db.example.com"])")}),
       R"(rule #1 (id "x"): dst[0]: "db.example.com" is not a CIDR)"},
      {"CidrWrongType", Doc({RuleX(R"("src": [10])")}), R"(rule #1 (id "x"): src[0]: expected a string, got number)"},

      // Ports.
      {"PortTooBig", Doc({RuleX(R"("dst_ports": [22, 70000])")}),
       R"(rule #1 (id "x"): dst_ports[1]: 70000 is not a port (0-65535))"},
      {"Port65536", Doc({RuleX(R"("src_ports": [65536])")}),
       R"(rule #1 (id "x"): src_ports[0]: 65536 is not a port (0-65535))"},
      {"PortNegative", Doc({RuleX(R"("dst_ports": [-1])")}), R"(rule #1 (id "x"): dst_ports[0]: -1 is not a port (0-65535))"},
      {"RangeReversed", Doc({RuleX(R"("dst_ports": ["90-80"])")}),
       R"(rule #1 (id "x"): dst_ports[0]: "90-80" is a range with lo > hi)"},
      {"PortJunk", Doc({RuleX(R"("dst_ports": ["abc"])")}),
       R"(rule #1 (id "x"): dst_ports[0]: "abc" is not a port or "lo-hi" range)"},
      {"RangeOpenEnded", Doc({RuleX(R"("dst_ports": ["80-"])")}),
       R"(rule #1 (id "x"): dst_ports[0]: "80-" is not a port or "lo-hi" range)"},
      {"RangeThreeParts", Doc({RuleX(R"("dst_ports": ["1-2-3"])")}),
       R"(rule #1 (id "x"): dst_ports[0]: "1-2-3" is not a port or "lo-hi" range)"},
      {"RangeEmptyString", Doc({RuleX(R"("src_ports": [""])")}),
       R"(rule #1 (id "x"): src_ports[0]: "" is not a port or "lo-hi" range)"},
      {"PortBool", Doc({RuleX(R"("dst_ports": [true])")}),
       R"(rule #1 (id "x"): dst_ports[0]: expected a number or string, got boolean)"},
      {"PortNull", Doc({RuleX(R"("dst_ports": [null])")}),
       R"(rule #1 (id "x"): dst_ports[0]: expected a number or string, got null)"},
      {"PortList", Doc({RuleX(R"("dst_ports": [[1, 2]])")}),
       R"(rule #1 (id "x"): dst_ports[0]: expected a number or string, got list)"},
      {"PortObject", Doc({RuleX(R"("src_ports": [80, {}])")}),
       R"(rule #1 (id "x"): src_ports[1]: expected a number or string, got object)"},

      // proto.
      {"ProtoIcmp", Doc({RuleX(R"("proto": "icmp")")}), R"(rule #1 (id "x"): proto: "icmp" must be "tcp", "udp" or "any")"},
      {"ProtoEmpty", Doc({RuleX(R"("proto": "")")}), R"(rule #1 (id "x"): proto: "" must be "tcp", "udp" or "any")"},
      {"ProtoNumber", Doc({RuleX(R"("proto": 6)")}), R"(rule #1 (id "x"): proto: expected a string, got number)"},

      // Gateways.
      {"GatewayEmptyName", Doc({RuleX(R"("src_gateway": [""])")}),
       R"(rule #1 (id "x"): src_gateway[0]: "" is not a gateway name)"},
      {"GatewaySpace", Doc({RuleX(R"("dst_gateway": ["gw-a", "gw b"])")}),
       R"(rule #1 (id "x"): dst_gateway[1]: "gw b" is not a gateway name)"},
      {"GatewayTooLong", Doc({RuleX(R"("src_gateway": [")" + std::string(254, 'g') + R"("])")}),
       "rule #1 (id \"x\"): src_gateway[0]: \"" + std::string(254, 'g') + "\" is not a gateway name"},
      {"GatewayWrongType", Doc({RuleX(R"("src_gateway": [1])")}),
       R"(rule #1 (id "x"): src_gateway[0]: expected a string, got number)"},

      // Top level fields.
      {"DefaultAllow", R"({"default": "allow", "rules": [{"id": "x", "action": "deny"}]})",
       R"(default: "allow" must be "permit" or "deny")"},
      {"DefaultWrongType", R"({"default": false, "rules": [{"id": "x", "action": "deny"}]})",
       "default: expected a string, got boolean"},
      {"RulesMissing", R"({"name": "n"})", "rules: required"},
      {"RulesEmpty", R"({"rules": []})", "rules: must not be empty ("},
      {"RulesObject", R"({"rules": {}})", "rules: expected a list, got object"},
      {"NameNumber", R"({"name": 5, "rules": [{"id": "x", "action": "deny"}]})", "name: expected a string, got number"},
      {"DescriptionList", R"({"description": [], "rules": [{"id": "x", "action": "deny"}]})",
       "description: expected a string, got list"},
  };
  return v;
}

INSTANTIATE_TEST_SUITE_P(AllErrors, ParserErrorTest, ::testing::ValuesIn(ErrorCases()),
                         [](const ::testing::TestParamInfo<ErrorCase>& param_info) { return param_info.param.name; });

// ---------------------------------------------------------------------------
// JSON-level errors carry a position.

TEST(ParserJsonErrorTest, SyntaxErrorHasLineAndColumn) {
  const std::string json = "{\"rules\": [\n  {\"id\": \"x\", \"action\": \"permit\",}\n]}";
  std::vector<std::string> lines = ErrorLines(json);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], ContainsRegex("^test\\.json: line 2, column [0-9]+: invalid JSON: .+"));
}

TEST(ParserJsonErrorTest, TruncatedDocument) {
  EXPECT_THAT(ErrorText("{\"rules\": [\n{\"id\": \"x\""),
              ContainsRegex("test\\.json: line [0-9]+, column [0-9]+: invalid JSON: "));
  EXPECT_THAT(ErrorText(""), ContainsRegex("test\\.json: line 1, column [0-9]+: invalid JSON: "));
  EXPECT_THAT(ErrorText("{"), ContainsRegex("test\\.json: line 1, column [0-9]+: invalid JSON: "));
}

TEST(ParserJsonErrorTest, TrailingGarbage) {
  EXPECT_THAT(ErrorText(R"({"rules": [{"id": "x", "action": "deny"}]} x)"),
              ContainsRegex("test\\.json: line 1, column [0-9]+: invalid JSON: "));
}

// A NUL byte is not the end of the document: what follows it counts.
TEST(ParserJsonErrorTest, NulByteDoesNotEndTheDocument) {
  const std::string valid = R"({"rules": [{"id": "x", "action": "deny"}]})";
  EXPECT_THAT(ErrorText(valid + std::string("\0junk", 5)), HasSubstr("invalid JSON"));
  EXPECT_THAT(ErrorText(valid + std::string(1, '\0')), HasSubstr("invalid JSON"));
  EXPECT_THAT(ErrorText(std::string("\0", 1) + valid), HasSubstr("invalid JSON"));
}

TEST(ParserJsonErrorTest, NestingTooDeepIsAnError) {
  std::string deep = R"({"rules": [{"id": "x", "action": "deny", "comment": )" + std::string(200, '[') +
                     std::string(200, ']') + "}]}";
  std::vector<std::string> lines = ErrorLines(deep);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr("invalid JSON"));
  std::string very_deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_THAT(ErrorText(very_deep), HasSubstr("invalid JSON"));
}

TEST(ParserJsonErrorTest, ColumnPointsIntoTheLine) {
  // The bad token is the 'x' at column 11 (1-based) of line 3; whatever the
  // convention, the column must be near it, not an offset into the file.
  const std::string json = "{\n\"rules\":\n  [1, 2, x]}";
  std::vector<std::string> lines = ErrorLines(json);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], ContainsRegex("line 3, column (9|10|11|12):"));
}

// A duplicate key is an error in any object, reported in the context of the
// object that holds it (the rule, or the top level), like every other error.
TEST(ParserJsonErrorTest, DuplicateKeyInRule) {
  const std::string json =
      "{\"rules\": [\n"
      "  {\"id\": \"x\", \"action\": \"permit\",\n"
      "   \"dst\": [\"10.0.0.1\"], \"dst\": [\"10.0.0.2\"]}\n"
      "]}";
  EXPECT_THAT(ErrorText(json), HasSubstr("duplicate key \"dst\""));
  EXPECT_THAT(ErrorText(json), HasSubstr("test.json: rule #1 (id \"x\"): duplicate key \"dst\""));
}

TEST(ParserJsonErrorTest, DuplicateKeyAtTopLevel) {
  const std::string json =
      "{\"default\": \"deny\",\n"
      " \"rules\": [{\"id\": \"x\", \"action\": \"permit\"}],\n"
      " \"default\": \"permit\"}";
  EXPECT_THAT(ErrorText(json), HasSubstr("duplicate key \"default\""));
  EXPECT_THAT(ErrorText(json), HasSubstr("test.json: duplicate key \"default\""));
}

TEST(ParserJsonErrorTest, DuplicateKeySameValueIsStillAnError) {
  const std::string json = R"({"rules": [{"id": "x", "id": "x", "action": "permit"}]})";
  EXPECT_THAT(ErrorText(json), HasSubstr("duplicate key \"id\""));
  EXPECT_THAT(ErrorText(json), HasSubstr("test.json: rule #1 (id \"x\"): duplicate key \"id\""));
}

TEST(ParserJsonErrorTest, DuplicateKeysInSeveralRulesAreAllReported) {
  // Two rules each with a duplicate: both are reported.
  const std::string json =
      R"({"rules": [{"id": "a", "action": "permit", "src": ["10.0.0.1"], "src": ["10.0.0.2"]},)"
      R"( {"id": "b", "action": "deny", "proto": "tcp", "proto": "udp"}]})";
  EXPECT_THAT(ErrorText(json), HasSubstr("duplicate key \"src\""));
  EXPECT_THAT(ErrorText(json), HasSubstr("duplicate key \"proto\""));
}

// Text from the file is quoted with escapes, so that every error stays on
// its own line (found by policy_parser_fuzz: a key "a\nb" split the
// duplicate-key error in two).
TEST(ParserJsonErrorTest, QuotedTextIsEscaped) {
  struct Case {
    std::string json;
    std::string want;
  };
  const std::vector<Case> cases = {
      {R"({"rules": [{"id": "x", "action": "permit", "a\nb": 1}]})", R"(unknown key "a\nb")"},
      {R"({"rules": [{"id": "x", "action": "permit", "a\nb": 1, "a\nb": 2}]})", R"(duplicate key "a\nb")"},
      {R"({"rules": [{"id": "x", "action": "al\nlow"}]})", R"(action: "al\nlow" must be)"},
      {R"({"rules": [{"id": "a\"b", "action": "permit"}]})", R"(id: "a\"b" must be)"},
      {R"({"rules": [{"id": "x", "action": "permit", "src": ["1.2.3.4\r\n"]}]})", R"(src[0]: "1.2.3.4\r\n" is not)"},
      {R"({"rules": [{"id": "x", "action": "permit", "dst_gateway": ["\u001b[31m"]}]})", R"(dst_gateway[0]: "\u001b[31m")"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.json);
    ErrorLines(c.json);  // checks the source prefix of every line
    std::string text = ErrorText(c.json);
    for (char ch : text) EXPECT_FALSE(ch != '\n' && static_cast<unsigned char>(ch) < 0x20) << text;
    EXPECT_THAT(text, HasSubstr(c.want));
  }
}

// ---------------------------------------------------------------------------
// Every error in the file, not just the first.

TEST(ParserMultiErrorTest, ReportsEveryError) {
  const std::string json = R"({
  "name": 5,
  "default": "allow",
  "extra": true,
  "rules": [
    {"id": "a", "action": "permit", "dst_ports": [70000, "90-80"]},
    {"id": "b", "action": "allow", "src": ["10.0.0.300"], "proto": "icmp"},
    {"id": "a", "action": "deny"},
    "junk",
    {"action": "deny", "src_gateway": [""]}
  ]
})";
  std::vector<std::string> lines = ErrorLines(json);
  const std::vector<std::string> want = {
      R"(name: expected a string, got number)",
      R"(default: "allow" must be "permit" or "deny")",
      R"(unknown key "extra")",
      R"(rule #1 (id "a"): dst_ports[0]: 70000 is not a port (0-65535))",
      R"(rule #1 (id "a"): dst_ports[1]: "90-80" is a range with lo > hi)",
      R"(rule #2 (id "b"): action: "allow" must be "permit" or "deny")",
      R"(rule #2 (id "b"): src[0]: "10.0.0.300" is not a CIDR)",
      R"(rule #2 (id "b"): proto: "icmp" must be "tcp", "udp" or "any")",
      R"(rule #3 (id "a"): id: duplicate of rule #1)",
      R"(rule #4: expected an object, got string)",
      R"(rule #5: id: required)",
      R"(rule #5: src_gateway[0]: "" is not a gateway name)",
  };
  std::string text = ErrorText(json);
  for (const std::string& w : want) EXPECT_THAT(text, HasSubstr(std::string(kSource) + ": " + w));
  EXPECT_EQ(lines.size(), want.size()) << text;
}

TEST(ParserMultiErrorTest, InvalidIdDoesNotHideOtherErrors) {
  std::vector<std::string> lines = ErrorLines(Doc({R"({"id": "bad id!", "action": "allow"})"}));
  std::string text = ErrorText(Doc({R"({"id": "bad id!", "action": "allow"})"}));
  EXPECT_THAT(text, HasSubstr(R"(test.json: rule #1: id: "bad id!" must be 1-64 characters of A-Za-z0-9_.-)"));
  EXPECT_THAT(text, HasSubstr(R"(test.json: rule #1: action: "allow" must be "permit" or "deny")"));
  EXPECT_EQ(lines.size(), 2u) << text;
}

TEST(ParserMultiErrorTest, SourceIsUsedVerbatim) {
  absl::StatusOr<Policy> p = ParsePolicy("[]", "/etc/braid/policy.json");
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(std::string(p.status().message()),
              HasSubstr("/etc/braid/policy.json: expected a JSON object at the top level, got list"));
}

// ---------------------------------------------------------------------------
// Valid documents.

constexpr char kDbReplication[] = R"({
  "name": "db-replication",
  "default": "deny",
  "rules": [
    {"id": "no-ssh", "action": "deny", "proto": "tcp", "dst_ports": [22]},
    {"id": "a-to-b-pg", "action": "permit", "proto": "tcp",
     "src": ["10.1.0.5/32"], "dst": ["10.2.0.9"], "dst_ports": [5432],
     "src_gateway": ["gw-onprem"], "dst_gateway": ["gw-cloud"],
     "comment": "only Host A may reach Host B's PostgreSQL"}
  ]
})";

TEST(ParserValidTest, DbReplicationSample) {
  Policy p = MustParse(kDbReplication);
  EXPECT_EQ(p.name, "db-replication");
  EXPECT_EQ(p.description, "");
  EXPECT_EQ(p.default_action, Action::kDeny);
  ASSERT_EQ(p.rules.size(), 2u);

  const Rule& r0 = p.rules[0];
  EXPECT_EQ(r0.id, "no-ssh");
  EXPECT_EQ(r0.action, Action::kDeny);
  EXPECT_EQ(r0.proto, ProtoMatch::kTcp);
  EXPECT_FALSE(r0.src.has_value());
  EXPECT_FALSE(r0.dst.has_value());
  EXPECT_FALSE(r0.src_ports.has_value());
  ASSERT_TRUE(r0.dst_ports.has_value());
  EXPECT_EQ(*r0.dst_ports, (std::vector<PortRange>{{22, 22}}));
  EXPECT_FALSE(r0.src_gateway.has_value());
  EXPECT_FALSE(r0.dst_gateway.has_value());
  EXPECT_EQ(r0.comment, "");

  const Rule& r1 = p.rules[1];
  EXPECT_EQ(r1.id, "a-to-b-pg");
  EXPECT_EQ(r1.action, Action::kPermit);
  EXPECT_EQ(r1.proto, ProtoMatch::kTcp);
  ASSERT_TRUE(r1.src.has_value());
  EXPECT_EQ(*r1.src, (std::vector<Cidr>{C("10.1.0.5/32")}));
  ASSERT_TRUE(r1.dst.has_value());
  ASSERT_EQ(r1.dst->size(), 1u);
  EXPECT_EQ((*r1.dst)[0].address(), IpAddress::V4(0x0a020009));
  EXPECT_EQ((*r1.dst)[0].prefix_len(), 32);
  EXPECT_EQ(*r1.dst_ports, (std::vector<PortRange>{{5432, 5432}}));
  EXPECT_EQ(*r1.src_gateway, (std::vector<std::string>{"gw-onprem"}));
  EXPECT_EQ(*r1.dst_gateway, (std::vector<std::string>{"gw-cloud"}));
  EXPECT_EQ(r1.comment, "only Host A may reach Host B's PostgreSQL");
}

TEST(ParserValidTest, DefaultIsDenyWhenAbsent) {
  Policy p = MustParse(R"({"rules": [{"id": "x", "action": "permit"}]})");
  EXPECT_EQ(p.default_action, Action::kDeny);
  EXPECT_EQ(p.name, "");
  EXPECT_EQ(MustParse(R"({"default": "permit", "rules": [{"id": "x", "action": "deny"}]})").default_action,
            Action::kPermit);
  EXPECT_EQ(MustParse(R"({"default": "deny", "rules": [{"id": "x", "action": "deny"}]})").default_action,
            Action::kDeny);
}

TEST(ParserValidTest, MinimalRuleHasEveryFieldAbsent) {
  Policy p = MustParse(R"({"rules": [{"id": "x", "action": "permit"}]})");
  ASSERT_EQ(p.rules.size(), 1u);
  Rule want;
  want.id = "x";
  want.action = Action::kPermit;
  EXPECT_TRUE(p.rules[0] == want);
}

TEST(ParserValidTest, NameAndDescription) {
  Policy p = MustParse(
      R"({"name": "n", "description": "multi\nline \u00e9", "rules": [{"id": "x", "action": "deny"}]})");
  EXPECT_EQ(p.name, "n");
  EXPECT_EQ(p.description, "multi\nline \xc3\xa9");
}

TEST(ParserValidTest, BareAddressesAreHostRoutes) {
  Policy p = MustParse(Doc({RuleX(R"("src": ["10.0.0.1", "2001:db8::1"], "dst": ["::", "0.0.0.0/0", "::/0"])")}));
  const Rule& r = p.rules[0];
  ASSERT_EQ(r.src->size(), 2u);
  EXPECT_EQ((*r.src)[0].prefix_len(), 32);
  EXPECT_EQ((*r.src)[0].family(), AddressFamily::kV4);
  EXPECT_EQ((*r.src)[1].prefix_len(), 128);
  EXPECT_EQ((*r.src)[1].family(), AddressFamily::kV6);
  ASSERT_EQ(r.dst->size(), 3u);
  EXPECT_EQ((*r.dst)[0].prefix_len(), 128);
  EXPECT_EQ((*r.dst)[1].prefix_len(), 0);
  EXPECT_EQ((*r.dst)[1].family(), AddressFamily::kV4);
  EXPECT_EQ((*r.dst)[2].prefix_len(), 0);
  EXPECT_EQ((*r.dst)[2].family(), AddressFamily::kV6);
}

TEST(ParserValidTest, CidrWithHostBitsIsAcceptedAsWritten) {
  Policy p = MustParse(Doc({RuleX(R"("src": ["10.0.0.5/24"], "dst": ["2001:db8::1/64"])")}));
  EXPECT_EQ((*p.rules[0].src)[0], C("10.0.0.5/24"));
  EXPECT_TRUE((*p.rules[0].src)[0].has_host_bits());
  EXPECT_EQ((*p.rules[0].dst)[0], C("2001:db8::1/64"));
}

TEST(ParserValidTest, PortsAndRanges) {
  Policy p = MustParse(Doc({RuleX(R"("src_ports": [0, 65535, "1024-65535"], "dst_ports": ["0-0", "5-5", 80, "8000-8080"])")}));
  const Rule& r = p.rules[0];
  EXPECT_EQ(*r.src_ports, (std::vector<PortRange>{{0, 0}, {65535, 65535}, {1024, 65535}}));
  EXPECT_EQ(*r.dst_ports, (std::vector<PortRange>{{0, 0}, {5, 5}, {80, 80}, {8000, 8080}}));
  EXPECT_TRUE(PortRange({8000, 8080}).Contains(8000));
  EXPECT_TRUE(PortRange({8000, 8080}).Contains(8080));
  EXPECT_FALSE(PortRange({8000, 8080}).Contains(8081));
  EXPECT_FALSE(PortRange({8000, 8080}).Contains(7999));
  Policy whole = MustParse(Doc({RuleX(R"("dst_ports": ["0-65535"])")}));
  EXPECT_EQ(*whole.rules[0].dst_ports, (std::vector<PortRange>{{0, 65535}}));
}

TEST(ParserValidTest, Protocols) {
  Policy p = MustParse(Doc({R"({"id": "t", "action": "permit", "proto": "tcp"})",
                            R"({"id": "u", "action": "permit", "proto": "udp"})",
                            R"({"id": "a", "action": "permit", "proto": "any"})",
                            R"({"id": "n", "action": "permit"})"}));
  EXPECT_EQ(p.rules[0].proto, ProtoMatch::kTcp);
  EXPECT_EQ(p.rules[1].proto, ProtoMatch::kUdp);
  EXPECT_EQ(p.rules[2].proto, ProtoMatch::kAny);
  EXPECT_EQ(p.rules[3].proto, ProtoMatch::kAny);
}

TEST(ParserValidTest, IdAndGatewayLimits) {
  const std::string id64(64, 'z');
  const std::string gw253(253, 'g');
  Policy p = MustParse(Doc({R"({"id": ")" + id64 + R"(", "action": "permit"})",
                            R"({"id": "Az09_.-", "action": "deny", "src_gateway": [")" + gw253 +
                                R"(", "a", "gw_1.example-x"], "dst_gateway": ["B"]})"}));
  EXPECT_EQ(p.rules[0].id, id64);
  EXPECT_EQ(p.rules[1].id, "Az09_.-");
  EXPECT_EQ(*p.rules[1].src_gateway, (std::vector<std::string>{gw253, "a", "gw_1.example-x"}));
  EXPECT_EQ(*p.rules[1].dst_gateway, (std::vector<std::string>{"B"}));
}

TEST(ParserValidTest, RuleOrderIsKept) {
  std::vector<std::string> rules;
  for (int i = 0; i < 50; ++i) rules.push_back(R"({"id": "r)" + std::to_string(i) + R"(", "action": "deny"})");
  Policy p = MustParse(Doc(rules));
  ASSERT_EQ(p.rules.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(p.rules[i].id, "r" + std::to_string(i));
}

// ---------------------------------------------------------------------------
// PolicyToJson round trip.

TEST(PolicyToJsonTest, RoundTrips) {
  const std::vector<std::string> docs = {
      kDbReplication,
      R"({"rules": [{"id": "x", "action": "permit"}]})",
      R"({"name": "all", "description": "every field \"quoted\" \\ and \u00e9", "default": "permit", "rules": [
        {"id": "r1", "action": "deny", "proto": "udp", "src": ["10.0.0.5/24", "2001:db8::1/64", "::/0", "0.0.0.0/0"],
         "dst": ["192.168.1.1", "::ffff:10.0.0.1"], "src_ports": [0, "1-2", 65535, "0-65535"],
         "dst_ports": ["8000-8080", 443], "src_gateway": ["a", "b.c"], "dst_gateway": ["d_e-f"],
         "comment": "tab\there, newline\nthere"},
        {"id": "r2", "action": "permit", "proto": "any"},
        {"id": "r3", "action": "permit", "proto": "tcp", "dst_ports": ["5-5"]}]})",
  };
  for (const std::string& doc : docs) {
    Policy p = MustParse(doc);
    for (int indent : {2, 0, 4}) {
      std::string json = PolicyToJson(p, indent);
      absl::StatusOr<Policy> back = ParsePolicy(json, "roundtrip");
      ASSERT_TRUE(back.ok()) << back.status() << "\n" << json;
      ExpectSamePolicy(*back, p);
      // Canonical: rendering the re-parsed policy gives the same text.
      EXPECT_EQ(PolicyToJson(*back, indent), json);
    }
  }
}

TEST(PolicyToJsonTest, KeepsCidrsAsWritten) {
  Policy p = MustParse(Doc({RuleX(R"("src": ["10.0.0.5/24"])")}));
  EXPECT_THAT(PolicyToJson(p), HasSubstr("10.0.0.5/24"));
}

// ---------------------------------------------------------------------------
// LoadPolicyFile.

class LoadPolicyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "braid_policy_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string Write(const std::string& name, const std::string& text) {
    std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  std::filesystem::path dir_;
};

TEST_F(LoadPolicyFileTest, LoadsValidFile) {
  absl::StatusOr<Policy> p = LoadPolicyFile(Write("p.json", kDbReplication));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->name, "db-replication");
  EXPECT_EQ(p->rules.size(), 2u);
}

TEST_F(LoadPolicyFileTest, ErrorsNameThePath) {
  std::string path = Write("bad.json", Doc({RuleX(R"("proto": "icmp")")}));
  absl::StatusOr<Policy> p = LoadPolicyFile(path);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(p.status().message()),
              HasSubstr(path + R"(: rule #1 (id "x"): proto: "icmp" must be "tcp", "udp" or "any")"));
}

TEST_F(LoadPolicyFileTest, MissingFile) {
  absl::StatusOr<Policy> p = LoadPolicyFile((dir_ / "nope.json").string());
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kNotFound) << p.status();
}

TEST_F(LoadPolicyFileTest, DirectoryIsNotAPolicy) {
  absl::StatusOr<Policy> p = LoadPolicyFile(dir_.string());
  EXPECT_FALSE(p.ok());
}

}  // namespace
}  // namespace braid
