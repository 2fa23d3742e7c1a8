package analytics

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/hydrant-dev/hydrant/shards"
)

// isolateBudget bounds the queries run to find which rows of a window make
// its query fail; past it, the whole window is taken as failed.
const isolateBudget = 256

// runIsolating runs the query over w's rows. When it fails, it finds the
// rows the query fails on alone (halving: a part that runs holds none),
// and runs it again without them: those rows are returned as failed with
// the error each gave. When the rest fails too (the failure comes from
// rows together, or finding them took more than isolateBudget queries),
// every row is failed with the window's error. An error is ctx's.
func (a *App) runIsolating(ctx context.Context, w Window, rows []Row) (results [][]byte, failed []failedRow, err error) {
	results, qerr := a.engine.Run(ctx, a.cfg.Schema, w, rows, a.cfg.SQL)
	if qerr == nil || ctx.Err() != nil {
		return results, nil, ctx.Err()
	}
	budget := isolateBudget
	var bad []failedRow
	var good []Row
	var walk func(part []Row, err error) error
	walk = func(part []Row, err error) error {
		if len(part) == 1 {
			bad = append(bad, failedRow{part[0], err})
			return nil
		}
		for _, half := range [][]Row{part[:len(part)/2], part[len(part)/2:]} {
			if budget == 0 {
				return errors.New("budget")
			}
			budget--
			_, herr := a.engine.Run(ctx, a.cfg.Schema, w, half, a.cfg.SQL)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if herr == nil {
				good = append(good, half...)
				continue
			}
			if err := walk(half, herr); err != nil {
				return err
			}
		}
		return nil
	}
	werr := walk(rows, qerr)
	if werr != nil && ctx.Err() != nil {
		return nil, nil, ctx.Err()
	}
	if werr == nil && len(bad) < len(rows) {
		slices.SortFunc(good, rowOrder)
		if results, err := a.engine.Run(ctx, a.cfg.Schema, w, good, a.cfg.SQL); err == nil {
			return results, bad, nil
		} else if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
	}
	failed = make([]failedRow, len(rows))
	for i, r := range rows {
		failed[i] = failedRow{r, qerr}
	}
	return nil, failed, nil
}

// failedRow is a row the query failed on, and how.
type failedRow struct {
	row Row
	err error
}

// rowOrder orders rows as they were read: by shard, then sequence.
func rowOrder(x, y Row) int {
	if c := x.shard - y.shard; c != 0 {
		return c
	}
	return cmp.Compare(x.seq, y.seq)
}

// failRows sends the records of rows the query failed on to the error
// output as analytics-failed, read again from the source (a row keeps its
// values, not its record).
func (a *App) failRows(ctx context.Context, w Window, failed []failedRow) error {
	slices.SortFunc(failed, func(x, y failedRow) int { return rowOrder(x.row, y.row) })
	for i := 0; i < len(failed); {
		shard, from := failed[i].row.shard, failed[i].row.seq
		res, err := a.store.Read(ctx, a.cfg.Source, shard, from, 10000, 8<<20)
		if err != nil {
			return err
		}
		if len(res.Records) == 0 {
			// Trimmed meanwhile: say so rather than drop it silently.
			a.logger.Error("application: a record the query failed on is no longer in the source", "shard", shards.ShardID(shard),
				"sequence", from.String())
			i++
			continue
		}
		for _, rec := range res.Records {
			for i < len(failed) && failed[i].row.shard == shard && failed[i].row.seq < rec.Sequence {
				a.logger.Error("application: a record the query failed on is no longer in the source", "shard", shards.ShardID(shard),
					"sequence", failed[i].row.seq.String())
				i++
			}
			if i == len(failed) || failed[i].row.shard != shard {
				break
			}
			if failed[i].row.seq == rec.Sequence {
				a.m.failed.Inc()
				a.fail(ErrorTypeFailed, shard, rec, fmt.Sprintf("window %v: the query failed: %v", w, failed[i].err))
				i++
			}
		}
	}
	return a.writeErrors(ctx)
}
