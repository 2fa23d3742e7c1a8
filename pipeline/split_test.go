package pipeline_test

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/destinations/destinationtest"
	"github.com/hydrant-dev/hydrant/internal/await"
	"github.com/hydrant-dev/hydrant/pipeline"
	"github.com/hydrant-dev/hydrant/shards"
	"github.com/hydrant-dev/hydrant/transform"
)

// One record in, many out: each part of a record is a record of its own,
// with its own Kinesis partition key and partition keys. Parts of one
// record land in buffers of their own, whose batches all start within the
// same source record: each must get an object of its own (the sub-sequence
// in its name), and a failing part goes to the error output alone, as
// itself.
func TestOneRecordYieldsMany(t *testing.T) {
	e := newEnv(t, 1)
	split := transform.Func(func(r buffer.Record) transform.Output {
		var v struct{ Parts []string }
		if err := json.Unmarshal(r.Data, &v); err != nil || len(v.Parts) == 0 {
			return transform.Output{Result: transform.Dropped}
		}
		var out transform.Output
		for k, p := range v.Parts {
			o := transform.Output{Result: transform.Ok, Data: []byte(p + "\n"), PartitionKey: "pk-" + p,
				PartitionKeys: map[string]string{"part": p}}
			if p == "bad" {
				o = transform.Output{Result: transform.ProcessingFailed, Data: []byte(p), PartitionKey: "pk-" + p,
					ErrorCode: "Split.Bad", ErrorMessage: "a bad part"}
			}
			if k == 0 {
				out = o
			} else {
				out.More = append(out.More, o)
			}
		}
		return out
	})
	start(t, e, pipeline.Config{
		Buffer:      buffer.Config{Size: 1 << 20, Interval: 50 * time.Millisecond},
		Transform:   transform.Chain(split, transform.Func(func(r buffer.Record) transform.Output { return transform.Output{Result: transform.Ok, Data: r.Data} })),
		Destination: fileObjects(t, e.out),
		Errors:      fileObjects(t, e.out),
	})
	e.put(t, `{"user":"1","parts":["a","b","bad","c"]}`+"\n"+`{"user":"2","parts":[]}`+"\n"+`{"user":"3","parts":["a","d"]}`+"\n")
	await.Cond(t, 10*time.Second, "5 parts delivered, 1 failed", func() bool {
		return destinationtest.CountLines(lines(t, e.out, "data")) == 5 && destinationtest.CountLines(lines(t, e.out, "errors/processing-failed")) == 1
	})
	var got []string
	for _, ls := range lines(t, e.out, "data") {
		got = append(got, ls...)
	}
	slices.Sort(got)
	if want := []string{"a", "a", "b", "c", "d"}; !slices.Equal(got, want) {
		t.Errorf("delivered %q, want %q", got, want)
	}
	for name, ls := range lines(t, e.out, "errors/processing-failed") {
		var doc struct {
			ErrorCode, RawData, PartitionKey, SequenceNumber string
		}
		if err := json.Unmarshal([]byte(ls[0]), &doc); err != nil {
			t.Fatal(err)
		}
		raw, _ := base64.StdEncoding.DecodeString(doc.RawData)
		if doc.ErrorCode != "Split.Bad" || string(raw) != "bad" || doc.PartitionKey != "pk-bad" {
			t.Errorf("error document = %+v (raw %q)", doc, raw)
		}
		if !strings.HasSuffix(name, "-2-processing-failed.jsonl") {
			t.Errorf("error object %s does not name the failed part's sub-sequence (2)", name)
		}
	}
	awaitCheckpoint(t, e, shards.MakeSequence(1, 2), "checkpoint past the split records")
}
