package iceberg

import (
	"fmt"
	"testing"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
)

// BenchmarkConvert converts 1,000 JSON records to an Arrow record of the
// table's schema: the CPU a batch costs before its Parquet file is written.
func BenchmarkConvert(b *testing.B) {
	cols := []Column{{Name: "id", Type: TypeLong}, {Name: "host", Type: TypeString}, {Name: "ts", Type: TypeTimestamptz},
		{Name: "ok", Type: TypeBoolean}, {Name: "ms", Path: "/m/latency", Type: TypeDouble}}
	cfg := Config{Columns: cols}
	cfg.setDefaults()
	fields := make([]iceberg.NestedField, len(cols))
	for i, c := range cfg.Columns {
		fields[i] = iceberg.NestedField{ID: i + 1, Name: c.Name, Type: icebergType(c.Type)}
	}
	schema, err := table.SchemaToArrowSchema(iceberg.NewSchema(0, fields...), nil, true, false)
	if err != nil {
		b.Fatal(err)
	}
	maps := newMappings(cfg.Columns)
	records := make([][]byte, 1000)
	bytes := 0
	for i := range records {
		records[i] = fmt.Appendf(nil, `{"id":%d,"host":"host-%d","ts":"2026-12-06T10:%02d:00Z","ok":true,"m":{"latency":%d.25}}`, i, i%7, i%60, i)
		bytes += len(records[i])
	}
	b.SetBytes(int64(bytes))
	b.ReportAllocs()
	for b.Loop() {
		rows := make([][]any, len(records))
		for i, r := range records {
			if rows[i], err = convert(r, maps); err != nil {
				b.Fatal(err)
			}
		}
		rec, err := build(schema, rows)
		if err != nil {
			b.Fatal(err)
		}
		rec.Release()
	}
}
