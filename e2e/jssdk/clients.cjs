// Drives the AWS SDK for JavaScript v3 against a real `hydrant serve`, for
// e2e/jssdk_test.go. The clients keep every default (request handler,
// signer, retries); only the endpoint points at Hydrant. Region and
// credentials come from AWS_REGION, AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY, as in any application; a private CA comes from
// NODE_EXTRA_CA_CERTS.
//
//   node clients.cjs kinesis-roundtrip ENDPOINT STREAM N
//     PutRecord, then PutRecords of N-1, ListShards, GetShardIterator
//     (TRIM_HORIZON) and GetRecords on every shard until each is caught up.
//   node clients.cjs kinesis-put ENDPOINT STREAM
//     one PutRecord.
//   node clients.cjs firehose-put ENDPOINT DELIVERY_STREAM
//     one PutRecordBatch.
//
// It prints one JSON object: the request handler's protocol, the
// SignedHeaders of every request the client signed, the records read back
// or the error the SDK raised ({"error": {"name", "status"}}).
"use strict";

const kinesis = require("@aws-sdk/client-kinesis");
const firehose = require("@aws-sdk/client-firehose");

const [mode, endpoint, stream, count] = process.argv.slice(2);

// observeSigning records SignedHeaders after the SDK signed a request. It
// reads the request and changes nothing.
function observeSigning(client, signed) {
  client.middlewareStack.addRelativeTo(
    (next) => async (args) => {
      const m = /SignedHeaders=([^,\s]+)/.exec(args.request.headers.authorization ?? "");
      signed.add(m ? m[1] : "(unsigned)");
      return next(args);
    },
    { relation: "after", toMiddleware: "httpSigningMiddleware", name: "hydrantObserveSigning" },
  );
}

async function kinesisRoundtrip(client, n) {
  const data = (i) => Buffer.from(JSON.stringify({ via: "jssdk", n: i }));
  await client.send(new kinesis.PutRecordCommand({ StreamName: stream, Data: data(0), PartitionKey: "p0" }));
  const entries = [];
  for (let i = 1; i < n; i++) {
    entries.push({ Data: data(i), PartitionKey: `p${i}` });
  }
  const put = await client.send(new kinesis.PutRecordsCommand({ StreamName: stream, Records: entries }));
  if (put.FailedRecordCount) {
    throw new Error(`PutRecords: ${put.FailedRecordCount} records failed`);
  }
  const { Shards } = await client.send(new kinesis.ListShardsCommand({ StreamName: stream }));
  const records = [];
  for (const shard of Shards) {
    let { ShardIterator: it } = await client.send(new kinesis.GetShardIteratorCommand({
      StreamName: stream, ShardId: shard.ShardId, ShardIteratorType: "TRIM_HORIZON",
    }));
    // Every acknowledged record is readable: a shard is done at its first
    // empty, caught-up page. The bound only stops a server that never says so.
    for (let page = 0; it && page < 100; page++) {
      const out = await client.send(new kinesis.GetRecordsCommand({ ShardIterator: it }));
      for (const r of out.Records) {
        records.push({ shard: shard.ShardId, partitionKey: r.PartitionKey, data: Buffer.from(r.Data).toString() });
      }
      if (out.Records.length === 0 && out.MillisBehindLatest === 0) {
        break;
      }
      it = out.NextShardIterator;
    }
  }
  return { shards: Shards.length, records };
}

async function main() {
  const signed = new Set();
  let client;
  let run;
  switch (mode) {
    case "kinesis-roundtrip":
    case "kinesis-put":
      client = new kinesis.KinesisClient({ endpoint });
      run = mode === "kinesis-put"
        ? () => client.send(new kinesis.PutRecordCommand({ StreamName: stream, Data: Buffer.from("{}"), PartitionKey: "p" })).then(() => ({}))
        : () => kinesisRoundtrip(client, Number(count));
      break;
    case "firehose-put":
      client = new firehose.FirehoseClient({ endpoint });
      run = () => client.send(new firehose.PutRecordBatchCommand({
        DeliveryStreamName: stream, Records: [{ Data: Buffer.from('{"via":"jssdk-firehose"}\n') }],
      })).then((out) => ({ failed: out.FailedPutCount }));
      break;
    default:
      throw new Error(`unknown mode ${mode}`);
  }
  observeSigning(client, signed);
  const result = { protocol: client.config.requestHandler.metadata?.handlerProtocol ?? "unknown" };
  try {
    Object.assign(result, await run());
  } catch (err) {
    result.error = { name: err.name, status: err.$metadata?.httpStatusCode ?? 0, message: String(err.message).slice(0, 300) };
  }
  result.signedHeaders = [...signed];
  client.destroy();
  process.stdout.write(JSON.stringify(result) + "\n");
}

main().catch((err) => {
  process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});
