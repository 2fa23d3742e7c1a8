package main

import (
	"github.com/hydrant-dev/hydrant/config"
	"github.com/hydrant-dev/hydrant/destinations/iceberg"
)

// buildIceberg opens an Iceberg destination; it reaches its catalog when
// its delivery starts it.
func buildIceberg(ic config.IcebergDestinationConfig) (*iceberg.Destination, error) {
	cfg := iceberg.Config{DSN: ic.DSN, CatalogName: ic.CatalogName, Namespace: ic.Namespace, Table: ic.Table,
		Warehouse: ic.Warehouse, Endpoint: ic.S3.Endpoint, Region: ic.S3.Region,
		AccessKeyID: ic.S3.AccessKeyID, SecretAccessKey: ic.S3.SecretAccessKey, CreateTable: ic.CreateTable}
	for _, c := range ic.Columns {
		cfg.Columns = append(cfg.Columns, iceberg.Column{Name: c.Name, Path: c.Path, Type: c.Type, Required: c.Required})
	}
	for _, p := range ic.PartitionBy {
		cfg.PartitionBy = append(cfg.PartitionBy, iceberg.PartitionField{Column: p.Column, Transform: p.Transform})
	}
	return iceberg.Open(cfg)
}
