package dev.hydrant.kcl;

import java.io.BufferedWriter;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.cloudwatch.CloudWatchAsyncClient;
import software.amazon.awssdk.services.dynamodb.DynamoDbAsyncClient;
import software.amazon.awssdk.services.dynamodb.model.AttributeDefinition;
import software.amazon.awssdk.services.dynamodb.model.BillingMode;
import software.amazon.awssdk.services.dynamodb.model.CreateTableRequest;
import software.amazon.awssdk.services.dynamodb.model.GlobalSecondaryIndex;
import software.amazon.awssdk.services.dynamodb.model.KeySchemaElement;
import software.amazon.awssdk.services.dynamodb.model.KeyType;
import software.amazon.awssdk.services.dynamodb.model.ProjectionType;
import software.amazon.awssdk.services.dynamodb.model.ResourceInUseException;
import software.amazon.awssdk.services.dynamodb.model.ScalarAttributeType;
import software.amazon.awssdk.services.kinesis.KinesisAsyncClient;
import software.amazon.kinesis.common.ConfigsBuilder;
import software.amazon.kinesis.common.InitialPositionInStream;
import software.amazon.kinesis.common.InitialPositionInStreamExtended;
import software.amazon.kinesis.common.KinesisClientUtil;
import software.amazon.kinesis.coordinator.Scheduler;
import software.amazon.kinesis.exceptions.ShutdownException;
import software.amazon.kinesis.exceptions.InvalidStateException;
import software.amazon.kinesis.leases.LeaseAssignmentStrategy;
import software.amazon.kinesis.lifecycle.events.InitializationInput;
import software.amazon.kinesis.lifecycle.events.LeaseLostInput;
import software.amazon.kinesis.lifecycle.events.ProcessRecordsInput;
import software.amazon.kinesis.lifecycle.events.ShardEndedInput;
import software.amazon.kinesis.lifecycle.events.ShutdownRequestedInput;
import software.amazon.kinesis.metrics.MetricsLevel;
import software.amazon.kinesis.metrics.NullMetricsFactory;
import software.amazon.kinesis.processor.RecordProcessorCheckpointer;
import software.amazon.kinesis.processor.ShardRecordProcessor;
import software.amazon.kinesis.retrieval.KinesisClientRecord;
import software.amazon.kinesis.retrieval.RetrievalConfig;
import software.amazon.kinesis.retrieval.polling.PollingConfig;

/**
 * One KCL worker: reads a stream with the Kinesis Client Library (leases in
 * DynamoDB), appends a line per record to an output file and checkpoints.
 *
 * <p>Flags (each also read from the environment as KCL_NAME, e.g. KCL_STREAM):
 * --stream, --app (the application name, so the lease table's), --worker (the
 * worker id), --kinesis and --dynamodb (endpoints), --mode polling|fanout,
 * --out (the output file), --checkpoint-every N records, --checkpoint-ms T
 * (a processor also checkpoints when it has caught up with its shard).
 *
 * <p>Each output line is "shardId sequenceNumber partitionKey base64(data)",
 * written and flushed before the record is checkpointed, so a worker killed
 * at any moment has printed every record its checkpoints cover.
 */
public final class Main {
    private static final Logger log = LoggerFactory.getLogger(Main.class);

    public static void main(String[] args) throws Exception {
        Map<String, String> opt = options(args);
        String stream = need(opt, "stream");
        String app = need(opt, "app");
        String worker = need(opt, "worker");
        String mode = opt.getOrDefault("mode", "polling");
        if (!mode.equals("polling") && !mode.equals("fanout")) {
            throw new IllegalArgumentException("--mode: " + mode + ", want polling or fanout");
        }
        int every = Integer.parseInt(opt.getOrDefault("checkpoint-every", "100"));
        long everyMillis = Long.parseLong(opt.getOrDefault("checkpoint-ms", "1000"));

        StaticCredentialsProvider creds = StaticCredentialsProvider.create(
                AwsBasicCredentials.create(opt.getOrDefault("access-key", "kcl"), opt.getOrDefault("secret-key", "kcl-secret")));
        Region region = Region.of(opt.getOrDefault("region", "us-east-1"));
        // KinesisClientUtil sets what KCL wants of the async client: HTTP/2
        // (Netty), its window sizes and concurrency. CBOR stays on.
        KinesisAsyncClient kinesis = KinesisClientUtil.createKinesisAsyncClient(KinesisAsyncClient.builder()
                .endpointOverride(URI.create(need(opt, "kinesis"))).region(region).credentialsProvider(creds));
        DynamoDbAsyncClient dynamo = DynamoDbAsyncClient.builder()
                .endpointOverride(URI.create(need(opt, "dynamodb"))).region(region).credentialsProvider(creds).build();
        // Metrics are off (NullMetricsFactory): the client is never called.
        CloudWatchAsyncClient cloudWatch = CloudWatchAsyncClient.builder()
                .endpointOverride(URI.create("http://127.0.0.1:9")).region(region).credentialsProvider(creds).build();

        createLeaseTable(dynamo, app);
        Output out = new Output(need(opt, "out"));
        ConfigsBuilder configs = new ConfigsBuilder(stream, app, kinesis, dynamo, cloudWatch, worker,
                () -> new Processor(out, every, everyMillis));

        RetrievalConfig retrieval = configs.retrievalConfig().initialPositionInStreamExtended(
                InitialPositionInStreamExtended.newInitialPosition(InitialPositionInStream.TRIM_HORIZON));
        if (mode.equals("polling")) {
            retrieval.retrievalSpecificConfig(new PollingConfig(stream, kinesis)
                    .idleTimeBetweenReadsInMillis(PollingConfig.MIN_IDLE_MILLIS_BETWEEN_READS)
                    .usePollingConfigIdleTimeValue(true));
        } // else the default: FanOutConfig (RegisterStreamConsumer, SubscribeToShard)

        Scheduler scheduler = new Scheduler(
                configs.checkpointConfig(),
                configs.coordinatorConfig()
                        .parentShardPollIntervalMillis(500)
                        .shardConsumerDispatchPollIntervalMillis(100)
                        .schedulerInitializationBackoffTimeMillis(500),
                tuned(configs),
                configs.lifecycleConfig(),
                configs.metricsConfig().metricsFactory(new NullMetricsFactory()).metricsLevel(MetricsLevel.NONE),
                configs.processorConfig().callProcessRecordsEvenForEmptyRecordList(true),
                retrieval);

        Thread run = new Thread(scheduler, "kcl-scheduler");
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                scheduler.startGracefulShutdown().get(20, TimeUnit.SECONDS);
            } catch (Exception e) {
                log.warn("graceful shutdown: {}", e.toString());
            }
        }));
        log.info("KCL worker {} of {} reading {} by {}", worker, app, stream, mode);
        run.start();
        run.join();
    }

    /**
     * Creates the lease table as KCL 3 would, with its LeaseOwnerToLeaseKeyIndex,
     * unless it exists. KCL creates the table bare and then adds the index with
     * UpdateTable, which dynalite cannot do (its UpdateTable changes throughput
     * only); KCL finds the index here and leaves the table as it is. A table
     * created by a worker that got there first is fine.
     */
    private static void createLeaseTable(DynamoDbAsyncClient dynamo, String table) throws Exception {
        try {
            dynamo.createTable(CreateTableRequest.builder()
                    .tableName(table)
                    .billingMode(BillingMode.PAY_PER_REQUEST)
                    .attributeDefinitions(
                            AttributeDefinition.builder().attributeName("leaseKey").attributeType(ScalarAttributeType.S).build(),
                            AttributeDefinition.builder().attributeName("leaseOwner").attributeType(ScalarAttributeType.S).build())
                    .keySchema(KeySchemaElement.builder().attributeName("leaseKey").keyType(KeyType.HASH).build())
                    .globalSecondaryIndexes(GlobalSecondaryIndex.builder()
                            .indexName("LeaseOwnerToLeaseKeyIndex")
                            .keySchema(
                                    KeySchemaElement.builder().attributeName("leaseOwner").keyType(KeyType.HASH).build(),
                                    KeySchemaElement.builder().attributeName("leaseKey").keyType(KeyType.RANGE).build())
                            .projection(p -> p.projectionType(ProjectionType.KEYS_ONLY))
                            .build())
                    .build()).get(30, TimeUnit.SECONDS);
            log.info("created the lease table {}", table);
        } catch (java.util.concurrent.ExecutionException e) {
            if (!(e.getCause() instanceof ResourceInUseException)) {
                throw e;
            }
        }
    }

    /** Lease timings shortened so a test sees a takeover in seconds, not minutes. */
    private static software.amazon.kinesis.leases.LeaseManagementConfig tuned(ConfigsBuilder configs) {
        var lease = configs.leaseManagementConfig()
                .initialPositionInStream(
                        InitialPositionInStreamExtended.newInitialPosition(InitialPositionInStream.TRIM_HORIZON))
                .failoverTimeMillis(3000)
                // How often the leader assigns leases (expired ones included):
                // by default twice the failover time.
                .leaseAssignmentIntervalMillis(1000L)
                // Leases spread by count: KCL 3's default weighs workers by CPU
                // metrics, which it reads only on EC2, ECS and EKS; without them
                // it weighs them by throughput, so a worker that starts when
                // the other already holds every lease of an idle stream is
                // never given any.
                .leaseAssignmentStrategy(LeaseAssignmentStrategy.LEASE_COUNT_BASED)
                .shardSyncIntervalMillis(1000)
                .listShardsBackoffTimeInMillis(200)
                .dynamoDbLockBasedLeaderLeaseDurationInMillis(3000)
                .dynamoDbLockBasedLeaderHeartbeatPeriodInMillis(1000)
                .dynamoDbRequestTimeout(Duration.ofSeconds(10))
                .metricsFactory(new NullMetricsFactory());
        lease.workerUtilizationAwareAssignmentConfig()
                .inMemoryWorkerMetricsCaptureFrequencyMillis(500)
                .workerMetricsReporterFreqInMillis(1000);
        return lease;
    }

    /** The output file, shared by the worker's shard processors. */
    static final class Output {
        private final Writer w;

        Output(String path) throws IOException {
            w = new BufferedWriter(new OutputStreamWriter(new FileOutputStream(path, true), StandardCharsets.UTF_8));
        }

        synchronized void write(String shard, Iterable<KinesisClientRecord> records) {
            try {
                for (KinesisClientRecord r : records) {
                    ByteBuffer data = r.data().duplicate();
                    byte[] b = new byte[data.remaining()];
                    data.get(b);
                    w.write(shard + " " + r.sequenceNumber() + " " + r.partitionKey() + " "
                            + Base64.getEncoder().encodeToString(b) + "\n");
                }
                w.flush();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /** Processes one shard: prints its records, checkpoints every N records or T ms. */
    static final class Processor implements ShardRecordProcessor {
        private final Output out;
        private final int every;
        private final long everyMillis;
        private String shard;
        private String last; // the sequence number of the last record printed
        private int pending; // records printed since the last checkpoint
        private long checkpointedAt = System.currentTimeMillis();

        Processor(Output out, int every, long everyMillis) {
            this.out = out;
            this.every = every;
            this.everyMillis = everyMillis;
        }

        @Override
        public void initialize(InitializationInput in) {
            shard = in.shardId();
            log.info("{}: starting at {}", shard, in.extendedSequenceNumber());
        }

        @Override
        public void processRecords(ProcessRecordsInput in) {
            if (!in.records().isEmpty()) {
                out.write(shard, in.records());
                last = in.records().get(in.records().size() - 1).sequenceNumber();
                pending += in.records().size();
            }
            long now = System.currentTimeMillis();
            // Caught up (nothing more in the shard now): checkpoint at once, so
            // the last record's checkpoint does not wait for another batch.
            boolean caughtUp = in.millisBehindLatest() != null && in.millisBehindLatest() == 0;
            if (pending > 0 && (pending >= every || now - checkpointedAt >= everyMillis || caughtUp)) {
                try {
                    in.checkpointer().checkpoint(last);
                    pending = 0;
                    checkpointedAt = now;
                } catch (ShutdownException e) {
                    log.info("{}: lease lost before checkpoint at {}", shard, last);
                } catch (InvalidStateException e) {
                    log.warn("{}: checkpoint at {}: {}", shard, last, e.toString());
                }
            }
        }

        @Override
        public void leaseLost(LeaseLostInput in) {
            log.info("{}: lease lost", shard);
        }

        @Override
        public void shardEnded(ShardEndedInput in) {
            checkpoint(in.checkpointer(), "shard end");
        }

        @Override
        public void shutdownRequested(ShutdownRequestedInput in) {
            checkpoint(in.checkpointer(), "shutdown");
        }

        private void checkpoint(RecordProcessorCheckpointer c, String why) {
            try {
                c.checkpoint();
                log.info("{}: checkpointed at {}", shard, why);
            } catch (ShutdownException | InvalidStateException e) {
                log.warn("{}: checkpoint at {}: {}", shard, why, e.toString());
            }
        }
    }

    private static Map<String, String> options(String[] args) {
        Map<String, String> opt = new HashMap<>();
        for (Map.Entry<String, String> e : System.getenv().entrySet()) {
            if (e.getKey().startsWith("KCL_")) {
                opt.put(e.getKey().substring(4).toLowerCase().replace('_', '-'), e.getValue());
            }
        }
        for (int i = 0; i < args.length; i++) {
            if (!args[i].startsWith("--") || i + 1 == args.length) {
                throw new IllegalArgumentException("usage: --name value ...; got " + args[i]);
            }
            opt.put(args[i].substring(2), args[++i]);
        }
        return opt;
    }

    private static String need(Map<String, String> opt, String name) {
        String v = opt.get(name);
        if (v == null || v.isEmpty()) {
            throw new IllegalArgumentException("--" + name + " (or KCL_" + name.toUpperCase().replace('-', '_') + ") is required");
        }
        return v;
    }
}
