package analytics

import (
	"fmt"
	"testing"
)

func TestDiscover(t *testing.T) {
	samples := [][]byte{
		[]byte(`{"ticker":"AMZN","price":100,"at":"2026-12-05T12:00:00Z","tags":["a"],"ok":true}`),
		[]byte(`{"ticker":"MSFT","price":7.5,"at":"2026-12-05T12:00:01.5Z","ok":false,"shard_id":"x","a/b":1}`),
		[]byte(`not json`),
		[]byte(`{"ticker":null,"price":8,"9lives":"x"}`),
	}
	got := fmt.Sprint(Discover(samples))
	want := "[{at timestamp_millis } {ok boolean } {price double } {tags json } {ticker string } {a_b int64 /a~1b} {shard_id_2 string /shard_id} {_9lives string /9lives}]"
	if got != want {
		t.Fatalf("Discover =\n%s\nwant\n%s", got, want)
	}
	if _, err := NewSchema(Discover(samples)); err != nil {
		t.Fatalf("the discovered schema does not compile: %v", err)
	}
	if cols := Discover([][]byte{[]byte(`[1,2]`), []byte(`"x"`)}); len(cols) != 0 {
		t.Fatalf("no objects: %v", cols)
	}
}
