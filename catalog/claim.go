package catalog

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hydrant-dev/hydrant/ingest/awsapi"
	"github.com/hydrant-dev/hydrant/shards"
)

// newID is a creation's identity: a stream or delivery stream deleted and
// created again under its name (a Terraform replace) is another one, which
// a node still running the old one must start afresh.
func newID() string { return rand.Text() }

// claim stores def, marked pending, under key only if no definition of its
// name is stored yet — under key, or under other, the other kind's key (a
// stream and a delivery stream share the shard log's names) — on any node
// sharing the log, and returns the key's revision, for commit. A name
// already taken is awsapi.ErrExists: nothing was touched, no retry helps.
// Two nodes claiming the same name as both kinds at once may both be
// refused; a retry then succeeds.
func (c *Catalog) claim(ctx context.Context, key, other, what string, def any) (uint64, error) {
	b, err := json.Marshal(def)
	if err != nil {
		return 0, err
	}
	rev, err := c.opts.Store.SwapMeta(ctx, key, b, 0)
	if errors.Is(err, shards.ErrMetaChanged) {
		rev, err = c.takeOver(ctx, key, b)
	}
	if errors.Is(err, shards.ErrMetaChanged) {
		return 0, fmt.Errorf("%s: %w", what, awsapi.ErrExists)
	}
	if err != nil {
		return 0, err
	}
	raw, _, err := c.opts.Store.GetMeta(ctx, other)
	if err == nil && raw == nil {
		return rev, nil
	}
	c.unclaim(ctx, key)
	if err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s: %w", what, awsapi.ErrExists)
}

// staleClaim is how old a pending claim is when the node that made it is
// taken to have stopped before it was done: a creation takes seconds.
const staleClaim = 10 * time.Minute

// takeOver stores value under key in place of a stale pending claim (its
// node stopped before it was done, leaving the name taken), and returns
// the key's revision; ErrMetaChanged when key holds anything else.
func (c *Catalog) takeOver(ctx context.Context, key string, value []byte) (uint64, error) {
	raw, rev, err := c.opts.Store.GetMeta(ctx, key)
	if err != nil {
		return 0, err
	}
	var held struct {
		Pending bool      `json:"pending"`
		Claimed time.Time `json:"claimed"`
	}
	if raw == nil || json.Unmarshal(raw, &held) != nil || !held.Pending || time.Since(held.Claimed) < staleClaim {
		return 0, shards.ErrMetaChanged
	}
	c.logger.Warn("catalog: a creation of this name was interrupted; its claim is taken over", "key", key, "claimed", held.Claimed)
	return c.opts.Store.SwapMeta(ctx, key, value, rev)
}

// commit stores def, no longer pending, under the key claim returned rev
// for: other nodes open it from here on.
func (c *Catalog) commit(ctx context.Context, key string, def any, rev uint64) error {
	b, err := json.Marshal(def)
	if err != nil {
		return err
	}
	_, err = c.opts.Store.SwapMeta(ctx, key, b, rev)
	return err
}

// unclaim removes a claim whose creation failed; the error is logged.
func (c *Catalog) unclaim(ctx context.Context, key string) {
	if err := c.opts.Store.DeleteMeta(context.WithoutCancel(ctx), key); err != nil {
		c.logger.Error("catalog: a failed creation's definition could not be removed; delete it through the API", "key", key, "error", err)
	}
}
