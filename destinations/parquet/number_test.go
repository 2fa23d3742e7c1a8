package parquet

import (
	"bytes"
	"math/big"
	"math/rand/v2"
	"strconv"
	"testing"
)

func TestIsNumber(t *testing.T) {
	tests := map[string]bool{
		"0": true, "-0": true, "12": true, "1.5": true, "-1.5e-3": true, "1E+9": true, "0.0": true,
		"": false, "-": false, "+1": false, "01": false, "1.": false, ".5": false, "1e": false, "1e+": false,
		"NaN": false, "Inf": false, "-Infinity": false, "0x10": false, "1_000": false, " 1": false, "1 ": false,
	}
	for s, want := range tests {
		if got := isNumber(s); got != want {
			t.Errorf("isNumber(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestParseDecimal(t *testing.T) {
	tests := map[string]decimalNumber{
		"0":         {},
		"-0.000e5":  {},
		"120":       {digits: "12", exp: 1},
		"-1.250":    {neg: true, digits: "125", exp: -2},
		"0.001":     {digits: "1", exp: -3},
		"1e3":       {digits: "1", exp: 3},
		"12.5E-1":   {digits: "125", exp: -2},
		"00.10e+01": {digits: "1", exp: 0},
	}
	for s, want := range tests {
		if got := parseDecimal(s); got != want {
			t.Errorf("parseDecimal(%q) = %+v, want %+v", s, got, want)
		}
	}
}

// TestInt64ValueMatchesStrconv compares the exact parser with strconv on
// random integers and on the edges of int64.
func TestInt64ValueMatchesStrconv(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	inputs := []string{"9223372036854775807", "-9223372036854775808", "9223372036854775808", "-9223372036854775809", "18446744073709551615", "99999999999999999999"}
	for range 2000 {
		inputs = append(inputs, strconv.FormatInt(int64(r.Uint64()), 10), strconv.FormatInt(r.Int64N(1000)-500, 10))
	}
	for _, s := range inputs {
		want, werr := strconv.ParseInt(s, 10, 64)
		got, gerr := parseDecimal(s).int64Value()
		if (werr != nil) != (gerr != nil) || (werr == nil && got != want) {
			t.Fatalf("%s: got %d, %v; strconv says %d, %v", s, got, gerr, want, werr)
		}
	}
}

// TestAppendDecimalMatchesBig compares the 128-bit encoder with math/big on
// random values of every precision.
func TestAppendDecimalMatchesBig(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 5000 {
		precision := 1 + r.IntN(38)
		scale := r.IntN(precision + 1)
		width := decimalWidth(precision)
		digits := make([]byte, 1+r.IntN(precision))
		for i := range digits {
			digits[i] = byte('0' + r.IntN(10))
		}
		unscaled, _ := new(big.Int).SetString(string(digits), 10)
		if r.IntN(2) == 0 {
			unscaled.Neg(unscaled)
		}
		text := new(big.Rat).SetFrac(unscaled, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)).FloatString(scale)

		got, err := parseDecimal(text).appendDecimal([]byte("x"), precision, scale, width)
		if err != nil {
			t.Fatalf("%s as decimal(%d,%d): %v", text, precision, scale, err)
		}
		want := new(big.Int).Set(unscaled)
		if want.Sign() < 0 {
			want.Add(want, new(big.Int).Lsh(big.NewInt(1), uint(8*width)))
		}
		wantBytes := append([]byte("x"), want.FillBytes(make([]byte, width))...)
		if !bytes.Equal(got, wantBytes) {
			t.Fatalf("%s as decimal(%d,%d): got %x, want %x", text, precision, scale, got, wantBytes)
		}
	}
}

func TestScaledFloor(t *testing.T) {
	tests := []struct {
		in    string
		shift int
		want  int64
	}{
		{"1.2345", 3, 1234}, {"-1.2345", 3, -1235}, {"-1.2", 3, -1200}, {"0.0004", 3, 0}, {"-0.0004", 3, -1},
		{"1e-30", 6, 0}, {"-1e-30", 6, -1}, {"1700000000", 6, 1700000000000000}, {"17e8", 3, 1700000000000},
	}
	for _, tt := range tests {
		got, err := parseDecimal(tt.in).scaledFloor(tt.shift)
		if err != nil || got != tt.want {
			t.Errorf("scaledFloor(%s, %d) = %d, %v; want %d", tt.in, tt.shift, got, err, tt.want)
		}
	}
	if _, err := parseDecimal("-9223372036854775.8085").scaledFloor(3); err == nil {
		t.Errorf("floor below the int64 minimum did not fail")
	}
}
