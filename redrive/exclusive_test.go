package redrive_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/config"
	"github.com/hydrant-dev/hydrant/destinations"
	"github.com/hydrant-dev/hydrant/destinations/file"
	"github.com/hydrant-dev/hydrant/destinations/s3"
	miniotest "github.com/hydrant-dev/hydrant/e2e/minio"
	"github.com/hydrant-dev/hydrant/redrive"
	"github.com/hydrant-dev/hydrant/transform"
)

// shared is an error output two nodes share: a directory or a bucket.
type shared struct {
	// objects returns a destination writing its data under prefix (and
	// errors under the default error prefix) into the shared place.
	objects func(t *testing.T, prefix string) *destinations.Objects
	place   redrive.Place
	// data returns the lines of the data objects under prefix.
	data func(t *testing.T, prefix string) []string
}

// sharedPlaces are a directory and a MinIO bucket.
func sharedPlaces(t *testing.T) map[string]func(t *testing.T) shared {
	return map[string]func(t *testing.T) shared{
		"dir": func(t *testing.T) shared {
			dir := t.TempDir()
			fs, err := file.New(dir)
			if err != nil {
				t.Fatal(err)
			}
			return shared{
				objects: func(t *testing.T, prefix string) *destinations.Objects { return newObjects(t, fs, prefix) },
				place:   redrive.NewDir(dir, fs),
				data: func(t *testing.T, prefix string) []string {
					var lines []string
					filepath.WalkDir(filepath.Join(dir, prefix), func(path string, e os.DirEntry, err error) error {
						if err == nil && !e.IsDir() {
							b, err := os.ReadFile(path)
							if err != nil {
								t.Fatal(err)
							}
							lines = append(lines, strings.Fields(string(b))...)
						}
						return nil
					})
					return lines
				},
			}
		},
		"minio": func(t *testing.T) shared {
			m := miniotest.Start(t)
			m.CreateBucket(t, "out")
			store, err := s3.New(s3.Config{Endpoint: m.Endpoint, Region: "us-east-1", Bucket: "out", AccessKeyID: m.AccessKey, SecretAccessKey: m.SecretKey})
			if err != nil {
				t.Fatal(err)
			}
			return shared{
				objects: func(t *testing.T, prefix string) *destinations.Objects { return newObjects(t, store, prefix) },
				place:   redrive.NewBucket(store.Client(), "out", store, minio.GetObjectOptions{}),
				data: func(t *testing.T, prefix string) []string {
					ctx := context.Background()
					var lines []string
					for o := range m.Client.ListObjects(ctx, "out", minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
						if o.Err != nil {
							t.Fatal(o.Err)
						}
						r, err := m.Client.GetObject(ctx, "out", o.Key, minio.GetObjectOptions{})
						if err != nil {
							t.Fatal(err)
						}
						b, err := io.ReadAll(r)
						r.Close()
						if err != nil {
							t.Fatal(err)
						}
						lines = append(lines, strings.Fields(string(b))...)
					}
					return lines
				},
			}
		},
	}
}

func newObjects(t *testing.T, store destinations.ObjectStore, prefix string) *destinations.Objects {
	t.Helper()
	o, err := destinations.NewObjects(store, destinations.ObjectsConfig{Prefix: prefix, ErrorPrefix: config.DefaultErrorPrefix})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// writeErrorObjects writes n error objects of one record each.
func writeErrorObjects(t *testing.T, objs *destinations.Objects, n int) {
	t.Helper()
	for i := range n {
		eb := &destinations.ErrorBatch{Delivery: "orders", ShardID: fmt.Sprintf("shardId-%012d", i), Type: destinations.ErrorTypeProcessingFailed,
			Records: []destinations.ErrorRecord{{Record: buffer.Record{Data: fmt.Appendf(nil, `{"id":%d}`, i), Sequence: 1, Arrival: arrival},
				ErrorCode: "x", ErrorMessage: "bad", AttemptsMade: 1, AttemptEnding: arrival}}}
		if err := objs.WriteErrors(context.Background(), eb); err != nil {
			t.Fatal(err)
		}
	}
}

// tagging marks each record with the node that transformed it.
func tagging(node string) transform.Transform {
	return transform.Func(func(r buffer.Record) transform.Output {
		return transform.Output{Result: transform.Ok, Data: bytes.Replace(r.Data, []byte("}"), []byte(`,"node":"`+node+`"}`), 1)}
	})
}

// Create writes a marker once: the second creator is told it is there.
func TestCreateIsExclusive(t *testing.T) {
	for name, open := range sharedPlaces(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t)
			for i, want := range []bool{true, false} {
				created, err := s.place.Create(ctx, "errors/x.jsonl.redrive.json", fmt.Appendf(nil, `{"n":%d}`, i))
				if err != nil || created != want {
					t.Fatalf("create %d: %v, %v; want %v", i+1, created, err, want)
				}
			}
			if b, err := s.place.Get(ctx, "errors/x.jsonl.redrive.json", 1<<10); err != nil || string(b) != `{"n":0}` {
				t.Fatalf("marker after two creates: %q, %v; want the first", b, err)
			}
		})
	}
}

// Two nodes redriving one shared error output at once, with different
// transforms, redrive each error object once: each record is delivered
// by one node, in the node's own data prefix, and the other node counts
// the object as busy or done.
func TestConcurrentRedrivesShareObjects(t *testing.T) {
	const n = 30
	for name, open := range sharedPlaces(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			writeErrorObjects(t, s.objects(t, "data/"), n)
			var (
				wg      sync.WaitGroup
				results [2]redrive.Result
				errs    [2]error
			)
			for i, node := range []string{"a", "b"} {
				objs := s.objects(t, "data/"+node+"/")
				d := redrive.Delivery{Name: "orders", Transform: tagging(node), Destination: objs, Errors: objs,
					Place: s.place, Prefix: "errors/", Node: node}
				wg.Go(func() { results[i], errs[i] = redrive.Run(context.Background(), d, redrive.Filter{}, time.Now) })
			}
			wg.Wait()
			if errs[0] != nil || errs[1] != nil {
				t.Fatal(errs)
			}
			a, b := results[0], results[1]
			if a.Objects+b.Objects != n || a.Objects+a.Skipped+a.SkippedBusy != n || b.Objects+b.Skipped+b.SkippedBusy != n {
				t.Fatalf("node a %+v, node b %+v; want %d objects redriven between them, the others skipped", a, b, n)
			}
			var ids []string
			for _, node := range []string{"a", "b"} {
				for _, l := range s.data(t, "data/"+node+"/") {
					if !strings.Contains(l, `"node":"`+node+`"`) {
						t.Fatalf("node %s delivered %s", node, l)
					}
					ids = append(ids, l[:strings.Index(l, ",")])
				}
			}
			slices.Sort(ids)
			if len(ids) != n || len(slices.Compact(ids)) != n {
				t.Fatalf("%d records delivered (%d distinct), want %d once each", len(ids), len(slices.Compact(slices.Clone(ids))), n)
			}
			t.Logf("node a %+v, node b %+v", a, b)
		})
	}
}

// A plan another node made less than the lease ago is left to it; an
// older one is taken over and replayed; a node's own plan (of its redrive
// cut short) is replayed at once.
func TestLease(t *testing.T) {
	ctx := context.Background()
	dir, objs, place := setup(t, "none", `{"id":1}`)
	d := redrive.Delivery{Name: "orders", Transform: transform.Func(fixing), Destination: objs, Errors: objs,
		Place: place, Prefix: "errors/", Node: "b", Lease: time.Minute}
	// Node b plans the object and is cut short before it is done.
	blocked := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(blocked, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	bfs, _ := file.New(blocked)
	broken, err := destinations.NewObjects(bfs, destinations.ObjectsConfig{Prefix: "data/"})
	if err != nil {
		t.Fatal(err)
	}
	planned := arrival.Add(time.Hour)
	cut := d
	cut.Destination = broken
	if _, err := redrive.Run(ctx, cut, redrive.Filter{}, func() time.Time { return planned }); err == nil {
		t.Fatal("redrive with a broken destination: no error")
	}
	tests := []struct {
		name string
		node string
		at   time.Time
		want redrive.Result
	}{
		{"another node within the lease", "a", planned.Add(59 * time.Second), redrive.Result{SkippedBusy: 1}},
		{"the same node", "b", planned.Add(time.Second), redrive.Result{Objects: 1, Records: 1, Delivered: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dn := d
			dn.Node = tc.node
			res, err := redrive.Run(ctx, dn, redrive.Filter{}, func() time.Time { return tc.at })
			if err != nil || res != tc.want {
				t.Fatalf("redrive: %+v, %v; want %+v", res, err, tc.want)
			}
		})
	}
	// Planned again by b, then abandoned: a takes it over after the lease.
	dir2, objs2, place2 := setup(t, "none", `{"id":1}`)
	cut.Place, cut.Errors = place2, objs2
	if _, err := redrive.Run(ctx, cut, redrive.Filter{}, func() time.Time { return planned }); err == nil {
		t.Fatal("redrive with a broken destination: no error")
	}
	da := d
	da.Node, da.Place, da.Destination, da.Errors = "a", place2, objs2, objs2
	res, err := redrive.Run(ctx, da, redrive.Filter{}, func() time.Time { return planned.Add(time.Minute) })
	if want := (redrive.Result{Objects: 1, Records: 1, Delivered: 1}); err != nil || res != want {
		t.Fatalf("redrive of an abandoned plan: %+v, %v; want %+v", res, err, want)
	}
	for _, dd := range []string{dir, dir2} {
		if got := delivered(t, dd, "none"); !slices.Equal(got, []string{`{"id":1}`}) {
			t.Fatalf("delivered %q", got)
		}
	}
}
