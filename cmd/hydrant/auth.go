package main

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/hydrant-dev/hydrant/config"
	"github.com/hydrant-dev/hydrant/ingest/auth"
)

// newAuth builds the configured authentication; nil values mean "off".
func newAuth(cfg config.AuthConfig) (*auth.SigV4, *auth.APIKeys, error) {
	var (
		verifier *auth.SigV4
		keys     *auth.APIKeys
		err      error
	)
	if len(cfg.AWS) > 0 {
		creds := make([]auth.Credential, len(cfg.AWS))
		for i, c := range cfg.AWS {
			creds[i] = auth.Credential{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey}
		}
		if verifier, err = auth.NewSigV4(creds, []string{"firehose", "kinesis"}, time.Now); err != nil {
			return nil, nil, fmt.Errorf("server.auth.aws: %w", err)
		}
	}
	if len(cfg.APIKeys) > 0 {
		list := make([]auth.APIKey, len(cfg.APIKeys))
		for i, k := range cfg.APIKeys {
			list[i] = auth.APIKey{Key: k.Key, Streams: k.Streams}
			for _, a := range k.Actions {
				list[i].Actions = append(list[i].Actions, auth.Action(a))
			}
		}
		if keys, err = auth.NewAPIKeys(list); err != nil {
			return nil, nil, fmt.Errorf("server.auth.api_keys: %w", err)
		}
	}
	return verifier, keys, nil
}

// loadTLS loads the server certificate; nil when TLS is off.
func loadTLS(cfg *config.TLSConfig) (*tls.Config, error) {
	if cfg == nil {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("server.tls: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}
