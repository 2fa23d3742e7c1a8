package iceberg

import (
	"errors"
	"fmt"
	"strings"
)

// Column types a Column may name: Iceberg's primitive types.
const (
	TypeString      = "string"
	TypeLong        = "long"
	TypeInt         = "int"
	TypeDouble      = "double"
	TypeBoolean     = "boolean"
	TypeTimestamptz = "timestamptz"
	TypeDate        = "date"
)

// Partition transforms a PartitionField may name.
const (
	TransformIdentity = "identity"
	TransformDay      = "day"
	TransformHour     = "hour"
)

// Column maps the JSON value at Path in each record to the table column Name.
type Column struct {
	Name     string
	Path     string // JSON pointer (RFC 6901); "" means "/"+Name
	Type     string // one of string, long, int, double, boolean, timestamptz, date
	Required bool   // a record without a value fails to convert
}

// PartitionField partitions the table by Column through Transform.
type PartitionField struct {
	Column    string
	Transform string // identity, day or hour
}

// Catalogs a Config may name.
const (
	CatalogPostgres = "postgres" // iceberg-go's SQL catalog in a Postgres database
	CatalogSQLite   = "sqlite"   // iceberg-go's SQL catalog in a SQLite file: one node only
	CatalogREST     = "rest"     // an Iceberg REST catalog server
)

// SchemaEvolutionAddColumns adds configured columns the table lacks, as
// optional columns, when the destination starts.
const SchemaEvolutionAddColumns = "add_columns"

// REST configures a REST catalog client.
type REST struct {
	URI        string // the catalog's base URL, e.g. http://127.0.0.1:8181
	Credential string // OAuth2 client credentials "id:secret", exchanged for a token
	Token      string // a bearer token
	Scope      string // the OAuth2 scope asked with Credential; the catalog's default if empty
	AuthURI    string // the OAuth2 token endpoint; the catalog's /v1/oauth/tokens if empty
	Warehouse  string // the warehouse the server is asked for (its /v1/config?warehouse=)
}

// Config configures an Iceberg destination.
type Config struct {
	// Catalog is postgres, sqlite or rest.
	Catalog string
	// DSN is the SQL catalog's Postgres database (a libpq URL or
	// key=value string): iceberg-go's catalog/sql keeps its
	// iceberg_tables and iceberg_namespace_properties tables there.
	DSN string
	// SQLitePath is the SQL catalog's SQLite database file, created if absent.
	SQLitePath string
	REST       REST
	// CatalogName names the catalog in the catalog's tables; "hydrant" by default.
	CatalogName string
	// Namespace and Table name the table.
	Namespace string
	Table     string
	// Warehouse is where a created table's files go: s3://bucket/prefix,
	// or file:///dir on the local disk.
	Warehouse string
	// S3 access; empty fields take the AWS SDK's defaults (environment).
	Endpoint        string // e.g. http://127.0.0.1:9000 for MinIO
	Region          string
	AccessKeyID     string
	SecretAccessKey string
	// CreateTable creates the table from Columns and PartitionBy when it
	// does not exist.
	CreateTable bool
	Columns     []Column
	PartitionBy []PartitionField
	// SchemaEvolution is "" (the table must have every configured column)
	// or add_columns.
	SchemaEvolution string
	// Properties are extra iceberg-go catalog and file IO properties.
	Properties map[string]string
}

func (c *Config) setDefaults() {
	if c.CatalogName == "" {
		c.CatalogName = "hydrant"
	}
	if c.Catalog == "" {
		switch {
		case c.DSN != "":
			c.Catalog = CatalogPostgres
		case c.REST.URI != "":
			c.Catalog = CatalogREST
		default:
			c.Catalog = CatalogSQLite
		}
	}
	for i := range c.Columns {
		if c.Columns[i].Path == "" {
			c.Columns[i].Path = "/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(c.Columns[i].Name)
		}
	}
}

var types = map[string]bool{TypeString: true, TypeLong: true, TypeInt: true, TypeDouble: true,
	TypeBoolean: true, TypeTimestamptz: true, TypeDate: true}

// Validate reports the first invalid setting, naming its field.
func (c Config) Validate() error {
	switch {
	case c.Catalog == CatalogPostgres && c.DSN == "":
		return errors.New("dsn: required with catalog: postgres")
	case c.Catalog == CatalogSQLite && c.SQLitePath == "":
		return errors.New("sqlite_path: required with catalog: sqlite")
	case c.Catalog == CatalogREST && !strings.HasPrefix(c.REST.URI, "http://") && !strings.HasPrefix(c.REST.URI, "https://"):
		return fmt.Errorf("rest.uri: %q must be an http:// or https:// URL", c.REST.URI)
	case c.Catalog != CatalogPostgres && c.Catalog != CatalogSQLite && c.Catalog != CatalogREST:
		return fmt.Errorf("catalog: %q must be postgres, sqlite or rest", c.Catalog)
	case c.SchemaEvolution != "" && c.SchemaEvolution != SchemaEvolutionAddColumns:
		return fmt.Errorf("schema_evolution: %q must be add_columns or empty", c.SchemaEvolution)
	case c.Namespace == "":
		return errors.New("namespace: required")
	case c.Table == "":
		return errors.New("table: required")
	case len(c.Columns) == 0:
		return errors.New("columns: required (a list of {name, path, type})")
	case c.CreateTable && !strings.HasPrefix(c.Warehouse, "s3://") && !strings.HasPrefix(c.Warehouse, "file:///") &&
		!(c.Catalog == CatalogREST && c.Warehouse == ""):
		return fmt.Errorf("warehouse: %q must be s3://bucket[/prefix] or file:///dir to create the table", c.Warehouse)
	}
	seen := map[string]string{}
	for i, col := range c.Columns {
		switch {
		case col.Name == "":
			return fmt.Errorf("columns[%d].name: required", i)
		case seen[col.Name] != "":
			return fmt.Errorf("columns[%d].name: %q appears twice", i, col.Name)
		case !types[col.Type]:
			return fmt.Errorf("columns[%d].type: %q must be one of string, long, int, double, boolean, timestamptz, date", i, col.Type)
		case col.Path != "" && !strings.HasPrefix(col.Path, "/"):
			return fmt.Errorf("columns[%d].path: %q must be a JSON pointer starting with /", i, col.Path)
		}
		seen[col.Name] = col.Type
	}
	for i, p := range c.PartitionBy {
		typ := seen[p.Column]
		switch {
		case typ == "":
			return fmt.Errorf("partition_by[%d].column: %q is not among the columns", i, p.Column)
		case p.Transform == TransformIdentity:
		case p.Transform == TransformDay || p.Transform == TransformHour:
			if typ != TypeTimestamptz && !(p.Transform == TransformDay && typ == TypeDate) {
				return fmt.Errorf("partition_by[%d].transform: %s needs a timestamptz column (day also takes a date), %q is %s", i, p.Transform, p.Column, typ)
			}
		default:
			return fmt.Errorf("partition_by[%d].transform: %q must be identity, day or hour", i, p.Transform)
		}
	}
	return nil
}
