package analytics

import (
	"context"
	"errors"
	"fmt"

	"github.com/hydrant-dev/hydrant/shards"
)

// AutoSchemaSample is how many of the source's records an application with
// schema auto infers its columns from.
const AutoSchemaSample = 1000

// ErrQueryOverSchema is the error of an application whose query does not
// run over the columns inferred for it: it cannot go on until its config
// changes. Not retryable.
var ErrQueryOverSchema = errors.New("the query does not run over the inferred columns")

// inferSchema gives an app without a declared schema the columns of up to
// AutoSchemaSample records from where it starts reading (Discover), once:
// they are kept in its state, so a restart reads records as before. No
// record yet: nothing, the next step tries again.
func (a *App) inferSchema(ctx context.Context, lin *shards.Lineage) error {
	var samples [][]byte
	for _, sh := range lin.Shards {
		from := a.state.Positions[shards.ShardID(sh.ID)]
		res, err := a.store.Read(ctx, a.cfg.Source, sh.ID, from, AutoSchemaSample, 8<<20)
		if err != nil {
			return err
		}
		for _, r := range res.Records {
			samples = append(samples, r.Data)
		}
	}
	if len(samples) == 0 {
		return nil
	}
	samples = spreadSample(samples, AutoSchemaSample) // every shard's share, not all of the first's
	cols := Discover(samples)
	if len(cols) == 0 {
		return fmt.Errorf("schema auto: none of %d records read is a JSON object with keys", len(samples))
	}
	schema, err := NewSchema(cols)
	if err != nil {
		return fmt.Errorf("schema auto: %w", err)
	}
	if _, err := a.engine.Run(ctx, schema, Window{}, nil, a.cfg.SQL); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w %s: %v", ErrQueryOverSchema, columnList(cols), err)
	}
	a.state.Schema = schema.Columns()
	if err := a.save(ctx); err != nil {
		return err
	}
	a.cfg.Schema = schema
	a.logger.Info("application: schema inferred", "records", len(samples), "columns", columnList(cols))
	return nil
}

// spreadSample returns n of samples evenly spread (all when no more).
func spreadSample(samples [][]byte, n int) [][]byte {
	if len(samples) <= n {
		return samples
	}
	step := float64(len(samples)) / float64(n)
	picked := make([][]byte, 0, n)
	for i := range n {
		picked = append(picked, samples[int(float64(i)*step)])
	}
	return picked
}

// columnList writes columns as name type, name type, ….
func columnList(cols []Column) string {
	s := "("
	for i, c := range cols {
		if i > 0 {
			s += ", "
		}
		s += c.Name + " " + c.Type
	}
	return s + ")"
}

// Schema returns the app's input columns: declared, or inferred (nil
// until inferred).
func (a *App) Schema() *Schema { return a.cfg.Schema }
