package iceberg

import (
	"context"

	"github.com/apache/iceberg-go/table"
)

// LoadForTest loads the table cfg names through a destination of its own.
func LoadForTest(ctx context.Context, cfg Config) (*table.Table, error) {
	d, err := Open(cfg)
	if err != nil {
		return nil, err
	}
	defer d.Close(ctx)
	if err := d.Start(ctx); err != nil {
		return nil, err
	}
	return d.cat.LoadTable(ctx, d.ident)
}
