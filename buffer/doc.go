// Package buffer decides when a delivery's records become a batch.
//
// One Buffer collects the records of one (delivery, shard, partition keys)
// and flushes on the first of: size (bytes before compression), interval
// since the first record entered it, a cron schedule, or shutdown. Flush
// decisions are pure functions of the time passed in, so callers inject the
// clock and tests need no sleeping. Buffers decide when, never where.
package buffer
