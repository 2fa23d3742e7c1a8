package config

import (
	"fmt"
	"strings"
)

// IcebergDestinationConfig appends batches to an Apache Iceberg table as
// Parquet data files, with a SQL catalog in Postgres or SQLite or a REST
// catalog; each batch once, even across crashes (the snapshot summaries
// name what each commit holds).
type IcebergDestinationConfig struct {
	// Catalog is postgres (the default with a dsn), rest (the default with
	// rest.uri) or sqlite (otherwise): a file under data_dir, one node's.
	Catalog     string            `yaml:"catalog"`
	DSN         string            `yaml:"dsn"`         // the SQL catalog's Postgres database; never printed
	SQLitePath  string            `yaml:"sqlite_path"` // default <data_dir>/iceberg/catalog.db
	REST        IcebergRESTConfig `yaml:"rest"`
	CatalogName string            `yaml:"catalog_name"` // default hydrant
	Namespace   string            `yaml:"namespace"`
	Table       string            `yaml:"table"`
	// Warehouse is where a created table's files go: s3://bucket[/prefix].
	Warehouse   string                   `yaml:"warehouse"`
	S3          S3ConnectionConfig       `yaml:"s3"` // the store of the table's files
	CreateTable bool                     `yaml:"create_table"`
	Columns     []IcebergColumnConfig    `yaml:"columns"`
	PartitionBy []IcebergPartitionConfig `yaml:"partition_by"`
	// SchemaEvolution add_columns adds configured columns the table lacks.
	SchemaEvolution string `yaml:"schema_evolution"`
}

// IcebergRESTConfig is an Iceberg REST catalog's client settings.
type IcebergRESTConfig struct {
	URI        string `yaml:"uri"`        // http(s)://host:port[/prefix]
	Credential string `yaml:"credential"` // OAuth2 client "id:secret"; never printed
	Token      string `yaml:"token"`      // a bearer token; never printed
	Scope      string `yaml:"scope"`      // OAuth2 scope asked with credential
	AuthURI    string `yaml:"auth_uri"`   // OAuth2 token endpoint; default <uri>/v1/oauth/tokens
	Warehouse  string `yaml:"warehouse"`  // the warehouse asked of the server, if it serves several
}

// Iceberg catalogs.
const (
	IcebergCatalogPostgres = "postgres"
	IcebergCatalogSQLite   = "sqlite"
	IcebergCatalogREST     = "rest"
)

// CatalogType is the catalog the destination uses: Catalog, or the default
// that dsn and rest.uri imply.
func (c IcebergDestinationConfig) CatalogType() string {
	switch {
	case c.Catalog != "":
		return c.Catalog
	case c.DSN != "":
		return IcebergCatalogPostgres
	case c.REST.URI != "":
		return IcebergCatalogREST
	}
	return IcebergCatalogSQLite
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

// String never shows the DSN, the REST credential or token, nor the S3 secret.
func (c IcebergDestinationConfig) String() string {
	return fmt.Sprintf("{table %s.%s, catalog %s, %d columns, warehouse %s, s3 %v}", c.Namespace, c.Table, c.CatalogType(), len(c.Columns), c.Warehouse, c.S3)
}

// Validate checks the Iceberg destination. It never puts the DSN in a
// message: it holds the password.
func (c IcebergDestinationConfig) Validate() []FieldError {
	var errs fieldErrors
	catalog := c.CatalogType()
	oneOf(&errs, "catalog", catalog, IcebergCatalogPostgres, IcebergCatalogSQLite, IcebergCatalogREST)
	if catalog == IcebergCatalogPostgres && c.DSN == "" {
		errs.add("dsn", "required with catalog: postgres, e.g. postgres://user:password@host:5432/db?sslmode=require")
	}
	if catalog == IcebergCatalogREST && !strings.HasPrefix(c.REST.URI, "http://") && !strings.HasPrefix(c.REST.URI, "https://") {
		errs.add("rest.uri", "required with catalog: rest: the catalog's http:// or https:// URL")
	}
	if c.REST.AuthURI != "" && !strings.HasPrefix(c.REST.AuthURI, "http://") && !strings.HasPrefix(c.REST.AuthURI, "https://") {
		errs.add("rest.auth_uri", "must be an http:// or https:// URL")
	}
	if c.SchemaEvolution != "" {
		oneOf(&errs, "schema_evolution", c.SchemaEvolution, "add_columns")
	}
	if c.Namespace == "" {
		errs.add("namespace", "required")
	}
	if c.Table == "" {
		errs.add("table", "required")
	}
	switch {
	case !c.CreateTable, strings.HasPrefix(c.Warehouse, "s3://"), strings.HasPrefix(c.Warehouse, "file:///"):
	case c.Warehouse == "" && (catalog == IcebergCatalogSQLite || catalog == IcebergCatalogREST):
		// sqlite: <data_dir>/iceberg/warehouse; rest: where the server says
	default:
		errs.add("warehouse", "must be s3://bucket[/prefix] or file:///dir to create the table")
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
