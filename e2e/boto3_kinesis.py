"""Makes Kinesis calls with boto3 for the e2e tests (e2e/reshard_cli_test.go).

Usage: python3 boto3_kinesis.py ENDPOINT_URL

Reads one call a line from standard input, such as
    {"op": "split_shard", "params": {"StreamName": "s", "ShardToSplit": "shardId-000000000001", ...}}
makes it with a boto3 Kinesis client (credentials and region from the environment, retries
as the AWS CLI v2 makes them), and writes one line for it to standard output:
    {"response": {...}}                      the parsed response, less ResponseMetadata;
                                             blobs in base64, timestamps in ISO 8601
    {"error": {"Code": "...", "Message": "..."}}   the service's error
so that the test reads boto3's view of each answer in the shape the AWS CLI prints.
"""

import base64
import datetime
import json
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError


def encode(value):
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def main():
    client = boto3.client("kinesis", endpoint_url=sys.argv[1], config=Config(retries={"mode": "standard"}))
    for line in sys.stdin:
        call = json.loads(line)
        try:
            response = getattr(client, call["op"])(**call.get("params", {}))
            response.pop("ResponseMetadata", None)
            out = {"response": response}
        except ClientError as e:
            err = e.response.get("Error", {})
            out = {"error": {"Code": err.get("Code", ""), "Message": err.get("Message", "")}}
        print(json.dumps(out, default=encode), flush=True)


if __name__ == "__main__":
    main()
