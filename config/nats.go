package config

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/hydrant-dev/hydrant/internal/natsurl"
)

// NATSStorageConfig puts the shard log on an external NATS JetStream
// cluster instead of the embedded server, so that several Hydrant nodes
// share it. The servers' own settings then apply where the embedded server
// took Hydrant's: how often they sync to disk (their sync_interval, not
// storage.fsync), encryption at rest, store limits.
type NATSStorageConfig struct {
	// URL is one or more server URLs, comma-separated, as NATS clients take
	// them: nats://n1:4222,nats://n2:4222. Required.
	URL string `yaml:"url"`
	// Replicas is the copies JetStream keeps of each shard's stream and of
	// the checkpoint and catalog buckets: 1, 3 or 5.
	Replicas    int           `yaml:"replicas"`
	Credentials string        `yaml:"credentials"` // .creds file: user JWT and nkey seed
	User        string        `yaml:"user"`        // with password
	Password    string        `yaml:"password"`    // never printed
	Token       string        `yaml:"token"`       // never printed
	TLS         NATSTLSConfig `yaml:"tls"`
	// NodeName is this Hydrant node's name among the nodes sharing the
	// cluster (its shard leases are held under it); default: the host name.
	NodeName string `yaml:"node_name"`
	// LeaseTTL is how long a node's shard leases outlive it: a node that
	// dies holds its shards for up to this long before others take them.
	LeaseTTL Duration `yaml:"lease_ttl"` // 2s..5m
}

// NATSTLSConfig is how a NATS cluster's TLS is trusted and, for servers
// that verify clients, how Hydrant proves itself.
type NATSTLSConfig struct {
	CAFile   string `yaml:"ca_file"`   // PEM CA bundle; default the system's roots
	CertFile string `yaml:"cert_file"` // client certificate, with key_file
	KeyFile  string `yaml:"key_file"`
}

// NewDefaultNATSStorageConfig returns the defaults: 3 replicas, the host
// name as node name ("" when it cannot be read) and a 10 s lease TTL.
func NewDefaultNATSStorageConfig() NATSStorageConfig {
	host, _ := os.Hostname()
	return NATSStorageConfig{Replicas: 3, NodeName: host, LeaseTTL: Duration(10 * time.Second)}
}

func (c *NATSStorageConfig) setDefaults() { *c = NewDefaultNATSStorageConfig() }

// URLs returns the server URLs of URL, trimmed.
func (c NATSStorageConfig) URLs() []string {
	var urls []string
	for u := range strings.SplitSeq(c.URL, ",") {
		urls = append(urls, strings.TrimSpace(u))
	}
	return urls
}

// String never shows the password or the token, nor one written in a URL.
func (c NATSStorageConfig) String() string {
	type plain NATSStorageConfig // no String method: no recursion
	if c.Password != "" {
		c.Password = "REDACTED"
	}
	if c.Token != "" {
		c.Token = "REDACTED"
	}
	c.URL = natsurl.Redact(c.URL)
	return fmt.Sprintf("%+v", plain(c))
}

// natsURLMessage says what storage.nats.url takes.
const natsURLMessage = "must be one or more nats://host:port URLs, comma-separated, e.g. nats://n1:4222,nats://n2:4222 (tls://, ws:// and wss:// also work)"

// Validate checks the NATS cluster settings.
func (c NATSStorageConfig) Validate() []FieldError {
	var errs fieldErrors
	if strings.TrimSpace(c.URL) == "" {
		errs.add("url", "required: %s", strings.TrimPrefix(natsURLMessage, "must be "))
	} else {
		for _, u := range c.URLs() {
			if !validNATSURL(u) {
				errs.add("url", "%s", natsURLMessage) // the URL is not shown: it may hold a password
				break
			}
		}
	}
	if c.Replicas != 1 && c.Replicas != 3 && c.Replicas != 5 {
		errs.add("replicas", "must be 1, 3 or 5 (3 keeps every acknowledged record with one server down, 5 with two)")
	}
	if c.Password != "" && c.User == "" {
		errs.add("user", "required when password is set")
	}
	if c.User != "" && c.Password == "" {
		errs.add("password", "required when user is set")
	}
	if c.TLS.CertFile != "" && c.TLS.KeyFile == "" {
		errs.add("tls.key_file", "required when cert_file is set")
	}
	if c.TLS.KeyFile != "" && c.TLS.CertFile == "" {
		errs.add("tls.cert_file", "required when key_file is set")
	}
	if c.NodeName == "" {
		errs.add("node_name", "required: the host name could not be read, so name this node")
	} else {
		var nameErrs fieldErrors
		if checkName(&nameErrs, "node_name", c.NodeName); len(nameErrs) > 0 {
			errs.add("node_name", "%s (the default is the host name)", nameErrs[0].Message)
		}
	}
	between(&errs, "lease_ttl", c.LeaseTTL, Duration(2*time.Second), Duration(5*time.Minute))
	return errs
}

// validNATSURL reports whether s is a URL a NATS client connects to:
// host:port, or scheme://[user[:password]@]host[:port] with a NATS scheme.
func validNATSURL(s string) bool {
	if s == "" {
		return false
	}
	if !strings.Contains(s, "://") {
		s = "nats://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Hostname() == "" || (u.Path != "" && u.Path != "/") {
		return false
	}
	switch u.Scheme {
	case "nats", "tls", "ws", "wss":
		return true
	}
	return false
}

// AutoDiskBudget reports whether Hydrant picks the disk budget itself: when
// disk_budget is not set and the log is embedded. With storage.nats the
// budget is off unless set (the cluster's JetStream limits apply).
func (c StorageConfig) AutoDiskBudget() bool { return c.DiskBudget == 0 && c.NATS == nil }
