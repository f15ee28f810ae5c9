"""moto's DynamoDB and CloudFront, applying one request at a time.

moto's own server is threaded and its DynamoDB backend takes no lock, so two
conditional writes racing on one item can both succeed. Real DynamoDB applies
each write to an item atomically. Here every request runs under one lock,
which gives the same guarantee the concurrency tests rely on.

Three things differ from `moto_server`, none of them in what a request
answers:

- HTTP: waitress keeps client connections alive (werkzeug's development
  server closes every one), and DynamoDB requests go straight to moto's
  DynamoDB app instead of being matched against every moto service first.
- TransactWriteItems: moto deep-copies the whole table for each item of a
  transaction so it can roll back. Here only the items the transaction names
  are copied, and restored if it is cancelled: same outcome, without a cost
  that grows with the table.
- Query: moto sorts every item of the table on each Query. A query on the
  table's own key now reads only its partition (for `begins_with`, only the
  matching items from the start key on, at most one beyond the limit when no
  filter follows), and a query on an index reads the items unsorted (moto
  sorts the matches by the index key itself). Scan is unchanged.
- Responses: moto writes every answer through a serializer driven by the
  service model, which walks each attribute of each returned item (about
  half a millisecond per item, where DynamoDB's own cost per small item is
  negligible). The items of Query, Scan, GetItem and BatchGetItem are now
  written as plain JSON (the DynamoDB wire format of an attribute value is
  its JSON, binary in base64); the rest of each answer still goes through
  moto's serializer. `--check` compares both ways on items of every type.

Usage: python moto_serial.py [--host 127.0.0.1] --port PORT
       python moto_serial.py --check
"""

import argparse
import base64
import bisect
import copy
import json
import signal
import sys
import threading

import moto
import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.core.responses import ActionResult
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from waitress import serve


class _TableCopyIsSnapshot:
    """Stands in for the `copy` module inside moto's DynamoDB backend: a deep
    copy of a whole Table is skipped (transactions snapshot their own items,
    below); every other copy is a real one."""

    @staticmethod
    def deepcopy(value, memo=None):
        if isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)

    def __getattr__(self, name):
        return getattr(copy, name)


def _item_key(table, op):
    key = op.get("Key") or op.get("Item") or {}
    hash_value = DynamoType(key[table.hash_key_attr])
    range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    return hash_value, range_value


# Each partition's string sort keys in order, kept in step with every put
# and delete (a rolled-back transaction drops it, to be sorted again).
_ORDER = {}


def _forget(table, hash_value):
    _ORDER.pop((id(table), hash_value), None)


def _in_order(table, hash_value, partition):
    """The partition's string sort keys, sorted: (values, keys)."""
    order = _ORDER.get((id(table), hash_value))
    if order is None:
        pairs = sorted((k.value, k) for k in partition if isinstance(k.value, str))
        order = ([v for v, _ in pairs], [k for _, k in pairs])
        _ORDER[(id(table), hash_value)] = order
    return order


def _note(table, hash_value, range_value, present):
    """Keeps a partition's order in step with one key added or removed."""
    order = _ORDER.get((id(table), hash_value))
    if order is None or range_value is None:
        return
    if not isinstance(range_value.value, str):
        _forget(table, hash_value)
        return
    values, keys = order
    at = bisect.bisect_left(values, range_value.value)
    listed = at < len(values) and values[at] == range_value.value
    if present and not listed:
        values.insert(at, range_value.value)
        keys.insert(at, range_value)
    elif not present and listed:
        del values[at]
        del keys[at]


_moto_put = Table.put_item
_moto_delete = Table.delete_item


def put_item(self, item_attrs, *args, **kwargs):
    item = _moto_put(self, item_attrs, *args, **kwargs)
    if self.range_key_attr and self.range_key_attr in item_attrs:
        _note(self, DynamoType(item_attrs[self.hash_key_attr]),
              DynamoType(item_attrs[self.range_key_attr]), True)
    return item


def delete_item(self, hash_key, range_key):
    item = _moto_delete(self, hash_key, range_key)
    if item is not None:
        _note(self, hash_key, range_key, False)
    return item


def _restore(table, hash_value, range_value, saved):
    _forget(table, hash_value)
    if table.range_key_attr:
        partition = table.items[hash_value]
        if saved is None:
            partition.pop(range_value, None)
        else:
            partition[range_value] = saved
    elif saved is None:
        table.items.pop(hash_value, None)
    else:
        table.items[hash_value] = saved


_moto_transact = DynamoDBBackend.transact_write_items


def transact_write_items(self, transact_items):
    saved = []
    for entry in transact_items:
        try:
            _, op = next(iter(entry.items()))
            table = self.tables[op["TableName"]]
            hash_value, range_value = _item_key(table, op)
            current = table.get_item(hash_value, range_value)
        except Exception:  # moto rejects this entry itself, before changing it
            continue
        saved.append((table, hash_value, range_value, copy.deepcopy(current)))
    try:
        return _moto_transact(self, transact_items)
    except Exception:
        for table, hash_value, range_value, item in reversed(saved):
            _restore(table, hash_value, range_value, item)
        raise


_moto_query = Table.query


def _arg(args, kwargs, position, name):
    return kwargs[name] if name in kwargs else (args[position] if len(args) > position else None)


def _in_range(self, hash_key, partition, args, kwargs):
    """The partition's items a `begins_with` query can answer from, in the
    query's order, from its start key on, and (without a filter) no more than
    one beyond its limit: moto then finds the same page and the same next
    key among them as among the whole partition. Other queries get every
    item of the partition."""
    comparison = _arg(args, kwargs, 0, "range_comparison")
    objs = _arg(args, kwargs, 1, "range_objs") or []
    if str(comparison).upper() not in ("BEGINS_WITH", "BEGINS WITH") or not objs:
        return list(partition.values())
    prefix = objs[0].value
    if not isinstance(prefix, str):
        return list(partition.values())
    values, keys = _in_order(self, hash_key, partition)
    low = bisect.bisect_left(values, prefix)
    high = bisect.bisect_left(values, prefix + "\U0010ffff")
    forward = _arg(args, kwargs, 4, "scan_index_forward") is not False
    start = (_arg(args, kwargs, 3, "exclusive_start_key") or {}).get(self.range_key_attr)
    if isinstance(start, dict) and isinstance(start.get("S"), str):
        if forward:
            low = max(low, bisect.bisect_right(values, start["S"]))
        else:
            high = min(high, bisect.bisect_left(values, start["S"]))
    limit = _arg(args, kwargs, 2, "limit")
    # moto's stand-in for "no filter" is an OpDefault.
    no_filter = type(_arg(args, kwargs, 8, "filter_expression")).__name__ in ("NoneType", "OpDefault")
    if limit and no_filter:
        if forward:
            high = min(high, low + int(limit) + 1)
        else:
            low = max(low, high - int(limit) - 1)
    return [partition[k] for k in keys[low:high] if k in partition]


def query(self, hash_key, *args, **kwargs):
    index_name = kwargs["index_name"] if "index_name" in kwargs else (args[6] if len(args) > 6 else None)
    if index_name is None:
        if self.range_key_attr:
            items = _in_range(self, hash_key, self.items[hash_key], args, kwargs) if hash_key in self.items else []
        else:
            items = [self.items[hash_key]] if hash_key in self.items else []
    else:
        items = [
            item
            for partition in self.items.values()
            for item in (partition.values() if self.range_key_attr else [partition])
        ]
    self.all_items = lambda: items
    try:
        return _moto_query(self, hash_key, *args, **kwargs)
    finally:
        del self.all_items


# The members of an answer that hold items, per DynamoDB operation.
_ITEM_MEMBERS = {
    "Query": ("Items",),
    "Scan": ("Items",),
    "GetItem": ("Item",),
    "BatchGetItem": ("Responses",),
}
_serialize_with_model = ActionResult.execute_result


def _wire(value):
    """An attribute value (or a structure of them) as DynamoDB writes it."""
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_wire(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def execute_result(self, context):
    members = ()
    if context.service_model.service_name == "dynamodb":
        members = _ITEM_MEMBERS.get(context.operation_model.name, ())
    result = self.result
    if not members or not isinstance(result, dict) or not any(m in result for m in members):
        return _serialize_with_model(self, context)
    held = {m: result[m] for m in members if m in result}
    self._result = {k: v for k, v in result.items() if k not in held}
    try:
        status, headers, body = _serialize_with_model(self, context)
    finally:
        self._result = result
    answer = json.loads(body) if body else {}
    answer.update({m: _wire(v) for m, v in held.items()})
    return status, headers, json.dumps(answer, separators=(",", ":"))


def patch():
    dynamodb_models.copy = _TableCopyIsSnapshot()
    DynamoDBBackend.transact_write_items = transact_write_items
    Table.query = query
    Table.put_item = put_item
    Table.delete_item = delete_item
    ActionResult.execute_result = execute_result


def check() -> None:
    """Items of every attribute type read back the same through moto's
    serializer and through the plain JSON above (in process, no server)."""
    import boto3
    from moto import mock_aws

    item = {
        "PK": {"S": "P#1"}, "SK": {"S": "DOC#a#1"}, "s": {"S": "text \u00e9 \"q\""},
        "n": {"N": "-12.50"}, "b": {"B": b"\x00\xffbytes"}, "t": {"BOOL": True},
        "z": {"NULL": True}, "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2.5"]},
        "bs": {"BS": [b"\x01", b"\x02"]}, "l": {"L": [{"S": "x"}, {"N": "1"}, {"B": b"\x03"}]},
        "m": {"M": {"in": {"M": {"deep": {"L": [{"BOOL": False}]}}}, "e": {"S": ""}}},
    }
    answers = []
    for fast in (False, True):
        ActionResult.execute_result = execute_result if fast else _serialize_with_model
        with mock_aws():
            ddb = boto3.client("dynamodb", region_name="us-east-1")
            ddb.create_table(
                TableName="T",
                KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
                AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                                      {"AttributeName": "SK", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            ddb.put_item(TableName="T", Item=item)
            ddb.put_item(TableName="T", Item={"PK": {"S": "P#1"}, "SK": {"S": "DOC#a#2"}})
            key = {"PK": item["PK"], "SK": item["SK"]}
            got = [
                ddb.get_item(TableName="T", Key=key)["Item"],
                ddb.get_item(TableName="T", Key={"PK": {"S": "none"}, "SK": {"S": "none"}}).get("Item"),
                ddb.query(TableName="T", KeyConditionExpression="PK = :p AND begins_with(SK, :s)", Limit=1,
                          ExpressionAttributeValues={":p": {"S": "P#1"}, ":s": {"S": "DOC#"}}),
                ddb.scan(TableName="T")["Items"],
                ddb.batch_get_item(RequestItems={"T": {"Keys": [key]}})["Responses"],
            ]
            for answer in got:
                if isinstance(answer, dict):
                    answer.pop("ResponseMetadata", None)
            answers.append(got)
    ActionResult.execute_result = execute_result
    if answers[0] != answers[1]:
        raise SystemExit(f"plain JSON differs from moto's serializer:\n{answers[0]}\n{answers[1]}")
    print("moto_serial: items read back the same both ways")


def serialized(dispatch, dynamodb):
    lock = threading.Lock()

    def handle(environ, start_response):
        app = dynamodb if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_") else dispatch
        with lock:
            # Materialise the body inside the lock: the work happens here.
            return [b"".join(app(environ, start_response))]

    return handle


# The moto release the patches above were written against: they replace
# moto internals, and another release could turn one into a silent no-op.
MOTO_VERSION = "5.2.5"


def main() -> None:
    if moto.__version__ != MOTO_VERSION:
        sys.exit(f"moto_serial.py patches moto {MOTO_VERSION}; found {moto.__version__}. "
                 "Install the locked tools (./setup.sh) or re-check the patches against this release.")
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int)
    parser.add_argument("--check", action="store_true", help="compare the item JSON with moto's and exit")
    args = parser.parse_args()
    patch()
    if args.check:
        check()
        return
    if args.port is None:
        parser.error("--port is required")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    app = serialized(DomainDispatcherApplication(create_backend_app), create_backend_app("dynamodb"))
    serve(app, host=args.host, port=args.port, threads=8, channel_timeout=600, ident=None, _quiet=True)


if __name__ == "__main__":
    main()
