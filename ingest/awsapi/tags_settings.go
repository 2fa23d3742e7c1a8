package awsapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/hydrant-dev/hydrant/shards"
)

// settings is what the APIs keep about a stream, a stream consumer or a
// delivery stream beside what the catalog defines: tags, the shard-level
// metrics asked for (streams), the KMS key id StartStreamEncryption named
// (streams). They are metadata, so a stream the config declares has them
// too. They live in the shard store's meta bucket — on a cluster, shared
// by every node — and change by compare-and-set, so two nodes tagging one
// stream at once both keep their tags.
type settings struct {
	Tags    map[string]string `json:"tags,omitempty"`
	Metrics []string          `json:"metrics,omitempty"` // in shardMetrics' order
	KeyID   string            `json:"key_id,omitempty"`
}

// The kinds of resource settings are kept for.
const (
	kindStream   = "stream"
	kindDelivery = "deliverystream"
	kindConsumer = "consumer"
)

// settingsKey is where the settings of kind name are kept. Names may hold
// dots where a KV key may not, so they are base64url-encoded; a consumer's
// name is its stream's and its own, so that a stream's consumers share a
// prefix (settingsPrefix).
func settingsKey(kind string, name ...string) string {
	key := "settings." + kind
	for _, n := range name {
		key += "." + base64.RawURLEncoding.EncodeToString([]byte(n))
	}
	return key
}

// loadSettings reads the settings of a resource (empty when it has none)
// and their revision.
func (s *Server) loadSettings(ctx context.Context, key string) (settings, uint64, error) {
	raw, rev, err := s.store.GetMeta(ctx, key)
	if err != nil || raw == nil {
		return settings{}, 0, err
	}
	var st settings
	if err := json.Unmarshal(raw, &st); err != nil {
		return settings{}, 0, err
	}
	return st, rev, nil
}

// settingsSwapTries bounds the compare-and-set retries of a change.
const settingsSwapTries = 16

// changeSettings applies change to a resource's settings and stores them,
// read and written again when another node's writer came in between (up
// to settingsSwapTries times, after a short random wait; then the caller is
// told to retry). This node's changes take turns. change may
// refuse (its error is returned and nothing is written); it gets the
// settings as stored and must not keep them.
func (s *Server) changeSettings(ctx context.Context, key string, change func(*settings) *apiError) (settings, *apiError) {
	s.settingsChanging.Lock()
	defer s.settingsChanging.Unlock()
	for try := range settingsSwapTries {
		if try > 0 { // another node's change came first: let it finish
			t := time.NewTimer(time.Duration(rand.Int64N(int64(try) * int64(time.Millisecond))))
			select {
			case <-ctx.Done():
				t.Stop()
				return settings{}, s.internal("store settings", ctx.Err())
			case <-t.C:
			}
		}
		st, rev, err := s.loadSettings(ctx, key)
		if err != nil {
			return settings{}, s.internal("read settings", err)
		}
		if aerr := change(&st); aerr != nil {
			return settings{}, aerr
		}
		raw, err := json.Marshal(st)
		if err != nil {
			return settings{}, s.internal("encode settings", err)
		}
		_, err = s.store.SwapMeta(ctx, key, raw, rev)
		switch {
		case err == nil:
			return st, nil
		case errors.Is(err, shards.ErrMetaChanged):
			continue
		default:
			return settings{}, s.internal("store settings", err)
		}
	}
	return settings{}, newError(http.StatusBadRequest, "ResourceInUseException", "the resource's settings are being changed by other requests: retry")
}

// putSettings replaces a new resource's settings: whatever a deleted one
// of the same name left behind is gone.
func (s *Server) putSettings(ctx context.Context, key string, st settings) error {
	if st.Tags == nil && st.Metrics == nil && st.KeyID == "" {
		return s.store.DeleteMeta(ctx, key)
	}
	raw, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return s.store.PutMeta(ctx, key, raw)
}

// deleteStreamSettings forgets a deleted stream's settings and its
// consumers'.
func (s *Server) deleteStreamSettings(ctx context.Context, name string) error {
	if err := s.store.DeleteMeta(ctx, settingsKey(kindStream, name)); err != nil {
		return err
	}
	consumers, err := s.store.ListMeta(ctx, settingsKey(kindConsumer, name)+".")
	if err != nil {
		return err
	}
	for key := range consumers {
		if err := s.store.DeleteMeta(ctx, key); err != nil {
			return err
		}
	}
	return nil
}

// streamSettings reads a stream's settings for a Describe: a failure to
// read them is logged and they read as none, rather than failing the
// call that tools poll.
func (s *Server) streamSettings(ctx context.Context, name string) settings {
	st, _, err := s.loadSettings(ctx, settingsKey(kindStream, name))
	if err != nil {
		s.logger.Error("AWS API: read a stream's settings", "stream", name, "error", err)
	}
	return st
}
