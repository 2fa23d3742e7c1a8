package postgres

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Column types a Column may name.
const (
	TypeText        = "text"
	TypeBigint      = "bigint"
	TypeInteger     = "integer"
	TypeDouble      = "double"
	TypeBoolean     = "boolean"
	TypeNumeric     = "numeric"
	TypeTimestamptz = "timestamptz"
	TypeDate        = "date"
	TypeJSONB       = "jsonb"
	TypeUUID        = "uuid"
)

// sqlTypes maps a column type to its SQL spelling (for create_table).
var sqlTypes = map[string]string{
	TypeText: "text", TypeBigint: "bigint", TypeInteger: "integer", TypeDouble: "double precision",
	TypeBoolean: "boolean", TypeNumeric: "numeric", TypeTimestamptz: "timestamptz", TypeDate: "date",
	TypeJSONB: "jsonb", TypeUUID: "uuid",
}

// Column maps the JSON value at Path in each record to the table column Name.
type Column struct {
	Name string
	Path string // JSON pointer (RFC 6901); "" means "/"+Name
	Type string // one of text, bigint, integer, double, boolean, numeric, timestamptz, date, jsonb, uuid
}

// Config configures a Postgres destination.
type Config struct {
	DSN   string // libpq URL or key=value string; sslmode is honoured
	Table string // table name, optionally schema-qualified (schema.table)
	// Columns maps record fields to columns. Exactly one of Columns and Auto.
	Columns []Column
	// Auto maps top-level JSON keys to the same-named columns of the table,
	// with the column types read from the catalog (Redshift's json 'auto').
	// Columns with a default, identity or generated columns are left out, so
	// the table fills them.
	Auto             bool
	CreateTable      bool          // create Table from Columns when it does not exist
	MaxConns         int32         // pool size; 0 means 4
	StatementTimeout time.Duration // per statement; 0 means 60s
}

// NewDefaultConfig returns a Config with the defaults filled in.
func NewDefaultConfig() Config {
	return Config{MaxConns: 4, StatementTimeout: 60 * time.Second}
}

func (c *Config) setDefaults() {
	if c.MaxConns == 0 {
		c.MaxConns = 4
	}
	if c.StatementTimeout == 0 {
		c.StatementTimeout = 60 * time.Second
	}
	for i := range c.Columns {
		if c.Columns[i].Path == "" {
			c.Columns[i].Path = "/" + escapePointer(c.Columns[i].Name)
		}
	}
}

// Validate reports the first invalid setting, naming its field.
func (c Config) Validate() error {
	switch {
	case c.DSN == "":
		return errors.New("dsn: required")
	case c.Table == "":
		return errors.New("table: required")
	case len(strings.Split(c.Table, ".")) > 2:
		return fmt.Errorf("table: %q must be table or schema.table", c.Table)
	case c.Auto && len(c.Columns) > 0:
		return errors.New("columns: give a column list or auto, not both")
	case !c.Auto && len(c.Columns) == 0:
		return errors.New("columns: required (a list of {name, path, type}, or auto)")
	case c.Auto && c.CreateTable:
		return errors.New("create_table: needs an explicit column list (auto reads the types from the table)")
	case c.MaxConns < 0:
		return fmt.Errorf("max_conns: %d must be positive", c.MaxConns)
	case c.StatementTimeout < 0:
		return fmt.Errorf("statement_timeout: %s must be positive", c.StatementTimeout)
	}
	seen := map[string]bool{}
	for i, col := range c.Columns {
		if col.Name == "" {
			return fmt.Errorf("columns[%d].name: required", i)
		}
		if seen[col.Name] {
			return fmt.Errorf("columns[%d].name: %q appears twice", i, col.Name)
		}
		seen[col.Name] = true
		if _, ok := sqlTypes[col.Type]; !ok {
			return fmt.Errorf("columns[%d].type: %q must be one of text, bigint, integer, double, boolean, numeric, timestamptz, date, jsonb, uuid", i, col.Type)
		}
		if col.Path != "" && !strings.HasPrefix(col.Path, "/") {
			return fmt.Errorf("columns[%d].path: %q must be a JSON pointer starting with /", i, col.Path)
		}
	}
	return nil
}

func escapePointer(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

func splitPointer(p string) []string {
	if p == "" {
		return nil
	}
	parts := strings.Split(p[1:], "/")
	r := strings.NewReplacer("~1", "/", "~0", "~")
	for i := range parts {
		parts[i] = r.Replace(parts[i])
	}
	return parts
}
