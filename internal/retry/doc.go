// Package retry holds what every part of Hydrant that calls out to another
// system shares about retrying: whether an error is worth another attempt
// (Permanent, Throttled), how long to wait before it (Backoff), and waiting
// that honours a context (Sleep). Destinations and transforms both use it;
// neither depends on the other for it.
package retry
