"""Puts KPL-aggregated records into a Kinesis stream with boto3, for e2e/kpl_test.go.

Usage: python3 kpl_producer.py ENDPOINT_URL STREAM ROUNDS

Each round is one PutRecords request: AGGREGATES Kinesis records, each aggregating PER_AGGREGATE
user records with aws_kinesis_agg (the KPL's aggregation format, as the KPL writes it), and
PLAIN unaggregated records, as the KPL sends small batches. User record i is
{"id": "u<i>", "pk": "user-<i % 7>"} under partition key user-<i % 7>; plain record i is
{"id": "p<i>", "pk": "plain-<i % 3>"} under partition key plain-<i % 3>. The first round also
holds one corrupt aggregate (a valid one with a byte of its protobuf flipped) of user records
{"id": "c<i>", ...}.

Writes one JSON line per round to standard output:
    {"acked": [ids], "ambiguous": [ids]}
acked: the user records of the Kinesis records the stream acknowledged; ambiguous: those of
records whose put failed or got no answer (they may or may not be stored). Requests are not
retried, so no record is ever put twice. A round that fails waits briefly and the next goes on.
The first line is {"corrupt": "<base64 of the corrupt aggregate>"}; the last {"done": true}.
"""

import base64
import json
import sys
import time

import boto3
from aws_kinesis_agg.aggregator import RecordAggregator
from botocore.config import Config

AGGREGATES = 8
PER_AGGREGATE = 25
PLAIN = 3


def user_record(prefix, i, keys, key_prefix):
    pk = "%s-%d" % (key_prefix, i % keys)
    return pk, json.dumps({"id": "%s%d" % (prefix, i), "pk": pk}, separators=(",", ":")).encode()


def aggregate(records):
    agg = RecordAggregator()
    for pk, data in records:
        agg.add_user_record(pk, data)
    pk, ehk, data = agg.clear_and_get().get_contents()
    entry = {"PartitionKey": pk, "Data": data}
    if ehk:
        entry["ExplicitHashKey"] = ehk
    return entry


def main():
    endpoint, stream, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    client = boto3.client("kinesis", endpoint_url=endpoint,
                          config=Config(retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=10))
    corrupt = aggregate([user_record("c", i, 7, "user") for i in range(5)])
    data = bytearray(corrupt["Data"])
    data[10] ^= 0x01  # inside the protobuf: the MD5 no longer matches
    corrupt["Data"] = bytes(data)
    print(json.dumps({"corrupt": base64.b64encode(corrupt["Data"]).decode()}), flush=True)
    user, plain = 0, 0
    for r in range(rounds):
        entries, ids = [], []
        for _ in range(AGGREGATES):
            recs = []
            for _ in range(PER_AGGREGATE):
                recs.append(user_record("u", user, 7, "user"))
                user += 1
            entries.append(aggregate(recs))
            ids.append([json.loads(d)["id"] for _, d in recs])
        for _ in range(PLAIN):
            pk, d = user_record("p", plain, 3, "plain")
            plain += 1
            entries.append({"PartitionKey": pk, "Data": d})
            ids.append([json.loads(d)["id"]])
        if r == 0:
            entries.append(corrupt)
            ids.append([])  # owed to the error output, not to a destination
        acked, ambiguous = [], []
        try:
            resp = client.put_records(StreamName=stream, Records=entries)
            for res, rec_ids in zip(resp["Records"], ids):
                (ambiguous if res.get("ErrorCode") else acked).extend(rec_ids)
        except Exception:  # connection refused or reset: the server is down or dying
            ambiguous = [i for rec_ids in ids for i in rec_ids]
            time.sleep(0.1)
        print(json.dumps({"acked": acked, "ambiguous": ambiguous}), flush=True)
    print(json.dumps({"done": True}), flush=True)


if __name__ == "__main__":
    main()
