package shards

import (
	"bytes"
	"testing"
	"time"
)

func TestBatchRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 25, 13, 14, 15, 123456789, time.UTC)
	recs := []Record{
		{PartitionKey: "user-1", Data: []byte(`{"a":1}`)},
		{PartitionKey: "", Data: nil},
		{PartitionKey: "ü", Data: bytes.Repeat([]byte("x"), 70000)},
	}
	msg := AppendBatch(nil, at, recs)
	got, err := DecodeBatch(nil, 42, msg)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(recs) {
		t.Fatalf("decoded %d records, want %d", len(got), len(recs))
	}
	for i, r := range got {
		if r.PartitionKey != recs[i].PartitionKey || !bytes.Equal(r.Data, recs[i].Data) {
			t.Errorf("record %d = %q/%d bytes, want %q/%d bytes", i, r.PartitionKey, len(r.Data), recs[i].PartitionKey, len(recs[i].Data))
		}
		if !r.Arrival.Equal(at) {
			t.Errorf("record %d arrival = %v, want %v", i, r.Arrival, at)
		}
		if r.Sequence.Message() != 42 || r.Sequence.Index() != i {
			t.Errorf("record %d sequence = %d/%d", i, r.Sequence.Message(), r.Sequence.Index())
		}
	}
}

func TestDecodeBatchRejectsCorruption(t *testing.T) {
	good := AppendBatch(nil, time.Unix(1, 0), []Record{{PartitionKey: "k", Data: []byte("data")}})
	tests := map[string][]byte{
		"empty":       nil,
		"bad version": append([]byte{9}, good[1:]...),
		"truncated":   good[:len(good)-1],
		"trailing":    append(append([]byte{}, good...), 0),
	}
	for name, msg := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := DecodeBatch(nil, 1, msg); err == nil {
				t.Fatal("corrupt batch decoded without error")
			}
		})
	}
}

func TestSequenceOrder(t *testing.T) {
	if !(MakeSequence(1, maxBatchRecords-1) < MakeSequence(2, 0)) {
		t.Fatal("last record of a message must sort before the first of the next")
	}
	s, err := ParseSequence(MakeSequence(7, 3).String())
	if err != nil || s != MakeSequence(7, 3) {
		t.Fatalf("round trip = %v, %v", s, err)
	}
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add(AppendBatch(nil, time.Unix(1, 0), []Record{{PartitionKey: "k", Data: []byte("data")}}))
	f.Fuzz(func(t *testing.T, msg []byte) {
		_, _ = DecodeBatch(nil, 1, msg) // must not panic
	})
}

func BenchmarkAppendBatch(b *testing.B) {
	recs := make([]Record, 500)
	for i := range recs {
		recs[i] = Record{PartitionKey: "user-12345", Data: bytes.Repeat([]byte("x"), 1024)}
	}
	buf := make([]byte, 0, 1<<20)
	at := time.Now()
	b.ReportAllocs()
	b.SetBytes(int64(500 * 1034))
	for b.Loop() {
		buf = AppendBatch(buf[:0], at, recs)
	}
}
