package parquet

import (
	"errors"
	"fmt"
	"math/bits"
	"strings"
)

// decimalNumber is an exact finite number: (-1)^neg × digits × 10^exp.
// digits has no leading or trailing zeros; zero is digits == "".
type decimalNumber struct {
	neg    bool
	digits string
	exp    int
}

// maxExponent bounds the exponents kept while parsing, so that "1e999999999999"
// cannot overflow an int; anything near it is out of range for every type.
const maxExponent = 1 << 30

// isNumber reports whether s is a JSON number (RFC 8259): no "+", no leading
// zeros, no "NaN", "Inf", hex or underscores, all of which strconv accepts.
func isNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	return i == len(s)
}

// parseDecimal reads a JSON number (already checked with isNumber) exactly.
func parseDecimal(s string) decimalNumber {
	var d decimalNumber
	if strings.HasPrefix(s, "-") {
		d.neg, s = true, s[1:]
	}
	mantissa, exponent := s, ""
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mantissa, exponent = s[:i], s[i+1:]
	}
	intPart, frac, _ := strings.Cut(mantissa, ".")
	exp := 0
	if exponent != "" {
		neg := strings.HasPrefix(exponent, "-")
		for _, c := range strings.TrimLeft(exponent, "+-") {
			if exp < maxExponent {
				exp = exp*10 + int(c-'0')
			}
		}
		if neg {
			exp = -exp
		}
	}
	digits := intPart
	if frac != "" {
		digits += frac
		exp -= len(frac)
	}
	digits = strings.TrimLeft(digits, "0")
	trimmed := strings.TrimRight(digits, "0")
	if trimmed == "" {
		return decimalNumber{} // zero, whatever its sign or exponent
	}
	d.digits, d.exp = trimmed, exp+len(digits)-len(trimmed)
	return d
}

var (
	errFraction   = errors.New("has a fractional part")
	errOutOfRange = errors.New("out of range")
)

// int64Value is d as an int64, or errFraction or errOutOfRange.
func (d decimalNumber) int64Value() (int64, error) {
	if d.digits == "" {
		return 0, nil
	}
	if d.exp < 0 {
		return 0, errFraction
	}
	if len(d.digits)+d.exp > 19 { // 19 digits fit a uint64
		return 0, errOutOfRange
	}
	u := d.magnitude(d.exp).lo
	switch {
	case d.neg && u <= 1<<63:
		return -int64(u), nil // -int64(1<<63) wraps to the minimum, as wanted
	case !d.neg && u <= 1<<63-1:
		return int64(u), nil
	}
	return 0, errOutOfRange
}

// scaledFloor is floor(d × 10^shift) as an int64. It serves epoch seconds,
// whose digits beyond the column's unit are dropped (rounding toward the past,
// as time.Time's UnixMilli and UnixMicro do).
func (d decimalNumber) scaledFloor(shift int) (int64, error) {
	if d.digits == "" {
		return 0, nil
	}
	e := d.exp + shift
	if e >= 0 {
		return decimalNumber{neg: d.neg, digits: d.digits, exp: e}.int64Value()
	}
	keep := len(d.digits) + e // digits left of the decimal point
	if keep <= 0 {
		if d.neg {
			return -1, nil
		}
		return 0, nil
	}
	v, err := decimalNumber{neg: d.neg, digits: d.digits[:keep]}.int64Value()
	if err != nil {
		return 0, err
	}
	if d.neg { // a nonzero fraction was dropped: floor moves down
		if v == -1<<63 {
			return 0, errOutOfRange
		}
		v--
	}
	return v, nil
}

// appendDecimal appends d as the big-endian two's complement of its unscaled
// value (d × 10^scale) in width bytes, or fails when d has more than scale
// fractional digits or more than precision digits in all.
func (d decimalNumber) appendDecimal(dst []byte, precision, scale, width int) ([]byte, error) {
	if -d.exp > scale {
		return dst, fmt.Errorf("has more than %d fractional digits", scale)
	}
	var u uint128
	if d.digits != "" {
		if n := len(d.digits) + d.exp + scale; n > precision {
			return dst, fmt.Errorf("has more than %d digits (%d before the decimal point)", precision, precision-scale)
		}
		u = d.magnitude(d.exp + scale)
	}
	if d.neg { // two's complement
		var carry uint64
		u.lo, carry = bits.Add64(^u.lo, 1, 0)
		u.hi = ^u.hi + carry
	}
	var zeros [16]byte // width is at most 16 (precision 38)
	dst = append(dst, zeros[:width]...)
	out := dst[len(dst)-width:]
	for i := 0; i < width; i++ { // byte i from the least significant end
		word := u.lo
		if i >= 8 {
			word = u.hi
		}
		out[width-1-i] = byte(word >> (8 * (i % 8)))
	}
	return dst, nil
}

// uint128 is an unsigned 128-bit integer: every decimal(38) magnitude fits,
// as 10^38 < 2^127.
type uint128 struct{ hi, lo uint64 }

// magnitude is |d| × 10^zeros. Callers keep it under 39 digits.
func (d decimalNumber) magnitude(zeros int) uint128 {
	var u uint128
	for i := 0; i < len(d.digits); i++ {
		u = u.mul10Add(uint64(d.digits[i] - '0'))
	}
	for range zeros {
		u = u.mul10Add(0)
	}
	return u
}

func (u uint128) mul10Add(digit uint64) uint128 {
	hi, lo := bits.Mul64(u.lo, 10)
	lo, carry := bits.Add64(lo, digit, 0)
	return uint128{hi: u.hi*10 + hi + carry, lo: lo}
}
