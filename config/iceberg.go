package config

import (
	"fmt"
	"strings"
)

// IcebergDestinationConfig appends batches to an Apache Iceberg table as
// Parquet data files, with a SQL catalog in Postgres; each batch once,
// even across crashes (the snapshot summaries name what each commit holds).
type IcebergDestinationConfig struct {
	DSN         string `yaml:"dsn"`          // the SQL catalog's Postgres database; never printed
	CatalogName string `yaml:"catalog_name"` // default hydrant
	Namespace   string `yaml:"namespace"`
	Table       string `yaml:"table"`
	// Warehouse is where a created table's files go: s3://bucket[/prefix].
	Warehouse   string                   `yaml:"warehouse"`
	S3          S3ConnectionConfig       `yaml:"s3"` // the store of the table's files
	CreateTable bool                     `yaml:"create_table"`
	Columns     []IcebergColumnConfig    `yaml:"columns"`
	PartitionBy []IcebergPartitionConfig `yaml:"partition_by"`
}

// IcebergColumnConfig maps a JSON pointer to a column of an Iceberg type.
type IcebergColumnConfig struct {
	Name     string `yaml:"name"`
	Path     string `yaml:"path"` // default /<name>
	Type     string `yaml:"type"` // string, long, int, double, boolean, timestamptz, date
	Required bool   `yaml:"required"`
}

// IcebergPartitionConfig partitions a created table by a column.
type IcebergPartitionConfig struct {
	Column    string `yaml:"column"`
	Transform string `yaml:"transform"` // identity, day, hour
}

// NewDefaultIcebergDestinationConfig returns the Iceberg destination defaults.
func NewDefaultIcebergDestinationConfig() IcebergDestinationConfig {
	return IcebergDestinationConfig{CatalogName: "hydrant", S3: S3ConnectionConfig{Region: "us-east-1"}}
}

func (c *IcebergDestinationConfig) setDefaults() { *c = NewDefaultIcebergDestinationConfig() }

// String never shows the DSN nor the S3 secret.
func (c IcebergDestinationConfig) String() string {
	return fmt.Sprintf("{table %s.%s, %d columns, warehouse %s, s3 %v}", c.Namespace, c.Table, len(c.Columns), c.Warehouse, c.S3)
}

// Validate checks the Iceberg destination. It never puts the DSN in a
// message: it holds the password.
func (c IcebergDestinationConfig) Validate() []FieldError {
	var errs fieldErrors
	if c.DSN == "" {
		errs.add("dsn", "required, e.g. postgres://user:password@host:5432/db?sslmode=require")
	}
	if c.Namespace == "" {
		errs.add("namespace", "required")
	}
	if c.Table == "" {
		errs.add("table", "required")
	}
	if c.CreateTable && !strings.HasPrefix(c.Warehouse, "s3://") {
		errs.add("warehouse", "must be s3://bucket[/prefix] to create the table")
	}
	if len(c.Columns) == 0 {
		errs.add("columns", "required: a list of {name, path, type}")
	}
	types := map[string]string{}
	for i, col := range c.Columns {
		p := indexPath("columns", i)
		if col.Name == "" {
			errs.add(p+".name", "required")
		} else if types[col.Name] != "" {
			errs.add(p+".name", "%q appears twice", col.Name)
		}
		if col.Path != "" && !strings.HasPrefix(col.Path, "/") {
			errs.add(p+".path", "must be a JSON pointer starting with /")
		}
		oneOf(&errs, p+".type", col.Type, "string", "long", "int", "double", "boolean", "timestamptz", "date")
		types[col.Name] = col.Type
	}
	for i, pf := range c.PartitionBy {
		p := indexPath("partition_by", i)
		typ, ok := types[pf.Column]
		if !ok {
			errs.add(p+".column", "%q is not among the columns", pf.Column)
		}
		oneOf(&errs, p+".transform", pf.Transform, "identity", "day", "hour")
		if ok && (pf.Transform == "hour" && typ != "timestamptz" || pf.Transform == "day" && typ != "timestamptz" && typ != "date") {
			errs.add(p+".transform", "%s needs a timestamptz column (day also takes a date); %q is %s", pf.Transform, pf.Column, typ)
		}
	}
	return errs
}
