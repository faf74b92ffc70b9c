#!/usr/bin/env bash
# The example gateway configs that the Debian package ships
# (packaging/examples/) pass `braid-proxy --check`, set up exactly as
# docs/operations.md tells an operator to: a PKI from `braidctl pki init` and
# `issue` on a separate machine, each gateway given ca.crt, its own
# certificate and key in pki/, and the sample policy policies/baseline.json
# as policy.json beside its config. Then the policy admits the flow the
# example service carries (the standby reaching the primary) on both
# gateways. A control case proves the check can fail: a gateway without its
# key is refused.
#
# The controller's example config passes `braid-controller --check` the
# same way, with the CA and its own identity in pki/.
#
#   examples_test.sh BRAID_PROXY BRAIDCTL SOURCE_DIR BRAID_CONTROLLER
set -euo pipefail
proxy=$1 ctl=$2 src=$3 controller=$4
examples=$src/packaging/examples

work=$(mktemp -d "${TMPDIR:-/tmp}/braid-examples.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# The CA lives apart from the gateways; each gateway gets a copy of what it
# needs, never ca.key.
"$ctl" pki init "$work/ca" >/dev/null
for gw in gw-dc1 gw-cloud; do
  "$ctl" pki issue "$work/ca" "$gw" >/dev/null
  etc=$work/$gw/etc/braid
  mkdir -p "$etc/pki"
  cp "$examples/$gw.json" "$etc/gateway.json"
  cp "$src/policies/baseline.json" "$etc/policy.json"
  cp "$work/ca/ca.crt" "$work/ca/$gw.crt" "$work/ca/$gw.key" "$etc/pki/"
done

for gw in gw-dc1 gw-cloud; do
  config=$work/$gw/etc/braid/gateway.json
  out=$("$proxy" --config "$config" --check 2>&1) || fail "$gw: --check exited $?: $out"
  [[ $out == "$config: configuration, policy and identity are valid" ]] || fail "$gw: --check said: $out"
  echo "ok: $gw.json passes --check"
done

# The example service's flow: the standby (10.20.1.20 in the sample policy)
# connects to gw-cloud's service, which carries it to gw-dc1 and on to the
# service's target. Both gateways evaluate the same key.
target=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["services"][0]["target"])' \
  "$examples/gw-cloud.json")
for gw in gw-cloud gw-dc1; do
  decision=$("$ctl" policy eval "$work/$gw/etc/braid/policy.json" --src 10.20.1.20 \
    --dst "${target%:*}" --dst-port "${target##*:}" --src-gateway gw-cloud --dst-gateway gw-dc1)
  [[ $decision == '{"action":"permit","rule":"standby-to-primary"}' ]] \
    || fail "$gw: the standby's flow to $target: $decision"
  echo "ok: $gw's policy permits the standby's flow to $target (rule standby-to-primary)"
done

"$ctl" pki issue "$work/ca" controller >/dev/null
etc=$work/controller/etc/braid
mkdir -p "$etc/pki"
cp "$examples/controller.json" "$etc/controller.json"
cp "$work/ca/ca.crt" "$work/ca/ca.key" "$work/ca/controller.crt" "$work/ca/controller.key" "$etc/pki/"
out=$("$controller" --config "$etc/controller.json" --check 2>&1) || fail "controller.json: --check exited $?: $out"
[[ $out == "$etc/controller.json: configuration, CA and identity are valid" ]] || fail "controller.json: --check said: $out"
echo "ok: controller.json passes --check"

# Control: without its key, the same config is refused, naming the key.
rm "$work/gw-dc1/etc/braid/pki/gw-dc1.key"
if out=$("$proxy" --config "$work/gw-dc1/etc/braid/gateway.json" --check 2>&1); then
  fail "gw-dc1 without its key passed --check: $out"
fi
[[ $out == *"identity.key: cannot read"* ]] || fail "gw-dc1 without its key: unexpected message: $out"
echo "ok: a gateway without its key fails --check"
