// Package metrics defines Hydrant's Prometheus metrics, named
// hydrant_<subsystem>_<noun>_<unit> after Firehose's CloudWatch metrics,
// with bounded labels only (stream, delivery, error type — never a record
// field). Collectors are registered on a registry the caller injects, and
// handed to the components that move them; nothing is global.
package metrics
