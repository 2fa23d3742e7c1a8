package parquet

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func micros(year int, month time.Month, day, h, m, s, us int) int64 {
	return time.Date(year, month, day, h, m, s, us*1000, time.UTC).UnixMicro()
}

func days(year int, month time.Month, day int) int32 {
	return int32(time.Date(year, month, day, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// TestConvert round-trips one value per case through a one-column file read
// back with arrow-go, or checks the conversion error.
func TestConvert(t *testing.T) {
	tests := map[string]struct {
		typ      string
		required bool
		path     string
		record   string
		want     any    // value read back; nil for null
		wantErr  string // substring of the ConversionError, when the record must fail
	}{
		"string":                    {typ: "string", record: `{"v":"hello"}`, want: "hello"},
		"string unicode":            {typ: "string", record: `{"v":"🦀 漢字 ✓ \u00e9"}`, want: "🦀 漢字 ✓ é"},
		"string html kept":          {typ: "string", record: `{"v":"<a&b>"}`, want: "<a&b>"},
		"string empty":              {typ: "string", record: `{"v":""}`, want: ""},
		"string from number":        {typ: "string", record: `{"v":1.50}`, want: "1.50"},
		"string from bool":          {typ: "string", record: `{"v":true}`, want: "true"},
		"string from object":        {typ: "string", record: `{"v":{"a":1}}`, wantErr: `column "v": an object is not a string`},
		"string from array":         {typ: "string", record: `{"v":[1]}`, wantErr: `column "v": an array is not a string`},
		"string null":               {typ: "string", record: `{"v":null}`, want: nil},
		"string missing":            {typ: "string", record: `{"w":1}`, want: nil},
		"required missing":          {typ: "string", required: true, record: `{"w":1}`, wantErr: `column "v": required value is missing`},
		"required null":             {typ: "int64", required: true, record: `{"v":null}`, wantErr: `column "v": required value is missing`},
		"required present":          {typ: "int64", required: true, record: `{"v":7}`, want: int64(7)},
		"int32 max":                 {typ: "int32", record: `{"v":2147483647}`, want: int32(2147483647)},
		"int32 min":                 {typ: "int32", record: `{"v":-2147483648}`, want: int32(-2147483648)},
		"int32 overflow":            {typ: "int32", record: `{"v":2147483648}`, wantErr: `value 2147483648 is not an int32: out of range`},
		"int32 from string":         {typ: "int32", record: `{"v":"42"}`, want: int32(42)},
		"int32 integral float":      {typ: "int32", record: `{"v":4.0}`, want: int32(4)},
		"int32 exponent":            {typ: "int32", record: `{"v":1e3}`, want: int32(1000)},
		"int32 fraction":            {typ: "int32", record: `{"v":1.5}`, wantErr: `value 1.5 is not an int32: has a fractional part`},
		"int32 bool":                {typ: "int32", record: `{"v":true}`, wantErr: `value true is not an int32`},
		"int32 text":                {typ: "int32", record: `{"v":"abc"}`, wantErr: `value "abc" is not an int32`},
		"int32 padded string":       {typ: "int32", record: `{"v":" 42"}`, wantErr: `is not an int32`},
		"int32 plus sign":           {typ: "int32", record: `{"v":"+42"}`, wantErr: `is not an int32`},
		"int64 max":                 {typ: "int64", record: `{"v":9223372036854775807}`, want: int64(9223372036854775807)},
		"int64 min":                 {typ: "int64", record: `{"v":-9223372036854775808}`, want: int64(-9223372036854775808)},
		"int64 too big":             {typ: "int64", record: `{"v":12345678901234567890}`, wantErr: `value 12345678901234567890 is not an int64: out of range`},
		"int64 max plus one":        {typ: "int64", record: `{"v":9223372036854775808}`, wantErr: `out of range`},
		"int64 min minus one":       {typ: "int64", record: `{"v":"-9223372036854775809"}`, wantErr: `out of range`},
		"int64 1e18":                {typ: "int64", record: `{"v":1e18}`, want: int64(1e18)},
		"int64 1e19":                {typ: "int64", record: `{"v":1e19}`, wantErr: `out of range`},
		"int64 huge exponent":       {typ: "int64", record: `{"v":1e999999999999}`, wantErr: `out of range`},
		"int64 tiny exponent":       {typ: "int64", record: `{"v":1e-999999999999}`, wantErr: `has a fractional part`},
		"int64 negative zero":       {typ: "int64", record: `{"v":-0.0}`, want: int64(0)},
		"int64 string":              {typ: "int64", record: `{"v":"-17"}`, want: int64(-17)},
		"int64 object":              {typ: "int64", record: `{"v":{}}`, wantErr: `an object is not an int64`},
		"float":                     {typ: "float", record: `{"v":1.5}`, want: float32(1.5)},
		"float string":              {typ: "float", record: `{"v":"2.25"}`, want: float32(2.25)},
		"float overflow":            {typ: "float", record: `{"v":1e39}`, wantErr: `value 1e39 is not a float: out of range`},
		"float NaN string":          {typ: "float", record: `{"v":"NaN"}`, wantErr: `value "NaN" is not a float`},
		"float bool":                {typ: "float", record: `{"v":false}`, wantErr: `value false is not a float`},
		"double":                    {typ: "double", record: `{"v":0.1}`, want: 0.1},
		"double max":                {typ: "double", record: `{"v":1.7976931348623157e308}`, want: 1.7976931348623157e308},
		"double overflow":           {typ: "double", record: `{"v":1e309}`, wantErr: `out of range`},
		"double string":             {typ: "double", record: `{"v":"-3.5e2"}`, want: -350.0},
		"double Infinity string":    {typ: "double", record: `{"v":"Infinity"}`, wantErr: `is not a double`},
		"boolean true":              {typ: "boolean", record: `{"v":true}`, want: true},
		"boolean false":             {typ: "boolean", record: `{"v":false}`, want: false},
		"boolean string":            {typ: "boolean", record: `{"v":"true"}`, want: true},
		"boolean string false":      {typ: "boolean", record: `{"v":"false"}`, want: false},
		"boolean other string":      {typ: "boolean", record: `{"v":"TRUE"}`, wantErr: `value "TRUE" is not a boolean`},
		"boolean number":            {typ: "boolean", record: `{"v":1}`, wantErr: `value 1 is not a boolean`},
		"micros RFC 3339":           {typ: "timestamp_micros", record: `{"v":"2024-03-05T12:34:56.123456Z"}`, want: micros(2024, 3, 5, 12, 34, 56, 123456)},
		"micros offset, nanos cut":  {typ: "timestamp_micros", record: `{"v":"2024-03-05T14:34:56.123456789+02:00"}`, want: micros(2024, 3, 5, 12, 34, 56, 123456)},
		"micros no fraction":        {typ: "timestamp_micros", record: `{"v":"2024-03-05T12:34:56Z"}`, want: micros(2024, 3, 5, 12, 34, 56, 0)},
		"micros space, UTC":         {typ: "timestamp_micros", record: `{"v":"2024-03-05 12:34:56"}`, want: micros(2024, 3, 5, 12, 34, 56, 0)},
		"micros T no zone, UTC":     {typ: "timestamp_micros", record: `{"v":"2024-03-05T12:34:56.5"}`, want: micros(2024, 3, 5, 12, 34, 56, 500000)},
		"micros before 1970":        {typ: "timestamp_micros", record: `{"v":"1969-07-20T20:17:40.000001Z"}`, want: micros(1969, 7, 20, 20, 17, 40, 1)},
		"micros epoch seconds":      {typ: "timestamp_micros", record: `{"v":1709642096}`, want: int64(1709642096) * 1e6},
		"micros epoch fraction":     {typ: "timestamp_micros", record: `{"v":1709642096.123456}`, want: int64(1709642096123456)},
		"micros epoch negative":     {typ: "timestamp_micros", record: `{"v":-1.5}`, want: int64(-1500000)},
		"micros epoch string":       {typ: "timestamp_micros", record: `{"v":"1709642096"}`, wantErr: `value "1709642096" is not a timestamp: want RFC 3339`},
		"micros epoch in millis":    {typ: "timestamp_micros", record: `{"v":1709642096000000}`, wantErr: `outside years 0001-9999 (milliseconds instead of seconds? timestamp_formats: [epoch_millis] reads them)`},
		"micros year 0":             {typ: "timestamp_micros", record: `{"v":"0000-01-01T00:00:00Z"}`, wantErr: `outside years 0001-9999`},
		"micros garbage":            {typ: "timestamp_micros", record: `{"v":"yesterday"}`, wantErr: `value "yesterday" is not a timestamp: want RFC 3339`},
		"micros bool":               {typ: "timestamp_micros", record: `{"v":true}`, wantErr: `value true is not a timestamp`},
		"millis cut":                {typ: "timestamp_millis", record: `{"v":"2024-03-05T12:34:56.123999Z"}`, want: micros(2024, 3, 5, 12, 34, 56, 123000) / 1000},
		"millis epoch fraction":     {typ: "timestamp_millis", record: `{"v":1.9999}`, want: int64(1999)},
		"millis epoch floor":        {typ: "timestamp_millis", record: `{"v":-0.0005}`, want: int64(-1)},
		"millis before 1970 floor":  {typ: "timestamp_millis", record: `{"v":"1969-12-31T23:59:59.9999Z"}`, want: int64(-1)},
		"date":                      {typ: "date", record: `{"v":"2024-03-05"}`, want: days(2024, 3, 5)},
		"date day before epoch":     {typ: "date", record: `{"v":"1969-12-31"}`, want: int32(-1)},
		"date 1900":                 {typ: "date", record: `{"v":"1900-01-01"}`, want: int32(-25567)},
		"date year 1":               {typ: "date", record: `{"v":"0001-01-01"}`, want: int32(-719162)},
		"date from RFC 3339 UTC":    {typ: "date", record: `{"v":"1969-12-31T23:00:00-02:00"}`, want: int32(0)},
		"date from RFC 3339 behind": {typ: "date", record: `{"v":"2024-03-05T01:00:00+02:00"}`, want: days(2024, 3, 4)},
		"date number":               {typ: "date", record: `{"v":20240305}`, wantErr: `value 20240305 is not a date`},
		"date bad month":            {typ: "date", record: `{"v":"2024-13-01"}`, wantErr: `value "2024-13-01" is not a date: want 2006-01-02`},
		"decimal":                   {typ: "decimal(10,2)", record: `{"v":12.34}`, want: decimalString("12.34")},
		"decimal string padded":     {typ: "decimal(10,2)", record: `{"v":"12.3"}`, want: decimalString("12.30")},
		"decimal negative cent":     {typ: "decimal(10,2)", record: `{"v":-0.01}`, want: decimalString("-0.01")},
		"decimal trailing zeros":    {typ: "decimal(10,2)", record: `{"v":1.2300}`, want: decimalString("1.23")},
		"decimal exponent":          {typ: "decimal(10,2)", record: `{"v":1e2}`, want: decimalString("100.00")},
		"decimal negative exponent": {typ: "decimal(10,2)", record: `{"v":1E-2}`, want: decimalString("0.01")},
		"decimal widest":            {typ: "decimal(10,2)", record: `{"v":-99999999.99}`, want: decimalString("-99999999.99")},
		"decimal too precise":       {typ: "decimal(10,2)", record: `{"v":1.234}`, wantErr: `value 1.234 is not a decimal(10,2): has more than 2 fractional digits`},
		"decimal too big":           {typ: "decimal(10,2)", record: `{"v":123456789.1}`, wantErr: `has more than 10 digits (8 before the decimal point)`},
		"decimal bool":              {typ: "decimal(10,2)", record: `{"v":true}`, wantErr: `value true is not a decimal(10,2)`},
		"decimal huge exponent":     {typ: "decimal(38,0)", record: `{"v":1e999999999999}`, wantErr: `has more than 38 digits`},
		"decimal 38 exact":          {typ: "decimal(38,10)", record: `{"v":1234567890123456789012345678.0123456789}`, want: decimalString("1234567890123456789012345678.0123456789")},
		"decimal 38 negative":       {typ: "decimal(38,10)", record: `{"v":"-1234567890123456789012345678.0123456789"}`, want: decimalString("-1234567890123456789012345678.0123456789")},
		"decimal 38 max":            {typ: "decimal(38,10)", record: `{"v":9999999999999999999999999999.9999999999}`, want: decimalString("9999999999999999999999999999.9999999999")},
		"decimal 38 min":            {typ: "decimal(38,10)", record: `{"v":-9999999999999999999999999999.9999999999}`, want: decimalString("-9999999999999999999999999999.9999999999")},
		"decimal 38 overflow":       {typ: "decimal(38,10)", record: `{"v":99999999999999999999999999999}`, wantErr: `has more than 38 digits`},
		"decimal 38 small":          {typ: "decimal(38,10)", record: `{"v":-0.0000000001}`, want: decimalString("-0.0000000001")},
		"decimal(1,0)":              {typ: "decimal(1,0)", record: `{"v":-9}`, want: decimalString("-9")},
		"decimal(1,0) overflow":     {typ: "decimal(1,0)", record: `{"v":10}`, wantErr: `has more than 1 digits`},
		"decimal(5,5)":              {typ: "decimal(5,5)", record: `{"v":0.12345}`, want: decimalString("0.12345")},
		"decimal(5,5) one":          {typ: "decimal(5,5)", record: `{"v":1}`, wantErr: `has more than 5 digits (0 before the decimal point)`},
		"decimal(18,0) boundary":    {typ: "decimal(18,0)", record: `{"v":-999999999999999999}`, want: decimalString("-999999999999999999")},
		"decimal(19,0) boundary":    {typ: "decimal(19,0)", record: `{"v":-9999999999999999999}`, want: decimalString("-9999999999999999999")},
		"json object":               {typ: "json", record: `{"v":{"b":[1,2.50,{"c":null}],"a":"x<y"}}`, want: `{"a":"x<y","b":[1,2.50,{"c":null}]}`},
		"json string":               {typ: "json", record: `{"v":"x"}`, want: `"x"`},
		"json number":               {typ: "json", record: `{"v":12.0}`, want: `12.0`},
		"json empty array":          {typ: "json", record: `{"v":[]}`, want: `[]`},
		"json bool":                 {typ: "json", record: `{"v":true}`, want: `true`},
		"json null":                 {typ: "json", record: `{"v":null}`, want: nil},
		"path nested":               {typ: "int64", path: "/a/b", record: `{"a":{"b":3}}`, want: int64(3)},
		"path array index":          {typ: "string", path: "/a/1", record: `{"a":["x","y"]}`, want: "y"},
		"path array out of range":   {typ: "string", path: "/a/2", record: `{"a":["x","y"]}`, want: nil},
		"path array leading zero":   {typ: "string", path: "/a/01", record: `{"a":["x","y"]}`, want: nil},
		"path array dash":           {typ: "string", path: "/a/-", record: `{"a":["x","y"]}`, want: nil},
		"path escaped slash":        {typ: "string", path: "/a~1b", record: `{"a/b":"s"}`, want: "s"},
		"path escaped tilde":        {typ: "string", path: "/m~0n", record: `{"m~n":"t"}`, want: "t"},
		"path through scalar":       {typ: "string", path: "/a/b", record: `{"a":5}`, want: nil},
		"path empty key":            {typ: "string", path: "/", record: `{"":"e"}`, want: "e"},
		"trailing newline":          {typ: "string", record: "{\"v\":\"n\"}\n", want: "n"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := convertOne(t, Column{Name: "v", Type: tt.typ, Path: tt.path, Required: tt.required}, tt.record)
			if tt.wantErr != "" {
				var cerr *ConversionError
				if !errors.As(err, &cerr) {
					t.Fatalf("got %s, err %v; want a *ConversionError containing %q", describe(got), err, tt.wantErr)
				}
				if cerr.Column != "v" || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %q (column %q); want column v and text %q", err, cerr.Column, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("conversion failed: %v", err)
			}
			if got != tt.want {
				t.Fatalf("read back %s, want %s", describe(got), describe(tt.want))
			}
		})
	}
}

// TestConvertRecordErrors covers records that fail as a whole: Column is "".
func TestConvertRecordErrors(t *testing.T) {
	tests := map[string]struct {
		record string
		want   string
	}{
		"array":         {`[1,2]`, "record is not a JSON object"},
		"string":        {`"s"`, "record is not a JSON object"},
		"number":        {`42`, "record is not a JSON object"},
		"null":          {`null`, "record is not a JSON object"},
		"truncated":     {`{"v":`, "record is not valid JSON: unexpected EOF"},
		"empty":         {``, "record is not valid JSON: EOF"},
		"two values":    {`{"v":1} {"v":2}`, "record is not valid JSON: data after the first value"},
		"bad character": {`{"v":tru}`, "record is not valid JSON: invalid character"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := convertOne(t, Column{Name: "v", Type: "string"}, tt.record)
			var cerr *ConversionError
			if !errors.As(err, &cerr) {
				t.Fatalf("err %v, want a *ConversionError", err)
			}
			if cerr.Column != "" || !strings.HasPrefix(cerr.Reason, tt.want) || err.Error() != cerr.Reason {
				t.Fatalf("got column %q reason %q message %q, want column \"\" and reason %q", cerr.Column, cerr.Reason, err, tt.want)
			}
		})
	}
}
