package analytics

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestQuoteNamedArgs(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"from":              {`SELECT * FROM stream('x', from => '1h')`, `SELECT * FROM stream('x', "from" => '1h')`},
		"from and to":       {`FROM stream('x', from=>'1h', TO := '5m')`, `FROM stream('x', "from"=>'1h', "to" := '5m')`},
		"across lines":      {"stream('x',\n  from\n  => '1h')", "stream('x',\n  \"from\"\n  => '1h')"},
		"past comments":     {"stream('x', from -- since\n /* a /* nested */ one */ => '1h')", "stream('x', \"from\" -- since\n /* a /* nested */ one */ => '1h')"},
		"already quoted":    {`stream('x', "from" => '1h')`, `stream('x', "from" => '1h')`},
		"a FROM clause":     {`SELECT a FROM t WHERE b >= 1`, `SELECT a FROM t WHERE b >= 1`},
		"in a string":       {`SELECT 'from => 1', 'it''s to => x'`, `SELECT 'from => 1', 'it''s to => x'`},
		"in an E string":    {`SELECT E'\' from => 1'`, `SELECT E'\' from => 1'`},
		"in a dollar quote": {`SELECT $q$ from => 1 $q$, $$to := 2$$`, `SELECT $q$ from => 1 $q$, $$to := 2$$`},
		"in an identifier":  {`SELECT 1 AS "from => 1"`, `SELECT 1 AS "from => 1"`},
		"in a comment":      {"SELECT 1 -- from => 1\n, 2 /* to => 3 */", "SELECT 1 -- from => 1\n, 2 /* to => 3 */"},
		"part of a word":    {`SELECT x FROM t WHERE from_x => 1 OR x_to := 2`, `SELECT x FROM t WHERE from_x => 1 OR x_to := 2`},
		"a parameter":       {`SELECT $1, from => 2`, `SELECT $1, "from" => 2`},
		"unterminated":      {`SELECT 'from => 1`, `SELECT 'from => 1`},
		"unicode":           {`SELECT 'é', from => 'ü'`, `SELECT 'é', "from" => 'ü'`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := quoteNamedArgs(tt.in); got != tt.want {
				t.Errorf("quoteNamedArgs(%q)\n = %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseBound(t *testing.T) {
	now := at("2026-12-05T12:00:00Z")
	tests := map[string]struct {
		in      string
		want    time.Time
		wantErr string
	}{
		"a Go duration":                {in: "1h30m", want: at("2026-12-05T10:30:00Z")},
		"seconds":                      {in: " 90s ", want: at("2026-12-05T11:58:30Z")},
		"days":                         {in: "2d", want: at("2026-12-03T12:00:00Z")},
		"half a day":                   {in: "0.5d", want: at("2026-12-05T00:00:00Z")},
		"RFC 3339":                     {in: "2026-12-05T11:00:00+01:00", want: at("2026-12-05T10:00:00Z")},
		"as DuckDB writes TIMESTAMP":   {in: "2026-12-05 11:00:00.5", want: at("2026-12-05T11:00:00.5Z")},
		"as DuckDB writes TIMESTAMPTZ": {in: "2026-12-05 11:00:00+00", want: at("2026-12-05T11:00:00Z")},
		"a date":                       {in: "2026-12-04", want: at("2026-12-04T00:00:00Z")},
		"negative":                     {in: "-1h", wantErr: "not negative"},
		"words":                        {in: "yesterday", wantErr: `"yesterday" is neither a duration`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := parseBound(tt.in, now)
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %v, want %q", err, tt.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case !got.Equal(tt.want):
				t.Errorf("%s, want %s", got, tt.want)
			}
		})
	}
}

func TestUniqueNames(t *testing.T) {
	got := uniqueNames([]string{"a", "b", "a", "a_2", "a"})
	if want := []string{"a", "b", "a_3", "a_2", "a_4"}; !slices.Equal(got, want) {
		t.Errorf("%v, want %v", got, want)
	}
}

func TestStatementEdges(t *testing.T) {
	tests := map[string]struct{ in, first, trimmed string }{
		"plain":               {"SELECT 1", "SELECT", "SELECT 1"},
		"a semicolon":         {"SELECT 1;", "SELECT", "SELECT 1"},
		"then a comment":      {" /* c */ explain SELECT 1 ; -- done;\n", "explain", " /* c */ explain SELECT 1  -- done;\n"},
		"two":                 {"SELECT 1;;", "SELECT", "SELECT 1"},
		"inside a string":     {"SELECT ';'", "SELECT", "SELECT ';'"},
		"inside an E string":  {"SELECT E'\\';' ;", "SELECT", "SELECT E'\\';' "},
		"a comment first":     {"-- hi\nFROM t", "FROM", "-- hi\nFROM t"},
		"nothing":             {" -- only\n", "", " -- only\n"},
		"a quoted identifier": {`"x;"`, `"x;"`, `"x;"`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := firstWord(tt.in); got != tt.first {
				t.Errorf("firstWord = %q, want %q", got, tt.first)
			}
			if got := trimSemicolons(tt.in); got != tt.trimmed {
				t.Errorf("trimSemicolons = %q, want %q", got, tt.trimmed)
			}
		})
	}
}
