package shards

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// storeInfoFile records, beside the store, whether it is encrypted and a
// check value of its key, so that opening it with a wrong key (or none)
// fails before JetStream touches anything: JetStream would otherwise start
// afresh on streams it cannot decrypt.
const storeInfoFile = "hydrant-store.json"

type storeInfo struct {
	Encrypted bool   `json:"encrypted"`
	KeyCheck  string `json:"key_check,omitempty"` // HMAC-SHA256(key, "hydrant store key check"), hex
}

// EncryptedAtRest reports whether the store encrypts what it writes: the
// embedded log does with StoreConfig.EncryptionKey. On a NATS cluster,
// encryption at rest is the servers' setting, which Hydrant cannot see:
// false, whatever they do.
func (s *Store) EncryptedAtRest() bool {
	return s.cfg.NATS == nil && s.cfg.EncryptionKey != ""
}

func keyCheck(key string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte("hydrant store key check"))
	return hex.EncodeToString(m.Sum(nil))
}

// checkStoreKey compares key with the one the store in dir was created
// with, and records it for a new store.
func checkStoreKey(dir, key string) error {
	path := filepath.Join(dir, storeInfoFile)
	want := storeInfo{Encrypted: key != ""}
	if key != "" {
		want.KeyCheck = keyCheck(key)
	}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if entries, _ := os.ReadDir(filepath.Join(dir, "jetstream")); len(entries) > 0 && key != "" {
			return fmt.Errorf("shard log: %s holds an unencrypted store; storage.encryption_key can only be set on a new data_dir", dir)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("shard log: %w", err)
		}
		nb, _ := json.Marshal(want)
		if err := os.WriteFile(path, nb, 0o600); err != nil {
			return fmt.Errorf("shard log: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("shard log: %w", err)
	}
	var have storeInfo
	if err := json.Unmarshal(b, &have); err != nil {
		return fmt.Errorf("shard log: %s: %w", path, err)
	}
	switch {
	case have.Encrypted && key == "":
		return fmt.Errorf("shard log: the store in %s is encrypted: set storage.encryption_key to the key it was written with", dir)
	case !have.Encrypted && key != "":
		return fmt.Errorf("shard log: the store in %s is not encrypted: storage.encryption_key can only be set on a new data_dir", dir)
	case have.Encrypted && !hmac.Equal([]byte(have.KeyCheck), []byte(want.KeyCheck)):
		return fmt.Errorf("shard log: storage.encryption_key is not the key the store in %s was written with", dir)
	}
	return nil
}
