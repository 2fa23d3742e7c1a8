package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/klauspost/compress/gzip"
	miniogo "github.com/minio/minio-go/v7"

	"github.com/hydrant-dev/hydrant/e2e/minio"
	"github.com/hydrant-dev/hydrant/internal/await"
)

// terraformCallsConfig is the server the README's Terraform block runs
// against: SigV4 with the block's key pair, an encrypted shard log, and
// created delivery streams writing to MinIO (a config declares at least
// one stream or delivery: audit, which the block does not touch).
const terraformCallsConfig = `
server:
  listen: "{{LISTEN}}"
  auth:
    aws: [{access_key_id: "${KEY_ID}", secret_access_key: "${SECRET}", policies: [terraform]}]
    policies:
      terraform: [{effect: allow, actions: ["*"], resources: ["*"]}]
storage:
  data_dir: "{{DIR}}/data"
  encryption_key: "${STORE_KEY}"
streams:
  - name: audit
    shards: 1
firehose_api:
  s3: {endpoint: "${S3_ENDPOINT}", access_key_id: "${S3_KEY}", secret_access_key: "${S3_SECRET}"}
`

// The README's Terraform block ("### Infrastructure as code"): the calls
// the Terraform AWS provider makes to create and then change a Kinesis
// stream and a Firehose delivery stream, made with the real AWS CLI v2
// against the real binary. Each must exit 0 and print what the README
// shows (nothing when it shows nothing). Then the state they left is
// checked with the Go SDK — after a restart too — and the delivery stream's
// new buffering is shown in effect: records put after UpdateDestination
// reach S3 after its 60 s, where the 900 s of before would hold them; the
// records put before it are delivered too, and each record exactly once.
func TestRecipeTerraformCalls(t *testing.T) {
	awsCLI := awsCLIv2(t)
	m := minio.Start(t)
	m.CreateBucket(t, "lake")
	cmds := recipeCommands(t, recipeBlock(t, "### Infrastructure as code (Terraform, CDK)", "update-destination"))
	keyID, secret := recipeCredentials(t, cmds)
	dir, listen := t.TempDir(), freeAddr(t)
	env := []string{"KEY_ID=" + keyID, "SECRET=" + secret, "STORE_KEY=a store key for the Terraform recipe",
		"S3_ENDPOINT=" + m.Endpoint, "S3_KEY=" + m.AccessKey, "S3_SECRET=" + m.SecretKey}
	h := startHydrant(t, dir, listen, terraformCallsConfig, env...)
	shell := awsCLIEnv(t, awsCLI)
	ctx := context.Background()
	creds := credentials.NewStaticCredentialsProvider(keyID, secret, "")
	fh := firehose.New(firehose.Options{BaseEndpoint: aws.String(h.url), Region: "us-east-1", Credentials: creds})
	kin := kinesis.New(kinesis.Options{BaseEndpoint: aws.String(h.url), Region: "us-east-1", Credentials: creds})

	// The first apply and the second's stream changes; then records go to
	// the delivery stream while its buffer is still 900 s; then the rest.
	update := slices.IndexFunc(cmds, func(c recipeCommand) bool { return strings.Contains(c.text, "firehose update-destination") })
	if update < 0 {
		t.Fatal("README's Terraform block has no firehose update-destination")
	}
	check := func(cmds []recipeCommand, results []recipeResult) {
		t.Helper()
		for i, c := range cmds {
			r := results[i]
			switch {
			case r.code != 0:
				t.Fatalf("README command exited %d:\n%s\nstderr:\n%s", r.code, c.text, r.stderr)
			case c.shown == "" && strings.TrimSpace(r.stdout) != "" && !recipeIsAssignment(c.text):
				t.Fatalf("README shows no output for\n%s\nbut it prints:\n%s", c.text, r.stdout)
			case c.shown != "":
				if err := recipeCheckShown(c.shown, r.stdout); err != nil {
					t.Fatalf("README command:\n%s\nprints what the README does not show: %v\nstdout:\n%s", c.text, err, r.stdout)
				}
			}
		}
	}
	first := cmds[:update]
	check(first, runRecipe(t, dir, shell, listen, first))
	put := func(from, n int) {
		t.Helper()
		recs := make([]fhtypes.Record, n)
		for i := range recs {
			recs[i] = fhtypes.Record{Data: fmt.Appendf(nil, "{\"n\":%d}\n", from+i)}
		}
		out, err := fh.PutRecordBatch(ctx, &firehose.PutRecordBatchInput{DeliveryStreamName: aws.String("clickstream"), Records: recs})
		if err != nil || aws.ToInt32(out.FailedPutCount) != 0 || !aws.ToBool(out.Encrypted) {
			t.Fatalf("PutRecordBatch: %+v, %v", out, err)
		}
	}
	put(0, 100)
	rest := slices.Concat(recipeAssignments(cmds), cmds[update:])
	check(rest, runRecipe(t, dir, shell, listen, rest))
	updated := time.Now()
	put(100, 100)
	await.Cond(t, 3*time.Minute, "the 200 records in S3", func() bool { return len(gzipObjectLines(t, m, "clicks/")) == 200 })
	t.Logf("records put after UpdateDestination (buffer 900 s → 60 s) reached S3 %v after it", time.Since(updated).Round(100*time.Millisecond))
	seen := map[string]int{}
	for _, r := range gzipObjectLines(t, m, "clicks/") {
		seen[r]++
	}
	for i := range 200 {
		if n := seen[fmt.Sprintf("{\"n\":%d}", i)]; n != 1 {
			t.Fatalf("record %d delivered %d times", i, n)
		}
	}
	if after := gzipObjectLines(t, m, "clicks/v2/"); len(after) < 100 {
		t.Fatalf("%d records under the new prefix clicks/v2/, want at least the 100 put after the update", len(after))
	}

	// The state the calls left, as Terraform reads it back — and after a restart.
	for _, when := range []string{"after the calls", "after a restart"} {
		if when == "after a restart" {
			h.stop()
			h = startHydrant(t, dir, listen, terraformCallsConfig, env...)
		}
		sum, err := kin.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("orders")})
		if err != nil {
			t.Fatal(err)
		}
		s := sum.StreamDescriptionSummary
		if aws.ToInt32(s.RetentionPeriodHours) != 72 || s.EncryptionType != types.EncryptionTypeKms || aws.ToString(s.KeyId) != "alias/aws/kinesis" ||
			aws.ToInt32(s.OpenShardCount) != 2 || s.StreamModeDetails.StreamMode != types.StreamModeProvisioned ||
			!slices.Equal(s.EnhancedMonitoring[0].ShardLevelMetrics, []types.MetricsName{types.MetricsNameIncomingBytes, types.MetricsNameIteratorAgeMilliseconds}) {
			t.Fatalf("%s: orders is %+v", when, s)
		}
		tags, err := kin.ListTagsForStream(ctx, &kinesis.ListTagsForStreamInput{StreamName: aws.String("orders")})
		if err != nil || len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "env" || aws.ToString(tags.Tags[0].Value) != "staging" {
			t.Fatalf("%s: orders' tags %+v, %v", when, tags, err)
		}
		desc, err := fh.DescribeDeliveryStream(ctx, &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("clickstream")})
		if err != nil {
			t.Fatal(err)
		}
		d := desc.DeliveryStreamDescription
		s3 := d.Destinations[0].ExtendedS3DestinationDescription
		if aws.ToString(d.VersionId) != "2" || aws.ToString(s3.Prefix) != "clicks/v2/" || aws.ToInt32(s3.BufferingHints.IntervalInSeconds) != 60 ||
			s3.CompressionFormat != fhtypes.CompressionFormatGzip || d.DeliveryStreamEncryptionConfiguration.Status != fhtypes.DeliveryStreamEncryptionStatusEnabled {
			t.Fatalf("%s: clickstream is version %s, %+v", when, aws.ToString(d.VersionId), s3)
		}
		fhTags, err := fh.ListTagsForDeliveryStream(ctx, &firehose.ListTagsForDeliveryStreamInput{DeliveryStreamName: aws.String("clickstream")})
		if err != nil || len(fhTags.Tags) != 2 || aws.ToString(fhTags.Tags[0].Key) != "env" || aws.ToString(fhTags.Tags[1].Key) != "team" {
			t.Fatalf("%s: clickstream's tags %+v, %v", when, fhTags, err)
		}
	}
	h.stop()
}

// gzipObjectLines returns the lines of the gzip objects under prefix in
// bucket lake.
func gzipObjectLines(t *testing.T, m *minio.Server, prefix string) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	for obj := range m.Client.ListObjects(ctx, "lake", miniogo.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		o, err := m.Client.GetObject(ctx, "lake", obj.Key, miniogo.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(o)
		if err != nil {
			t.Fatalf("%s: not gzip: %v", obj.Key, err)
		}
		raw, err := io.ReadAll(zr)
		o.Close()
		if err != nil {
			t.Fatal(err)
		}
		for line := range bytes.Lines(raw) {
			out = append(out, strings.TrimSuffix(string(line), "\n"))
		}
	}
	return out
}
