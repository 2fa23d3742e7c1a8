package kv

import (
	"context"
	"path/filepath"
	"testing"
)

// BenchmarkUpdate is a checkpoint write: a compare-and-set of one key on
// its last revision, fsynced.
func BenchmarkUpdate(b *testing.B) {
	for _, c := range []struct {
		name string
		opts Options
	}{{"durable", Options{}}, {"nosync", Options{NoSync: true}}} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			bk := bucket(b, openTemp(b, c.opts), "cps")
			value := []byte("123456789 0123456789abcdef") // a sequence and a claim token
			rev, err := bk.Put(ctx, "delivery.0", value)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if rev, err = bk.Update(ctx, "delivery.0", value, rev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGet reads one key of a bucket of 1,000.
func BenchmarkGet(b *testing.B) {
	ctx := context.Background()
	db, err := Open(filepath.Join(b.TempDir(), "kv.db"), Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	bk := bucket(b, db, "cps")
	for i := range 1000 {
		if _, err := bk.Put(ctx, crashKey(i), []byte("123456789 0123456789abcdef")); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := bk.Get(ctx, "k000500"); err != nil {
			b.Fatal(err)
		}
	}
}
