package redrive_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/destinations"
	"github.com/hydrant-dev/hydrant/redrive"
)

// batchSizes records the records of each batch it passes on.
type batchSizes struct {
	destinations.Destination
	sizes []int
}

func (b *batchSizes) Deliver(ctx context.Context, batch *buffer.Batch) error {
	b.sizes = append(b.sizes, len(batch.Records))
	return b.Destination.Deliver(ctx, batch)
}

// A redrive cuts its batches at the delivery's buffer size, as the
// delivery does.
func TestBatchBytes(t *testing.T) {
	tests := map[string]struct {
		batchBytes int
		want       []int
	}{
		"no bound":            {0, []int{10}},
		"two records a batch": {2 * len(`{"id":0}`), []int{2, 2, 2, 2, 2}},
		"a record over alone": {1, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
		"all fit exactly":     {10 * len(`{"id":0}`), []int{10}},
		"three records, cut":  {3*len(`{"id":0}`) + 1, []int{3, 3, 3, 1}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var recs []string
			for i := range 10 {
				recs = append(recs, fmt.Sprintf(`{"id":%d}`, i))
			}
			_, objs, place := setup(t, "none", recs...)
			dest := &batchSizes{Destination: objs}
			d := redrive.Delivery{Name: "orders", Destination: dest, Errors: objs, Place: place, Prefix: "errors/", BatchBytes: tc.batchBytes}
			res, err := redrive.Run(context.Background(), d, redrive.Filter{}, func() time.Time { return arrival })
			if err != nil || res.Delivered != 10 {
				t.Fatalf("redrive: %+v, %v", res, err)
			}
			if fmt.Sprint(dest.sizes) != fmt.Sprint(tc.want) {
				t.Fatalf("batches of %v records, want %v", dest.sizes, tc.want)
			}
		})
	}
}
