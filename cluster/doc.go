// Package cluster shares the (delivery, shard) consumers among the hydrant
// nodes that use one JetStream: every (delivery, shard) is delivered by exactly
// one live node, which holds a lease on it with a TTL in a KV bucket.
//
// # Buckets
//
// Two KV buckets, both with History 1 and a bucket TTL (MaxAge) equal to
// Config.TTL, so that the server itself removes whatever is not rewritten:
//
//	hydrant-nodes   one key per running instance (node name + random suffix);
//	                rewritten every TTL/4 (the heartbeat), deleted on a graceful leave.
//	hydrant-leases  one key per (delivery, shard): "<escaped delivery>.<shard>";
//	                created by the holder with a Create, rewritten every TTL/4 by a
//	                compare-and-set Update on its last revision, deleted with a
//	                compare-and-set Delete on Release.
//
// The buckets are created with a limit-marker TTL, so when the server expires a
// key it writes a "MaxAge" marker that every watcher sees: a dead node's leases
// are taken over as soon as the server expires them, not at the next poll.
// Every node must run with the same TTL: Open refuses buckets whose TTL differs.
//
// # Safety
//
// The core requirement: a node that loses a lease stops delivering that shard
// before anyone else starts.
//
// The TTL is enforced by the JetStream server, not by the nodes. A lease key
// that is not rewritten within TTL of the server storing it is removed by the
// server, and only then can another node's Create succeed (a Create over an
// existing value fails; over a delete or expiry marker it is a compare-and-set
// on the marker's revision, so of two nodes racing for a free key one wins).
//
// The holder therefore gives the lease up on its own clock, strictly before the
// server could expire it. For every write that keeps the lease (the acquiring
// Create, each renewal) it records the local monotonic time at which the write
// was SENT; the server stamps the write later than that, so it cannot expire
// the key before sent+TTL. The holder closes Lease.Lost when 3/4 TTL has passed
// since the send time of its last acknowledged write. An acknowledgement that
// arrives after that deadline is ignored: the lease stays lost. Renewals go out
// every TTL/4 (TTL/8 after a failure; each waits at most TTL/4 for its reply),
// so two in a row may fail without losing the lease, and a holder has TTL/4
// between Lost closing and the earliest moment another node can hold the key:
// it must stop delivering at once when Lost closes, without flushing.
//
// Lost also closes at once when a renewal's compare-and-set fails on someone
// else's write (a write of this same lease whose acknowledgement was lost is
// adopted, without moving the deadline), or when the leases watcher shows the
// key rewritten, deleted or expired by anyone else.
//
// What this relies on: the server's wall clock does not jump forward by more
// than TTL/4 (and in a replicated bucket the servers' clocks agree within that),
// and a holder is not paused (GC, SIGSTOP, a VM migration) for longer than TTL/4
// between checking Lost and acting. Lease.Revision is a fencing token that grows
// with every new holder of a key, for destinations that can check one.
//
// # Balance
//
// wanted is the number of keys for which Acquire is waiting or holds a lease on
// this node (all nodes run the same config, so they want the same keys), live is
// the number of instances in hydrant-nodes, and each node's share is exact:
// floor(wanted / live), and one more for wanted mod live of them (12 keys on 5
// nodes: 3/3/2/2/2). Who gets the extra ones moves the fewest leases: nodes that
// already hold more than the floor, then nodes that want more than it, then by
// instance id, so every node computes the same shares from the same view. A
// node takes a free key only while it holds fewer than its share, so a starting
// node first registers, then waits one heartbeat period and reads the
// membership before it takes anything. Once per period a node that holds more
// than its share, while a live member holds fewer than its own and wants more,
// closes Lease.Yield on its excess leases, most recently acquired first; their
// holders finish what they are doing, checkpoint, and Release. A wanted key that
// stays free for a whole TTL (no node with room wants it: mismatched configs) is
// taken by any node that wants it, above its share.
//
// A Create whose reply is lost (a timeout while the write was stored) leaves
// the key held by nobody until it expires: takeovers can take up to a TTL longer
// while the server is unresponsive, never less safe.
//
// A graceful leave (Run's context ends) deregisters first, so the others count
// one node fewer, then yields every lease and waits up to TTL/2 for the holders
// to Release; a lease not released by then is given up without deleting it (Lost
// closes, renewal stops) and expires on the server within TTL.
package cluster
