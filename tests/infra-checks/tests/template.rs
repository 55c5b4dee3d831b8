//! The repository's template passes every check, and each check catches the breakage it exists for (shown on an
//! edited copy of the same template).

use infra_checks::*;

fn template() -> Template {
    Template::load_default().expect("infra/template.yaml parses")
}

/// The template with `from` replaced by `to` (which must occur).
fn edited(from: &str, to: &str) -> Template {
    let t = template();
    assert!(
        t.text.contains(from),
        "the template no longer contains {from:?}"
    );
    Template::parse(&t.text.replacen(from, to, 1)).expect("edited template parses")
}

fn documented_routes() -> std::collections::BTreeSet<(String, String)> {
    let path = workspace_root().join("docs/openapi.yaml");
    let text = std::fs::read_to_string(&path).expect("docs/openapi.yaml is readable");
    openapi_routes(&text).expect("docs/openapi.yaml parses")
}

fn assert_clean(problems: Vec<String>) {
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn assert_flags(problems: Vec<String>, needle: &str) {
    assert!(
        problems.iter().any(|p| p.contains(needle)),
        "expected a problem mentioning {needle:?}, got {problems:#?}"
    );
}

#[test]
fn every_function_binary_is_a_bin_crate_under_functions_in_the_workspace() {
    let packages = workspace_packages(&workspace_root()).expect("cargo metadata runs");
    let t = template();
    assert_eq!(t.functions().len(), 11, "one function per handler");
    assert_clean(check_handlers(&t, &packages));

    let renamed = edited("Binary: read-api", "Binary: read-apis");
    assert_flags(
        check_handlers(&renamed, &packages),
        "read-apis is not a bin target",
    );
    // A bin that exists but outside functions/ (the simulator) is no handler.
    let simulator = edited("Binary: read-api", "Binary: s1-simulator");
    assert_flags(
        check_handlers(&simulator, &packages),
        "not from a crate under functions/",
    );
    let no_root = edited("CodeUri: ..", "CodeUri: ../functions/read-api");
    assert_flags(
        check_handlers(&no_root, &packages),
        "CodeUri is not the workspace root",
    );
    let x86 = edited("Architectures: [arm64]", "Architectures: [x86_64]");
    assert_flags(
        check_handlers(&x86, &packages),
        "Architectures is not [arm64]",
    );
}

#[test]
fn every_route_is_served_by_one_function_and_matches_the_api_document() {
    let t = template();
    let documented = documented_routes();
    assert_eq!(t.routes().len(), documented.len());
    assert_clean(check_routes(&t, &documented));

    let dropped = edited(
        "Path: /v1/integrations/sentinelone/findings",
        "Path: /v1/integrations/sentinelone/finding",
    );
    let problems = check_routes(&dropped, &documented);
    assert_flags(
        problems.clone(),
        "GET /v1/integrations/sentinelone/findings is in the API document",
    );
    assert_flags(
        problems,
        "GET /v1/integrations/sentinelone/finding is routed in the template",
    );
    let outside = edited("Path: /v1/custom-fields/{name}", "Path: /admin/{name}");
    assert_flags(
        check_routes(&outside, &documented),
        "outside the API prefixes",
    );
    let greedy = edited(
        "Path: /v1/custom-fields/{name}",
        "Path: /v1/custom-fields/{name+}",
    );
    assert_flags(check_routes(&greedy, &documented), "non-greedy segment");
    let twice = edited(
        "Method: DELETE\n            Path: /v1/integrations/sentinelone/config",
        "Method: PUT\n            Path: /v1/integrations/sentinelone/config",
    );
    assert_flags(
        check_routes(&twice, &documented),
        "routed to more than one function",
    );
}

#[test]
fn every_route_has_a_local_invocation_fixture_in_its_function() {
    let t = template();
    assert_clean(check_fixtures(&t, &workspace_root()));

    // Routing disconnect's route to save-config: save-config has no fixture for it.
    let moved = edited("Binary: disconnect", "Binary: save-config");
    assert_flags(
        check_fixtures(&moved, &workspace_root()),
        "save-config serves DELETE /v1/integrations/sentinelone/config but",
    );
    // A renamed route leaves read-api's fixture pointing at a route the template no longer has.
    let renamed = edited(
        "Path: /v1/integrations/sentinelone/findings",
        "Path: /v1/integrations/sentinelone/finding-list",
    );
    assert_flags(
        check_fixtures(&renamed, &workspace_root()),
        "routeKey GET /v1/integrations/sentinelone/findings, which the template does not route to read-api",
    );
}

#[test]
fn the_only_schedule_is_daily_at_01_15_utc_on_the_scheduled_sync() {
    let t = template();
    assert_eq!(
        t.schedules(),
        vec![("ScheduledSyncFunction".to_string(), SCHEDULE.to_string())]
    );
    assert_clean(check_schedule(&t));

    let local_time = edited(
        "Schedule: cron(15 1 * * ? *)",
        "Schedule: cron(15 1 ? * MON-FRI *)",
    );
    assert_flags(check_schedule(&local_time), "is not \"cron(15 1 * * ? *)\"");
    let rate = edited("Schedule: cron(15 1 * * ? *)", "Schedule: rate(1 day)");
    assert_flags(check_schedule(&rate), "rate(1 day)");
}

#[test]
fn secrets_access_stays_within_the_connector_prefix_and_the_page_token_key() {
    let t = template();
    assert_eq!(
        t.secret_prefix_arn().as_deref(),
        Some("!Sub arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:s1-connector/${AWS::StackName}/*")
    );
    assert_clean(check_secrets(&t));

    let account_wide = edited(":secret:s1-connector/${AWS::StackName}/*\"", ":secret:*\"");
    assert_flags(
        check_secrets(&account_wide),
        "outside the connector's prefix",
    );
    let other_stack = edited(
        ":secret:s1-connector/${AWS::StackName}/*\"",
        ":secret:s1-connector/*\"",
    );
    assert_flags(
        check_secrets(&other_stack),
        "outside the connector's prefix",
    );
    let wildcard = edited(
        "Action: [secretsmanager:DeleteSecret]",
        "Action: [\"secretsmanager:*\"]",
    );
    assert_flags(check_secrets(&wildcard), "wildcard action secretsmanager:*");
    let write_key = edited(
        "Action: [secretsmanager:GetSecretValue]\n                Resource: !Ref PageTokenSecret",
        "Action: [secretsmanager:PutSecretValue]\n                Resource: !Ref PageTokenSecret",
    );
    assert_flags(
        check_secrets(&write_key),
        "the page-token key may only be read",
    );
    // Another role reading the page-token key, or another function told where it is, is flagged.
    let other_reader = edited(
        "Resource: !GetAtt DisconnectLogs.Arn\n",
        "Resource: !GetAtt DisconnectLogs.Arn\n              - Sid: PageTokenKey\n                Effect: Allow\n                Action: [secretsmanager:GetSecretValue]\n                Resource: !Ref PageTokenSecret\n",
    );
    assert_flags(
        check_secrets(&other_reader),
        "DisconnectRole/PageTokenKey: only the role of read-api may read the page-token key",
    );
    let everyone_told = edited(
        "        TENANT_CLAIM: !Ref TenantClaim\n",
        "        TENANT_CLAIM: !Ref TenantClaim\n        PAGE_TOKEN_SECRET_ARN: !Ref PageTokenSecret\n",
    );
    assert_flags(
        check_secrets(&everyone_told),
        "SyncWorkerFunction: PAGE_TOKEN_SECRET_ARN is set, but only read-api serves page tokens",
    );
    // The environment's prefix and the policy's must move together.
    let prefix_moved = edited(
        "SECRET_PREFIX: !Sub \"s1-connector/${AWS::StackName}/\"",
        "SECRET_PREFIX: !Sub \"s1/${AWS::StackName}/\"",
    );
    assert_flags(
        check_secrets(&prefix_moved),
        "outside the connector's prefix",
    );
}

#[test]
fn no_statement_has_a_star_resource_or_action_without_an_allow_listed_reason() {
    let t = template();
    assert_clean(check_star_resources(&t));
    let stars: Vec<_> = t
        .statements()
        .into_iter()
        .filter(|s| s.resources.iter().any(|r| r == "*"))
        .collect();
    assert_eq!(
        stars.len(),
        t.functions().len(),
        "one X-Ray statement per role and no other \"*\""
    );

    let star_table = edited("Resource: !GetAtt ConnectorTable.Arn", "Resource: \"*\"");
    assert_flags(
        check_star_resources(&star_table),
        "on Resource \"*\" without an allow-listed reason",
    );
    let star_action = edited("Action: [dynamodb:GetItem]", "Action: [\"dynamodb:*\"]");
    assert_flags(
        check_star_resources(&star_action),
        "wildcard action dynamodb:*",
    );
}

#[test]
fn every_function_has_its_own_role_scoped_to_its_own_log_group() {
    let t = template();
    assert_clean(check_roles(&t));

    let shared = edited(
        "Role: !GetAtt ReadApiRole.Arn",
        "Role: !GetAtt TestConnectionRole.Arn",
    );
    assert_flags(check_roles(&shared), "is shared by");
    let sam_role = edited(
        "      Role: !GetAtt ReadApiRole.Arn\n",
        "      Policies:\n        - DynamoDBReadPolicy:\n            TableName: !Ref ConnectorTable\n",
    );
    let problems = check_roles(&sam_role);
    assert_flags(problems.clone(), "ReadApiFunction: SAM Policies");
    assert_flags(problems, "ReadApiFunction: no explicit Role");
    let other_logs = edited(
        "Resource: !GetAtt ReadApiLogs.Arn",
        "Resource: !GetAtt SyncWorkerLogs.Arn",
    );
    assert_flags(
        check_roles(&other_logs),
        "log permissions beyond ReadApiLogs",
    );
}

#[test]
fn the_connection_test_can_write_nothing() {
    let t = template();
    assert_clean(check_read_only(&t, "test-connection"));
    // The same check on a function that writes shows it would catch a write.
    assert_flags(
        check_read_only(&t, "disconnect"),
        "secretsmanager:DeleteSecret is not a read",
    );
}

#[test]
fn dynamodb_access_names_the_table_or_an_existing_index() {
    let t = template();
    assert_clean(check_dynamodb_resources(&t));

    let all_indexes = edited(
        "${ConnectorTable.Arn}/index/due",
        "${ConnectorTable.Arn}/index/*",
    );
    assert_flags(
        check_dynamodb_resources(&all_indexes),
        "neither the table nor one of its indexes",
    );
    let write_index = edited(
        "Action: [dynamodb:Query]\n                Resource: !Sub \"${ConnectorTable.Arn}/index/gsi1\"",
        "Action: [dynamodb:Query, dynamodb:PutItem]\n                Resource: !Sub \"${ConnectorTable.Arn}/index/gsi1\"",
    );
    assert_flags(
        check_dynamodb_resources(&write_index),
        "only needs dynamodb:Query",
    );
}

#[test]
fn queue_visibility_covers_six_worker_timeouts_and_the_margin_fits_the_timeout() {
    let t = template();
    assert_clean(check_queue_timing(&t));

    let short_visibility = edited("VisibilityTimeout: 5400", "VisibilityTimeout: 5399");
    assert_flags(
        check_queue_timing(&short_visibility),
        "below 6 x the worker's 900 s timeout",
    );
    let margin = edited(
        "SYNC_SAFETY_MARGIN_SECS: \"60\"",
        "SYNC_SAFETY_MARGIN_SECS: \"900\"",
    );
    assert_flags(check_queue_timing(&margin), "below the 900 s timeout");
    let receives = edited("SYNC_MAX_RECEIVES: \"5\"", "SYNC_MAX_RECEIVES: \"3\"");
    assert_flags(
        check_queue_timing(&receives),
        "differs from the worker's SYNC_MAX_RECEIVES",
    );
}

#[test]
fn the_loopback_switch_appears_nowhere_in_the_template() {
    let t = template();
    assert_clean(check_no_loopback_switch(&t));

    let set = edited(
        "        TENANT_CLAIM: !Ref TenantClaim\n",
        "        TENANT_CLAIM: !Ref TenantClaim\n        S1_DEV_ALLOW_LOOPBACK: \"1\"\n",
    );
    assert_flags(
        check_no_loopback_switch(&set),
        "must not appear in the template",
    );
}

#[test]
fn only_the_console_files_are_served_outside_the_authorizer() {
    let t = template();
    assert_clean(check_public_routes(&t));
    assert_eq!(
        public_routes(&t).len(),
        3,
        "/console, /console/{{file}}, /console/screens/{{file}}"
    );

    // An API route that opts out of the authorizer is flagged.
    let open_api = edited(
        "            Path: /v1/integrations/sentinelone/assets\n",
        "            Path: /v1/integrations/sentinelone/assets\n            Auth:\n              Authorizer: NONE\n",
    );
    assert_flags(
        check_public_routes(&open_api),
        "GET /v1/integrations/sentinelone/assets (read-api) is outside the JWT authorizer",
    );
    // A console route left behind the authorizer could never load in a browser.
    let closed = edited(
        "            Path: /console\n            Auth:\n              Authorizer: NONE\n",
        "            Path: /console\n",
    );
    assert_flags(
        check_public_routes(&closed),
        "GET /console (console-assets) is a console route behind the JWT authorizer",
    );
    // The public function's role reading data is flagged.
    let reading = edited(
        "Action: [logs:CreateLogStream, logs:PutLogEvents]\n                Resource: !GetAtt ConsoleAssetsLogs.Arn",
        "Action: [logs:CreateLogStream, logs:PutLogEvents, dynamodb:GetItem]\n                Resource: !GetAtt ConsoleAssetsLogs.Arn",
    );
    assert_flags(
        check_public_routes(&reading),
        "may only log and trace, not dynamodb:GetItem",
    );
}

#[test]
fn every_api_function_applies_the_request_limit_on_the_rate_keys_only() {
    let t = template();
    assert_clean(check_request_limit(&t));

    // A role without the bucket statement could not admit a single request.
    let t2 = template();
    let read_api_role = t2.text.find("\n  ReadApiRole:\n").expect("ReadApiRole");
    let statement = t2.text[read_api_role..]
        .find("              - Sid: RequestLimit\n")
        .map(|i| i + read_api_role)
        .expect("ReadApiRole's RequestLimit");
    let end = t2.text[statement..]
        .find("              # Configuration, source marker")
        .map(|i| i + statement)
        .expect("the statement after it");
    let without =
        Template::parse(&format!("{}{}", &t2.text[..statement], &t2.text[end..])).expect("parses");
    assert_flags(
        check_request_limit(&without),
        "ReadApiFunction: its role ReadApiRole has no request-limit statement",
    );
    // Without its condition the statement would let a function rewrite any item.
    let unconditioned = edited(
        "                Condition:\n                  ForAllValues:StringLike:\n                    dynamodb:LeadingKeys: [\"RATE#*\"]\n",
        "",
    );
    assert_flags(
        check_request_limit(&unconditioned),
        "is not limited to the RATE#* keys",
    );
    let wider = edited(
        "dynamodb:LeadingKeys: [\"RATE#*\"]",
        "dynamodb:LeadingKeys: [\"RATE#*\", \"T#*\"]",
    );
    assert_flags(
        check_request_limit(&wider),
        "is not limited to the RATE#* keys",
    );
    // The connection test stays read-only apart from its bucket: an UpdateItem outside RATE# is caught.
    let test_writes = edited(
        "dynamodb:LeadingKeys: [\"RATE#*\"]",
        "dynamodb:LeadingKeys: [\"T#*\"]",
    );
    assert_flags(
        check_read_only(&test_writes, "test-connection"),
        "dynamodb:UpdateItem is not a read",
    );
}

#[test]
fn only_the_token_readers_may_decrypt_and_the_writer_encrypts_with_the_stack_key() {
    let t = template();
    assert_clean(check_token_key(&t));

    // A role that reads no token given Decrypt.
    let disconnect_decrypts = edited(
        "AWS: [!GetAtt TestConnectionRole.Arn, !GetAtt SaveConfigRole.Arn, !GetAtt SyncWorkerRole.Arn]",
        "AWS: [!GetAtt TestConnectionRole.Arn, !GetAtt SaveConfigRole.Arn, !GetAtt SyncWorkerRole.Arn, !GetAtt DisconnectRole.Arn]",
    );
    assert_flags(
        check_token_key(&disconnect_decrypts),
        "DisconnectRole may decrypt tokens but reads no tenant secret",
    );
    // The worker left out: it could not read the token it syncs with.
    let worker_left_out = edited(
        "AWS: [!GetAtt TestConnectionRole.Arn, !GetAtt SaveConfigRole.Arn, !GetAtt SyncWorkerRole.Arn]",
        "AWS: [!GetAtt TestConnectionRole.Arn, !GetAtt SaveConfigRole.Arn]",
    );
    assert_flags(
        check_token_key(&worker_left_out),
        "SyncWorkerRole reads tenant secrets but may not decrypt them",
    );
    // The account root allowed to decrypt (kms:* instead of the administration actions).
    let root_decrypts = edited(
        "Action: [kms:Create*, kms:Describe*",
        "Action: [\"kms:*\", kms:Create*, kms:Describe*",
    );
    assert_flags(
        check_token_key(&root_decrypts),
        "which is not a role of this stack",
    );
    // Decrypt outside Secrets Manager.
    let direct = edited(
        "            Action: [kms:Decrypt]\n            Resource: \"*\"\n            Condition:\n              StringEquals:\n                kms:ViaService: !Sub \"secretsmanager.${AWS::Region}.amazonaws.com\"\n",
        "            Action: [kms:Decrypt]\n            Resource: \"*\"\n",
    );
    assert_flags(
        check_token_key(&direct),
        "without the kms:ViaService condition",
    );
    // Secrets written without the key.
    let no_key = edited("          TOKEN_KMS_KEY_ID: !GetAtt TokenKey.Arn\n", "");
    assert_flags(
        check_token_key(&no_key),
        "SaveConfigFunction: writes tenant secrets but TOKEN_KMS_KEY_ID does not name TokenKey",
    );
    let unrotated = edited("EnableKeyRotation: true", "EnableKeyRotation: false");
    assert_flags(check_token_key(&unrotated), "EnableKeyRotation is not true");
    // A second writer of tenant secrets must be able to encrypt.
    let disconnect_writes = edited(
        "Action: [secretsmanager:DeleteSecret]",
        "Action: [secretsmanager:DeleteSecret, secretsmanager:UpdateSecret]",
    );
    assert_flags(
        check_token_key(&disconnect_writes),
        "DisconnectRole writes tenant secrets but may not encrypt them",
    );
}

#[test]
fn every_index_the_store_reads_exists_as_it_expects_and_the_views_may_query_it() {
    let t = template();
    assert_clean(check_store_indexes(&t));

    let full_projection = edited(
        "- IndexName: open_vulnerabilities\n          KeySchema:\n            - AttributeName: vopen_pk\n              KeyType: HASH\n            - AttributeName: vopen_sk\n              KeyType: RANGE\n          Projection:\n            ProjectionType: KEYS_ONLY",
        "- IndexName: open_vulnerabilities\n          KeySchema:\n            - AttributeName: vopen_pk\n              KeyType: HASH\n            - AttributeName: vopen_sk\n              KeyType: RANGE\n          Projection:\n            ProjectionType: ALL",
    );
    assert_flags(
        check_store_indexes(&full_projection),
        "index open_vulnerabilities must project KEYS_ONLY",
    );
    let undefined = edited(
        "        - AttributeName: vopen_sk\n          AttributeType: S\n",
        "",
    );
    assert_flags(
        check_store_indexes(&undefined),
        "attribute vopen_sk is not defined as a string",
    );
    let renamed = edited("IndexName: open_vulnerabilities", "IndexName: open_vulns");
    assert_flags(
        check_store_indexes(&renamed),
        "index open_vulnerabilities is missing",
    );
    let not_granted = edited(
        "                  - !Sub \"${ConnectorTable.Arn}/index/open_vulnerabilities\"\n",
        "",
    );
    assert_flags(
        check_store_indexes(&not_granted),
        "cannot Query index open_vulnerabilities",
    );
}
