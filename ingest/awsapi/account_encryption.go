package awsapi

import (
	"context"
	"unicode/utf8"
)

// Encryption at rest is the shard store's: with storage.encryption_key
// the embedded log encrypts every record it stores (AES-256-GCM), for
// every stream and delivery stream alike, and the APIs say KMS — the only
// name the API has for "encrypted at rest by the service" — and NONE
// otherwise. It cannot be turned on or off for one stream: the streams'
// encryption calls record the key id they name, or say why they cannot.
// On a NATS cluster encryption at rest is the servers' setting, which
// Hydrant does not see: NONE.

const (
	encryptionNone = "NONE"
	encryptionKMS  = "KMS"
)

// encryptionType is the EncryptionType of every stream and record.
func (s *Server) encryptionType() string {
	if s.store.EncryptedAtRest() {
		return encryptionKMS
	}
	return encryptionNone
}

// keyID is a stream's KeyId: the one StartStreamEncryption named, while
// the store encrypts.
func (s *Server) keyID(set settings) string {
	if !s.store.EncryptedAtRest() {
		return ""
	}
	return set.KeyID
}

// deliveryEncryption is a delivery stream's
// DeliveryStreamEncryptionConfiguration: its records wait for delivery in
// the shard store, encrypted by a key of the server's own
// (storage.encryption_key), which Firehose calls AWS_OWNED_CMK.
func (s *Server) deliveryEncryption() map[string]string {
	if s.store.EncryptedAtRest() {
		return map[string]string{"KeyType": "AWS_OWNED_CMK", "Status": "ENABLED"}
	}
	return map[string]string{"Status": "DISABLED"}
}

type streamEncryptionRequest struct {
	streamRef
	EncryptionType string `json:"EncryptionType"`
	KeyID          string `json:"KeyId"`
}

// check validates the request's EncryptionType (KMS) and KeyId.
func (r *streamEncryptionRequest) check() *apiError {
	switch r.EncryptionType {
	case encryptionKMS:
	case "":
		return errValidation("%s", validationMessage(nil, "encryptionType", "Member must not be null"))
	case encryptionNone:
		return errInvalidArgument("EncryptionType NONE is not valid here: the only valid value is KMS")
	default:
		return errValidation("%s", validationMessage(r.EncryptionType, "encryptionType", "Member must satisfy enum value set: [NONE, KMS]"))
	}
	if n := utf8.RuneCountInString(r.KeyID); n < 1 || n > 2048 {
		return errValidation("%s", validationMessage(r.KeyID, "keyId", "Member must have length between 1 and 2048"))
	}
	return nil
}

// startStreamEncryption records the KeyId a stream's encryption is asked
// under, on a store that encrypts; on one that does not, it is refused:
// records would be stored in the clear whatever the answer said.
func (s *Server) startStreamEncryption(ctx context.Context, c *call, req *streamEncryptionRequest) (any, *apiError) {
	st, aerr := s.stream(req.streamRef)
	if aerr != nil {
		return nil, aerr
	}
	if aerr := req.check(); aerr != nil {
		return nil, aerr
	}
	if !s.store.EncryptedAtRest() {
		return nil, errInvalidArgument("this server does not encrypt records at rest, so stream %s cannot be encrypted: encryption is the server's setting, "+
			"for every stream at once — an operator sets storage.encryption_key (on a new data_dir) to have every record encrypted with AES-256-GCM", st.Name)
	}
	_, aerr = s.changeSettings(ctx, settingsKey(kindStream, st.Name), func(set *settings) *apiError {
		set.KeyID = req.KeyID
		return nil
	})
	return struct{}{}, aerr
}

// stopStreamEncryption is refused on a store that encrypts (its records
// stay encrypted: the server's setting, not the stream's), and changes
// nothing on one that does not: the stream is not encrypted.
func (s *Server) stopStreamEncryption(ctx context.Context, c *call, req *streamEncryptionRequest) (any, *apiError) {
	st, aerr := s.stream(req.streamRef)
	if aerr != nil {
		return nil, aerr
	}
	if aerr := req.check(); aerr != nil {
		return nil, aerr
	}
	if s.store.EncryptedAtRest() {
		return nil, errInvalidArgument("stream %s stays encrypted: this server encrypts every record at rest (storage.encryption_key), "+
			"which cannot be turned off for one stream", st.Name)
	}
	return struct{}{}, nil
}
