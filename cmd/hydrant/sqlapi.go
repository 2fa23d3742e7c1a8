package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"github.com/hydrant-dev/hydrant/analytics"
	"github.com/hydrant-dev/hydrant/config"
	"github.com/hydrant-dev/hydrant/ingest"
	"github.com/hydrant-dev/hydrant/ingest/auth"
	"github.com/hydrant-dev/hydrant/shards"
)

// maxSQLBody bounds POST /v1/sql's body.
const maxSQLBody = 1 << 20

// sqlRequest is POST /v1/sql's JSON body.
type sqlRequest struct {
	SQL string `json:"sql"`
	// MaxRecords bounds the records the query reads (0: the default).
	MaxRecords int `json:"max_records,omitempty"`
}

// sqlResponse is POST /v1/sql's answer.
type sqlResponse struct {
	Columns []string `json:"columns"`
	// Rows are JSON objects of Columns.
	Rows []json.RawMessage `json:"rows"`
	// Truncated: the result had more rows than Rows.
	Truncated bool `json:"truncated"`
}

// newSQLRoute serves POST /v1/sql to principals allowed hydrant:Query:
// ad-hoc SQL over the store's streams, each query on an engine of its own
// spilling under data_dir/sql.
func newSQLRoute(cfg *config.Config, store *shards.Store, authn *auth.Authenticator, logger *slog.Logger) (http.Handler, error) {
	q, err := analytics.NewQuerier(analytics.QueryConfig{Store: store, TempDir: filepath.Join(cfg.Storage.DataDir, "sql")})
	if err != nil {
		return nil, err
	}
	return ingest.RequireActionBody(authn, auth.ActionQuery, maxSQLBody, sqlHandler(q, logger)), nil
}

// sqlHandler answers POST /v1/sql: a JSON body {"sql": …, "max_records":
// …}, or the SQL itself (text/plain, or any body not starting with {),
// max_records then in the URL's query. The rows are not logged: they are
// records' data.
func sqlHandler(q *analytics.Querier, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := readSQLRequest(w, r)
		if err != nil {
			status, code := http.StatusBadRequest, "InvalidArgumentException"
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				status, code = http.StatusRequestEntityTooLarge, "RequestEntityTooLarge"
			}
			writeJSONError(w, status, code, err.Error())
			return
		}
		start := time.Now()
		res, err := q.Query(r.Context(), analytics.Query{SQL: req.SQL, MaxRecords: req.MaxRecords})
		if err != nil {
			status, code := sqlErrorStatus(err)
			// DuckDB's messages may quote records' values: the code only.
			logger.Info("sql query refused", "status", status, "code", code, "duration", time.Since(start))
			if status == http.StatusInternalServerError {
				logger.Warn("sql query failed", "error", err)
			}
			if status == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", "1")
			}
			writeJSONError(w, status, code, err.Error())
			return
		}
		logger.Info("sql query", "rows", len(res.Rows), "truncated", res.Truncated, "records_read", res.RecordsRead,
			"duration", time.Since(start))
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(sqlResponse{Columns: res.Columns, Rows: res.Rows, Truncated: res.Truncated})
	})
}

// readSQLRequest reads the query from r's body.
func readSQLRequest(w http.ResponseWriter, r *http.Request) (sqlRequest, error) {
	var req sqlRequest
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSQLBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return req, fmt.Errorf("the body is over the limit of %d bytes: %w", maxSQLBody, err)
		}
		return req, fmt.Errorf("reading the body: %w", err)
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "application/json" || (mt != "text/plain" && mt != "application/sql" && bytes.HasPrefix(bytes.TrimSpace(body), []byte("{"))) {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return req, fmt.Errorf(`the body is not a JSON object {"sql": "SELECT …", "max_records": N}: %w`, err)
		}
		return req, nil
	}
	req.SQL = string(body)
	if v := r.URL.Query().Get("max_records"); v != "" {
		if req.MaxRecords, err = strconv.Atoi(v); err != nil {
			return req, fmt.Errorf("max_records %q: not a number", v)
		}
	}
	return req, nil
}

// sqlErrorStatus maps a query's error to its HTTP status and error code.
func sqlErrorStatus(err error) (int, string) {
	var qe *analytics.QueryError
	switch {
	case errors.Is(err, analytics.ErrNoEngine):
		return http.StatusNotImplemented, "NotImplemented"
	case errors.Is(err, analytics.ErrBusy):
		return http.StatusTooManyRequests, "TooManyQueries"
	case errors.Is(err, analytics.ErrStreamNotFound):
		return http.StatusNotFound, "ResourceNotFoundException"
	case errors.Is(err, analytics.ErrTooManyRecords):
		return http.StatusBadRequest, "TooManyRecords"
	case errors.Is(err, analytics.ErrQueryTimeout):
		return http.StatusBadRequest, "QueryTimeout"
	case errors.As(err, &qe):
		return http.StatusBadRequest, "InvalidQuery"
	case errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable, "ServiceUnavailable" // the client left
	}
	return http.StatusInternalServerError, "InternalFailure"
}
