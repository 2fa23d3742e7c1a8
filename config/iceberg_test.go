package config

import (
	"strings"
	"testing"
)

func TestIcebergDestination(t *testing.T) {
	const base = `
storage: {data_dir: /tmp/x}
deliveries:
  - name: lake
    destination:
      iceberg: `
	const cols = `namespace: n, table: t, columns: [{name: id, type: long}]`
	cases := map[string]struct {
		iceberg, storage string
		wantErr          string // "" for valid
		wantCatalog      string
	}{
		"embedded default":  {iceberg: `{` + cols + `, create_table: true}`, wantCatalog: "sqlite"},
		"sqlite path":       {iceberg: `{` + cols + `, catalog: sqlite, sqlite_path: /tmp/c.db, warehouse: "file:///tmp/w", create_table: true}`, wantCatalog: "sqlite"},
		"postgres by dsn":   {iceberg: `{` + cols + `, dsn: "postgres://u:p@h/db", warehouse: s3://b/w, create_table: true}`, wantCatalog: "postgres"},
		"postgres sans dsn": {iceberg: `{` + cols + `, catalog: postgres}`, wantErr: "iceberg.dsn: required with catalog: postgres"},
		"postgres local":    {iceberg: `{` + cols + `, dsn: "postgres://u:p@h/db", create_table: true}`, wantErr: "iceberg.warehouse"},
		"rest by uri":       {iceberg: `{` + cols + `, rest: {uri: "http://127.0.0.1:8181", credential: "id:s3cr3t"}, create_table: true}`, wantCatalog: "rest"},
		"rest sans uri":     {iceberg: `{` + cols + `, catalog: rest}`, wantErr: "iceberg.rest.uri: required with catalog: rest"},
		"rest auth uri":     {iceberg: `{` + cols + `, rest: {uri: "http://h/", auth_uri: "h/token"}}`, wantErr: "iceberg.rest.auth_uri"},
		"unknown catalog":   {iceberg: `{` + cols + `, catalog: glue}`, wantErr: "iceberg.catalog: must be one of postgres, sqlite, rest"},
		"evolution":         {iceberg: `{` + cols + `, schema_evolution: add_columns}`, wantCatalog: "sqlite"},
		"bad evolution":     {iceberg: `{` + cols + `, schema_evolution: all}`, wantErr: "iceberg.schema_evolution: must be one of add_columns"},
		"sqlite on nats": {iceberg: `{` + cols + `}`, storage: "storage: {data_dir: /tmp/x, nats: {url: \"nats://127.0.0.1:4222\"}}\n",
			wantErr: "iceberg.catalog: sqlite is one node's catalog"},
		"postgres on nats": {iceberg: `{` + cols + `, dsn: "postgres://u:p@h/db"}`, storage: "storage: {data_dir: /tmp/x, nats: {url: \"nats://127.0.0.1:4222\"}}\n",
			wantCatalog: "postgres"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			doc := base + c.iceberg + "\n"
			if c.storage != "" {
				doc = strings.Replace(doc, "storage: {data_dir: /tmp/x}\n", c.storage, 1)
			}
			cfg, err := ParseWithEnv("i.yaml", []byte(doc), func(string) (string, bool) { return "", false })
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatal(err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, c.wantErr)
			case err != nil && strings.Contains(err.Error(), "s3cr3t"):
				t.Fatalf("error shows the credential: %v", err)
			}
			if err == nil {
				ice := cfg.Deliveries[0].Destination.Iceberg
				if got := ice.CatalogType(); got != c.wantCatalog {
					t.Fatalf("catalog %s, want %s", got, c.wantCatalog)
				}
				if s := ice.String(); strings.Contains(s, "s3cr3t") || strings.Contains(s, "u:p@") {
					t.Fatalf("String shows a secret: %s", s)
				}
			}
		})
	}
}
