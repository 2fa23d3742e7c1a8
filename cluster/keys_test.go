package cluster

import (
	"strings"
	"testing"
)

func TestLeaseKeyRoundTrip(t *testing.T) {
	tests := map[string]struct {
		delivery string
		shard    int
		key      string
	}{
		"plain":            {"orders", 3, "orders.3"},
		"dash":             {"orders-s3", 0, "orders-s3.0"},
		"underscore":       {"orders_s3", 12, "orders__s3.12"},
		"dot":              {"orders.s3", 1, "orders_ds3.1"},
		"underscore dot":   {"a_.b", 7, "a___db.7"},
		"escape lookalike": {"a_d", 2, "a__d.2"},
		"longest":          {strings.Repeat("x", 64), 999, strings.Repeat("x", 64) + ".999"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			key := leaseKey(tt.delivery, tt.shard)
			if key != tt.key {
				t.Fatalf("leaseKey(%q, %d) = %q, want %q", tt.delivery, tt.shard, key, tt.key)
			}
			if !keyValid(key) {
				t.Fatalf("%q is not a valid KV key", key)
			}
			delivery, shard, app, ok := parseLeaseKey(key)
			if !ok || app || delivery != tt.delivery || shard != tt.shard {
				t.Fatalf("parseLeaseKey(%q) = %q, %d, %v, %v", key, delivery, shard, app, ok)
			}
			// The application of the same name holds another key.
			if tt.shard == 0 {
				akey := appLeaseKey(tt.delivery)
				if akey == key || !keyValid(akey) {
					t.Fatalf("appLeaseKey(%q) = %q", tt.delivery, akey)
				}
				name, _, app, ok := parseLeaseKey(akey)
				if !ok || !app || name != tt.delivery {
					t.Fatalf("parseLeaseKey(%q) = %q, %v, %v", akey, name, app, ok)
				}
			}
		})
	}
}

func TestParseLeaseKeyRejects(t *testing.T) {
	for _, key := range []string{"", "orders", "orders.", ".1", "orders.-1", "orders.01", "orders.x", "a.b.1", "a_x.1", "a_.1", strings.Repeat("x", 65) + ".1", "_aorders.1", "_a.0"} {
		if d, s, _, ok := parseLeaseKey(key); ok {
			t.Errorf("parseLeaseKey(%q) = %q, %d, true; want false", key, d, s)
		}
	}
}

func TestValidDelivery(t *testing.T) {
	for name, ok := range map[string]bool{"a": true, "A-z_0.9": true, "": false, "a b": false, "a/b": false, "a*": false, strings.Repeat("x", 64): true, strings.Repeat("x", 65): false} {
		if validDelivery(name) != ok {
			t.Errorf("validDelivery(%q) = %v, want %v", name, !ok, ok)
		}
	}
}

func TestInstanceID(t *testing.T) {
	a, b := newInstanceID("node a.1"), newInstanceID("node a.1")
	if a == b {
		t.Fatalf("two instance ids of one name are equal: %q", a)
	}
	if !strings.HasPrefix(a, "node-a-1-") || len(a) != len("node-a-1-")+8 || !keyValid(a) {
		t.Fatalf("instance id %q: want node-a-1- and 8 hex digits, a valid key", a)
	}
	if id := newInstanceID(""); !strings.HasPrefix(id, "node-") {
		t.Fatalf("instance id of an empty name = %q", id)
	}
}

func TestTarget(t *testing.T) {
	tests := map[string]struct{ wanted, live, want int }{
		"even":          {12, 3, 4},
		"rounds up":     {13, 3, 5},
		"one node":      {12, 1, 12},
		"more nodes":    {2, 5, 1},
		"nothing":       {0, 3, 0},
		"no live count": {4, 0, 4},
	}
	for name, tt := range tests {
		if got := target(tt.wanted, tt.live); got != tt.want {
			t.Errorf("%s: target(%d, %d) = %d, want %d", name, tt.wanted, tt.live, got, tt.want)
		}
	}
}

// keyValid is nats.go's KV key rule: [-/_=.a-zA-Z0-9]+, no leading or trailing dot.
func keyValid(key string) bool {
	if key == "" || key[0] == '.' || key[len(key)-1] == '.' {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !isNameByte(c) && c != '.' && c != '/' && c != '=' {
			return false
		}
	}
	return true
}
