package shards

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/internal/await"
	"github.com/hydrant-dev/hydrant/internal/testcert"
	"github.com/hydrant-dev/hydrant/internal/testnats"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

func openClusterStore(t *testing.T, url string, name string) *Store {
	t.Helper()
	s, err := Open(context.Background(), StoreConfig{NATS: &NATSConfig{URL: url, Replicas: 3, Name: name}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// On a three-server cluster with three replicas, appends go on while a
// server is down — the one leading a shard's stream, lost without notice as
// in a crash, so the others elect a leader only after their election
// timeout — and every record acknowledged is read back, once.
func TestClusterAppendsRideOutALostServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS cluster")
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := testnats.StartCluster(t, 3)
	t.Logf("cluster up in %v", time.Since(start))
	s := openClusterStore(t, c.URL(), "node-a")
	defer s.Close()
	if s.Replicas() != 3 {
		t.Fatalf("Replicas() = %d, want 3", s.Replicas())
	}
	st, err := s.CreateStream(ctx, StreamSpec{Name: "events", Shards: 2, Limits: Limits{BytesPerSecond: 1 << 30, RecordsPerSecond: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{jsStreamName("events", 0), jsStreamName("events", 1), "KV_" + checkpointBucket, "KV_" + metaBucket} {
		info, err := s.JetStream().Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if r := info.CachedInfo().Config.Replicas; r != 3 {
			t.Fatalf("%s has %d replicas, want 3", name, r)
		}
	}

	// Producers append to both shards until told to stop.
	type ack struct {
		shard int
		seq   Sequence
	}
	var (
		mu       sync.Mutex
		acked    = map[string]ack{}
		failures []error
		appends  [2]atomic.Int64 // per shard
		slowest  [2]time.Duration
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	for p := range 4 {
		wg.Go(func() {
			shard := p % 2
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				data := fmt.Sprintf("p%d-%d", p, i)
				began := time.Now()
				seqs, err := st.Append(ctx, shard, []Record{{PartitionKey: data, Data: []byte(data)}})
				took := time.Since(began)
				mu.Lock()
				if err != nil {
					failures = append(failures, err)
				} else {
					acked[data] = ack{shard, seqs[0]}
				}
				slowest[shard] = max(slowest[shard], took)
				mu.Unlock()
				appends[shard].Add(1)
			}
		})
	}
	// atLeast waits for n more appends to each shard.
	atLeast := func(n int64, what string) {
		t.Helper()
		want := [2]int64{appends[0].Load() + n, appends[1].Load() + n}
		await.Cond(t, 25*time.Second, what, func() bool { return appends[0].Load() >= want[0] && appends[1].Load() >= want[1] })
	}
	atLeast(100, "100 appends to each shard")

	info, err := s.JetStream().Stream(ctx, jsStreamName("events", 0))
	if err != nil {
		t.Fatal(err)
	}
	leader := c.Index(info.CachedInfo().Cluster.Leader)
	t.Logf("%d appends in %v since the start", appends[0].Load()+appends[1].Load(), time.Since(start))
	killed := time.Now()
	c.Kill(leader)
	// Checkpoints are claimed and written meanwhile (the bucket's leader
	// may be the server lost).
	claim, _, err := s.ClaimCheckpoint(ctx, "archive", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := claim.Set(ctx, MakeSequence(1, 0)); err != nil {
		t.Fatal(err)
	}
	t.Logf("checkpoint claimed and set %v after the kill", time.Since(killed))
	atLeast(100, "100 more appends to each shard after killing a server")
	t.Logf("killed %s (leader of shard 0): 100 appends to each shard went through in %v", c.Name(leader), time.Since(killed))
	close(stop)
	wg.Wait()
	t.Logf("slowest append: shard 0 %v, shard 1 %v", slowest[0], slowest[1])
	if len(failures) > 0 {
		t.Errorf("%d of %d appends failed; the first: %v", len(failures), appends[0].Load()+appends[1].Load(), failures[0])
	}

	// Every acknowledged record is there, once, where its ack said.
	reading := time.Now()
	seen := map[string]int{}
	total := 0
	for shard := range 2 {
		recs := readAfterLoss(t, s, "events", shard, killed)
		total += len(recs)
		for _, r := range recs {
			seen[string(r.Data)]++
			if a, ok := acked[string(r.Data)]; ok && (a.shard != shard || a.seq != r.Sequence) {
				t.Fatalf("record %s read at shard %d %v, acknowledged at shard %d %v", r.Data, shard, r.Sequence, a.shard, a.seq)
			}
		}
		// The running count survived the lost leader and the retries.
		if n, err := s.RecordsTotal(ctx, "events", shard); err != nil || n != int64(len(recs)) {
			t.Fatalf("shard %d: RecordsTotal = %d, %v; the shard holds %d", shard, n, err, len(recs))
		}
	}
	for data := range acked {
		if seen[data] != 1 {
			t.Fatalf("acknowledged record %s read %d times", data, seen[data])
		}
	}
	t.Logf("%d records acknowledged, %d stored, read back in %v", len(acked), total, time.Since(reading))
	used, _ := s.DiskUsage()
	t.Logf("account usage reported: %d bytes", used)

	// The server comes back and catches up; the log goes on.
	restart := time.Now()
	c.Restart(leader)
	t.Logf("restarted %s in %v", c.Name(leader), time.Since(restart))
	if _, err := st.Append(ctx, 0, []Record{{PartitionKey: "k", Data: []byte("after restart")}}); err != nil {
		t.Fatal(err)
	}
	t.Logf("whole test: %v", time.Since(start))
}

// Two nodes appending to one shard keep one running record count, and a
// checkpoint claimed on one node fences the other's claim.
func TestClusterTwoNodesShareAShard(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := testnats.StartCluster(t, 3)
	var nodes [2]*Store
	var streams [2]*Stream
	for i := range nodes {
		nodes[i] = openClusterStore(t, c.URL(), fmt.Sprintf("node-%d", i))
		defer nodes[i].Close()
		st, err := nodes[i].CreateStream(ctx, StreamSpec{Name: "shared", Shards: 1, Limits: Limits{BytesPerSecond: 1 << 30, RecordsPerSecond: 1 << 20}})
		if err != nil {
			t.Fatal(err)
		}
		streams[i] = st
	}
	const perProducer = 100
	var wg sync.WaitGroup
	for p := range 4 {
		wg.Go(func() {
			st := streams[p%2]
			for i := range perProducer {
				if _, err := st.Append(ctx, 0, []Record{{PartitionKey: "k", Data: fmt.Appendf(nil, "%d-%d", p, i)}}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	recs := readAll(t, nodes[0], "shared", 0)
	if len(recs) != 4*perProducer {
		t.Fatalf("the shard holds %d records, want %d", len(recs), 4*perProducer)
	}
	if n, err := nodes[1].RecordsTotal(ctx, "shared", 0); err != nil || n != int64(len(recs)) {
		t.Fatalf("RecordsTotal = %d, %v; want %d", n, err, len(recs))
	}
	if lag, err := nodes[0].Lag(ctx, "shared", 0, recs[99].Sequence); err != nil || lag.Records != int64(len(recs)-100) {
		t.Fatalf("Lag after record 100 = %+v, %v; want %d records", lag, err, len(recs)-100)
	}

	first, _, err := nodes[0].ClaimCheckpoint(ctx, "d", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Set(ctx, recs[9].Sequence); err != nil {
		t.Fatal(err)
	}
	second, from, err := nodes[1].ClaimCheckpoint(ctx, "d", 0)
	if err != nil || from != recs[9].Sequence {
		t.Fatalf("the second node claimed at %v, %v; want %v", from, err, recs[9].Sequence)
	}
	if err := first.Set(ctx, recs[19].Sequence); !errors.Is(err, ErrFenced) {
		t.Fatalf("the first node's Set after the second's claim: %v, want ErrFenced", err)
	}
	if err := second.Set(ctx, recs[29].Sequence); err != nil {
		t.Fatal(err)
	}
	if cp, err := nodes[0].Checkpoint(ctx, "d", 0); err != nil || cp != recs[29].Sequence {
		t.Fatalf("checkpoint = %v, %v; want the second node's %v", cp, err, recs[29].Sequence)
	}
}

// Open authenticates and verifies the server as configured, refuses what
// a cluster cannot do, and fits messages to the servers' max_payload.
func TestOpenNATSOptions(t *testing.T) {
	if testing.Short() {
		t.Skip("starts NATS servers")
	}
	ctx := context.Background()
	dir := t.TempDir()
	testcert.Write(t, dir, "server.crt", "server.key")
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "server.crt")
	c := testnats.StartOne(t, testnats.Configure(func(o *server.Options) {
		o.Authorization = "s3cr3t"
		o.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		o.TLSTimeout = 2
		o.MaxPayload = 512 << 10
	}, nats.Token("s3cr3t"), nats.RootCAs(ca)))

	open := func(cfg StoreConfig) (*Store, error) {
		if cfg.NATS.URL == "" {
			cfg.NATS.URL = c.URL()
		}
		return Open(ctx, cfg)
	}
	failures := map[string]struct {
		cfg  StoreConfig
		want string
	}{
		"wrong token":       {StoreConfig{NATS: &NATSConfig{Token: "guess", CAFile: ca, Replicas: 1}, MaxRecordSize: 100 << 10}, "connect to NATS"},
		"untrusted server":  {StoreConfig{NATS: &NATSConfig{Token: "s3cr3t", Replicas: 1}, MaxRecordSize: 100 << 10}, "connect to NATS"},
		"records too large": {StoreConfig{NATS: &NATSConfig{Token: "s3cr3t", CAFile: ca, Replicas: 1}}, "set max_payload to at least"},
		"encryption key":    {StoreConfig{NATS: &NATSConfig{Token: "s3cr3t", CAFile: ca, Replicas: 1}, EncryptionKey: "k"}, "encryption at rest is the servers'"},
		"replicas on one server": {StoreConfig{NATS: &NATSConfig{Token: "s3cr3t", CAFile: ca, Replicas: 3}, MaxRecordSize: 100 << 10},
			"replicas"},
		"seven replicas": {StoreConfig{NATS: &NATSConfig{Token: "s3cr3t", CAFile: ca, Replicas: 7}}, "JetStream keeps 1 to 5"},
		"no URL":         {StoreConfig{NATS: &NATSConfig{URL: " "}}, "no NATS URL"},
	}
	for name, tt := range failures {
		t.Run(name, func(t *testing.T) {
			s, err := open(tt.cfg)
			if err == nil {
				s.Close()
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to say %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Fatalf("the error shows the token: %v", err)
			}
		})
	}

	s, err := open(StoreConfig{NATS: &NATSConfig{Token: "s3cr3t", CAFile: ca, Replicas: 1}, MaxRecordSize: 100 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := s.CreateStream(ctx, StreamSpec{Name: "small", Shards: 1, Limits: Limits{BytesPerSecond: 1 << 30, RecordsPerSecond: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	// 2 MiB of records in one append: messages stay under max_payload.
	recs := make([]Record, 40)
	for i := range recs {
		recs[i] = Record{PartitionKey: "k", Data: make([]byte, 50<<10)}
		recs[i].Data[0] = byte(i)
	}
	seqs, err := st.Append(ctx, 0, recs)
	if err != nil {
		t.Fatal(err)
	}
	if msgs := seqs[len(seqs)-1].Message() - seqs[0].Message() + 1; msgs < 4 {
		t.Fatalf("2 MiB stored in %d messages under a 512 KiB max_payload", msgs)
	}
	for i, r := range readN(t, s, "small", 0, 0, len(recs)) {
		if r.Data[0] != byte(i) {
			t.Fatalf("record %d out of order", i)
		}
	}
	// A stream of an external log is not the store's to stop.
	s.Close()
	if c.Server(0) == nil || !c.Server(0).Running() {
		t.Fatal("closing the store stopped the server")
	}
}

// readAfterLoss reads every record of a shard soon after a server was lost.
// Until the cluster marks the lost server offline, it may place a reader's
// consumer there, and creating it times out: reading is tried again.
func readAfterLoss(t *testing.T, s *Store, stream string, shard int, lost time.Time) []StoredRecord {
	t.Helper()
	var (
		recs  []StoredRecord
		tries int
	)
	await.Cond(t, 30*time.Second, "a reader of the shard", func() bool {
		tries++
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		r, err := s.OpenReader(ctx, stream, shard, 0)
		if err != nil {
			return false
		}
		r.Close()
		return true
	})
	if tries > 1 {
		t.Logf("shard %d: a reader opened at the %d. try, %v after the loss", shard, tries, time.Since(lost))
	}
	recs = readAll(t, s, stream, shard)
	return recs
}
