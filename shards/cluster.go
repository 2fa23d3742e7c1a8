package shards

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hydrant-dev/hydrant/internal/natsurl"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATSConfig is an external NATS JetStream cluster that holds the shard log
// instead of the embedded server, so that several Hydrant nodes share it.
// The servers' own settings then apply where the embedded server took
// Hydrant's: how often they sync to disk, encryption at rest, store limits.
type NATSConfig struct {
	// URL is one or more server URLs, comma-separated, as NATS clients take
	// them: nats://n1:4222,nats://n2:4222. Required.
	URL string
	// Replicas is the copies of each shard's stream and of the checkpoint
	// and catalog buckets: 1..5 (0: 3). With 3, the log takes writes and
	// keeps every acknowledged record while one server is down.
	Replicas int
	// CredentialsFile is a .creds file (user JWT and nkey seed).
	CredentialsFile string
	// User and Password, or Token, authenticate to servers that use them.
	User, Password string
	Token          string
	// CAFile is a PEM bundle to trust the servers' certificates with;
	// CertFile and KeyFile are the client certificate for servers that ask
	// for one.
	CAFile, CertFile, KeyFile string
	// Name is the connection's name, shown by the servers (e.g. the node
	// name); default "hydrant".
	Name string
}

const (
	// reconnectWait is the pause between attempts to reconnect to the same
	// server; the client moves to the cluster's other servers at once.
	reconnectWait = 500 * time.Millisecond
	// clusterDuplicates is the streams' duplicate window on a cluster: the
	// appender gives every message an id, and a publish whose outcome it
	// does not know is sent again with it within publishTimeout, so that
	// the servers store it once.
	clusterDuplicates = 2 * publishTimeout
	// messageOverhead bounds what a message adds to its largest record: the
	// batch header, the record's framing and partition key (at most 256
	// bytes) and the message's headers.
	messageOverhead = 4 << 10
)

// connect connects to the cluster of c and checks that its servers take
// messages as large as the largest record.
func (s *Store) connect(c NATSConfig) error {
	if s.cfg.EncryptionKey != "" {
		return errors.New("shard log: an encryption key is the embedded server's setting; on a NATS cluster, encryption at rest is the servers' (JetStream's cipher and key in their config)")
	}
	if c.Replicas == 0 {
		c.Replicas = 3
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		return fmt.Errorf("shard log: %d replicas; JetStream keeps 1 to 5", c.Replicas)
	}
	if strings.TrimSpace(c.URL) == "" {
		return errors.New("shard log: no NATS URL")
	}
	if c.Name == "" {
		c.Name = "hydrant"
	}
	opts := []nats.Option{
		nats.Name(c.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(reconnectWait),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			s.drops.dropped()
			if !nc.IsClosed() {
				s.logger.Warn("shard log: disconnected from NATS; reconnecting", "error", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			s.logger.Info("shard log: reconnected to NATS", "server", nc.ConnectedUrlRedacted())
		}),
	}
	if c.CredentialsFile != "" {
		opts = append(opts, nats.UserCredentials(c.CredentialsFile))
	}
	if c.User != "" {
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	}
	if c.Token != "" {
		opts = append(opts, nats.Token(c.Token))
	}
	if c.CAFile != "" {
		opts = append(opts, nats.RootCAs(c.CAFile))
	}
	if c.CertFile != "" || c.KeyFile != "" {
		opts = append(opts, nats.ClientCert(c.CertFile, c.KeyFile))
	}
	nc, err := nats.Connect(c.URL, opts...)
	if err != nil {
		return fmt.Errorf("shard log: connect to NATS at %s: %w", natsurl.Redact(c.URL), err)
	}
	maxPayload := int(nc.MaxPayload())
	if need := s.cfg.MaxRecordSize + messageOverhead; need > maxPayload {
		nc.Close()
		return fmt.Errorf("shard log: the NATS servers take messages of at most %d bytes (max_payload) but records may be %d bytes (server.max_record_size): set max_payload to at least %d in the servers' config",
			maxPayload, s.cfg.MaxRecordSize, need)
	}
	s.nc, s.maxPayload, s.replicas = nc, maxPayload, c.Replicas
	s.targetBytes = min(targetMessageBytes, maxPayload-messageOverhead)
	return nil
}

// connDrops tells the publishes in flight that the connection dropped: the
// answers they wait for will not come, and they had better try again at once
// than wait for their timeout.
type connDrops struct {
	mu   sync.Mutex
	drop chan struct{} // closed at the next drop
}

func newConnDrops() *connDrops { return &connDrops{drop: make(chan struct{})} }

// next returns a channel closed when the connection next drops.
func (d *connDrops) next() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.drop
}

func (d *connDrops) dropped() {
	d.mu.Lock()
	defer d.mu.Unlock()
	close(d.drop)
	d.drop = make(chan struct{})
}

// allowDirect reports whether the shard streams answer direct gets. Any
// replica answers them, and a follower may not have a message its leader
// acknowledged yet; reads would then take it for trimmed and skip it. So a
// replicated log is read through its leaders.
func (s *Store) allowDirect() bool { return s.replicas == 1 }

// JetStream returns the store's JetStream context on a NATS cluster, for
// the buckets of layers above the log (node leases, say); nil for the
// embedded log. It stays valid until Close.
func (s *Store) JetStream() jetstream.JetStream { return s.js }

// Replicas returns the copies kept of each stream and bucket: 1 when the
// log is embedded. Buckets created through JetStream should keep as many.
func (s *Store) Replicas() int { return s.replicas }
