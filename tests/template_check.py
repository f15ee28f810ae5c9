"""Checks on template.yaml that cfn-lint does not make for SAM templates.

- every Ref / GetAtt / ${...} names a parameter, resource, pseudo parameter,
  a resource SAM generates, or a variable of its own Sub;
- the API function sets every environment variable the code reads
  (`ENV_VARS` in src/context.rs) and the S3 event function the ones it needs;
- the table declares every index the code queries (src/keys.rs);
- no IAM statement allows dynamodb:Scan or a wildcard resource;
- the distribution serves signed URLs only (a trusted key group holding the
  key the API signs with) and the API may read that key's private half;
- no role may change or remove a ledger entry, the table has deletion
  protection, and a deploy without an issuer is refused unless anonymous
  access is asked for (never in prod);
- the table is exported on a schedule into a bucket that locks every
  export in compliance mode for at least six years.

Prints a closing "N passed, M failed" line and exits non-zero on failure.
"""

import re
import sys
from pathlib import Path

from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parent.parent
PSEUDO = {
    "AWS::AccountId", "AWS::Region", "AWS::Partition", "AWS::StackName",
    "AWS::StackId", "AWS::URLSuffix", "AWS::NoValue", "AWS::NotificationARNs",
}
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"))


def walk(node, found, sub_locals=frozenset()):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref":
                found.append(("Ref", value, sub_locals))
            elif key == "Fn::GetAtt":
                target = value[0] if isinstance(value, list) else str(value).split(".")[0]
                found.append(("GetAtt", target, sub_locals))
            elif key == "Fn::Sub":
                text, local = (value[0], value[1]) if isinstance(value, list) else (value, {})
                names = frozenset(local.keys()) | sub_locals
                for var in re.findall(r"\$\{([^}!]+)\}", text):
                    found.append(("Sub", var.split(".")[0], names))
                walk(local, found, sub_locals)
                continue
            walk(value, found, sub_locals)
    elif isinstance(node, list):
        for item in node:
            walk(item, found, sub_locals)


def main():
    template = cfn_yaml.load(str(ROOT / "template.yaml"))
    params = set(template.get("Parameters", {}))
    resources = template.get("Resources", {})
    generated = set()
    for name, res in resources.items():
        if res.get("Type") == "AWS::Serverless::Function":
            generated |= {f"{name}Role", f"{name}Url"}
    known = params | set(resources) | PSEUDO | generated

    refs = []
    walk(resources, refs)
    walk(template.get("Outputs", {}), refs)
    walk(template.get("Conditions", {}), refs)
    bad = sorted({f"{kind} {name}" for kind, name, local in refs if name not in known and name not in local})
    check(f"{len(refs)} references name defined things", not bad, ", ".join(bad))

    context = (ROOT / "src/context.rs").read_text()
    block = re.search(r"pub const ENV_VARS: \[&str; \d+\] = \[(.*?)\];", context, re.S)
    env_vars = re.findall(r'"([A-Z_]+)"', block.group(1)) if block else []
    check("ENV_VARS found in src/context.rs", bool(env_vars))
    api_env = resources["ApiFunction"]["Properties"]["Environment"]["Variables"]
    missing = [v for v in env_vars if v not in api_env]
    check("ApiFunction sets every variable the code reads", not missing, ", ".join(missing))
    events_env = resources["S3EventsFunction"]["Properties"]["Environment"]["Variables"]
    missing = [v for v in ("TABLE_NAME", "FILES_BUCKET") if v not in events_env]
    check("S3EventsFunction sets its table and bucket", not missing, ", ".join(missing))

    keys_rs = (ROOT / "src/keys.rs").read_text()
    wanted = re.findall(r'pub const (?:GSI\d|LSI_CUR_MRN): &str = "([^"]+)"', keys_rs)
    table = resources["Table"]["Properties"]
    declared = {i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])}
    declared |= {i["IndexName"] for i in table.get("LocalSecondaryIndexes", [])}
    missing = [i for i in wanted if i not in declared]
    check(f"table declares the {len(wanted)} indexes the code queries", bool(wanted) and not missing, ", ".join(missing))

    statements = []
    for name, res in resources.items():
        for policy in res.get("Properties", {}).get("Policies", []) or []:
            if isinstance(policy, dict):
                # SAM's inline statements, or an IAM role's policy documents
                document = policy.get("PolicyDocument", policy)
                statements += [(name, s) for s in document.get("Statement", [])]
    scans = [n for n, s in statements if "dynamodb:Scan" in str(s.get("Action"))]
    check("no IAM statement allows dynamodb:Scan", not scans, ", ".join(scans))
    wild = [n for n, s in statements if s.get("Resource") == "*" or s.get("Resource") == ["*"]]
    check("no IAM statement uses a wildcard resource", not wild, ", ".join(wild))

    behavior = resources["Distribution"]["Properties"]["DistributionConfig"]["DefaultCacheBehavior"]
    groups = [g.get("Ref") for g in behavior.get("TrustedKeyGroups", [])]
    group_keys = [
        k.get("Ref")
        for g in groups if g in resources
        for k in resources[g]["Properties"]["KeyGroupConfig"]["Items"]
    ]
    signing_key = api_env.get("CDN_KEY_PAIR_ID", {}).get("Ref")
    check("the distribution trusts a key group holding the API's signing key",
          bool(groups) and signing_key in group_keys and
          resources.get(signing_key, {}).get("Type") == "AWS::CloudFront::PublicKey",
          f"groups {groups}, keys {group_keys}, API key {signing_key}")
    ssm = [s for n, s in statements if n == "ApiFunction" and s.get("Action") == "ssm:GetParameter"]
    check("the API may read the signing key's parameter, and only it",
          len(ssm) == 1 and "CdnPrivateKeyParameter" in str(ssm[0].get("Resource")), str(ssm))

    for fn in ("ApiFunction", "S3EventsFunction"):
        deny = [s for n, s in statements if n == fn and s.get("Effect") == "Deny"
                and "AUDIT#*" in str(s.get("Condition"))
                and {"dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
                <= set(s.get("Action", []))]
        check(f"{fn} may not change or remove a ledger entry", len(deny) == 1, str(deny))
    table = resources.get("Table", {}).get("Properties", {})
    check("the table has deletion protection and point-in-time recovery",
          table.get("DeletionProtectionEnabled") is True
          and table.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled") is True)
    rules = template.get("Rules", {})
    auth_rule = rules.get("AuthenticationRequired", {})
    check("a deploy without an issuer needs AllowAnonymousAccess=true",
          "AuthIssuer" in str(auth_rule.get("RuleCondition")) and
          "AllowAnonymousAccess" in str(auth_rule.get("Assertions")) and
          template.get("Parameters", {}).get("AllowAnonymousAccess", {}).get("Default") == "false",
          str(auth_rule))
    audience_rule = rules.get("AudienceWithIssuer", {})
    check("an issuer needs an audience",
          "AuthIssuer" in str(audience_rule.get("RuleCondition")) and
          "AuthAudience" in str(audience_rule.get("Assertions")), str(audience_rule))
    reserved = resources["ApiFunction"]["Properties"].get("ReservedConcurrentExecutions")
    check("the API's concurrency is bounded by a parameter",
          reserved == {"Ref": "ReservedConcurrency"} and "ReservedConcurrency" in params, str(reserved))
    globals_fn = template.get("Globals", {}).get("Function", {})
    check("both functions are traced (X-Ray)", globals_fn.get("Tracing") == "Active", str(globals_fn.get("Tracing")))
    on_failure = (resources["S3EventsFunction"]["Properties"].get("EventInvokeConfig", {})
                  .get("DestinationConfig", {}).get("OnFailure", {}))
    dlq = on_failure.get("Destination", {}).get("Fn::GetAtt", [None])[0]
    check("a failed ingest event goes to a dead-letter queue",
          on_failure.get("Type") == "SQS" and resources.get(dlq, {}).get("Type") == "AWS::SQS::Queue", str(on_failure))
    alarms = {n: r["Properties"] for n, r in resources.items() if r.get("Type") == "AWS::CloudWatch::Alarm"}
    watched = {a.get("MetricName") for a in alarms.values()}
    wanted = {"ServerErrors", "Latency", "Throttles", "IngestFailed", "ApproximateNumberOfMessagesVisible"}
    check("alarms on 5xx, p99 latency, throttles, ingest failures and the dead letters",
          wanted <= watched, f"missing {sorted(wanted - watched)}")
    check("every alarm notifies the topic given", all("AlarmTopicArn" in str(a.get("AlarmActions")) for a in alarms.values()))
    check("a dashboard of the request metrics",
          any(r.get("Type") == "AWS::CloudWatch::Dashboard" and "ServerErrors" in str(r["Properties"].get("DashboardBody"))
              for r in resources.values()))
    groups = [r["Properties"] for r in resources.values() if r.get("Type") == "AWS::Logs::LogGroup"]
    check("log retention is a parameter",
          groups and all(g.get("RetentionInDays") == {"Ref": "LogRetentionDays"} for g in groups), str(groups))
    check("an existing table can be taken over (the stack then creates none)",
          resources["Table"].get("Condition") == "CreateTable"
          and "ExistingTableName" in str(template.get("Conditions", {}).get("CreateTable")))
    check("an existing bucket can be taken over (the stack then creates none)",
          resources["FilesBucket"].get("Condition") == "CreateBucket"
          and "UseExistingBucket" in str(template.get("Conditions", {}).get("CreateBucket")))
    check("a created table's name follows the stage",
          "StageName" in str(resources["Table"]["Properties"].get("TableName")))
    check("a prod stage never allows anonymous access",
          "prod" in str(rules.get("NoAnonymousProduction", {}).get("RuleCondition")))
    exports = resources.get("LedgerExportBucket", {}).get("Properties", {})
    retention = exports.get("ObjectLockConfiguration", {}).get("Rule", {}).get("DefaultRetention", {})
    params_all = template.get("Parameters", {})
    days = params_all.get("LedgerRetentionDays", {})
    check("exports are locked in compliance mode for at least six years",
          exports.get("ObjectLockEnabled") is True and retention.get("Mode") == "COMPLIANCE"
          and retention.get("Days") == {"Ref": "LedgerRetentionDays"}
          and days.get("MinValue", 0) >= 2192 and days.get("Default", 0) >= 2192, str(retention))
    schedule = resources.get("LedgerExport", {}).get("Properties", {})
    check("a schedule exports the table into that bucket",
          "exportTableToPointInTime" in str(schedule.get("Target", {}).get("Arn"))
          and "LedgerExportBucket" in str(schedule.get("Target", {}).get("Input")), str(schedule))
    export_actions = [str(s.get("Action")) for n, s in statements if n == "LedgerExportRole"]
    check("the export's role may start exports and write them, nothing else",
          bool(export_actions) and not any("Delete" in a or "Get" in a or "*" in a for a in export_actions),
          ", ".join(export_actions))

    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
