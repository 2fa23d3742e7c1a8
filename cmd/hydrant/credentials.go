package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// authenticate sets the client commands' credential on req: the API key
// when one is given, else a SigV4 signature over body by the access key in
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), for a
// server whose only credentials are SigV4 keys; else nothing.
func authenticate(req *http.Request, apiKey string, body []byte) error {
	if apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+apiKey)
		return nil
	}
	id, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if id == "" || secret == "" {
		return nil
	}
	region := envOr("AWS_REGION", envOr("AWS_DEFAULT_REGION", awsRegion))
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: os.Getenv("AWS_SESSION_TOKEN")}
	return v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "kinesis", region, time.Now())
}
