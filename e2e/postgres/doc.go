// Package postgres starts a real PostgreSQL server for tests: a throwaway
// cluster (initdb) in a temporary directory owned by the postgres user,
// listening on a random 127.0.0.1 port with its unix socket in the same
// directory, stopped with `pg_ctl -m fast stop` when the test ends.
// The server binaries come from the postgresql package (`make postgres`),
// found under /usr/lib/postgresql/*/bin or named by HYDRANT_POSTGRES_BIN.
package postgres
