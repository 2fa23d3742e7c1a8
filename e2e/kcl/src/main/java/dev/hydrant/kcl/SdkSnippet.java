package dev.hydrant.kcl;

import java.net.URI;
import java.util.List;

import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.awscore.exception.AwsServiceException;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.firehose.FirehoseClient;
import software.amazon.awssdk.services.firehose.FirehoseClientBuilder;
import software.amazon.awssdk.services.firehose.model.PutRecordBatchResponse;
import software.amazon.awssdk.services.kinesis.KinesisClient;
import software.amazon.awssdk.services.kinesis.KinesisClientBuilder;
import software.amazon.awssdk.services.kinesis.model.PutRecordResponse;
import software.amazon.awssdk.services.kinesis.model.Record;
import software.amazon.awssdk.services.kinesis.model.ShardIteratorType;

/**
 * The README's Java SDK v2 snippet (section "### SDKs"), run by
 * e2e/javasdk_test.go: a sync KinesisClient built as the README
 * builds it (endpointOverride, region, static credentials; the SDK's default
 * sync HTTP client and protocol, so CBOR unless -Daws.cborEnabled=false or
 * CBOR_ENABLED=false) puts the README's record to "clicks" and reads it back
 * from its shard with GetShardIterator (TRIM_HORIZON) and GetRecords; a
 * FirehoseClient with the same three settings puts a batch of one record to
 * "events".
 *
 * <p>Flags: --secret-key (the secret of the README's access key id "hydrant"),
 * --endpoint URL (left out, no endpointOverride is set: the SDK takes
 * AWS_ENDPOINT_URL_KINESIS / AWS_ENDPOINT_URL_FIREHOSE, else AWS_ENDPOINT_URL,
 * from the environment).
 *
 * <p>Prints "put SHARD SEQUENCE", then "get SHARD SEQUENCE PARTITION_KEY DATA"
 * for each record read back, then "firehose FAILED_PUT_COUNT RECORD_ID". An
 * error answered ends it with "error CODE HTTP_STATUS" (the code as the SDK
 * parsed it), the SDK's exception and a non-zero exit code.
 */
public final class SdkSnippet {
    public static void main(String[] args) {
        try {
            run(args);
        } catch (AwsServiceException e) {
            System.out.println("error " + e.awsErrorDetails().errorCode() + " " + e.statusCode());
            throw e;
        }
    }

    private static void run(String[] args) {
        String endpoint = null;
        String secret = null;
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--endpoint" -> endpoint = args[i + 1];
                case "--secret-key" -> secret = args[i + 1];
                default -> throw new IllegalArgumentException("unknown flag " + args[i]);
            }
        }
        if (args.length % 2 != 0 || secret == null) {
            throw new IllegalArgumentException("usage: SdkSnippet --secret-key S [--endpoint URL]");
        }

        // As the README has it, but for the endpoint, which may come from the
        // environment instead.
        KinesisClientBuilder kinesisBuilder = KinesisClient.builder();
        FirehoseClientBuilder firehoseBuilder = FirehoseClient.builder();
        if (endpoint != null) {
            kinesisBuilder.endpointOverride(URI.create(endpoint));
            firehoseBuilder.endpointOverride(URI.create(endpoint));
        }
        KinesisClient kinesis = kinesisBuilder
                .region(Region.US_EAST_1)
                .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create("hydrant", secret)))
                .build();
        PutRecordResponse put = kinesis.putRecord(b -> b.streamName("clicks").partitionKey("user-42")
                .data(SdkBytes.fromUtf8String("{\"event\":\"click\"}")));
        System.out.println("put " + put.shardId() + " " + put.sequenceNumber());

        String iterator = kinesis.getShardIterator(b -> b.streamName("clicks").shardId(put.shardId())
                .shardIteratorType(ShardIteratorType.TRIM_HORIZON)).shardIterator();
        List<Record> records = kinesis.getRecords(b -> b.shardIterator(iterator)).records();
        for (Record r : records) {
            System.out.println("get " + put.shardId() + " " + r.sequenceNumber() + " " + r.partitionKey() + " "
                    + r.data().asUtf8String());
        }
        kinesis.close();

        FirehoseClient firehose = firehoseBuilder
                .region(Region.US_EAST_1)
                .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create("hydrant", secret)))
                .build();
        PutRecordBatchResponse batch = firehose.putRecordBatch(b -> b.deliveryStreamName("events")
                .records(r -> r.data(SdkBytes.fromUtf8String("{\"event\":\"view\"}"))));
        System.out.println("firehose " + batch.failedPutCount() + " " + batch.requestResponses().get(0).recordId());
        firehose.close();
    }
}
