// Package jsonpointer compiles RFC 6901 JSON pointers and looks them up in
// JSON documents, for the places that take a field of a record by pointer
// (partition keys at ingest, document ids of search destinations).
package jsonpointer
