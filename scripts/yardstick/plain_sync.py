#!/usr/bin/env python3
# YARDSTICK, NOT THE PRODUCT. A deliberately plain SentinelOne sync that the connector is measured against
# (scripts/side-by-side, BENCHMARKS.md): standard-library HTTP paging of the agents, the threats and the
# vulnerability rows (`application-management/risks`), a flat mapping of a few fields, and boto3's
# batch_writer overwriting every item on every run. It has none of the connector's guarantees (no change detection,
# no checkpoint, no resume, no retirement guard, no tenant isolation, no lifecycle) and must never be deployed.
#
#   plain_sync.py --url http://127.0.0.1:PORT --token TOKEN [--table NAME]
# AWS: the SDK environment of `scripts/local-aws env` (AWS_ENDPOINT_URL, dummy credentials). The table (pk + sk,
# on demand) is created when missing. Prints one JSON line: records, seconds, records_per_s, pages, items_written,
# write_units (DynamoDB's rule: one per started KB of each item written) and max_item_bytes.
import argparse
import json
import os
import sys
import time
import urllib.parse
import urllib.request

import boto3

API = "/web/api/v2.1/"
PAGE = 1000


def walk(base, token, resource):
    """Yields pages of `resource` (agents, threats or risks), cursor paging at 1,000 as API.md and APP-RISKS.md
    prescribe."""
    cursor = None
    seen = set()
    while True:
        query = {"limit": str(PAGE)}
        if cursor:
            query["cursor"] = cursor
        req = urllib.request.Request(
            f"{base}{API}{resource}?{urllib.parse.urlencode(query)}",
            headers={"Authorization": f"ApiToken {token}", "Accept": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=60) as resp:
            body = json.load(resp)
        data = body.get("data") or []
        if not data:
            return
        yield data
        cursor = (body.get("pagination") or {}).get("nextCursor")
        if not cursor or cursor in seen:
            return
        seen.add(cursor)


def agent_item(a):
    return {
        "pk": "ASSET",
        "sk": str(a.get("id")),
        "name": a.get("computerName") or "",
        "os": a.get("osName") or "",
        "osType": a.get("osType") or "",
        "osRevision": a.get("osRevision") or "",
        "agentVersion": a.get("agentVersion") or "",
        "site": a.get("siteName") or "",
        "group": a.get("groupName") or "",
        "domain": a.get("domain") or "",
        "ip": a.get("lastIpToMgmt") or "",
        "externalIp": a.get("externalIp") or "",
        "uuid": a.get("uuid") or "",
        "isActive": bool(a.get("isActive")),
        "infected": bool(a.get("infected")),
        "lastActiveDate": a.get("lastActiveDate") or "",
        "updatedAt": a.get("updatedAt") or "",
    }


def threat_item(t):
    info = t.get("threatInfo") or {}
    agent = t.get("agentRealtimeInfo") or {}
    return {
        "pk": "FINDING",
        "sk": str(t.get("id")),
        "name": info.get("threatName") or "",
        "classification": info.get("classification") or "",
        "confidence": info.get("confidenceLevel") or "",
        "verdict": info.get("analystVerdict") or "",
        "incidentStatus": info.get("incidentStatus") or "",
        "mitigationStatus": info.get("mitigationStatus") or "",
        "sha1": info.get("sha1") or "",
        "filePath": info.get("filePath") or "",
        "agentId": agent.get("agentId") or "",
        "agentName": agent.get("agentComputerName") or "",
        "createdAt": info.get("createdAt") or "",
        "updatedAt": info.get("updatedAt") or "",
    }


def risk_item(r):
    """One vulnerability row (CVE x application version x endpoint), as `application-management/risks` sends it."""
    return {
        "pk": "VULNERABILITY",
        "sk": str(r.get("id")),
        "cve": r.get("cveId") or "",
        "severity": r.get("severity") or "",
        "baseScore": str(r.get("baseScore") or ""),
        "status": r.get("status") or "",
        "application": r.get("applicationName") or "",
        "vendor": r.get("applicationVendor") or "",
        "version": r.get("applicationVersion") or "",
        "endpointId": r.get("endpointId") or "",
        "endpointName": r.get("endpointName") or "",
        "detectionDate": r.get("detectionDate") or "",
        "lastScanDate": r.get("lastScanDate") or "",
    }


def item_bytes(item):
    """DynamoDB's item size (names + UTF-8 string values; a boolean is 1 byte): every item here is flat."""
    return sum(len(k.encode()) + (1 if isinstance(v, bool) else len(str(v).encode())) for k, v in item.items())


def ensure_table(ddb, name):
    try:
        ddb.describe_table(TableName=name)
        return
    except ddb.exceptions.ResourceNotFoundException:
        pass
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.get_waiter("table_exists").wait(TableName=name)


def main():
    p = argparse.ArgumentParser(description="Yardstick plain sync (not the product).")
    p.add_argument("--url", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--table", default="plain-yardstick")
    args = p.parse_args()

    # The Rust SDK reads AWS_REGION; boto3 reads AWS_DEFAULT_REGION.
    session = boto3.session.Session(region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))
    ddb = session.client("dynamodb")
    ensure_table(ddb, args.table)
    table = session.resource("dynamodb").Table(args.table)

    started = time.monotonic()
    records = pages = write_units = max_bytes = 0
    with table.batch_writer(overwrite_by_pkeys=["pk", "sk"]) as batch:
        # The three walks the connector makes on the same console: agents, threats, vulnerability rows.
        walks = (("agents", agent_item), ("threats", threat_item), ("application-management/risks", risk_item))
        for resource, mapping in walks:
            for page in walk(args.url.rstrip("/"), args.token, resource):
                pages += 1
                for record in page:
                    item = mapping(record)
                    size = item_bytes(item)
                    max_bytes = max(max_bytes, size)
                    # One write unit per started KB, once per record and run: batch_writer overwrites every item.
                    write_units += -(-size // 1024)
                    batch.put_item(Item=item)
                    records += 1
    seconds = time.monotonic() - started
    print(
        json.dumps(
            {
                "records": records,
                "pages": pages,
                "items_written": records,
                "write_units": write_units,
                "max_item_bytes": max_bytes,
                "seconds": round(seconds, 2),
                "records_per_s": round(records / seconds, 1) if seconds > 0 else None,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
