package elasticsearch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/destinations"
	"github.com/hydrant-dev/hydrant/e2e/opensearch"
)

// Against a real OpenSearch (the Elasticsearch API): ids, rotation, mapping
// conflicts, gzip and create behave as a user relies on.
func TestRealServer(t *testing.T) {
	s := opensearch.Start(t)
	dest := func(t *testing.T, edit func(*Config)) *Destination {
		cfg := Config{Flavor: FlavorOpenSearch, Endpoints: []string{s.URL}, Index: "t", Retry: destinations.RetryConfig{
			Duration: time.Minute, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}}
		edit(&cfg)
		d, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close(context.Background()) })
		return d
	}
	ctx := context.Background()

	t.Run("a re-delivered batch is indexed once with auto ids, twice without", func(t *testing.T) {
		for _, tt := range []struct {
			mode string
			want int
		}{{DocumentIDAuto, 200}, {DocumentIDNone, 400}} {
			d := dest(t, func(c *Config) { c.Index, c.DocumentID = "ids-"+tt.mode, tt.mode })
			for range 2 {
				if err := d.Deliver(ctx, batch(200)); err != nil {
					t.Fatal(err)
				}
			}
			if n := s.Count(t, "ids-"+tt.mode); n != tt.want {
				t.Errorf("document_id %s: %d documents after delivering 200 twice, want %d", tt.mode, n, tt.want)
			}
		}
	})

	t.Run("a mapping conflict fails 5 of 1000 documents with reasons, gzip bodies", func(t *testing.T) {
		if code, _, body := s.Do(t, "PUT", "/typed", []byte(`{"mappings":{"properties":{"n":{"type":"long"}}}}`),
			"Content-Type", "application/json"); code != http.StatusOK {
			t.Fatalf("create index: %d %s", code, body)
		}
		d := dest(t, func(c *Config) { c.Index, c.Gzip = "typed", true })
		b := batch(1000)
		for _, i := range []int{3, 250, 500, 750, 999} {
			b.Records[i].Data = fmt.Appendf(nil, `{"n":"not-a-number-%d"}`, i)
		}
		err := d.Deliver(ctx, b)
		var re *destinations.RecordErrors
		if !errors.As(err, &re) || len(re.Failed) != 5 {
			t.Fatalf("Deliver: %v, want 5 records failed", err)
		}
		de := re.Failed[250].(*destinations.DocumentError)
		if de.Code != "mapper_parsing_exception" || de.Index != "typed" || de.DocumentID != "d-shardId-000000000001-350" ||
			!strings.Contains(de.Message, "failed to parse field [n] of type [long]") {
			t.Errorf("record 250: %+v", *de)
		}
		if n := s.Count(t, "typed"); n != 995 {
			t.Errorf("%d documents indexed, want 995", n)
		}
	})

	t.Run("index names rotate on arrival time", func(t *testing.T) {
		d := dest(t, func(c *Config) { c.Index, c.Rotation = "rot", RotationHour })
		b := batch(6)
		for i := range b.Records {
			b.Records[i].Arrival = time.Date(2026, 11, 25, 22+i/2, 30, 0, 0, time.UTC) // hours 22, 23, 0 of the next day
		}
		if err := d.Deliver(ctx, b); err != nil {
			t.Fatal(err)
		}
		for _, idx := range []string{"rot-2026-11-25-22", "rot-2026-11-25-23", "rot-2026-11-26-00"} {
			if n := s.Count(t, idx); n != 2 {
				t.Errorf("%s: %d documents, want 2", idx, n)
			}
		}
	})

	t.Run("create: own ids already there are delivered, others' are conflicts", func(t *testing.T) {
		auto := dest(t, func(c *Config) { c.Index, c.Action = "create-auto", ActionCreate })
		for range 2 {
			if err := auto.Deliver(ctx, batch(10)); err != nil {
				t.Fatalf("create with auto ids, delivered again: %v", err)
			}
		}
		byField := dest(t, func(c *Config) { c.Index, c.Action, c.DocumentID = "create-field", ActionCreate, "/n" })
		if err := byField.Deliver(ctx, batch(10)); err != nil {
			t.Fatal(err)
		}
		err := byField.Deliver(ctx, batch(10))
		var re *destinations.RecordErrors
		if !errors.As(err, &re) || len(re.Failed) != 10 {
			t.Fatalf("second create by /n: %v, want 10 conflicts", err)
		}
		if de := re.Failed[4].(*destinations.DocumentError); de.Code != "version_conflict_engine_exception" || de.DocumentID != "4" {
			t.Errorf("%+v", *de)
		}
		if a, f := s.Count(t, "create-auto"), s.Count(t, "create-field"); a != 10 || f != 10 {
			t.Errorf("counts %d, %d; want 10, 10", a, f)
		}
	})
}

// BenchmarkRealServer measures documents/s of 1 KiB JSON documents into a
// real OpenSearch, 1,000 to a batch, plain and gzip.
func BenchmarkRealServer(b *testing.B) {
	if testing.Short() {
		b.Skip("needs the OpenSearch test server")
	}
	s := opensearch.Start(b)
	pad := strings.Repeat("x", 1024)
	batch := &buffer.Batch{Delivery: "bench", ShardID: "shardId-000000000000"}
	for i := range 1000 {
		data := fmt.Appendf(nil, `{"n":%d,"msg":"%s"}`, i, pad[:1024-len(fmt.Sprint(i))-17])
		batch.Records = append(batch.Records, buffer.Record{Data: data, Arrival: time.Now()})
		batch.Bytes += len(data)
	}
	for _, gz := range []bool{false, true} {
		b.Run(fmt.Sprintf("gzip=%v", gz), func(b *testing.B) {
			d, err := New(Config{Flavor: FlavorOpenSearch, Endpoints: []string{s.URL}, Index: fmt.Sprintf("bench-%v", gz),
				Gzip: gz, Retry: destinations.RetryConfig{Duration: time.Minute}})
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close(context.Background())
			b.ReportAllocs()
			b.SetBytes(int64(batch.Bytes))
			seq := uint64(0)
			for b.Loop() {
				for i := range batch.Records {
					seq++
					batch.Records[i].Sequence = seq // new documents, not overwrites
				}
				if err := d.Deliver(context.Background(), batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(batch.Records))/b.Elapsed().Seconds(), "docs/s")
		})
	}
}
