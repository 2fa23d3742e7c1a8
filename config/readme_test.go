package config

import (
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The README's configuration reference must be a valid config that names
// every key of the model, so the documentation cannot drift from the code.
func TestReadmeReferenceCoversEveryKey(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "<!-- config-reference:start -->\n```yaml\n")
	if !ok {
		t.Fatal("README has no config-reference block")
	}
	block, _, ok = strings.Cut(block, "```\n<!-- config-reference:end -->")
	if !ok {
		t.Fatal("config-reference block is not closed")
	}
	caFile := filepath.Join(t.TempDir(), "es-ca.pem") // tls.ca_file must exist
	if err := os.WriteFile(caFile, []byte("-----BEGIN CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "secret",
		"HYDRANT_AWS_SECRET": "secret", "HYDRANT_SHIPPER_KEY": "0123456789abcdef0123",
		"AUDIT_SSE_C_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "HYDRANT_STORE_KEY": "s3cr3t-store-key",
		"ORDERS_DSN": "postgres://u:p@127.0.0.1:5432/db",
		"ES_API_KEY": "aWQ6a2V5", "ES_PASSWORD": "changeme", "ES_CA_FILE": caFile, "HTTP_ACCESS_KEY": "k3y",
		"NATS_PASSWORD": "pw", "NATS_TOKEN": "tok", "REST_CLIENT": "client", "REST_SECRET": "secret", "REST_TOKEN": "tok"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(block), &root); err != nil {
		t.Fatal(err)
	}
	// The reference shows the embedded store's encryption_key beside
	// storage.nats, which exclude each other: each must make a valid config
	// without the other.
	for _, drop := range []string{"nats", "encryption_key"} {
		variant, err := yaml.Marshal(without(&root, "storage", drop))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseWithEnv("README.md", variant, lookup); err != nil {
			t.Fatalf("README config reference without storage.%s is not a valid config:\n%v", drop, err)
		}
	}

	documented := map[string]bool{}
	collectKeys(root.Content[0], "", documented)
	for k := range documented { // a backup's keys are a destination's (checked by parsing)
		if strings.HasPrefix(k, "deliveries.backup.file.") || strings.HasPrefix(k, "deliveries.backup.s3.") {
			delete(documented, k)
		}
	}
	for k := range documented { // a nested Parquet column's keys are a column's (checked by parsing)
		if prefix, _, ok := cutLast(k); ok && nestedParquet(prefix) {
			delete(documented, k)
		}
	}
	model := map[string]bool{}
	modelKeys(reflect.TypeOf(Config{}), "", model)
	model["deliveries.transforms.type"] = true // TransformConfig decodes itself
	// A map's entries are named by the user: the README's names stand for
	// the model's "*".
	for k := range maps.Clone(documented) {
		for m := range model {
			if prefix, ok := strings.CutSuffix(m, ".*"); ok && strings.HasPrefix(k, prefix+".") {
				_, rest, _ := strings.Cut(strings.TrimPrefix(k, prefix+"."), ".")
				delete(documented, k)
				if rest == "" {
					documented[prefix+".*"] = true
				} else {
					documented[prefix+".*."+rest] = true
				}
			}
		}
	}
	for k := range model {
		if !documented[k] {
			t.Errorf("README config reference is missing %s", k)
		}
	}
	for k := range documented {
		if !model[k] {
			t.Errorf("README config reference documents %s, which the model lacks", k)
		}
	}
}

// nestedParquet reports whether prefix names a nested Parquet column
// (a struct's fields, a list's element, a map's key or value).
func nestedParquet(prefix string) bool {
	_, rest, ok := strings.Cut(prefix, ".parquet.schema.")
	return ok && rest != ""
}

// cutLast splits a dotted key before its last part.
func cutLast(k string) (string, string, bool) {
	i := strings.LastIndex(k, ".")
	if i < 0 {
		return "", k, false
	}
	return k[:i], k[i+1:], true
}

// without returns a copy of the document root without the key of the
// top-level mapping section.
func without(root *yaml.Node, section, key string) *yaml.Node {
	doc := *root.Content[0]
	doc.Content = slices.Clone(doc.Content)
	for i := 0; i+1 < len(doc.Content); i += 2 {
		if doc.Content[i].Value != section {
			continue
		}
		sec := *doc.Content[i+1]
		sec.Content = nil
		for j := 0; j+1 < len(doc.Content[i+1].Content); j += 2 {
			if k := doc.Content[i+1].Content[j]; k.Value != key {
				sec.Content = append(sec.Content, k, doc.Content[i+1].Content[j+1])
			}
		}
		doc.Content[i+1] = &sec
	}
	return &doc
}

func collectKeys(n *yaml.Node, prefix string, out map[string]bool) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := join(prefix, n.Content[i].Value)
			out[key] = true
			collectKeys(n.Content[i+1], key, out)
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			collectKeys(c, prefix, out)
		}
	}
}

func modelKeys(t reflect.Type, prefix string, out map[string]bool) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() == reflect.Map && t.Key().Kind() == reflect.String {
		out[join(prefix, "*")] = true
		modelKeys(t.Elem(), join(prefix, "*"), out)
		return
	}
	if t.Kind() != reflect.Struct || slices.Contains([]reflect.Type{reflect.TypeOf(TransformConfig{})}, t) {
		return
	}
	if t == reflect.TypeOf(BackupConfig{}) { // file and s3 take the destinations' keys
		out[join(prefix, "file")], out[join(prefix, "s3")] = true, true
		return
	}
	if t == reflect.TypeOf(PostgresColumns{}) { // auto, or a list of columns
		modelKeys(reflect.TypeOf(PostgresColumnConfig{}), prefix, out)
		return
	}
	if t == reflect.TypeOf(ParquetColumnConfig{}) && nestedParquet(prefix) { // a column's keys again
		return
	}
	if t == reflect.TypeOf(AnalyticsSchema{}) { // auto, or a list of columns
		modelKeys(reflect.TypeOf(AnalyticsColumnConfig{}), prefix, out)
		return
	}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		key := join(prefix, name)
		out[key] = true
		modelKeys(f.Type, key, out)
	}
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}
