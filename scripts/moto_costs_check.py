"""Proof that `moto_costs.py` changes what moto spends, not what it answers: one seeded workload of writes and
queries (batch writes of every value kind, valid and flawed, read back; the table's and an index's queries, every kind of sort-key condition, limits, both directions, filters,
projections, paging to the end) is run against moto as released and against moto with `moto_costs.apply()`, each in
a process of its own, in memory (no server); every response must be the same, byte for byte.

One difference is left on purpose and not exercised here: moto as released also ends a page when an item past the
key condition's range would take the page over 1 MB; DynamoDB reads only the range, and so does the stack.

Usage: python moto_costs_check.py [--seed N] [--items N] [--queries N]   (exit status 1 and the first difference when they differ)
"""
import argparse
import io
import json
import os
import random
import subprocess
import sys


def _serve():
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    app = DomainDispatcherApplication(create_backend_app)

    def call(op, body):
        data = json.dumps(body).encode()
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "5000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(data),
            "wsgi.errors": sys.stderr,
            "CONTENT_LENGTH": str(len(data)),
            "CONTENT_TYPE": "application/x-amz-json-1.0",
            "HTTP_HOST": "127.0.0.1:5000",
            "HTTP_X_AMZ_TARGET": f"DynamoDB_20120810.{op}",
            "HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=test/20261201/us-east-1/dynamodb/aws4_request, "
            "SignedHeaders=host, Signature=x",
        }
        status = []
        body = b"".join(app(environ, lambda s, h, e=None: status.append(s)))
        return status[0][:3], json.loads(body)

    return call


def _pages(call, query, most):
    """Every page of `query` (status and body), to its last or its first error, at most `most` pages."""
    pages = []
    for _ in range(most):
        status, page = call("Query", query)
        pages.append((status, page))
        if status != "200" or "LastEvaluatedKey" not in page:
            break
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return pages


def _create_table(call, name, names):
    call(
        "CreateTable",
        {
            "TableName": name,
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in sorted(names)],
            "BillingMode": "PAY_PER_REQUEST",
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": "gsi1",
                    "KeySchema": [
                        {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                        {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        },
    )


def _workload(call, seed, items, queries):
    """Every response of the workload, in order: status and body."""
    rng = random.Random(seed)
    names = {"pk", "sk", "gsi1pk", "gsi1sk"}
    for table in ("t", "w"):
        _create_table(call, table, names)
    prefixes = ["A#", "ASSET#", "B#", "C#", "é#", "Z"]
    responses = []
    for _ in range(items):
        item = {
            "pk": {"S": rng.choice(["T#1", "T#2", "T#3"])},
            "sk": {"S": rng.choice(prefixes) + str(rng.randint(0, 400)) + rng.choice(["", "x", "日"])},
            "blob": {"S": "y" * rng.randint(0, 3000)},
            "n": {"N": str(rng.randint(0, 9))},
            "m": {"M": {"origin": {"S": rng.choice(["agent", "threat"])}, "ids": {"L": [{"S": "1"}, {"N": "2"}]}}},
        }
        if rng.random() < 0.5:
            item["gsi1pk"] = {"S": rng.choice(["G1", "G2"])}
            item["gsi1sk"] = {"S": rng.choice(prefixes) + str(rng.randint(0, 50))}
        responses.append(call("PutItem", {"TableName": "t", "Item": item}))
    for _ in range(queries):
        index = rng.random() < 0.25
        query = {
            "TableName": "t",
            "ExpressionAttributeNames": {"#p": "gsi1pk" if index else "pk", "#s": "gsi1sk" if index else "sk"},
        }
        if index:
            query["IndexName"] = "gsi1"
        values = {":p": {"S": rng.choice(["G1", "G2", "G3"] if index else ["T#1", "T#2", "T#3", "T#9"])}}
        condition = "#p = :p"
        kind = rng.choice(["none", "begins", "between", "<", ">", "=", ">="])
        if kind == "begins":
            condition += " AND begins_with(#s, :a)"
            values[":a"] = {"S": rng.choice(prefixes)}
        elif kind == "between":
            low, high = sorted(rng.choice(prefixes) + str(rng.randint(0, 400)) for _ in range(2))
            condition += " AND #s BETWEEN :a AND :b"
            values[":a"], values[":b"] = {"S": low}, {"S": high}
        elif kind != "none":
            condition += f" AND #s {kind} :a"
            values[":a"] = {"S": rng.choice(prefixes) + str(rng.randint(0, 400))}
        query["KeyConditionExpression"] = condition
        query["ExpressionAttributeValues"] = values
        if rng.random() < 0.7:
            query["Limit"] = rng.choice([1, 2, 5, 17, 100, 1000])
        query["ScanIndexForward"] = rng.random() < 0.6
        if rng.random() < 0.3:
            query["FilterExpression"] = "#n > :n"
            query["ExpressionAttributeNames"]["#n"] = "n"
            values[":n"] = {"N": "4"}
        if rng.random() < 0.3:
            query["ProjectionExpression"] = "#p, #s, #m.#o"
            query["ExpressionAttributeNames"].update({"#m": "m", "#o": "origin"})
        responses += _pages(call, query, 400)
    # Last, so that the queries' workload is the same whether or not these run.
    return responses + _batch_writes(call, rng, prefixes)


def _value(rng, depth=0):
    """One AttributeValue of any kind, nested up to two levels."""
    kind = rng.choice(["S", "S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS", "M", "L"] if depth < 2 else ["S", "N"])
    if kind == "S":
        return {"S": rng.choice(["", "x", "é日", "y" * rng.randint(1, 40)])}
    if kind == "N":
        return {"N": rng.choice(["0", "-1.5", "12345678901234567890", "1e5"])}
    if kind == "B":
        return {"B": rng.choice(["AAE=", "aGk="])}
    if kind == "BOOL":
        return {"BOOL": rng.random() < 0.5}
    if kind == "NULL":
        return {"NULL": True}
    if kind == "SS":
        return {"SS": ["a", "b日"]}
    if kind == "NS":
        return {"NS": ["1", "2.5"]}
    if kind == "BS":
        return {"BS": ["AAE=", "aGk="]}
    if kind == "M":
        return {"M": {rng.choice(["a", "b", "pk", "é"]) + str(i): _value(rng, depth + 1) for i in range(rng.randint(0, 3))}}
    return {"L": [_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]}


# What a batch write may get wrong, each as moto answers it: invalid numbers and nulls (at the top, in a map, in a
# list, where moto does not look), text that is a JSON number, attributes named like a type, two types in one
# value, empty, long and mistyped keys, an oversized item, the same item twice, two items with one key.
_FLAWS = [
    lambda item, rng: item.update(n={"N": rng.choice(["abc", " 1", "1e400", "nan"])}),
    lambda item, rng: item.update(m={"M": {"deep": {"N": "x1"}}}),
    lambda item, rng: item.update(l={"L": [{"N": "x1"}, {"NULL": False}]}),
    lambda item, rng: item.update(z={"NULL": False}),
    lambda item, rng: item.update(t={"S": 7}),
    lambda item, rng: item.update(N={"S": "named like a type"}),
    lambda item, rng: item.update(m={"M": {"S": {"S": "nested, named like a type"}}}),
    lambda item, rng: item.update(two={"S": "x", "N": "1"}),
    lambda item, rng: item.update(sk={"S": ""}),
    lambda item, rng: item.update(gsi1pk={"S": ""}, gsi1sk={"S": "x"}),
    lambda item, rng: item.update(pk={"S": "p" * 2049}),
    lambda item, rng: item.update(sk={"S": "s" * 1025}),
    lambda item, rng: item.update(pk={"N": "1"}),
    lambda item, rng: item.update(big={"S": "b" * 405001}),
]


def _batch_writes(call, rng, prefixes):
    """Batch writes of items of every value kind, some with a flaw, into a table of their own (the queries' table
    stays as it was), then every key read back."""
    responses = []
    keys = []
    for _ in range(120):
        requests = []
        for _ in range(rng.randint(1, 25)):
            item = {"pk": {"S": rng.choice(["W#1", "W#2"])}, "sk": {"S": rng.choice(prefixes) + str(rng.randint(0, 60))}}
            for name in rng.sample(["a", "b", "c", "d", "e", "f"], rng.randint(0, 6)):
                item[name] = _value(rng)
            if rng.random() < 0.3:
                item["gsi1pk"], item["gsi1sk"] = {"S": "G1"}, {"S": "W" + str(rng.randint(0, 9))}
            if rng.random() < 0.08:
                rng.choice(_FLAWS)(item, rng)
            requests.append({"PutRequest": {"Item": item}})
            keys.append({"pk": item["pk"], "sk": item["sk"]})
        if rng.random() < 0.05:
            requests.append(json.loads(json.dumps(rng.choice(requests))))
        if rng.random() < 0.05:
            twin = json.loads(json.dumps(rng.choice(requests)))
            twin["PutRequest"]["Item"]["extra"] = {"S": "same key, other item"}
            requests.append(twin)
        if rng.random() < 0.1:
            requests.append({"DeleteRequest": {"Key": rng.choice(keys)}})
        responses.append(call("BatchWriteItem", {"RequestItems": {"w": requests}}))
    responses += _updates(call, rng, keys)
    for key in keys:
        responses.append(call("GetItem", {"TableName": "w", "Key": key}))
    for partition in ("W#1", "W#2"):
        query = {
            "TableName": "w",
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": partition}},
        }
        responses += _pages(call, query, 100)
    return responses


def _updates(call, rng, keys):
    """Updates that change stored items in place (grow and shrink them, nested and top level, some failing part
    way or on their condition), so that pages cut at 1 MB and kept sizes see items after updates."""
    responses = []
    for _ in range(150):
        update = {"TableName": "w", "Key": rng.choice(keys)}
        kind = rng.choice(["grow", "grow", "shrink", "nested", "add", "too large", "condition"])
        if kind == "grow":
            update["UpdateExpression"] = "SET grow = :g"
            update["ExpressionAttributeValues"] = {":g": {"S": "g" * rng.choice([10, 1000, 90000, 250000])}}
        elif kind == "shrink":
            update["UpdateExpression"] = "REMOVE grow, a"
        elif kind == "nested":
            update["UpdateExpression"] = "SET m2 = if_not_exists(m2, :empty), z = :z"
            update["ExpressionAttributeValues"] = {":empty": {"M": {}}, ":z": {"N": str(rng.randint(0, 99))}}
        elif kind == "add":
            update["UpdateExpression"] = "ADD #c :one"
            update["ExpressionAttributeNames"] = {"#c": "counter"}
            update["ExpressionAttributeValues"] = {":one": {"N": "1"}}
        elif kind == "too large":
            update["UpdateExpression"] = "SET a1 = :x, a2 = :x"
            update["ExpressionAttributeValues"] = {":x": {"S": "x" * 300000}}
        else:
            update["UpdateExpression"] = "SET grow = :g"
            update["ConditionExpression"] = "attribute_not_exists(pk)"
            update["ExpressionAttributeValues"] = {":g": {"S": "never"}}
        responses.append(call("UpdateItem", update))
    return responses


def _sizes_kept_as_moto_measures():
    """Every stored item's kept size (moto_costs keeps it from the write to the next update) against moto's own
    measure of the item as it is now: 0 when all agree."""
    import moto_costs
    from moto.dynamodb.models import dynamodb_backends

    checked = 0
    for account in dynamodb_backends.values():
        for backend in account.values():
            for table in backend.tables.values():
                for item in table.all_items():
                    kept = item.__dict__.get(moto_costs._MEASURED)
                    if kept is not None and kept != moto_costs._moto_item_size(item):
                        print(f"kept size {kept} but moto measures {moto_costs._moto_item_size(item)}: {item}", file=sys.stderr)
                        return 1
                    checked += kept is not None
    if checked == 0:
        print("no item kept a size", file=sys.stderr)
        return 1
    return 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--items", type=int, default=600)
    parser.add_argument("--queries", type=int, default=120)
    parser.add_argument("--as-released", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--run", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        if not args.as_released:
            sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
            import moto_costs

            moto_costs.apply()
        json.dump(_workload(_serve(), args.seed, args.items, args.queries), sys.stdout)
        return 0 if args.as_released else _sizes_kept_as_moto_measures()
    outputs = {}
    for variant in (["--as-released"], []):
        command = [sys.executable, __file__, "--run", "--seed", str(args.seed)]
        command += ["--items", str(args.items), "--queries", str(args.queries)]
        run = subprocess.run(command + variant, capture_output=True)
        if run.returncode != 0:
            print(run.stderr.decode(errors="replace"), file=sys.stderr)
            return 1
        outputs[bool(variant)] = json.loads(run.stdout)
    released, costed = outputs[True], outputs[False]
    for at, (expected, got) in enumerate(zip(released, costed)):
        if expected != got:
            print(f"response {at} differs:\n  moto as released: {expected}\n  moto_costs:       {got}", file=sys.stderr)
            return 1
    if len(released) != len(costed):
        print(f"{len(released)} responses as released, {len(costed)} with moto_costs", file=sys.stderr)
        return 1
    print(f"{len(released)} responses, the same with and without moto_costs (seed {args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
