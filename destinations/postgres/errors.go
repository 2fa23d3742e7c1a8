package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hydrant-dev/hydrant/destinations"
	"github.com/jackc/pgx/v5/pgconn"
)

// errorKind is what Deliver does about an error.
type errorKind int

const (
	kindRetry     errorKind = iota // plain error: the caller retries with backoff
	kindPermanent                  // destinations.Permanent: never retried
	kindData                       // one or more rows are bad: bisect
)

// classify maps an error from Postgres or the connection to what to do
// next. It is the only place SQLSTATEs are interpreted.
func classify(err error, table string) (errorKind, error) {
	if err == nil {
		return kindRetry, nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return kindRetry, err
	}
	var pg *pgconn.PgError
	if !errors.As(err, &pg) {
		// Connection refused or reset, TLS, timeouts: the server may come back.
		return kindRetry, fmt.Errorf("postgres: %w", err)
	}
	if pg.Code == "57014" && strings.HasPrefix(pg.Message, copyFailPrefix) {
		// pgx could not encode a value for the column's type (e.g. 70000 for
		// smallint) and aborted the COPY itself: a data error, not a timeout.
		return kindData, err
	}
	switch pg.Code {
	case "40001", "40P01", "53300", "57P01", "57P02", "57P03", "57014", "55P03", "53000", "53100", "53200":
		// serialization_failure, deadlock_detected, too_many_connections,
		// admin/crash shutdown, cannot_connect_now, query_canceled
		// (statement_timeout), lock_not_available, out of resources.
		return kindRetry, fmt.Errorf("postgres: %s (SQLSTATE %s, retryable): %w", pg.Message, pg.Code, err)
	case "42501":
		return kindPermanent, destinations.Permanent(fmt.Errorf(
			"postgres: permission denied on table %s: grant INSERT (and the ledger table hydrant_load_ledger SELECT, INSERT) to the delivery's user: %w", table, err))
	case "42P01":
		// undefined_table: retried for retry.duration, since a migration
		// may drop and re-create the table while records flow.
		return kindRetry, fmt.Errorf(
			"postgres: table %s does not exist (retryable: retried until retry.duration, then the error output; create it or set create_table: true): %w", table, err)
	case "42703":
		return kindPermanent, destinations.Permanent(fmt.Errorf(
			"postgres: table %s lacks a configured column: fix the columns list or the table: %w", table, err))
	}
	switch pg.Code[:2] {
	case "22", "23": // data exception, integrity constraint violation
		return kindData, err
	case "08": // connection exception
		return kindRetry, fmt.Errorf("postgres: %s (SQLSTATE %s, retryable): %w", pg.Message, pg.Code, err)
	case "28", "3D", "42": // invalid authorization, unknown database, syntax or access rule
		return kindPermanent, destinations.Permanent(fmt.Errorf("postgres: table %s: %w", table, err))
	}
	return kindRetry, fmt.Errorf("postgres: %w", err)
}

// copyFailPrefix starts the message of a COPY that pgx aborted because a
// value did not encode.
const copyFailPrefix = "COPY from stdin failed: "

// rowError turns a Postgres data error on an isolated row into its report.
func rowError(err error) *RowError {
	var pg *pgconn.PgError
	if !errors.As(err, &pg) {
		return &RowError{Reason: err.Error()}
	}
	if strings.HasPrefix(pg.Message, copyFailPrefix) {
		return &RowError{Reason: "value does not encode for its column: " + strings.TrimPrefix(pg.Message, copyFailPrefix)}
	}
	reason := pg.Message
	if pg.Detail != "" {
		reason += ": " + pg.Detail
	}
	return &RowError{Column: pg.ColumnName, Reason: reason, SQLState: pg.Code}
}
