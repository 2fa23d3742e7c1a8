package postgres

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/hydrant-dev/hydrant/destinations"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want errorKind
	}{
		{io.ErrUnexpectedEOF, kindRetry},
		{&pgconn.ConnectError{}, kindRetry},
		{&pgconn.PgError{Code: "40001"}, kindRetry},
		{&pgconn.PgError{Code: "40P01"}, kindRetry},
		{&pgconn.PgError{Code: "53300"}, kindRetry},
		{&pgconn.PgError{Code: "57P01"}, kindRetry},
		{&pgconn.PgError{Code: "57P03"}, kindRetry},
		{&pgconn.PgError{Code: "57014", Message: "canceling statement due to statement timeout"}, kindRetry},
		{&pgconn.PgError{Code: "08006"}, kindRetry},
		{&pgconn.PgError{Code: "42501"}, kindPermanent},
		{&pgconn.PgError{Code: "42P01"}, kindRetry}, // a table re-created by a migration comes back
		{&pgconn.PgError{Code: "42703"}, kindPermanent},
		{&pgconn.PgError{Code: "28P01"}, kindPermanent},
		{&pgconn.PgError{Code: "22021"}, kindData},
		{&pgconn.PgError{Code: "23505"}, kindData},
		{&pgconn.PgError{Code: "57014", Message: copyFailPrefix + "unable to encode 70000"}, kindData},
	} {
		err := fmt.Errorf("wrapped: %w", tc.err)
		kind, out := classify(err, "t")
		if kind != tc.want {
			t.Errorf("classify(%v) = %v, want %v", tc.err, kind, tc.want)
		}
		if destinations.IsPermanent(out) != (kind == kindPermanent) || !errors.Is(out, tc.err) {
			t.Errorf("classify(%v) returned %v", tc.err, out)
		}
	}
}
