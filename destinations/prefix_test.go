package destinations

import (
	"strings"
	"testing"
	"time"
)

func TestPrefix(t *testing.T) {
	oldest := time.Date(2026, 11, 5, 7, 8, 9, 0, time.UTC)
	tests := map[string]struct {
		prefix  string
		isError bool
		values  PrefixValues
		want    string
		wantErr bool
	}{
		"empty gets the default hour path":  {prefix: "", want: "2026/11/05/07/"},
		"literal gets the default appended": {prefix: "clicks/", want: "clicks/2026/11/05/07/"},
		"timestamp expression": {
			prefix: "logs/!{timestamp:yyyy/MM/dd}/", want: "logs/2026/11/05/",
		},
		"hive style with quotes": {
			prefix: "t/!{timestamp:'year='yyyy'/month='MM}/", want: "t/year=2026/month=11/",
		},
		"short fields": {prefix: "!{timestamp:yy-M-d H:m:s}/", want: "26-11-5 7:8:9/"},
		"error type": {
			prefix: "err/!{firehose:error-output-type}/!{timestamp:yyyy}/", isError: true,
			values: PrefixValues{ErrorType: "processing-failed"}, want: "err/processing-failed/2026/",
		},
		"error type outside error prefix": {prefix: "!{firehose:error-output-type}/", wantErr: true},
		"partition key": {
			prefix: "c=!{partitionKeyFromQuery:customer}/", values: PrefixValues{PartitionKeys: map[string]string{"customer": "acme"}},
			want: "c=acme/2026/11/05/07/",
		},
		"partition key missing on batch": {prefix: "!{partitionKeyFromQuery:customer}/", wantErr: true},
		"partition key in error prefix":  {prefix: "!{partitionKeyFromQuery:c}/", isError: true, wantErr: true},
		"unknown namespace":              {prefix: "!{nope:x}", wantErr: true},
		"unsupported letter":             {prefix: "!{timestamp:EEE}", wantErr: true},
		"unterminated":                   {prefix: "a/!{timestamp:yyyy", wantErr: true},
		"random string is deterministic": {
			prefix: "!{firehose:random-string}/!{timestamp:yyyy}/", values: PrefixValues{Seed: "d/s/1"}, want: randomString("d/s/1") + "/2026/",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			p, err := CompilePrefix(tt.prefix, tt.isError)
			var got string
			if err == nil {
				tt.values.Oldest = oldest
				got, err = p.Evaluate(tt.values)
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("prefix = %q, want %q", got, tt.want)
			}
		})
	}
	if r := randomString("x"); len(r) != 11 {
		t.Fatalf("random string %q: want 11 characters", r)
	}
}

// Evaluate refuses a partition key value that is not one safe path segment,
// whichever transform set it, so no batch is written into another
// partition's path or under a key the store can never take.
func TestPrefixRefusesUnsafePartitionValues(t *testing.T) {
	p, err := CompilePrefix("c=!{partitionKeyFromQuery:c}/!{timestamp:yyyy}/", false)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("v", MaxPartitionKeyValue)
	tests := map[string]struct {
		value string
		want  string // the evaluated prefix; "" for an error
	}{
		"letters and digits":  {value: "acme-42_x", want: "c=acme-42_x/2026/"},
		"equals, dots, space": {value: "v=1.2 beta..", want: "c=v=1.2 beta../2026/"},
		"unicode":             {value: "café-東京", want: "c=café-東京/2026/"},
		"empty":               {value: "", want: "c=/2026/"},
		"255 bytes":           {value: long, want: "c=" + long + "/2026/"},
		"256 bytes":           {value: long + "v"},
		"slash dot dot":       {value: "x/../../d=other"},
		"slash":               {value: "a/b"},
		"backslash":           {value: `a\b`},
		"dot dot":             {value: ".."},
		"dot":                 {value: "."},
		"NUL":                 {value: "a\x00b"},
		"newline":             {value: "a\nb"},
		"DEL":                 {value: "a\x7fb"},
		"C1 control":          {value: "a\u0085b"},
		"invalid UTF-8":       {value: "a\xffb"},
	}
	oldest := time.Date(2026, 11, 5, 7, 8, 9, 0, time.UTC)
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := p.Evaluate(PrefixValues{Oldest: oldest, PartitionKeys: map[string]string{"c": tt.value}})
			if tt.want == "" {
				if err == nil || !strings.Contains(err.Error(), `partition key "c"`) {
					t.Fatalf("prefix = %q, err = %v; want an error naming the key", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("prefix = %q, err = %v; want %q", got, err, tt.want)
			}
		})
	}
}
