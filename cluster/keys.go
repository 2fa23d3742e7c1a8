package cluster

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
)

// maxDeliveryLen is the longest delivery name.
const maxDeliveryLen = 64

// validDelivery reports whether name is a delivery name: [a-zA-Z0-9_.-]{1,64}.
func validDelivery(name string) bool {
	if name == "" || len(name) > maxDeliveryLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !isNameByte(name[i]) && name[i] != '.' {
			return false
		}
	}
	return true
}

// isNameByte reports whether b may appear unescaped in a KV key token.
func isNameByte(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '_' || b == '-'
}

// leaseKey is the lease bucket's key of (delivery, shard):
// "<escaped delivery>.<shard>". The escaping ('_' -> "__", '.' -> "_d") is
// reversible and leaves no '.' in the delivery part, so the key splits at its
// only dot.
func leaseKey(delivery string, shard int) string {
	return escapeName(delivery) + "." + strconv.Itoa(shard)
}

// appKeyPrefix starts an application's lease key, "_a<escaped name>.0":
// no escaped delivery name starts so ("_" is escaped as "__", "." as
// "_d"), so an application and a delivery of the same name hold different
// keys.
const appKeyPrefix = "_a"

// appLeaseKey is the lease bucket's key of an application.
func appLeaseKey(name string) string { return appKeyPrefix + leaseKey(name, 0) }

// parseLeaseKey reverses leaseKey and appLeaseKey (app true); ok is false
// for a key neither made.
func parseLeaseKey(key string) (name string, shard int, app, ok bool) {
	if rest, isApp := strings.CutPrefix(key, appKeyPrefix); isApp {
		name, shard, ok = parseDeliveryKey(rest)
		return name, shard, true, ok && shard == 0
	}
	name, shard, ok = parseDeliveryKey(key)
	return name, shard, false, ok
}

// parseDeliveryKey reverses leaseKey.
func parseDeliveryKey(key string) (delivery string, shard int, ok bool) {
	i := strings.IndexByte(key, '.')
	if i < 0 || strings.IndexByte(key[i+1:], '.') >= 0 {
		return "", 0, false
	}
	delivery, ok = unescapeName(key[:i])
	if !ok || !validDelivery(delivery) {
		return "", 0, false
	}
	shard, err := strconv.Atoi(key[i+1:])
	if err != nil || shard < 0 || strconv.Itoa(shard) != key[i+1:] {
		return "", 0, false
	}
	return delivery, shard, true
}

func escapeName(name string) string {
	if !strings.ContainsAny(name, "_.") {
		return name
	}
	return strings.NewReplacer("_", "__", ".", "_d").Replace(name)
}

func unescapeName(s string) (string, bool) {
	if !strings.Contains(s, "_") {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '_' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			return "", false
		}
		i++
		switch s[i] {
		case '_':
			b.WriteByte('_')
		case 'd':
			b.WriteByte('.')
		default:
			return "", false
		}
	}
	return b.String(), true
}

// newInstanceID names one run of a node: its name reduced to key bytes, a
// dash and 8 random hex digits, so a restarted node never takes its
// predecessor's leases or membership for its own.
func newInstanceID(node string) string {
	var b strings.Builder
	for i := 0; i < len(node) && b.Len() < maxDeliveryLen; i++ {
		if isNameByte(node[i]) {
			b.WriteByte(node[i])
		} else {
			b.WriteByte('-')
		}
	}
	if b.Len() == 0 {
		b.WriteString("node")
	}
	var suffix [4]byte
	_, _ = rand.Read(suffix[:]) // never returns an error (since Go 1.24 it crashes the program instead)
	return b.String() + "-" + hex.EncodeToString(suffix[:])
}
