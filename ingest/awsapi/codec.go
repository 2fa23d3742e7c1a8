package awsapi

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// codec is a wire encoding of request and response bodies. Request and
// response types carry json struct tags, which the CBOR codec uses too.
type codec struct {
	contentType string
	marshal     func(any) ([]byte, error)
	unmarshal   func([]byte, any) error
}

// jsonCodec is AWS's JSON protocol. Requests are decoded as encoding/json
// decodes them, the put requests faster (see unmarshalJSON).
var jsonCodec = codec{
	contentType: "application/x-amz-json-1.1",
	marshal:     json.Marshal,
	unmarshal:   unmarshalJSON,
}

// cborCodec is AWS's CBOR protocol (application/x-amz-cbor-1.1), which the
// AWS Java SDKs and the KCL use for Kinesis by default: the JSON shapes as
// CBOR maps, blobs as byte strings, timestamps as tag 1 with epoch
// milliseconds. Decoding is bounded in nesting, array and map sizes.
var cborCodec = newCBORCodec()

func newCBORCodec() codec {
	dec, err := cbor.DecOptions{
		MaxNestedLevels:  32,
		MaxArrayElements: 100_000,
		MaxMapPairs:      10_000,
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
	}.DecMode()
	if err != nil {
		panic(err) // the options are constants
	}
	enc, err := cbor.EncOptions{}.EncMode()
	if err != nil {
		panic(err)
	}
	return codec{contentType: "application/x-amz-cbor-1.1", marshal: enc.Marshal, unmarshal: dec.Unmarshal}
}

// codecs by request Content-Type.
var codecs = map[string]codec{
	"application/x-amz-json-1.1": jsonCodec,
	"application/x-amz-json-1.0": {contentType: "application/x-amz-json-1.0", marshal: json.Marshal, unmarshal: unmarshalJSON},
	"application/json":           jsonCodec,
	"application/x-amz-cbor-1.1": cborCodec,
	"application/cbor":           cborCodec,
}

// MarshalCBOR writes t as the AWS Java SDK does: tag 1, epoch milliseconds.
func (t epochTime) MarshalCBOR() ([]byte, error) {
	if t.IsZero() {
		return cbor.Marshal(nil)
	}
	return cbor.Marshal(cbor.Tag{Number: 1, Content: t.UnixMilli()})
}

// UnmarshalCBOR reads a timestamp, tagged or not: an integer is epoch
// milliseconds (what the AWS Java SDK sends), a float epoch seconds.
func (t *epochTime) UnmarshalCBOR(b []byte) error {
	var tag cbor.RawTag
	if cbor.Unmarshal(b, &tag) == nil {
		b = tag.Content // any tag: the number inside is what counts
	}
	var v any
	if err := cbor.Unmarshal(b, &v); err != nil {
		return err
	}
	switch n := v.(type) {
	case nil:
		*t = epochTime{}
	case uint64:
		t.Time = time.UnixMilli(int64(n)).UTC()
	case int64:
		t.Time = time.UnixMilli(n).UTC()
	case float64:
		if math.IsNaN(n) || math.IsInf(n, 0) {
			return fmt.Errorf("timestamp %v: not a number", n)
		}
		whole, frac := math.Modf(n)
		t.Time = time.Unix(int64(whole), int64(frac*1e9)).UTC()
	default:
		return fmt.Errorf("timestamp: want epoch milliseconds, got %T", v)
	}
	return nil
}
