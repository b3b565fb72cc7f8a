#!/usr/bin/env bash
# One lock-churn run, executed INSIDE a benchmark network namespace:
#
#   ip netns exec NS churn_worker.sh METHOD TUPLES
#
# Locks every connection of TUPLES (lines "local lport peer pport"), then
# unlocks them all, the way METHOD does it, and prints "LOCK_S UNLOCK_S".
# Setup that a real tool pays once (a table, a chain, an attached program)
# and writing the input of a batch happen before the clock starts.
#
#   iptables           CRIU's iptables method: two rules per connection (INPUT
#                      and OUTPUT), one iptables process each; unlock with -D
#   nft-rule           one `nft add rule` process per rule, two per connection;
#                      unlock by handle (one `nft -a list` to learn the handles,
#                      then one `nft delete rule` process per rule)
#   nft-set            CRIU's nftables method: a set of
#                      ipv4_addr . inet_service . ipv4_addr . inet_service, two
#                      elements per connection, all added in one `nft -f`
#                      batch, all deleted in another
#   tcpferry-cli-one   one `tcpferry lock add` process per connection, one
#                      `tcpferry lock del` each
#   tcpferry-cli-bulk  `tcpferry lock add --file -` / `lock del --file -`
#
# Any failing command stops the run with a non-zero exit: a benchmark that
# did not do its work must not report a figure.
set -u

method=$1
tuples=$2
TF=${TF:?TF must name the tcpferry binary}
n=$(wc -l <"$tuples")
work=$(mktemp -d /tmp/tfb-churn.XXXXXX)
trap 'rm -rf "$work"' EXIT

fail() {
	echo "bench: churn $method, $n connections: $*" >&2
	exit 1
}

now() { echo "${EPOCHREALTIME/,/.}"; }

# ---- iptables (CRIU) --------------------------------------------------------------

iptables_setup() {
	iptables -V | grep -q nf_tables || fail "iptables is not the nf_tables backend ($(iptables -V))"
	# Create the filter table and its chains now, not inside the first lock.
	iptables -A INPUT -s 127.0.0.9 -j ACCEPT && iptables -D INPUT -s 127.0.0.9 -j ACCEPT &&
		iptables -A OUTPUT -s 127.0.0.9 -j ACCEPT && iptables -D OUTPUT -s 127.0.0.9 -j ACCEPT ||
		fail "cannot set up the filter table"
}

iptables_switch() { # -A or -D
	local op=$1 l lp p pp
	while read -r l lp p pp; do
		iptables "$op" INPUT -p tcp -s "$p" --sport "$pp" -d "$l" --dport "$lp" -j DROP ||
			fail "iptables $op INPUT for $p:$pp -> $l:$lp failed"
		iptables "$op" OUTPUT -p tcp -s "$l" --sport "$lp" -d "$p" --dport "$pp" -j DROP ||
			fail "iptables $op OUTPUT for $l:$lp -> $p:$pp failed"
	done <"$tuples"
}

iptables_count() { iptables -S | grep -c -- '-j DROP'; }

# ---- nftables, one process per rule -----------------------------------------------

nft_rule_setup() {
	nft -f - <<-EOF || fail "cannot create table ip tfbench"
		add table ip tfbench
		add chain ip tfbench input { type filter hook input priority 0; }
		add chain ip tfbench output { type filter hook output priority 0; }
	EOF
}

nft_rule_lock() {
	local l lp p pp
	while read -r l lp p pp; do
		nft add rule ip tfbench input ip saddr "$p" tcp sport "$pp" ip daddr "$l" tcp dport "$lp" drop ||
			fail "nft add rule (input) for $p:$pp -> $l:$lp failed"
		nft add rule ip tfbench output ip saddr "$l" tcp sport "$lp" ip daddr "$p" tcp dport "$pp" drop ||
			fail "nft add rule (output) for $l:$lp -> $p:$pp failed"
	done <"$tuples"
}

nft_rule_unlock() {
	local chain h
	nft -a list table ip tfbench >"$work/handles" || fail "nft -a list table failed"
	awk '$1 == "chain" { c = $2 } / drop # handle / { print c, $NF }' "$work/handles" >"$work/h"
	while read -r chain h; do
		nft delete rule ip tfbench "$chain" handle "$h" || fail "nft delete rule $chain handle $h failed"
	done <"$work/h"
}

nft_rule_count() { nft list table ip tfbench | grep -c ' drop$'; }

# ---- nftables set (CRIU) ----------------------------------------------------------

nft_set_setup() {
	nft -f - <<-EOF || fail "cannot create table ip tfbench with set conns"
		add table ip tfbench
		add set ip tfbench conns { type ipv4_addr . inet_service . ipv4_addr . inet_service; }
		add chain ip tfbench input { type filter hook input priority 0; }
		add chain ip tfbench output { type filter hook output priority 0; }
		add rule ip tfbench input ip saddr . tcp sport . ip daddr . tcp dport @conns drop
		add rule ip tfbench output ip saddr . tcp sport . ip daddr . tcp dport @conns drop
	EOF
	awk '{ printf "add element ip tfbench conns { %s . %s . %s . %s }\n", $3, $4, $1, $2
	       printf "add element ip tfbench conns { %s . %s . %s . %s }\n", $1, $2, $3, $4 }' \
		"$tuples" >"$work/add.nft"
	sed 's/^add element/delete element/' "$work/add.nft" >"$work/del.nft"
}

nft_set_lock() { nft -f "$work/add.nft" || fail "nft -f (add elements) failed"; }
nft_set_unlock() { nft -f "$work/del.nft" || fail "nft -f (delete elements) failed"; }
nft_set_count() { # elements have three " . " each; skip the set's type line
	nft list set ip tfbench conns | sed -n '/elements = /,$p' | grep -o ' \. ' | wc -l | awk '{ print $1 / 3 }'
}

# ---- tcpferry CLI ------------------------------------------------------------------

tcpferry_setup() {
	local max=()
	# a veth pair: always there (dummy is a module this kernel may lack)
	ip link add tfbd0 type veth peer name tfbd1 && ip link set tfbd0 up && ip link set tfbd1 up ||
		fail "cannot create a veth pair"
	# The default table holds 65,536 locks; larger runs need a bigger one.
	if [ "$n" -gt 60000 ]; then
		"$TF" attach --help 2>&1 | grep -q -- --max-locks ||
			fail "tcpferry attach has no --max-locks; cannot hold $n locks"
		max=(--max-locks $((n + 1024)))
	fi
	"$TF" attach tfbd0 --tc "${max[@]}" >/dev/null || fail "tcpferry attach tfbd0 --tc failed"
	awk '{ printf "%s:%s %s:%s\n", $1, $2, $3, $4 }' "$tuples" >"$work/locks"
}

tcpferry_one() { # add or del
	local op=$1 l p
	while read -r l p; do
		"$TF" lock "$op" "$l" "$p" >/dev/null || fail "tcpferry lock $op $l $p failed"
	done <"$work/locks"
}

tcpferry_count() { "$TF" -j status | grep -o '"locks":[0-9]*' | cut -d: -f2; }

tcpferry_bulk() { # add or del
	"$TF" lock "$1" --file - <"$work/locks" >/dev/null || fail "tcpferry lock $1 --file - failed"
}

# ---- one run ------------------------------------------------------------------------

case $method in
iptables)
	setup=iptables_setup lock="iptables_switch -A" unlock="iptables_switch -D" count=iptables_count ;;
nft-rule)
	setup=nft_rule_setup lock=nft_rule_lock unlock=nft_rule_unlock count=nft_rule_count ;;
nft-set)
	setup=nft_set_setup lock=nft_set_lock unlock=nft_set_unlock count=nft_set_count ;;
tcpferry-cli-one)
	setup=tcpferry_setup lock="tcpferry_one add" unlock="tcpferry_one del" count=tcpferry_count ;;
tcpferry-cli-bulk)
	setup=tcpferry_setup lock="tcpferry_bulk add" unlock="tcpferry_bulk del" count=tcpferry_count ;;
*)
	fail "unknown method" ;;
esac

$setup
t0=$(now)
$lock
t1=$(now)
# Check the work was done (outside the clock; listing 200,000 elements is slow).
if [ -n "$count" ] && [ "$n" -le 10000 ]; then
	got=$($count)
	[ "$got" -eq "$n" ] || [ "$got" -eq $((2 * n)) ] || fail "expected $n connections locked, found $got"
fi
t2=$(now)
$unlock
t3=$(now)
if [ -n "$count" ]; then
	got=$($count)
	[ "$got" -eq 0 ] || fail "$got rules or elements left after unlock"
fi
awk -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" 'BEGIN { printf "%.6f %.6f\n", b - a, d - c }'
