package cluster

import (
	"maps"
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

// TestShares: every member gets floor(n/k) or ceil(n/k), or what it wants
// when that is less (the rest shared likewise among the others); the extra
// ones go to members already above the floor (fewest moves), then by
// instance id; moves after a join or leave are only what the new shares
// need.
func TestShares(t *testing.T) {
	tests := map[string]struct {
		wanted  int
		members []share
		want    map[string]int
		moves   int // leases its holders must give up: sum of held above the share
	}{
		"12 on 5": {12, fresh(12, "a", "b", "c", "d", "e"), map[string]int{"a": 3, "b": 3, "c": 2, "d": 2, "e": 2}, 0},
		"10 on 3": {10, fresh(10, "a", "b", "c"), map[string]int{"a": 4, "b": 3, "c": 3}, 0},
		"3 on 5":  {3, fresh(3, "a", "b", "c", "d", "e"), map[string]int{"a": 1, "b": 1, "c": 1, "d": 0, "e": 0}, 0},
		"0 on 2":  {0, fresh(0, "a", "b"), map[string]int{"a": 0, "b": 0}, 0},
		"7 on 1":  {7, fresh(7, "a"), map[string]int{"a": 7}, 0},
		"none":    {5, nil, map[string]int{}, 0},
		"a 5th joins 3/3/3/3": {12, []share{{"a", 3, 12}, {"b", 3, 12}, {"c", 3, 12}, {"d", 3, 12}, {"e", 0, 12}},
			map[string]int{"a": 3, "b": 3, "c": 2, "d": 2, "e": 2}, 2},
		"the extra stays where it is": {12, []share{{"a", 2, 12}, {"b", 2, 12}, {"c", 3, 12}, {"d", 2, 12}, {"e", 3, 12}},
			map[string]int{"a": 2, "b": 2, "c": 3, "d": 2, "e": 3}, 0},
		"a node of 3 leaves 3/3/2/2/2": {12, []share{{"b", 3, 12}, {"c", 2, 12}, {"d", 2, 12}, {"e", 2, 12}},
			map[string]int{"b": 3, "c": 3, "d": 3, "e": 3}, 0},
		"a node of 2 leaves 3/3/2/2/2": {12, []share{{"a", 3, 12}, {"b", 3, 12}, {"c", 2, 12}, {"d", 2, 12}},
			map[string]int{"a": 3, "b": 3, "c": 3, "d": 3}, 0},
		"10 on 3 after a 4th joins": {10, []share{{"a", 4, 10}, {"b", 3, 10}, {"c", 3, 10}, {"d", 0, 10}},
			map[string]int{"a": 3, "b": 3, "c": 2, "d": 2}, 2},
		"an extra goes to one that wants more": {4, []share{{"a", 0, 1}, {"b", 0, 4}, {"c", 0, 4}},
			map[string]int{"a": 1, "b": 2, "c": 1}, 0},
		"one wants fewer than its share": {12, []share{{"a", 0, 12}, {"b", 0, 2}, {"c", 0, 12}},
			map[string]int{"a": 5, "b": 2, "c": 5}, 0},
		"one wants none (an older binary)": {10, []share{{"a", 4, 10}, {"b", 0, 0}, {"c", 3, 10}},
			map[string]int{"a": 5, "b": 0, "c": 5}, 0},
		"capping one caps another": {12, []share{{"a", 0, 12}, {"b", 0, 3}, {"c", 0, 1}, {"d", 0, 12}},
			map[string]int{"a": 4, "b": 3, "c": 1, "d": 4}, 0},
		"the extra stays where it is when one wants fewer": {11, []share{{"a", 5, 11}, {"b", 1, 1}, {"c", 5, 11}, {"d", 0, 11}},
			map[string]int{"a": 4, "b": 1, "c": 3, "d": 3}, 3},
		"one that wants exactly its share gets no extra": {7, []share{{"a", 0, 7}, {"b", 0, 2}, {"c", 0, 7}},
			map[string]int{"a": 3, "b": 2, "c": 2}, 0},
	}
	for name, tt := range tests {
		got := shares(tt.wanted, tt.members)
		if !maps.Equal(got, tt.want) {
			t.Errorf("%s: shares = %v, want %v", name, got, tt.want)
		}
		sum, moves := 0, 0
		for _, m := range tt.members {
			sum += got[m.instance]
			moves += max(m.held-got[m.instance], 0)
		}
		if len(tt.members) > 0 && sum != tt.wanted {
			t.Errorf("%s: shares sum to %d, want %d", name, sum, tt.wanted)
		}
		if moves != tt.moves {
			t.Errorf("%s: %d leases move, want %d", name, moves, tt.moves)
		}
	}
}

// fresh is members holding nothing yet, each wanting wanted.
func fresh(wanted int, instances ...string) []share {
	out := make([]share, len(instances))
	for i, id := range instances {
		out[i] = share{instance: id, wanted: wanted}
	}
	return out
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
