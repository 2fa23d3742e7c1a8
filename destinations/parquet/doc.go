// Package parquet converts batches of JSON records into Parquet files: the
// "record format conversion" of Firehose, for deliveries to S3 and files.
//
// A Schema, compiled once from the config's columns by NewSchema, encodes a
// batch with Encode: one file per batch, the records that convert in their
// order, and a ConversionError for each one that does not, keyed by its index
// so that the caller can route it to the error output. Only a failure to write
// the file is an error of Encode itself.
//
// # Columns
//
// Each column takes the JSON value at its path, an RFC 6901 JSON pointer
// ("/geo/city", "/tags/0"; "/" + Name by default; keys match exactly, case
// included). A missing value, JSON null, an array index out of range or a
// path through a scalar all give null, which fails the record only when the
// column is Required. Each record is decoded once, with encoding/json and
// UseNumber, so integers and decimals are never rounded through float64.
//
//	type              Parquet (physical, annotation)         accepts
//	string            BYTE_ARRAY, STRING (UTF8)              strings; numbers and booleans as their JSON text
//	int32, int64      INT32, INT64                           integer-valued numbers ("4.0" and "1e3" too), strings holding one
//	float, double     FLOAT, DOUBLE                          numbers, numeric strings (not "NaN" or "Infinity")
//	boolean           BOOLEAN                                true, false, "true", "false"
//	timestamp_millis  INT64, TIMESTAMP(MILLIS, UTC)          RFC 3339 and ISO 8601 ("+0100" offsets too); without an offset as UTC;
//	timestamp_micros  INT64, TIMESTAMP(MICROS, UTC)            epoch seconds, whole or fractional, as a JSON number; TimestampFormats
//	date              INT32, DATE                            "2006-01-02", or any timestamp form's UTC date
//	decimal(p,s)      FIXED_LEN_BYTE_ARRAY, DECIMAL(p,s)     numbers and numeric strings with at most s fractional digits
//	                                                           (trailing zeros aside) and p digits in all; never rounded
//	json              BYTE_ARRAY, STRING (UTF8)              any value, stored as compact JSON text
//
// A column's TimestampFormats (Joda-Time patterns, epoch_seconds,
// epoch_millis) are tried before the default forms; see timestamp.go.
// Timestamps and dates must fall in years 0001 to 9999; sub-unit digits of a
// timestamp are dropped (rounding toward the past). A decimal takes the
// fewest bytes that hold its precision (16 for decimal(38,s)), the layout Hive
// and older Spark read. A json column stores the JSON encoding of the value,
// so the string "x" is stored with its quotes as `"x"`, object keys come out
// sorted, numbers keep their text and HTML characters are not escaped.
// Invalid UTF-8 in strings becomes U+FFFD, as encoding/json decodes it.
//
// # Nested columns
//
// A struct column (Column.Fields), a list (Column.Element) and a map
// (Column.Key, Column.Value) take a JSON object, an array and an object, and
// are written as the Parquet format's nested types with Dremel's repetition
// and definition levels (nested.go); a failing child names itself by its
// dotted path in the Parquet schema ("items.list.element.qty").
//
// # Inferred columns
//
// AutoSchema is the config's schema: auto. Its Encode infers each batch's
// columns from the batch's records (sorted top-level keys; boolean, int64,
// double, string, timestamp, struct, list, and json for shapes that do not
// agree; see AutoSchema for the rules and limits) and encodes the batch with
// them, so that every JSON object converts; the files of one delivery may
// then have different schemas. Inference decodes each record once, and Encode
// decodes it again.
//
// # File layout
//
// Files are Parquet format version 1 as parquet-mr writes them: version 1 data
// pages of about 1 MiB, definition levels in the RLE hybrid encoding, PLAIN
// values, except string and json columns, which are dictionary-encoded when
// that is smaller and the dictionary stays under 1 MiB. Pages are compressed
// with the Options' codec (snappy by default). Row groups are cut when the
// plain-encoded size of their values reaches Options.RowGroupSize (128 MiB by
// default), so they are about that size before compression; a row group is
// held in memory until written. Column chunks carry statistics: null count,
// and min and max except for strings longer than 4 KiB. There is no page
// index or bloom filter.
//
// The Parquet metadata structures are xitongsys/parquet-go's Thrift types and
// pages are compressed with its codecs; pages, levels, dictionaries and
// statistics are written here, because its writer miscounts statistics'
// null_count (a null that starts a page is not counted), which lets query
// engines skip row groups that hold the rows an IS NULL filter wants.
package parquet
