package config

import (
	"strings"
	"testing"
)

// TestParquetSchemaAuto checks that parquet.schema takes the word auto or a
// list of columns, and that anything else names what would be valid.
func TestParquetSchemaAuto(t *testing.T) {
	const head = `
deliveries:
  - name: d
    destination:
      file:
        dir: out
        format: parquet
`
	tests := []struct {
		name    string
		parquet string
		auto    bool
		columns int
		err     string // "" when valid
	}{
		{name: "auto", parquet: `{schema: auto}`, auto: true},
		{name: "auto with options", parquet: `{schema: auto, compression: zstd, timestamp_formats: [epoch_millis]}`, auto: true},
		{name: "list", parquet: `{schema: [{name: id, type: int64}, {name: ts, type: timestamp_millis}]}`, columns: 2},
		{name: "misspelt", parquet: `{schema: autox}`,
			err: `parquet.schema: must be auto or a list of columns {name, type, path, required}, got string "autox"`},
		{name: "number", parquet: `{schema: 5}`,
			err: `parquet.schema: must be auto or a list of columns {name, type, path, required}, got integer 5`},
		{name: "missing", parquet: `{compression: snappy}`,
			err: "parquet.schema: required: auto, or a list of columns"},
		{name: "null", parquet: `{schema: null}`,
			err: "parquet.schema: required: auto, or a list of columns"},
		{name: "twice", parquet: `{schema: auto, schema: auto}`, err: "parquet.schema: duplicate key"},
		{name: "unknown key", parquet: `{schema: auto, colour: red}`, err: "parquet.colour: unknown key"},
		{name: "not a mapping", parquet: `auto`, err: "parquet: must be a mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("p.yaml", []byte(head+"        parquet: "+tt.parquet+"\n"))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), "deliveries[0].destination.file."+tt.err) {
					t.Fatalf("err %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			pc := cfg.Deliveries[0].Destination.File.Parquet
			if pc.SchemaAuto != tt.auto || len(pc.Schema) != tt.columns {
				t.Fatalf("auto %v with %d columns, want %v with %d", pc.SchemaAuto, len(pc.Schema), tt.auto, tt.columns)
			}
			if pc.Compression == "" || pc.RowGroupSize == 0 {
				t.Fatalf("defaults lost: %+v", pc)
			}
		})
	}
}
