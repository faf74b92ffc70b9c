#!/usr/bin/env python3
"""Keeps policies/policy.schema.json, the sample policies, docs/policy.md and
braid's own policy parser telling the same story.

Without arguments it checks the schema alone: the schema is valid draft
2020-12, every sample in policies/ and every policy in docs/policy.md passes
it (except the documented bad example), a table of invalid documents fails
it, and its CIDR patterns accept exactly what inet_pton accepts (which is
what braid's parser uses).

With --braidctl PATH it also runs the real tool: every document the schema
rejects must fail `braidctl policy check` too, every edge case the schema
accepts must pass it, and the worked examples of docs/policy.md must give the
decisions the document says they give.

Needs python3-jsonschema (installed by scripts/bootstrap).
"""

import argparse
import copy
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import unittest

try:
    import jsonschema
except ImportError:
    sys.stderr.write("validate_samples.py: the jsonschema module is missing; "
                     "run scripts/bootstrap (Debian package python3-jsonschema)\n")
    sys.exit(1)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
POLICIES = os.path.join(ROOT, "policies")
SCHEMA_PATH = os.path.join(POLICIES, "policy.schema.json")
DOC_PATH = os.path.join(ROOT, "docs", "policy.md")

BRAIDCTL = None  # set from --braidctl


def LoadSchema():
    with open(SCHEMA_PATH, encoding="utf-8") as f:
        return json.load(f)


def SamplePaths():
    return sorted(
        os.path.join(POLICIES, n) for n in os.listdir(POLICIES)
        if n.endswith(".json") and n != "policy.schema.json")


def Base():
    """A small valid policy that the invalid cases below each break once."""
    return {
        "name": "t",
        "default": "deny",
        "rules": [
            {"id": "r1", "action": "permit", "proto": "tcp",
             "src": ["10.1.0.5/32"], "dst": ["10.2.0.9"], "dst_ports": [5432],
             "src_gateway": ["gw-a"], "dst_gateway": ["gw-b"]},
        ],
    }


def WithRule(**fields):
    doc = Base()
    rule = doc["rules"][0]
    for key, value in fields.items():
        if value is _DELETE:
            rule.pop(key, None)
        else:
            rule[key] = value
    return doc


def WithTop(**fields):
    doc = Base()
    for key, value in fields.items():
        if value is _DELETE:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


_DELETE = object()

# (name, document): each must be rejected by the schema and by braid.
INVALID = [
    ("top-level unknown key", WithTop(version=1)),
    ("top-level $schema key", WithTop(**{"$schema": "policy.schema.json"})),
    ("rules missing", WithTop(rules=_DELETE)),
    ("rules empty", WithTop(rules=[])),
    ("rules not a list", WithTop(rules={"id": "r1", "action": "deny"})),
    ("default not an action", WithTop(default="drop")),
    ("default upper case", WithTop(default="Deny")),
    ("name not a string", WithTop(name=7)),
    ("description null", WithTop(description=None)),
    ("rule unknown key", WithRule(dest=["10.0.0.0/8"])),
    ("rule key wrong case", WithRule(Action="deny")),
    ("rule not an object", WithTop(rules=["r1"])),
    ("id missing", WithRule(id=_DELETE)),
    ("action missing", WithRule(action=_DELETE)),
    ("id empty", WithRule(id="")),
    ("id with a space", WithRule(id="a b")),
    ("id with a slash", WithRule(id="a/b")),
    ("id non-ascii", WithRule(id="r\u00e9gle")),
    ("id 65 characters", WithRule(id="a" * 65)),
    ("id a number", WithRule(id=1)),
    ("action allow", WithRule(action="allow")),
    ("proto icmp", WithRule(proto="icmp")),
    ("proto upper case", WithRule(proto="TCP")),
    ("proto a number", WithRule(proto=6)),
    ("src empty", WithRule(src=[])),
    ("src a string", WithRule(src="10.1.0.5/32")),
    ("src null", WithRule(src=None)),
    ("dst octet 300", WithRule(dst=["10.0.0.300/24"])),
    ("dst /33", WithRule(dst=["10.0.0.0/33"])),
    ("dst /08", WithRule(dst=["10.0.0.0/8", "10.0.0.0/08"])),
    ("dst /-1", WithRule(dst=["10.0.0.0/-1"])),
    ("dst empty length", WithRule(dst=["10.0.0.0/"])),
    ("dst three octets", WithRule(dst=["10.0.0/24"])),
    ("dst leading zero octet", WithRule(dst=["10.01.0.0/16"])),
    ("dst v6 /129", WithRule(dst=["2001:db8::/129"])),
    ("dst v6 zone", WithRule(dst=["fe80::1%eth0"])),
    ("dst v6 brackets", WithRule(dst=["[2001:db8::1]"])),
    ("dst v6 two ::", WithRule(dst=["2001::db8::1"])),
    ("dst empty string", WithRule(dst=[""])),
    ("dst a hostname", WithRule(dst=["db.example.net"])),
    ("dst a number", WithRule(dst=[167772160])),
    ("dst_ports empty", WithRule(dst_ports=[])),
    ("dst_ports 65536", WithRule(dst_ports=[65536])),
    ("dst_ports -1", WithRule(dst_ports=[-1])),
    ("dst_ports 22.5", WithRule(dst_ports=[22.5])),
    ("dst_ports string without range", WithRule(dst_ports=["80"])),
    ("dst_ports range with spaces", WithRule(dst_ports=["80 - 90"])),
    ("dst_ports hex", WithRule(dst_ports=["0x50-0x60"])),
    ("dst_ports range end 65536", WithRule(dst_ports=["1-65536"])),
    ("dst_ports range leading zero", WithRule(dst_ports=["080-90"])),
    ("dst_ports open range", WithRule(dst_ports=["80-"])),
    ("dst_ports boolean", WithRule(dst_ports=[True])),
    ("dst_ports a bare integer", WithRule(dst_ports=22)),
    ("src_ports null element", WithRule(src_ports=[None])),
    ("src_gateway empty", WithRule(src_gateway=[])),
    ("src_gateway empty name", WithRule(src_gateway=[""])),
    ("src_gateway name with a space", WithRule(src_gateway=["gw onprem"])),
    ("dst_gateway name 254 characters", WithRule(dst_gateway=["g" * 254])),
    ("dst_gateway a string", WithRule(dst_gateway="gw-b")),
    ("comment not a string", WithRule(comment=["x"])),
]

# Valid documents at the edges of the format: the schema and braid accept them.
VALID = [
    ("minimal", {"rules": [{"id": "a", "action": "deny"}]}),
    ("default permit", WithTop(default="permit")),
    ("no default", WithTop(default=_DELETE)),
    ("id 64 characters of every class", WithRule(id=("Az09_.-" * 10)[:64])),
    ("proto any", WithRule(proto="any")),
    ("proto udp", WithRule(proto="udp")),
    ("host bits", WithRule(src=["10.1.0.5/24"])),
    ("/0 both families", WithRule(src=["0.0.0.0/0", "::/0"], dst=_DELETE)),
    ("bare v6", WithRule(dst=["2001:db8::9"])),
    ("v6 embedded v4", WithRule(dst=["::ffff:192.0.2.0/120"])),
    ("v6 upper case", WithRule(dst=["2001:DB8::/32"])),
    ("v6 /128", WithRule(dst=["::1/128"])),
    ("ports at the ends", WithRule(dst_ports=[0, 65535, "0-65535"])),
    ("range lo == hi", WithRule(src_ports=["1024-1024"])),
    ("gateway 253 characters", WithRule(dst_gateway=["g" * 253])),
    ("gateway with dots", WithRule(src_gateway=["gw1.eu-west.example.net", "GW_2"])),
    ("unicode comment", WithRule(comment="r\u00e8gle \u2192 ok")),
    ("empty name and description", WithTop(name="", description="")),
]

# Documents the schema accepts but braid must reject: what JSON Schema
# cannot say (docs/policy.md, "Validation").
SCHEMA_GAPS = [
    ("duplicate id", {"rules": [{"id": "a", "action": "deny"},
                                {"id": "a", "action": "permit"}]}),
    ("range lo > hi", WithRule(dst_ports=["90-80"])),
]


class SchemaTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.schema = LoadSchema()
        cls.validator = jsonschema.Draft202012Validator(cls.schema)

    def Errors(self, doc):
        return list(self.validator.iter_errors(doc))

    def test_schema_is_valid_draft_2020_12(self):
        jsonschema.Draft202012Validator.check_schema(self.schema)
        self.assertEqual(self.schema["$schema"],
                         "https://json-schema.org/draft/2020-12/schema")

    def test_every_object_is_closed_and_every_list_non_empty(self):
        def Walk(node, where):
            if isinstance(node, dict):
                if node.get("type") == "object":
                    self.assertIs(node.get("additionalProperties"), False, where)
                if node.get("type") == "array":
                    self.assertEqual(node.get("minItems"), 1, where)
                for k, v in node.items():
                    Walk(v, where + "/" + k)
            elif isinstance(node, list):
                for i, v in enumerate(node):
                    Walk(v, "%s/%d" % (where, i))
        Walk(self.schema, "#")

    def test_samples_are_valid(self):
        paths = SamplePaths()
        self.assertIn(os.path.join(POLICIES, "db-replication.json"), paths)
        self.assertGreaterEqual(len(paths), 4)
        for path in paths:
            with self.subTest(sample=os.path.basename(path)):
                with open(path, encoding="utf-8") as f:
                    doc = json.load(f)
                self.assertEqual(self.Errors(doc), [])

    def test_db_replication_is_the_issue_example(self):
        with open(os.path.join(POLICIES, "db-replication.json"), encoding="utf-8") as f:
            doc = json.load(f)
        self.assertEqual(doc, DocPolicies()[0])

    def test_policies_in_the_doc(self):
        policies = DocPolicies()
        self.assertGreaterEqual(len(policies), 4)
        for i, doc in enumerate(policies):
            with self.subTest(block=i):
                errors = self.Errors(doc)
                if doc.get("default") == "drop":  # the deliberate bad example
                    self.assertNotEqual(errors, [])
                else:
                    self.assertEqual(errors, [])

    def test_invalid_documents_are_rejected(self):
        for name, doc in INVALID:
            with self.subTest(case=name):
                self.assertNotEqual(self.Errors(doc), [], name)

    def test_edge_cases_are_accepted(self):
        for name, doc in VALID:
            with self.subTest(case=name):
                self.assertEqual(self.Errors(doc), [], name)

    def test_known_gaps_are_accepted_by_the_schema(self):
        # If one of these starts failing, the schema learned something new:
        # move the case to INVALID and update docs/policy.md.
        for name, doc in SCHEMA_GAPS:
            with self.subTest(case=name):
                self.assertEqual(self.Errors(doc), [], name)

    def test_cidr_patterns_agree_with_inet_pton(self):
        defs = self.schema["$defs"]
        v4 = re.compile(defs["ipv4Cidr"]["pattern"])
        v6 = re.compile(defs["ipv6Cidr"]["pattern"])

        def Pton(family, text):
            try:
                socket.inet_pton(family, text)
                return True
            except (OSError, ValueError):
                return False

        rng = random.Random(20240601)
        v4_parts = ["0", "00", "01", "1", "9", "10", "99", "100", "199", "249",
                    "255", "256", "300", "0255", "", "a", " 1"]
        v6_parts = ["", "0", "1", "ff", "FFFF", "abcd", "12345", "g", "0db8",
                    "1.2.3.4", "255.255.255.255", "1.2.3.256", "01.2.3.4"]
        mismatches = []
        for _ in range(40000):
            text = ".".join(rng.choice(v4_parts) for _ in range(rng.randint(1, 5)))
            if bool(v4.match(text)) != Pton(socket.AF_INET, text):
                mismatches.append(text)
            text = ":".join(rng.choice(v6_parts) for _ in range(rng.randint(1, 10)))
            if bool(v6.match(text)) != Pton(socket.AF_INET6, text):
                mismatches.append(text)
        self.assertEqual(mismatches[:10], [])
        for length in range(0, 140):
            self.assertEqual(bool(v4.match("10.0.0.0/%d" % length)), length <= 32)
            self.assertEqual(bool(v6.match("2001:db8::/%d" % length)), length <= 128)


def DocPolicies():
    """The JSON policies written in docs/policy.md, in order."""
    with open(DOC_PATH, encoding="utf-8") as f:
        text = f.read()
    blocks = re.findall(r"```json\n(.*?)```", text, re.S)
    return [json.loads(b) for b in blocks]


def RunBraidctl(*args, stdin=None):
    return subprocess.run([BRAIDCTL, "policy", *args], input=stdin, capture_output=True,
                          text=True, timeout=60)


@unittest.skipIf(os.environ.get("BRAID_NO_BRAIDCTL"), "braidctl checks disabled")
class BraidctlTest(unittest.TestCase):

    def setUp(self):
        if BRAIDCTL is None:
            self.skipTest("no --braidctl given")
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def Check(self, doc, name="p.json"):
        path = os.path.join(self.tmp.name, name)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f)
        return RunBraidctl("check", path), path

    def test_samples_pass_check(self):
        for path in SamplePaths():
            with self.subTest(sample=os.path.basename(path)):
                r = RunBraidctl("check", path)
                self.assertEqual(r.returncode, 0, r.stderr)

    def test_schema_rejects_imply_braid_rejects(self):
        for name, doc in INVALID + SCHEMA_GAPS:
            with self.subTest(case=name):
                r, path = self.Check(doc)
                self.assertEqual(r.returncode, 1, "%s: braidctl accepted it" % name)
                self.assertIn(path + ": ", r.stderr)

    def test_schema_accepts_imply_braid_accepts(self):
        for name, doc in VALID:
            with self.subTest(case=name):
                r, _ = self.Check(doc)
                self.assertEqual(r.returncode, 0, "%s: %s" % (name, r.stderr))

    def test_errors_name_rule_and_field(self):
        r, path = self.Check(WithRule(id="a-to-b-pg", dst=["10.0.0.300/24"]))
        self.assertEqual(r.returncode, 1)
        self.assertIn('%s: rule #1 (id "a-to-b-pg"): dst[0]: ' % path, r.stderr)

    def test_every_error_is_reported(self):
        doc = {"rules": [
            {"id": "a", "action": "permit", "dst": ["10.0.0.300/24"]},
            {"id": "b", "action": "maybe"},
            {"id": "c", "action": "deny", "dst_ports": ["9-1"], "bogus": 1},
        ]}
        r, _ = self.Check(doc)
        self.assertEqual(r.returncode, 1)
        lines = r.stderr.splitlines()
        for prefix, mentions in (('rule #1 (id "a"): dst[0]: ', "10.0.0.300/24"),
                                 ('rule #2 (id "b"): action: ', "maybe"),
                                 ('rule #3 (id "c"): dst_ports[0]: ', "9-1"),
                                 ('rule #3 (id "c"): ', "bogus")):
            self.assertTrue(any(prefix in l and mentions in l for l in lines),
                            "no line with %r and %r in:\n%s" % (prefix, mentions, r.stderr))
        self.assertEqual(len(lines), 4, r.stderr)

    def test_lint_example(self):
        # docs/policy.md, "Lint": one warning for each of rules #2 to #4.
        doc = next(d for d in DocPolicies() if d["rules"][0]["id"] == "web")
        _, path = self.Check(doc, "lint.json")
        r = RunBraidctl("lint", path)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # The first "rule #N" of a line is the rule warned about.
        warned = sorted(int(re.search(r"rule #(\d+)", line).group(1))
                        for line in r.stdout.splitlines() if "rule #" in line)
        self.assertEqual(warned, [2, 3, 4], r.stdout)
        r = RunBraidctl("lint", "--strict", path)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)

    def test_worked_examples(self):
        # docs/policy.md, "Worked examples", on db-replication.json.
        policy = os.path.join(POLICIES, "db-replication.json")
        a, b = "10.1.0.5", "10.2.0.9"
        gws = ["--src-gateway", "gw-onprem", "--dst-gateway", "gw-cloud"]
        cases = [
            (["--src", a, "--src-port", "40000", "--dst", b, "--dst-port", "5432"] + gws,
             {"action": "permit", "rule": "a-to-b-pg"}),
            (["--src", a, "--src-port", "40000", "--dst", b, "--dst-port", "22"] + gws,
             {"action": "deny", "rule": "no-ssh"}),
            (["--src", "10.1.0.6", "--dst", b, "--dst-port", "5432"] + gws,
             {"action": "deny", "rule": None}),
            (["--src", a, "--dst", b, "--dst-port", "5432", "--proto", "udp"] + gws,
             {"action": "deny", "rule": None}),
            (["--src", b, "--dst", a, "--dst-port", "5432",
              "--src-gateway", "gw-cloud", "--dst-gateway", "gw-onprem"],
             {"action": "deny", "rule": None}),
            (["--src", a, "--dst", b, "--dst-port", "5432",
              "--src-gateway", "gw-branch", "--dst-gateway", "gw-cloud"],
             {"action": "deny", "rule": None}),
            (["--src", a, "--dst", b, "--dst-port", "5432"],
             {"action": "deny", "rule": None}),
        ]
        for i, (args, want) in enumerate(cases, start=1):
            with self.subTest(example=i):
                r = RunBraidctl("eval", policy, *args)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(json.loads(r.stdout), want)

    def test_doc_examples_with_their_own_policies(self):
        docs = DocPolicies()
        order = next(d for d in docs if d["rules"][0]["id"] == "office-web")
        families = next(d for d in docs if d["rules"][0]["id"] == "block-lab")
        cases = [
            (order, ["--src", "192.0.2.66", "--dst", "198.51.100.1", "--dst-port", "443"],
             {"action": "permit", "rule": "office-web"}),
            (families, ["--src", "10.9.200.1", "--dst", "10.0.0.1", "--dst-port", "80"],
             {"action": "deny", "rule": "block-lab"}),
            (families, ["--src", "2001:db8:9::5", "--dst", "2001:db8::1", "--dst-port", "80"],
             {"action": "deny", "rule": "block-lab"}),
            (families, ["--src", "::ffff:10.9.200.1", "--dst", "2001:db8::1",
                        "--dst-port", "80"],
             {"action": "permit", "rule": None}),
        ]
        for i, (doc, args, want) in enumerate(cases):
            with self.subTest(case=i):
                _, path = self.Check(doc, "doc%d.json" % i)
                r = RunBraidctl("eval", path, *args)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(json.loads(r.stdout), want)

    def test_readme_example(self):
        r = RunBraidctl("eval", os.path.join(POLICIES, "multi-site.json"),
                        "--src", "10.10.20.7", "--dst", "10.30.20.12", "--dst-port", "9093",
                        "--src-gateway", "gw-dc1", "--dst-gateway", "gw-dc2")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout), {"action": "permit", "rule": "kafka-mirror"})

    def test_batch_example(self):
        lines = [
            {"src": "10.1.0.5", "src_port": 40000, "dst": "10.2.0.9", "dst_port": 5432,
             "proto": "tcp", "src_gateway": "gw-onprem", "dst_gateway": "gw-cloud"},
            {"src": "10.1.0.5", "dst": "10.2.0.9", "dst_port": 22},
            {"src": "10.1.0.5", "dst": "10.2.0.300", "dst_port": 22},
            {"src": "2001:db8::1", "dst": "2001:db8:2::9", "dst_port": 5432, "proto": "udp"},
        ]
        stdin = "".join(json.dumps(l) + "\n" for l in lines)
        r = RunBraidctl("eval", os.path.join(POLICIES, "db-replication.json"), "--batch",
                        stdin=stdin)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = [json.loads(l) for l in r.stdout.splitlines()]
        self.assertEqual(len(out), 4)
        self.assertEqual(out[0], {"action": "permit", "rule": "a-to-b-pg"})
        self.assertEqual(out[1], {"action": "deny", "rule": "no-ssh"})
        self.assertEqual(list(out[2]), ["error"])
        self.assertEqual(out[3], {"action": "deny", "rule": None})

    def test_samples_lint_clean(self):
        for path in SamplePaths():
            with self.subTest(sample=os.path.basename(path)):
                r = RunBraidctl("lint", "--strict", path)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


def main():
    global BRAIDCTL
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--braidctl", help="path to braidctl; also check against it")
    args, rest = parser.parse_known_args()
    if args.braidctl:
        BRAIDCTL = os.path.abspath(args.braidctl)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
