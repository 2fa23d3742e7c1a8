// Package transform runs a delivery's record transforms.
//
// A Transform follows the Firehose Lambda contract in Go: it takes a batch
// and returns, for every input record in order, Ok (with new data and
// optional partition keys), Dropped, or ProcessingFailed (with a message).
// One input may yield several records (Output.More: a KPL aggregate's user
// records), each with its own result; they keep their input's place in the
// shard's order and are named by its sequence and their sub-sequence.
// Transforms chain in the order configured. A record that a built-in cannot
// process within its bounds (time, decompressed size, output size) fails
// alone, so no record holds its shard or ends the process. Built-ins are registered
// explicitly in a Registry by the program that wires Hydrant together; a Go
// user compiles in their own the same way. Nothing registers itself.
package transform
