package parquet

import (
	"strings"
	"testing"
)

func TestNewSchemaErrors(t *testing.T) {
	ok := Column{Name: "id", Type: "int64"}
	tests := map[string]struct {
		cols []Column
		want string
	}{
		"no columns":          {nil, "columns: at least one column is required"},
		"empty name":          {[]Column{ok, {Name: "", Type: "string"}}, "columns[1] (): name must not be empty"},
		"dash in name":        {[]Column{{Name: "my-col", Type: "string"}}, "columns[0] (my-col): name must start with a letter or underscore and hold only letters, digits and underscores"},
		"dot in name":         {[]Column{{Name: "a.b", Type: "string"}}, "columns[0] (a.b): name must start with a letter"},
		"leading digit":       {[]Column{{Name: "1st", Type: "string"}}, "columns[0] (1st): name must start with a letter"},
		"non-ASCII name":      {[]Column{{Name: "größe", Type: "string"}}, "columns[0] (größe): name must start with a letter"},
		"name too long":       {[]Column{{Name: strings.Repeat("a", 256), Type: "string"}}, "name is 256 bytes long, more than 255"},
		"duplicate":           {[]Column{ok, {Name: "x", Type: "string"}, {Name: "id", Type: "string"}}, "columns[2] (id): name duplicates columns[0] (id); names are compared ignoring case"},
		"duplicate by case":   {[]Column{ok, {Name: "ID", Type: "string"}}, "columns[1] (ID): name duplicates columns[0] (id)"},
		"unknown type":        {[]Column{{Name: "a", Type: "varchar"}}, `columns[0] (a): type "varchar": must be one of string, int32, int64, float, double, boolean, timestamp_millis, timestamp_micros, date, decimal(p,s), json`},
		"empty type":          {[]Column{{Name: "a"}}, `columns[0] (a): type "": must be one of`},
		"timestamp":           {[]Column{{Name: "a", Type: "timestamp"}}, `columns[0] (a): type "timestamp": must be one of`},
		"precision too big":   {[]Column{ok, {Name: "x", Type: "string"}, {Name: "amount", Type: "decimal(40,2)"}}, `columns[2] (amount): type "decimal(40,2)": precision must be 1..38`},
		"precision zero":      {[]Column{{Name: "amount", Type: "decimal(0,0)"}}, `columns[0] (amount): type "decimal(0,0)": precision must be 1..38`},
		"scale over":          {[]Column{{Name: "amount", Type: "decimal(10,11)"}}, `columns[0] (amount): type "decimal(10,11)": scale must be 0..precision (10)`},
		"scale negative":      {[]Column{{Name: "amount", Type: "decimal(10,-1)"}}, `scale must be 0..precision (10)`},
		"decimal no args":     {[]Column{{Name: "amount", Type: "decimal"}}, `columns[0] (amount): type "decimal": must be decimal(p,s), with precision p and scale s`},
		"decimal one arg":     {[]Column{{Name: "amount", Type: "decimal(10)"}}, `must be decimal(p,s)`},
		"decimal three args":  {[]Column{{Name: "amount", Type: "decimal(10,2,1)"}}, `must be decimal(p,s)`},
		"decimal not numbers": {[]Column{{Name: "amount", Type: "decimal(p,s)"}}, `precision and scale must be integers`},
		"decimal unclosed":    {[]Column{{Name: "amount", Type: "decimal(10,2"}}, `must be decimal(p,s)`},
		"relative path":       {[]Column{{Name: "a", Type: "string", Path: "a/b"}}, `columns[0] (a): path "a/b": a JSON pointer must start with "/"`},
		"bad escape":          {[]Column{{Name: "a", Type: "string", Path: "/a~2"}}, `columns[0] (a): path "/a~2": "~" must be followed by 0 or 1`},
		"trailing tilde":      {[]Column{{Name: "a", Type: "string", Path: "/a~"}}, `"~" must be followed by 0 or 1`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			s, err := NewSchema(tt.cols)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, %v; want error %q", s, err, tt.want)
			}
			if s != nil {
				t.Fatalf("a schema came with the error")
			}
		})
	}
}

func TestNewSchemaAccepts(t *testing.T) {
	s, err := NewSchema([]Column{
		{Name: "_private", Type: "STRING"},
		{Name: "Amount2", Type: " Decimal( 38 , 0 ) "},
		{Name: "a", Type: "json", Path: "/"},
		{Name: "b", Type: "date", Path: "/x~1y/~0z/0"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.cols[1]; got.kind != kindDecimal || got.precision != 38 || got.scale != 0 || got.width != 16 {
		t.Errorf("decimal compiled to %+v", got)
	}
	// The default path is /Name; escapes are undone and an index indexes.
	doc := map[string]any{"_private": "p", "x/y": map[string]any{"~z": []any{"d"}}}
	if got, ok := s.cols[0].path.Resolve(doc); !ok || got != "p" {
		t.Errorf("default path finds %v, %v; want the value of /_private", got, ok)
	}
	if got, ok := s.cols[3].path.Resolve(doc); !ok || got != "d" {
		t.Errorf("path /x~1y/~0z/0 finds %v, %v; want the value under \"x/y\", \"~z\", 0", got, ok)
	}
}

func TestDecimalWidth(t *testing.T) {
	// The minimal widths, as in the Parquet spec's table (and Hive's and Spark's).
	want := map[int]int{1: 1, 2: 1, 3: 2, 4: 2, 5: 3, 6: 3, 7: 4, 9: 4, 10: 5, 11: 5, 12: 6, 18: 8, 19: 9, 38: 16}
	for p, w := range want {
		if got := decimalWidth(p); got != w {
			t.Errorf("decimalWidth(%d) = %d, want %d", p, got, w)
		}
	}
}
