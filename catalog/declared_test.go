package catalog_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/hydrant-dev/hydrant/catalog"
	"github.com/hydrant-dev/hydrant/ingest/awsapi"
	"github.com/hydrant-dev/hydrant/shards"
)

// A declared delivery is started, replaced (the old one stopped first; a
// replacement that cannot start leaves the old one running), reset (stopped,
// rewritten, started again) and removed through the catalog, which stops
// what still runs at Close.
func TestDeclaredDeliveries(t *testing.T) {
	ctx := context.Background()
	store, err := shards.Open(ctx, shards.StoreConfig{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	c := catalog.New(catalog.Options{Store: store})
	var events []string
	running := map[string]string{} // name -> version
	starter := func(name, version string, fail bool) catalog.DeclaredStart {
		return func() (func(), error) {
			if fail {
				events = append(events, "refuse "+version)
				return nil, errors.New("cannot start")
			}
			if v, ok := running[name]; ok {
				t.Fatalf("%s %s started while %s runs", name, version, v)
			}
			running[name] = version
			events = append(events, "start "+version)
			return func() { delete(running, name); events = append(events, "stop "+version) }, nil
		}
	}
	c.AddDeclaredDelivery(awsapi.Delivery{Name: "d", Source: "s"}, 0)
	if err := c.StartDeclared("d", starter("d", "v1", false)); err != nil {
		t.Fatal(err)
	}
	if err := c.StartDeclared("nope", starter("nope", "v1", false)); err == nil {
		t.Fatal("started a delivery that is not declared")
	}
	if err := c.ReplaceDeclared(awsapi.Delivery{Name: "d", Source: "s"}, 0, starter("d", "v2", false)); err != nil {
		t.Fatal(err)
	}
	if err := c.ReplaceDeclared(awsapi.Delivery{Name: "d", Source: "s"}, 0, starter("d", "v3", true)); err == nil {
		t.Fatal("a replacement that cannot start was not refused")
	}
	rewrote := ""
	if err := c.Reset(ctx, "d", func(_ context.Context, d awsapi.Delivery) error { rewrote = d.Source; return nil }); err != nil || rewrote != "s" {
		t.Fatalf("reset: %v, rewrote %q", err, rewrote)
	}
	if err := c.Reset(ctx, "nope", func(context.Context, awsapi.Delivery) error { return nil }); !errors.Is(err, awsapi.ErrNotFound) {
		t.Fatalf("reset of an unknown delivery: %v", err)
	}
	if err := c.ReplaceDeclared(awsapi.Delivery{Name: "e", Source: "s"}, 0, starter("e", "e1", false)); err != nil {
		t.Fatal(err)
	}
	c.RemoveDeclared("d")
	if _, ok := c.Delivery("d"); ok {
		t.Fatal("removed delivery still listed")
	}
	c.Close()
	want := []string{"start v1", "stop v1", "start v2", "stop v2", "refuse v3", "start v2", "stop v2", "start v2", "start e1", "stop v2", "stop e1"}
	if !slices.Equal(events, want) {
		t.Fatalf("events\n%v\nwant\n%v", events, want)
	}
	if len(running) != 0 {
		t.Fatalf("still running after Close: %v", running)
	}
}
