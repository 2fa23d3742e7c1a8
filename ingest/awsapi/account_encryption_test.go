package awsapi_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// What every API says of encryption follows the store: KMS when it
// encrypts records at rest (storage.encryption_key), NONE otherwise.
func TestEncryptionFollowsTheStore(t *testing.T) {
	for name, tt := range map[string]struct {
		key       string
		want      types.EncryptionType
		encrypted bool
		fhStatus  fhtypes.DeliveryStreamEncryptionStatus
	}{
		"encrypted store": {key: "correct horse battery staple", want: types.EncryptionTypeKms, encrypted: true, fhStatus: fhtypes.DeliveryStreamEncryptionStatusEnabled},
		"plain store":     {want: types.EncryptionTypeNone, fhStatus: fhtypes.DeliveryStreamEncryptionStatusDisabled},
	} {
		t.Run(name, func(t *testing.T) {
			e := newControlEnv(t, controlOptions{encryptionKey: tt.key})
			ctx := context.Background()
			stream := aws.String("declared")
			one, err := e.kin.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: stream, Data: []byte("x"), PartitionKey: aws.String("k")})
			if err != nil || one.EncryptionType != tt.want {
				t.Fatalf("PutRecord: %v, %v", one.EncryptionType, err)
			}
			many, err := e.kin.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: stream, Records: []types.PutRecordsRequestEntry{{Data: []byte("y"), PartitionKey: aws.String("k")}}})
			if err != nil || many.EncryptionType != tt.want {
				t.Fatalf("PutRecords: %v, %v", many.EncryptionType, err)
			}
			it, err := e.kin.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: stream, ShardId: one.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
			if err != nil {
				t.Fatal(err)
			}
			recs, err := e.kin.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
			if err != nil || len(recs.Records) != 2 || recs.Records[0].EncryptionType != tt.want || recs.Records[1].EncryptionType != tt.want {
				t.Fatalf("GetRecords: %+v, %v", recs, err)
			}
			d, err := e.kin.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: stream})
			if err != nil || d.StreamDescription.EncryptionType != tt.want || d.StreamDescription.KeyId != nil {
				t.Fatalf("DescribeStream: %v %v, %v", d.StreamDescription.EncryptionType, aws.ToString(d.StreamDescription.KeyId), err)
			}
			sum, err := e.kin.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: stream})
			if err != nil || sum.StreamDescriptionSummary.EncryptionType != tt.want {
				t.Fatalf("DescribeStreamSummary: %v, %v", sum.StreamDescriptionSummary.EncryptionType, err)
			}

			fh := aws.String("declared-firehose")
			put, err := e.fh.PutRecord(ctx, &firehose.PutRecordInput{DeliveryStreamName: fh, Record: &fhtypes.Record{Data: []byte("x\n")}})
			if err != nil || aws.ToBool(put.Encrypted) != tt.encrypted {
				t.Fatalf("Firehose PutRecord: Encrypted %v, %v", aws.ToBool(put.Encrypted), err)
			}
			batch, err := e.fh.PutRecordBatch(ctx, &firehose.PutRecordBatchInput{DeliveryStreamName: fh, Records: []fhtypes.Record{{Data: []byte("y\n")}}})
			if err != nil || aws.ToBool(batch.Encrypted) != tt.encrypted {
				t.Fatalf("Firehose PutRecordBatch: Encrypted %v, %v", aws.ToBool(batch.Encrypted), err)
			}
			desc, err := e.fh.DescribeDeliveryStream(ctx, &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: fh})
			if err != nil {
				t.Fatal(err)
			}
			enc := desc.DeliveryStreamDescription.DeliveryStreamEncryptionConfiguration
			if enc == nil || enc.Status != tt.fhStatus || (tt.encrypted && enc.KeyType != fhtypes.KeyTypeAwsOwnedCmk) {
				t.Fatalf("DeliveryStreamEncryptionConfiguration: %+v", enc)
			}
		})
	}
}

func TestStreamEncryptionCalls(t *testing.T) {
	ctx := context.Background()
	start := func(e *controlEnv, key string) error {
		_, err := e.kin.StartStreamEncryption(ctx, &kinesis.StartStreamEncryptionInput{StreamName: aws.String("declared"),
			EncryptionType: types.EncryptionTypeKms, KeyId: aws.String(key)})
		return err
	}
	stop := func(e *controlEnv) error {
		_, err := e.kin.StopStreamEncryption(ctx, &kinesis.StopStreamEncryptionInput{StreamName: aws.String("declared"),
			EncryptionType: types.EncryptionTypeKms, KeyId: aws.String("alias/aws/kinesis")})
		return err
	}
	keyID := func(e *controlEnv) string {
		t.Helper()
		sum, err := e.kin.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("declared")})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(sum.StreamDescriptionSummary.KeyId)
	}
	var invalid *types.InvalidArgumentException

	// An encrypted store records the key id, keeps it across a restart,
	// and refuses to stop.
	e := newControlEnv(t, controlOptions{encryptionKey: "correct horse battery staple"})
	if err := start(e, "alias/aws/kinesis"); err != nil {
		t.Fatal(err)
	}
	if got := keyID(e); got != "alias/aws/kinesis" {
		t.Fatalf("KeyId %q", got)
	}
	e.restart()
	if got := keyID(e); got != "alias/aws/kinesis" {
		t.Fatalf("KeyId after a restart: %q", got)
	}
	if err := stop(e); !errors.As(err, &invalid) || !strings.Contains(err.Error(), "storage.encryption_key") {
		t.Fatalf("StopStreamEncryption on an encrypted store: %v", err)
	}

	// A plain store refuses to start, telling the operator what to set,
	// and stopping is no change: the stream stays NONE.
	e = newControlEnv(t, controlOptions{})
	if err := start(e, "alias/aws/kinesis"); !errors.As(err, &invalid) || !strings.Contains(err.Error(), "storage.encryption_key") {
		t.Fatalf("StartStreamEncryption on a plain store: %v", err)
	}
	if err := stop(e); err != nil {
		t.Fatalf("StopStreamEncryption on a plain store: %v", err)
	}
	if got := keyID(e); got != "" {
		t.Fatalf("KeyId on a plain store: %q", got)
	}
	// The SDK checks for a KeyId itself: a request without one is sent raw.
	status, _, body := post(t, e.hs.URL, "Kinesis_20131202.StartStreamEncryption", "application/x-amz-json-1.1",
		[]byte(`{"StreamName":"declared","EncryptionType":"KMS"}`))
	if status != 400 || !strings.Contains(string(body), "ValidationException") {
		t.Fatalf("StartStreamEncryption without a KeyId: %d %s", status, body)
	}
}
