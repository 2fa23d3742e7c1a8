package awsapi

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// epochTime is an AWS JSON timestamp: seconds since the epoch as a number,
// with fractions (1.441215410867E9).
type epochTime struct{ time.Time }

func (t epochTime) MarshalJSON() ([]byte, error) { return t.appendJSON(nil), nil }

// appendJSON appends t as MarshalJSON encodes it.
func (t epochTime) appendJSON(dst []byte) []byte {
	if t.IsZero() {
		return append(dst, "null"...)
	}
	return strconv.AppendFloat(dst, float64(t.UnixMilli())/1000, 'f', 3, 64)
}

func (t *epochTime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = epochTime{}
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		// Some clients send ISO 8601 strings.
		var s string
		if json.Unmarshal(b, &s) != nil {
			return fmt.Errorf("timestamp %s: want seconds since the epoch", b)
		}
		parsed, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return fmt.Errorf("timestamp %q: want seconds since the epoch", s)
		}
		t.Time = parsed
		return nil
	}
	if math.IsNaN(secs) || math.IsInf(secs, 0) {
		return fmt.Errorf("timestamp %s: want seconds since the epoch", b)
	}
	whole, frac := math.Modf(secs)
	t.Time = time.Unix(int64(whole), int64(frac*1e9)).UTC()
	return nil
}
