package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

const natsStreams = `
streams:
  - name: clicks
`

func TestNATSDefaults(t *testing.T) {
	cfg := mustParse(t, "storage:\n  nats: {url: nats://n1:4222}\n"+natsStreams)
	host, _ := os.Hostname()
	want := NATSStorageConfig{URL: "nats://n1:4222", Replicas: 3, NodeName: host, LeaseTTL: Duration(10 * time.Second)}
	if got := *cfg.Storage.NATS; !reflect.DeepEqual(got, want) {
		t.Fatalf("storage.nats = %+v, want %+v", got, want)
	}
	if cfg.Storage.DiskBudget != 0 || cfg.Storage.AutoDiskBudget() {
		t.Fatalf("disk_budget = %v, auto %v; want 0 and no automatic budget with nats", cfg.Storage.DiskBudget, cfg.Storage.AutoDiskBudget())
	}

	embedded := mustParse(t, natsStreams)
	if embedded.Storage.NATS != nil || !embedded.Storage.AutoDiskBudget() {
		t.Fatalf("without nats: NATS = %v, auto budget %v; want nil and an automatic budget", embedded.Storage.NATS, embedded.Storage.AutoDiskBudget())
	}
	set := mustParse(t, "storage:\n  disk_budget: 10GiB\n  nats: {url: nats://n1:4222}\n"+natsStreams)
	if set.Storage.DiskBudget != 10*GiB || set.Storage.AutoDiskBudget() {
		t.Fatalf("a disk_budget written with nats: %v, auto %v", set.Storage.DiskBudget, set.Storage.AutoDiskBudget())
	}
}

func TestNATSEveryKey(t *testing.T) {
	env := map[string]string{"NATS_PASSWORD": "pw-from-env", "NATS_TOKEN": "tok-from-env"}
	cfg, err := ParseWithEnv("nats.yaml", []byte(`
storage:
  nats:
    url: " nats://n1:4222, tls://n2:4222 ,n3:4222"
    replicas: 5
    credentials: /etc/hydrant/nats.creds
    user: hydrant
    password: ${NATS_PASSWORD}
    token: ${NATS_TOKEN}
    tls: {ca_file: ca.pem, cert_file: c.crt, key_file: c.key}
    node_name: node-1.example
    lease_ttl: 30s
`+natsStreams), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	want := NATSStorageConfig{
		URL: " nats://n1:4222, tls://n2:4222 ,n3:4222", Replicas: 5, Credentials: "/etc/hydrant/nats.creds",
		User: "hydrant", Password: "pw-from-env", Token: "tok-from-env",
		TLS:      NATSTLSConfig{CAFile: "ca.pem", CertFile: "c.crt", KeyFile: "c.key"},
		NodeName: "node-1.example", LeaseTTL: Duration(30 * time.Second),
	}
	if got := *cfg.Storage.NATS; !reflect.DeepEqual(got, want) {
		t.Fatalf("storage.nats =\n%+v\nwant\n%+v", got, want)
	}
	if got := cfg.Storage.NATS.URLs(); !reflect.DeepEqual(got, []string{"nats://n1:4222", "tls://n2:4222", "n3:4222"}) {
		t.Fatalf("URLs() = %q", got)
	}
}

func TestNATSSecretsNeverPrinted(t *testing.T) {
	const password, token, urlPassword = "nats-pass", "nats-token", "url-pass"
	c := NewDefaultNATSStorageConfig()
	const bare = "bare-pass" // in a URL without a scheme, which NATS clients take
	c.URL = "nats://a:" + urlPassword + "@n1:4222,nats://" + token + "@n2:4222,nats://n3:4222,b:" + bare + "@n4:4222"
	c.User, c.Password, c.Token = "hydrant", password, token
	storage := NewDefaultStorageConfig()
	storage.NATS = &c
	storage.EncryptionKey = "store-key"
	for _, v := range []any{c, &c, storage, &storage} {
		for _, format := range []string{"%v", "%+v", "%s"} {
			got := fmt.Sprintf(format, v)
			for _, secret := range []string{password, token, urlPassword, bare, "store-key"} {
				if strings.Contains(got, secret) {
					t.Fatalf("Sprintf(%q, %T) shows a secret: %s", format, v, got)
				}
			}
			if !strings.Contains(got, "n3:4222") || !strings.Contains(got, "REDACTED") {
				t.Fatalf("Sprintf(%q, %T) = %s, want the URLs with the secrets REDACTED", format, v, got)
			}
		}
	}

	// Nor in an error, whatever else is wrong.
	_, err := ParseWithEnv("bad.yaml", []byte(`
storage:
  nats: {url: "ftp://u:`+urlPassword+`@h", password: `+password+`, token: `+token+`, replicas: 2}
`+natsStreams), noEnv)
	if err == nil {
		t.Fatal("want errors")
	}
	for _, secret := range []string{password, token, urlPassword} {
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("the error shows a secret:\n%v", err)
		}
	}
}

// TestNATSValidation changes the keys of a valid storage.nats and checks
// the one error it makes, or that it makes none.
func TestNATSValidation(t *testing.T) {
	const n = "storage.nats."
	tests := map[string]struct {
		nats    string // keys of storage.nats, YAML flow style
		storage string // more keys of storage
		path    string // of the one error; "" for none
		msg     string
	}{
		"valid":                   {nats: "url: nats://n1:4222"},
		"several URLs":            {nats: "url: 'nats://n1:4222,nats://n2:4222, nats://n3:4222'"},
		"URL without scheme":      {nats: "url: 'n1:4222'"},
		"URL with credentials":    {nats: "url: 'nats://u:p@n1:4222'"},
		"TLS and websocket URLs":  {nats: "url: 'tls://n1:4222,ws://n2:80,wss://n3:443'"},
		"no URL":                  {nats: "replicas: 3", path: n + "url", msg: "required: one or more nats://host:port URLs, comma-separated, e.g. nats://n1:4222,nats://n2:4222 (tls://, ws:// and wss:// also work)"},
		"empty URL":               {nats: "url: ' '", path: n + "url", msg: "required: one or more nats://host:port URLs, comma-separated, e.g. nats://n1:4222,nats://n2:4222 (tls://, ws:// and wss:// also work)"},
		"URL of another scheme":   {nats: "url: 'nats://n1:4222,http://n2:4222'", path: n + "url", msg: natsURLMessage},
		"empty URL in the list":   {nats: "url: 'nats://n1:4222,,nats://n2:4222'", path: n + "url", msg: natsURLMessage},
		"URL with a path":         {nats: "url: 'nats://n1:4222/x'", path: n + "url", msg: natsURLMessage},
		"URL without host":        {nats: "url: 'nats://:4222'", path: n + "url", msg: natsURLMessage},
		"one replica":             {nats: "url: nats://n1, replicas: 1"},
		"five replicas":           {nats: "url: nats://n1, replicas: 5"},
		"two replicas":            {nats: "url: nats://n1, replicas: 2", path: n + "replicas", msg: "must be 1, 3 or 5 (3 keeps every acknowledged record with one server down, 5 with two)"},
		"zero replicas":           {nats: "url: nats://n1, replicas: 0", path: n + "replicas", msg: "must be 1, 3 or 5 (3 keeps every acknowledged record with one server down, 5 with two)"},
		"user and password":       {nats: "url: nats://n1, user: u, password: p"},
		"password without user":   {nats: "url: nats://n1, password: p", path: n + "user", msg: "required when password is set"},
		"user without password":   {nats: "url: nats://n1, user: u", path: n + "password", msg: "required when user is set"},
		"token":                   {nats: "url: nats://n1, token: t"},
		"credentials":             {nats: "url: nats://n1, credentials: /etc/n.creds"},
		"CA only":                 {nats: "url: nats://n1, tls: {ca_file: ca.pem}"},
		"client certificate":      {nats: "url: nats://n1, tls: {cert_file: c.crt, key_file: c.key}"},
		"cert_file without key":   {nats: "url: nats://n1, tls: {cert_file: c.crt}", path: n + "tls.key_file", msg: "required when cert_file is set"},
		"key_file without cert":   {nats: "url: nats://n1, tls: {key_file: c.key}", path: n + "tls.cert_file", msg: "required when key_file is set"},
		"unknown tls key":         {nats: "url: nats://n1, tls: {insecure: true}", path: n + "tls.insecure", msg: "unknown key (valid: ca_file, cert_file, key_file)"},
		"node name":               {nats: "url: nats://n1, node_name: hydrant-2.eu"},
		"empty node name":         {nats: "url: nats://n1, node_name: ''", path: n + "node_name", msg: "required: the host name could not be read, so name this node"},
		"node name with a space":  {nats: "url: nats://n1, node_name: 'a b'", path: n + "node_name", msg: "must be 1 to 64 characters from a-z, A-Z, 0-9, '_', '.', '-' (the default is the host name)"},
		"shortest lease TTL":      {nats: "url: nats://n1, lease_ttl: 2s"},
		"longest lease TTL":       {nats: "url: nats://n1, lease_ttl: 5m"},
		"lease TTL too short":     {nats: "url: nats://n1, lease_ttl: 1s", path: n + "lease_ttl", msg: "must be between 2s and 5m"},
		"lease TTL too long":      {nats: "url: nats://n1, lease_ttl: 301s", path: n + "lease_ttl", msg: "must be between 2s and 5m"},
		"unknown key":             {nats: "url: nats://n1, replica: 3", path: n + "replica", msg: "unknown key (valid: url, replicas, credentials, user, password, token, tls, node_name, lease_ttl)"},
		"with an encryption key":  {nats: "url: nats://n1", storage: "encryption_key: k", path: "storage.encryption_key", msg: "cannot be combined with nats: on a NATS cluster, encryption at rest is the servers' setting (JetStream's cipher and key in their config)"},
		"with fsync and a budget": {nats: "url: nats://n1", storage: "fsync: interval\n  disk_budget: 1GiB"},
		"empty nats block":        {nats: "", path: n + "url", msg: "required: one or more nats://host:port URLs, comma-separated, e.g. nats://n1:4222,nats://n2:4222 (tls://, ws:// and wss:// also work)"},
		"encryption key, no nats": {storage: "encryption_key: k"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			yaml := "storage:\n"
			if tt.storage != "" {
				yaml += "  " + tt.storage + "\n"
			}
			if tt.nats != "" || tt.storage == "" || strings.Contains(name, "nats block") {
				yaml += "  nats: {" + tt.nats + "}\n"
			}
			_, err := ParseWithEnv("n.yaml", []byte(yaml+natsStreams), noEnv)
			if tt.path == "" {
				if err != nil {
					t.Fatalf("unexpected error:\n%v", err)
				}
				return
			}
			var cfgErr *Error
			if !errors.As(err, &cfgErr) || len(cfgErr.Errors) != 1 {
				t.Fatalf("err = %v, want one error at %s", err, tt.path)
			}
			if got := cfgErr.Errors[0]; got.Path != tt.path || got.Message != tt.msg {
				t.Fatalf("error = %s: %s\nwant    %s: %s", got.Path, got.Message, tt.path, tt.msg)
			}
		})
	}
}
