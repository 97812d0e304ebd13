#!/bin/sh
# Validates every PDU that xgw-replay decodes from the captures against the
# schemas: each <pdu xmlns="urn:xgw:1"> against transforms/envelope.xsd,
# which imports the four protocol schemas and checks the protocol element
# strictly.  One xmllint run per protocol folder (all its captures wrapped
# in one document), so the whole corpus takes a few seconds.
#
#   schema.sh REPLAY PCAPS SOURCE_DIR
#
# Fails on the first invalid element (naming the capture and showing the
# element), when a protocol's schema is missing, and when a folder yields
# no element at all.
set -u
if [ $# -ne 3 ]; then
	echo "usage: schema.sh REPLAY PCAPS SOURCE_DIR" >&2
	exit 2
fi
replay=$1 pcaps=$2 src=$3
xsd=$src/transforms
protos="modbus coap mqtt http"

command -v xmllint >/dev/null 2>&1 || {
	echo "schema: xmllint not found (Debian package libxml2-utils)" >&2
	exit 1
}
if [ ! -f "$xsd/envelope.xsd" ]; then
	echo "schema: $xsd/envelope.xsd is missing" >&2
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The wrapper: <pdus xmlns="urn:xgw:schema-test"> holding any number of
# <pdu>.  schemaLocation is a URI: spaces and percent signs are escaped.
loc=$(printf '%s' "$xsd/envelope.xsd" | sed 's/%/%25/g; s/ /%20/g')
cat >"$tmp/wrap.xsd" <<EOF
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:x="urn:xgw:1"
    targetNamespace="urn:xgw:schema-test" elementFormDefault="qualified">
  <xs:import namespace="urn:xgw:1" schemaLocation="$loc"/>
  <xs:element name="pdus">
    <xs:complexType>
      <xs:sequence>
        <xs:element ref="x:pdu" minOccurs="0" maxOccurs="unbounded"/>
      </xs:sequence>
    </xs:complexType>
  </xs:element>
</xs:schema>
EOF

status=0
: >"$tmp/names.all"
for proto in $protos; do
	dir=$pcaps/$proto
	args=$src/tests/corpus/$proto.args
	if [ ! -d "$dir" ]; then
		echo "schema: $dir is missing: the captures live in ../shared/pcaps beside the source tree (meson -Dpcaps=DIR)" >&2
		status=1
		continue
	fi
	doc=$tmp/$proto.xml
	idx=$tmp/$proto.idx
	echo '<pdus xmlns="urn:xgw:schema-test">' >"$doc"
	echo '(wrapper)' >"$idx"
	ncap=0
	for f in "$dir"/*.pcap "$dir"/*.pcapng; do
		[ -e "$f" ] || continue
		base=$(basename "$f")
		extra=""
		[ -f "$args" ] && extra=$(awk -F'\t' -v f="$base" '$1 == f { print $2 }' "$args")
		# shellcheck disable=SC2086
		"$replay" --xml $extra "$f" >"$tmp/out" 2>/dev/null
		rc=$?
		if [ $rc -ne 0 ]; then
			echo "schema: $proto/$base: xgw-replay exited $rc" >&2
			status=1
		fi
		grep '^<pdu ' "$tmp/out" >"$tmp/pdus"
		cat "$tmp/pdus" >>"$doc"
		n=$(wc -l <"$tmp/pdus")
		# one line of the index per <pdu>: where it came from
		awk -v f="$base" '{ print f ", pdu " NR }' "$tmp/pdus" >>"$idx"
		ncap=$((ncap + 1))
	done
	echo '</pdus>' >>"$doc"

	# the protocol element of each <pdu>: the name of its first child
	sed -n 's/^<pdu[^>]*><\([A-Za-z][A-Za-z0-9]*\)[ />].*/\1/p' "$doc" >"$tmp/names"
	total=$(sed -n '2,$p' "$doc" | grep -c '^<pdu ')
	if [ "$total" -eq 0 ]; then
		echo "schema: $proto: no PDU decoded from the $ncap captures in $dir" >&2
		status=1
		continue
	fi

	# every protocol element in this folder needs its schema
	missing=""
	# element names are single words
	# shellcheck disable=SC2013
	for el in $(sort -u "$tmp/names"); do
		if [ ! -f "$xsd/$el.xsd" ]; then
			n=$(grep -cx "$el" "$tmp/names")
			echo "schema: $proto: $xsd/$el.xsd does not exist, so $n <$el> elements cannot be validated" >&2
			missing=1
		fi
	done
	if [ -n "$missing" ]; then
		status=1
		continue
	fi

	xmllint --noout --huge --schema "$tmp/wrap.xsd" "$doc" \
	    >"$tmp/lint" 2>&1
	rc=$?
	if [ $rc -ne 0 ]; then
		line=$(grep -m1 -o "^$doc:[0-9]*:" "$tmp/lint" | sed 's/.*:\([0-9]*\):$/\1/')
		echo "schema: $proto: invalid element (xmllint exit $rc):" >&2
		if [ -n "$line" ]; then
			where=$(sed -n "${line}p" "$idx")
			echo "  capture: $proto/$where" >&2
			grep -m1 "^$doc:$line:" "$tmp/lint" | sed "s|^$doc:|  line |" >&2
			echo "  element: $(sed -n "${line}p" "$doc" | cut -c1-600)" >&2
		else
			grep -v ' validates$' "$tmp/lint" | head -5 | sed 's/^/  /' >&2
		fi
		status=1
		continue
	fi
	cat "$tmp/names" >>"$tmp/names.all"
	echo "schema: $proto: $total <pdu> from $ncap captures valid against envelope.xsd" \
	    "($(sort "$tmp/names" | uniq -c | awk '{ printf "%s%s <%s>", (NR > 1 ? ", " : ""), $1, $2 }'))"
done

echo "schema: elements validated per protocol:" \
    "$(sort "$tmp/names.all" | uniq -c | awk '{ printf "%s%s=%s", (NR > 1 ? " " : ""), $2, $1 }')"
[ $status -eq 0 ] || echo "schema: FAILED" >&2
exit $status
