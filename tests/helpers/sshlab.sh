# shellcheck shell=bash
# Sourced after tests/lib.sh and a lab (flowlab.sh or tools/lab.sh up): an
# sshd on lab hosts, as between real machines, so that a move's channel runs
# over the lab network and nothing else joins the hosts.
#
#   sshlab_up HOST...   sshd -D in each HOST's network namespace on its lab
#                       addresses (port 22 there), with a host key and a root
#                       key made in $TMP; stopped and removed at exit
#   ssh_cmd HOST        the ssh command line that reaches HOST as root (over
#                       the connection sshlab_mux made, if it did and $SSH_MUX
#                       is not 0)
#   sshlab_mux          one ssh connection a -> b and one b -> a, kept open
#                       for the ssh_cmd after it (each session then costs
#                       no key exchange: a test with many moves); closed at exit
#   receive_via HOST    --via's value: ssh to HOST, then tcpferry receive there
#                       (with HOST's pin directory and a journal in $TMP;
#                       $RECEIVE_ENV before it, $RECEIVE_OPTS after it)

sshlab_up() {
	local h ns addr addr6 i
	ssh-keygen -q -t ed25519 -N '' -C tf-test-host -f "$TMP/ssh_host_key" || bail_out "ssh-keygen failed"
	ssh-keygen -q -t ed25519 -N '' -C tf-test-root -f "$TMP/ssh_root_key" || bail_out "ssh-keygen failed"
	cp "$TMP/ssh_root_key.pub" "$TMP/authorized_keys"
	# sshd's privilege separation directory (openssh-server's own, empty), if
	# this machine has none yet.  Left in place: another run's sshd may be
	# using it (removing it under a running sshd resets its new sessions).
	[ -d /run/sshd ] || mkdir -m 0755 /run/sshd
	for h in "$@"; do
		case $h in
		a) ns=$NS_A addr=$A_ADDR addr6=$A_ADDR6 ;;
		b) ns=$NS_B addr=$B_ADDR addr6=$B_ADDR6 ;;
		*) bail_out "sshlab_up: no sshd for host $h" ;;
		esac
		cat >"$TMP/sshd_$h.conf" <<-CONF
			ListenAddress $addr
			ListenAddress [$addr6]
			HostKey $TMP/ssh_host_key
			PidFile $TMP/sshd_$h.pid
			AuthorizedKeysFile $TMP/authorized_keys
			PermitRootLogin prohibit-password
			PasswordAuthentication no
			KbdInteractiveAuthentication no
			UsePAM no
			StrictModes no
			LogLevel ERROR
			MaxStartups 50
		CONF
		# nsenter, not ip netns exec: the sessions keep this mount
		# namespace, where the lab's bpffs mounts are.
		nsenter --net="/run/netns/$ns" /usr/sbin/sshd -D -e -f "$TMP/sshd_$h.conf" 2>>"$TMP/sshd_$h.log" &
		at_exit "kill $!"
		echo "$addr,$addr6 $(cut -d' ' -f1,2 "$TMP/ssh_host_key.pub")" >>"$TMP/known_hosts"
		for ((i = 0; i < 100; i++)); do
			ip netns exec "$ns" ss -ltnH "( sport = :22 )" | grep -q . && break
			sleep 0.05
		done
	done
}

ssh_cmd() {
	local addr mux=
	case $1 in
	a) addr=$A_ADDR ;;
	b) addr=$B_ADDR ;;
	esac
	[ -S "$TMP/ssh_mux_$1" ] && [ "${SSH_MUX:-1}" != 0 ] && mux="-o ControlMaster=no -o ControlPath=$TMP/ssh_mux_$1"
	echo "ssh -i $TMP/ssh_root_key -o UserKnownHostsFile=$TMP/known_hosts -o StrictHostKeyChecking=yes" \
		"-o BatchMode=yes -o ConnectTimeout=5 -o LogLevel=ERROR $mux root@$addr"
}

sshlab_mux() {
	local h from
	for h in a b; do
		[ $h = a ] && from=b || from=a
		"$TF_ROOT/tools/lab.sh" exec $from $(SSH_MUX=0 ssh_cmd $h) -M -N -f \
			-o ControlPath="$TMP/ssh_mux_$h" -o ServerAliveInterval=5 || bail_out "no ssh connection to $h"
		at_exit "$(SSH_MUX=0 ssh_cmd $h) -o ControlPath=$TMP/ssh_mux_$h -O exit"
	done
}

receive_via() {
	local fs
	case $1 in
	a) fs=$BPFFS_A ;;
	b) fs=$BPFFS_B ;;
	esac
	echo "$(ssh_cmd "$1") ${RECEIVE_ENV:-} $TF --bpffs $fs receive --journal $TMP/journal-$1 ${RECEIVE_OPTS:-}"
}
