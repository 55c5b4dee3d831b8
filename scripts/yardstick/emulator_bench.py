#!/usr/bin/env python3
# DynamoDB emulators compared on what the connector needs (BENCHMARKS.md, "The local DynamoDB emulator"):
# speed of the calls a sync makes, and whether the features the store relies on behave as in DynamoDB.
#
#   emulator_bench.py --endpoint http://127.0.0.1:PORT [--name moto]
# Dummy credentials are used; the endpoint must be a local emulator. Prints one JSON line.
# Measures, on a fresh table shaped like infra/template.yaml's (pk/sk, gsi1 with ALL projection), items of ~1.6 KB:
#   - BatchWriteItem of 25 items (mean ms over 80 calls = 2,000 items; items/s)
#   - BatchGetItem of 100 keys, strongly consistent (mean ms over 20 calls)
#   - Query of one partition of 300 items (mean ms over 10, paging included)
#   - TransactWriteItems: a Put with a ConditionCheck (supported or not, with the error), and the mean ms of a
#     retirement-shaped transaction (ConditionCheck + Update) on the table of ~2,300 items
#   - conditional write atomicity: 16 threads race attribute_not_exists puts on the same key (exactly one wins), and
#     16 threads x 25 optimistic increments (version check) of one counter (final value == successful updates)
#   - ReturnConsumedCapacity: what a PutItem of one ~1.6 KB item reports (DynamoDB: 2.0 write units + 2.0 for gsi1)
import argparse
import json
import statistics
import threading
import time
import uuid

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError


def client(endpoint):
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, max_pool_connections=32),
    )


def make_table(ddb, name):
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "gsi1pk", "gsi1sk")
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "gsi1",
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for _ in range(100):
        if ddb.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE":
            return
        time.sleep(0.1)


def item(pk, n):
    # ~1.6 KB, like a finding item: a few keys, dates, and a JSON-ish body of nested attributes.
    return {
        "pk": {"S": pk},
        "sk": {"S": f"FINDING#{n:08d}"},
        "gsi1pk": {"S": f"{pk}#ASSET#host-{n % 300:04d}"},
        "gsi1sk": {"S": f"FINDING#{n:08d}"},
        "kind": {"S": "finding"},
        "content_hash": {"S": uuid.uuid4().hex * 2},
        "created_at": {"S": "2026-11-30T12:00:00Z"},
        "finding": {
            "M": {
                "title": {"S": "Malicious process detected " + "x" * 60},
                "file_path": {"S": "C:\\Users\\someone\\AppData\\Local\\Temp\\" + "y" * 120},
                "sha1": {"S": uuid.uuid4().hex + "abcd1234"},
                "classification": {"S": "Malware"},
                "verdict": {"S": "true_positive"},
                "history": {"L": [{"S": f"2026-11-{d:02d}T00:00:00Z open->resolved {'z' * 40}"} for d in range(1, 12)]},
                "extra": {"S": "e" * 500},
            }
        },
    }


def timed(fn, n):
    out = []
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t) * 1000)
    return out


def bench(endpoint):
    ddb = client(endpoint)
    table = f"emu-bench-{uuid.uuid4().hex[:8]}"
    make_table(ddb, table)
    pk = "T#bench"
    r = {}

    items = [item(pk, n) for n in range(2000)]

    def write(i):
        batch = items[i * 25 : (i + 1) * 25]
        out = ddb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": it}} for it in batch]})
        assert not out.get("UnprocessedItems"), "unprocessed items"

    w = timed(write, 80)
    r["batch_write_25_ms"] = round(statistics.mean(w), 2)
    r["batch_write_items_per_s"] = round(2000 / (sum(w) / 1000), 0)

    def get(i):
        keys = [{"pk": {"S": pk}, "sk": {"S": f"FINDING#{(i * 97 + k) % 2000:08d}"}} for k in range(100)]
        out = ddb.batch_get_item(RequestItems={table: {"Keys": keys, "ConsistentRead": True}})
        assert len(out["Responses"][table]) == 100 and not out.get("UnprocessedKeys"), "batch get incomplete"

    r["batch_get_100_ms"] = round(statistics.mean(timed(get, 20)), 2)

    qpk = "T#query"
    for i in range(12):
        batch = [item(qpk, n) for n in range(i * 25, (i + 1) * 25)]
        ddb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": it}} for it in batch]})

    def query(_):
        n, start = 0, None
        while True:
            kw = {"TableName": table, "KeyConditionExpression": "pk = :p",
                  "ExpressionAttributeValues": {":p": {"S": qpk}}, "ConsistentRead": True}
            if start:
                kw["ExclusiveStartKey"] = start
            out = ddb.query(**kw)
            n += out["Count"]
            start = out.get("LastEvaluatedKey")
            if not start:
                break
        assert n == 300, f"query saw {n}"

    r["query_300_ms"] = round(statistics.mean(timed(query, 10)), 2)

    try:
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"pk": {"S": "T#tx"}, "sk": {"S": "A"}}}},
                {"ConditionCheck": {"TableName": table, "Key": {"pk": {"S": pk}, "sk": {"S": "FINDING#00000001"}},
                                    "ConditionExpression": "attribute_exists(pk)"}},
            ]
        )
        got = ddb.get_item(TableName=table, Key={"pk": {"S": "T#tx"}, "sk": {"S": "A"}}, ConsistentRead=True)
        r["transact_write_items"] = "supported" if "Item" in got else "accepted but not applied"

        # A retirement's shape (a registration check and the asset's update) on the table as filled above.
        def transact(i):
            ddb.transact_write_items(
                TransactItems=[
                    {"ConditionCheck": {"TableName": table, "Key": {"pk": {"S": pk}, "sk": {"S": f"REG#{i}"}},
                                        "ConditionExpression": "attribute_not_exists(pk)"}},
                    {"Update": {"TableName": table, "Key": {"pk": {"S": pk}, "sk": {"S": f"FINDING#{i:08d}"}},
                                "UpdateExpression": "SET retired = :t", "ConditionExpression": "attribute_exists(pk)",
                                "ExpressionAttributeValues": {":t": {"BOOL": True}}}},
                ]
            )

        r["transact_2_actions_ms"] = round(statistics.mean(timed(transact, 5)), 2)
    except ClientError as e:
        r["transact_write_items"] = f"unsupported: {e.response['Error'].get('Code')}: {e.response['Error'].get('Message', '')[:80]}"

    # Exactly one of 16 racing conditional creates wins, on each of 10 keys.
    wins_per_key = []
    for k in range(10):
        wins = []
        barrier = threading.Barrier(16)

        def create(t, k=k, wins=wins, barrier=barrier):
            c = client(endpoint)
            barrier.wait()
            try:
                c.put_item(TableName=table, Item={"pk": {"S": "T#race"}, "sk": {"S": f"K{k}"}, "owner": {"N": str(t)}},
                           ConditionExpression="attribute_not_exists(pk)")
                wins.append(t)
            except ClientError as e:
                if e.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise

        threads = [threading.Thread(target=create, args=(t,)) for t in range(16)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        wins_per_key.append(len(wins))
    # Optimistic increments: each thread reads v and writes v+1 only if the item still holds v.
    ddb.put_item(TableName=table, Item={"pk": {"S": "T#race"}, "sk": {"S": "counter"}, "v": {"N": "0"}})
    successes = []

    def increment(_):
        c = client(endpoint)
        for _ in range(25):
            cur = c.get_item(TableName=table, Key={"pk": {"S": "T#race"}, "sk": {"S": "counter"}}, ConsistentRead=True)
            v = int(cur["Item"]["v"]["N"])
            try:
                c.update_item(TableName=table, Key={"pk": {"S": "T#race"}, "sk": {"S": "counter"}},
                              UpdateExpression="SET v = :n", ConditionExpression="v = :v",
                              ExpressionAttributeValues={":n": {"N": str(v + 1)}, ":v": {"N": str(v)}})
                successes.append(1)
            except ClientError as e:
                if e.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise

    threads = [threading.Thread(target=increment, args=(t,)) for t in range(16)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    final = int(ddb.get_item(TableName=table, Key={"pk": {"S": "T#race"}, "sk": {"S": "counter"}},
                             ConsistentRead=True)["Item"]["v"]["N"])
    r["conditional_create_winners_per_key"] = sorted(set(wins_per_key))
    r["optimistic_increments"] = {"successful": len(successes), "final_value": final}
    r["conditional_writes_atomic"] = set(wins_per_key) == {1} and final == len(successes)

    out = ddb.put_item(TableName=table, Item=item("T#cap", 1), ReturnConsumedCapacity="INDEXES")
    r["consumed_capacity_put_1_6kb"] = out.get("ConsumedCapacity")
    r["item_bytes_approx"] = len(json.dumps(item("T#cap", 1)))
    ddb.delete_table(TableName=table)
    return r


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--name", default="")
    a = p.parse_args()
    res = bench(a.endpoint)
    res = {"emulator": a.name or a.endpoint, **res}
    print(json.dumps(res))


if __name__ == "__main__":
    main()
