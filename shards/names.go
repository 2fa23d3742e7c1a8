package shards

// maxJSName is the longest stream name JetStream takes.
const maxJSName = 255

// NameFits reports whether a stream of n shards named name fits the log's
// naming: each shard is a JetStream stream whose name holds the stream's
// name with '_' and '.' escaped to two bytes, so a name of 1-128 of
// [a-zA-Z0-9_.-] (what Kinesis accepts) may not fit when it is mostly
// dots and underscores.
func NameFits(name string, n int) bool {
	return len(jsStreamName(name, max(n-1, 0))) <= maxJSName
}
