package main

import (
	"net/url"
	"path/filepath"

	"github.com/hydrant-dev/hydrant/config"
	"github.com/hydrant-dev/hydrant/destinations/iceberg"
)

// buildIceberg opens an Iceberg destination; it reaches its catalog when
// its delivery starts it. A SQLite catalog is under data_dir/iceberg by
// default, and so are its tables' files when no warehouse is given.
func buildIceberg(ic config.IcebergDestinationConfig, dataDir string) (*iceberg.Destination, error) {
	cfg := iceberg.Config{Catalog: ic.CatalogType(), DSN: ic.DSN, SQLitePath: ic.SQLitePath, CatalogName: ic.CatalogName,
		REST: iceberg.REST{URI: ic.REST.URI, Credential: ic.REST.Credential, Token: ic.REST.Token, Scope: ic.REST.Scope,
			AuthURI: ic.REST.AuthURI, Warehouse: ic.REST.Warehouse},
		Namespace: ic.Namespace, Table: ic.Table,
		Warehouse: ic.Warehouse, Endpoint: ic.S3.Endpoint, Region: ic.S3.Region,
		AccessKeyID: ic.S3.AccessKeyID, SecretAccessKey: ic.S3.SecretAccessKey, CreateTable: ic.CreateTable,
		SchemaEvolution: ic.SchemaEvolution}
	if cfg.Catalog == iceberg.CatalogSQLite {
		dir, err := filepath.Abs(filepath.Join(dataDir, "iceberg"))
		if err != nil {
			return nil, err
		}
		if cfg.SQLitePath == "" {
			cfg.SQLitePath = filepath.Join(dir, "catalog.db")
		}
		if cfg.Warehouse == "" {
			cfg.Warehouse = (&url.URL{Scheme: "file", Path: filepath.Join(dir, "warehouse")}).String()
		}
	}
	for _, c := range ic.Columns {
		cfg.Columns = append(cfg.Columns, iceberg.Column{Name: c.Name, Path: c.Path, Type: c.Type, Required: c.Required})
	}
	for _, p := range ic.PartitionBy {
		cfg.PartitionBy = append(cfg.PartitionBy, iceberg.PartitionField{Column: p.Column, Transform: p.Transform})
	}
	return iceberg.Open(cfg)
}
