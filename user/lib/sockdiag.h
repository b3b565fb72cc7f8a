/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Who owns a 4-tuple on this host: the TCP sockets of the current network
 * namespace, as sock_diag (NETLINK_SOCK_DIAG, what ss reads) lists them.
 * A restore asks before it locks a tuple, and again after it failed: a lock
 * on a tuple that a live socket here owns drops that connection's packets.
 */
#ifndef TF_SOCKDIAG_H
#define TF_SOCKDIAG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lock.h"

struct tf_tuple_owner {
	uint8_t state;		/* TCP state (tcp_states.h); 0: no live socket owns it */
	uint32_t inode;		/* the socket's inode; 0: an orphan (no file, no process) */
	uint32_t uid;
};

/*
 * For each of the n tuples k[i], the live socket of this network namespace
 * that owns it, if any: one in a state that carries a connection (SYN_SENT
 * to CLOSING, LAST_ACK; not LISTEN, TIME_WAIT or CLOSE; in repair mode or
 * not) with exactly that 4-tuple.  owners[i].state is 0 where none does.
 * Returns how many are owned, or -errno (and the library's error) when it
 * could not tell.  Up to TF_OWNERS_EXACT_MAX lookups (tuples times the
 * namespace's devices), each tuple is looked up alone; past that, one
 * sock_diag dump per family walks the whole table, which costs what the
 * table holds (2 ms and more on a busy host).
 */
int tf_tuple_owners(const struct tf_tuple *k, size_t n, struct tf_tuple_owner *owners);

/*
 * Lookups up to which they beat the walk (tools/owners_bench): a lookup
 * costs about 3 us; the walk scans every bucket of the established hash
 * (262,144 on the 24 GiB development machine: 2.2 to 3.5 ms with no socket
 * in the namespace) and about 1.2 us a socket on top, so there it is cheaper
 * only from some 1,000 lookups.  256 (0.7 ms) loses at most half a
 * millisecond on a host with a small hash and few sockets.
 */
#define TF_OWNERS_EXACT_MAX 256

enum tf_owners_way {
	TF_OWNERS_AUTO,		/* as tf_tuple_owners */
	TF_OWNERS_EXACT,	/* a lookup per tuple and device, however many */
	TF_OWNERS_WALK,		/* the dump of the whole table */
};
/* tf_tuple_owners, the way chosen (for tests and benchmarks). */
int tf_tuple_owners_by(const struct tf_tuple *k, size_t n, struct tf_tuple_owner *owners, enum tf_owners_way way);

/*
 * The last connection of k, ending here (TIME_WAIT, or a closing socket no
 * process holds: FIN_WAIT1/2, CLOSING, LAST_ACK), destroyed (SOCK_DESTROY,
 * as ss -K; CONFIG_INET_DIAG_DESTROY), so that a new connection of the same
 * 4-tuple can be rebuilt here: 1 if one was, 0 if there was none or it is
 * live (owned), -errno when the kernel would not.  The peer reused the port,
 * so that connection is over at its end; only this host still remembers it.
 */
int tf_tuple_clear_stale(const struct tf_tuple *k);

/*
 * The first process (by /proc order) that holds the socket with this inode
 * as one of its fds: its pid, and its comm and /proc state letter ('T' when
 * stopped) if wanted; 0 when none does.
 */
pid_t tf_socket_pid(uint32_t inode, char *comm, size_t comm_len, char *state);

#endif
