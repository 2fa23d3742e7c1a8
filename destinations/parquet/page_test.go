package parquet

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/parquet/metadata"
)

// TestLevelsAndDictionaries round-trips null patterns that exercise both
// halves of the RLE / bit-packing hybrid (runs, short runs, padding of the last
// group) and dictionaries of several index widths, against arrow-go's decoder.
func TestLevelsAndDictionaries(t *testing.T) {
	s := mustSchema(t,
		Column{Name: "few", Type: "string"},  // low cardinality: dictionary
		Column{Name: "many", Type: "string"}, // distinct values, long: PLAIN
		Column{Name: "n", Type: "int64"},
		Column{Name: "b", Type: "boolean"},
	)
	patterns := map[string]func(i int, r *rand.Rand) bool{ // whether row i is null
		"no nulls":    func(int, *rand.Rand) bool { return false },
		"all null":    func(int, *rand.Rand) bool { return true },
		"alternating": func(i int, _ *rand.Rand) bool { return i%2 == 0 },
		"runs of 7":   func(i int, _ *rand.Rand) bool { return (i/7)%2 == 0 },
		"runs of 8":   func(i int, _ *rand.Rand) bool { return (i/8)%2 == 1 },
		"runs of 9":   func(i int, _ *rand.Rand) bool { return (i/9)%2 == 1 },
		"mixed runs":  func(i int, _ *rand.Rand) bool { return i%100 < 3 || (i%100 > 40 && i%100 < 75) },
		"random":      func(_ int, r *rand.Rand) bool { return r.IntN(3) == 0 },
		"first only":  func(i int, _ *rand.Rand) bool { return i == 0 },
	}
	for name, isNull := range patterns {
		for _, rows := range []int{1, 7, 8, 9, 16, 17, 1000, 5003} {
			for _, distinct := range []int{1, 2, 3, 200, 70000} {
				if distinct > rows*2 && distinct != 70000 {
					continue
				}
				t.Run(fmt.Sprintf("%s/%d rows/%d distinct", name, rows, distinct), func(t *testing.T) {
					r := rand.New(rand.NewPCG(uint64(rows), uint64(distinct)))
					records := make([]string, rows)
					want := map[string][]any{"few": nil, "many": nil, "n": nil, "b": nil}
					for i := range records {
						if isNull(i, r) {
							records[i] = `{}`
							for k := range want {
								want[k] = append(want[k], nil)
							}
							continue
						}
						few := fmt.Sprintf("v%d", r.IntN(distinct))
						many := fmt.Sprintf("%0200d", i) // 200 B each: past 1 MiB of dictionary at 5003 rows
						records[i] = fmt.Sprintf(`{"few":%q,"many":%q,"n":%d,"b":%v}`, few, many, i, i%3 == 0)
						want["few"] = append(want["few"], few)
						want["many"] = append(want["many"], many)
						want["n"] = append(want["n"], int64(i))
						want["b"] = append(want["b"], i%3 == 0)
					}
					data, failed := encode(t, s, records, Options{})
					if failed != nil {
						t.Fatalf("failed: %v", failed)
					}
					_, cols := readBack(t, data)
					for k, w := range want {
						if !reflect.DeepEqual(cols[k], w) {
							t.Fatalf("column %s differs: %s", k, firstDifference(cols[k], w))
						}
					}
				})
			}
		}
	}
}

func TestDictionaryChoice(t *testing.T) {
	s := mustSchema(t,
		Column{Name: "status", Type: "string"},
		Column{Name: "id", Type: "string"},
		Column{Name: "body", Type: "string"},
	)
	records := make([]string, 6000)
	for i := range records {
		records[i] = fmt.Sprintf(`{"status":"%s","id":"%08d","body":"%s"}`,
			[]string{"ok", "error", "retry"}[i%3], i, strings.Repeat("x", 400)+fmt.Sprint(i%3000))
	}
	data, _ := encode(t, s, records, Options{})
	pf, _ := readBack(t, data)
	rg := pf.MetaData().RowGroup(0)
	for col, wantDict := range map[int]bool{
		0: true,  // 3 distinct values
		1: false, // all distinct, short: dictionary would be bigger than PLAIN
		2: false, // 3000 distinct values of 400 B: past the 1 MiB dictionary limit
	} {
		cc, err := rg.ColumnChunk(col)
		if err != nil {
			t.Fatal(err)
		}
		if cc.HasDictionaryPage() != wantDict {
			t.Errorf("column %d: dictionary page %v, want %v", col, cc.HasDictionaryPage(), wantDict)
		}
	}
}

// TestStatistics checks the column chunk statistics that query engines prune
// row groups with: a wrong null count or min/max silently drops rows from
// query results.
func TestStatistics(t *testing.T) {
	s := mustSchema(t,
		Column{Name: "i", Type: "int64"},
		Column{Name: "s", Type: "string"},
		Column{Name: "dec", Type: "decimal(20,2)"},
		Column{Name: "d", Type: "double"},
		Column{Name: "b", Type: "boolean"},
		Column{Name: "long", Type: "string"},
		Column{Name: "none", Type: "int32"},
	)
	records := []string{
		`{"d":0}`, // nulls first: xitongsys/parquet-go miscounts a null that starts a page
		`{"i":5,"s":"b","dec":"-100000000000000000.01","d":-0.0,"b":true,"long":"short"}`,
		`{"i":-3,"s":"ä","dec":2,"d":2.5,"b":true}`,
		`{"i":9,"s":"B","dec":-0.5,"long":"` + strings.Repeat("z", 5000) + `"}`,
	}
	data, _ := encode(t, s, records, Options{})
	pf, _ := readBack(t, data)
	rg := pf.MetaData().RowGroup(0)
	stats := func(col int) metadata.TypedStatistics {
		cc, err := rg.ColumnChunk(col)
		if err != nil {
			t.Fatal(err)
		}
		st, err := cc.Statistics()
		if err != nil || st == nil {
			t.Fatalf("column %d: no statistics (%v)", col, err)
		}
		return st
	}
	for col, want := range []int64{1, 1, 1, 1, 2, 2, 4} {
		if got := stats(col).NullCount(); got != want {
			t.Errorf("column %d: null count %d, want %d", col, got, want)
		}
	}
	i := stats(0).(*metadata.Int64Statistics)
	if i.Min() != -3 || i.Max() != 9 {
		t.Errorf("int64 min/max %d/%d, want -3/9", i.Min(), i.Max())
	}
	str := stats(1).(*metadata.ByteArrayStatistics)
	if string(str.Min()) != "B" || string(str.Max()) != "ä" {
		t.Errorf("string min/max %q/%q, want B/ä (unsigned byte order)", str.Min(), str.Max())
	}
	dec := stats(2).(*metadata.FixedLenByteArrayStatistics)
	if lo, hi := decimalText(dec.Min(), 2), decimalText(dec.Max(), 2); lo != "-100000000000000000.01" || hi != "2.00" {
		t.Errorf("decimal min/max %s/%s, want -100000000000000000.01/2.00", lo, hi)
	}
	d := stats(3).(*metadata.Float64Statistics)
	if d.Min() != 0 || !math.Signbit(d.Min()) || d.Max() != 2.5 {
		t.Errorf("double min/max %v/%v, want -0/2.5", d.Min(), d.Max())
	}
	b := stats(4).(*metadata.BooleanStatistics)
	if b.Min() != true || b.Max() != true {
		t.Errorf("boolean min/max %v/%v, want true/true", b.Min(), b.Max())
	}
	if stats(5).HasMinMax() {
		t.Errorf("a 5000-byte string is in the statistics")
	}
	if stats(6).HasMinMax() {
		t.Errorf("an all-null column has min/max")
	}
}

// decimalText renders a big-endian two's complement unscaled value.
func decimalText(b []byte, scale int) string {
	v := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return new(big.Rat).SetFrac(v, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)).FloatString(scale)
}

// TestManyPages writes values past several page boundaries, with 100 KB values.
func TestManyPages(t *testing.T) {
	s := mustSchema(t, Column{Name: "s", Type: "string"}, Column{Name: "n", Type: "int64"})
	records := make([]string, 40)
	want := make([]any, 40)
	for i := range records {
		if i%5 == 4 {
			records[i], want[i] = `{"n":1}`, nil
			continue
		}
		v := strings.Repeat(string(rune('a'+i%26)), 100*1024) + fmt.Sprint(i)
		records[i], want[i] = fmt.Sprintf(`{"s":%q,"n":1}`, v), v
	}
	data, _ := encode(t, s, records, Options{})
	_, cols := readBack(t, data)
	if !reflect.DeepEqual(cols["s"], want) {
		t.Fatalf("100 KB values differ after a round trip")
	}
}

// firstDifference describes where got and want part ways.
func firstDifference(got, want []any) string {
	for i := range min(len(got), len(want)) {
		if !reflect.DeepEqual(got[i], want[i]) {
			return fmt.Sprintf("row %d: got %v, want %v", i, got[i], want[i])
		}
	}
	return fmt.Sprintf("got %d rows, want %d", len(got), len(want))
}
