package awsapi

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"
)

// A GetRecords answer is streamed byte for byte as encoding/json marshals
// it, whatever the partition keys and data hold, and at the end of a closed
// shard (no NextShardIterator, ChildShards).
func TestGetRecordsStreamedAsMarshalled(t *testing.T) {
	keys := []string{"", "plain", `q"uote\back`, "<html>&", "tab\tnew\nline\r\b\f\x00\x1f", "ünï €", "\u2028\u2029", "bad \xff utf8 \xc3", "😀"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		k := make([]byte, rng.IntN(12))
		for j := range k {
			k[j] = byte(rng.IntN(256))
		}
		keys = append(keys, string(k))
	}
	var resp getRecordsResponse
	for i, k := range keys {
		data := make([]byte, rng.IntN(300))
		for j := range data {
			data[j] = byte(rng.IntN(256))
		}
		if i == 3 {
			data = nil
		}
		rec := kinesisOutRecord{SequenceNumber: "4963" + k, Data: data, PartitionKey: k, EncryptionType: "NONE",
			ApproximateArrivalTimestamp: epochTime{time.UnixMilli(1733400000123 + int64(i))}}
		if i%5 == 0 {
			rec.EncryptionType, rec.ApproximateArrivalTimestamp = "", epochTime{}
		}
		resp.Records = append(resp.Records, rec)
	}
	next := "AAAA<&>"
	resp.NextShardIterator, resp.MillisBehindLatest = &next, 1234
	end := getRecordsResponse{Records: resp.Records[:3], ChildShards: []childShard{
		{ShardID: "shardId-000000000004", ParentShards: []string{"shardId-000000000001"}, HashKeyRange: hashKeyRange{"0", "17"}},
		{ShardID: "shardId-000000000005", ParentShards: []string{"shardId-000000000001", "shardId-000000000002"},
			HashKeyRange: hashKeyRange{"18", "340282366920938463463374607431768211455"}},
	}}
	for _, r := range []getRecordsResponse{resp, {}, {Records: []kinesisOutRecord{}}, end} {
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if err := writeStream(&got, r); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			i := 0
			for i < min(got.Len(), len(want)) && got.Bytes()[i] == want[i] {
				i++
			}
			t.Fatalf("streamed answer differs at byte %d:\n got %.80q\nwant %.80q", i, got.Bytes()[i:], want[i:])
		}
	}
}
