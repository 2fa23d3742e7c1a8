//go:build !cgo

package analytics

import "context"

// engineBuilt: this build has no SQL engine; Query returns ErrNoEngine.
const engineBuilt = false

// run is never called: Query returns ErrNoEngine first.
func (*Querier) run(context.Context, *queryRun, string) (*QueryResult, error) {
	return nil, ErrNoEngine
}
