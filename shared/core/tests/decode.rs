//! Page decoding: lenient per field, strict on identity, malformed pages reported without body content.

mod common;

use common::*;
use s1_core::records::{
    decode_agents_page, decode_groups_page, decode_threats_page, MachineType, OsType, SkipReason,
};
use s1_core::AnalystVerdict;
use serde_json::{json, Value};

fn elastic_agent() -> Value {
    sample_records("agent_elastic_test_pipeline_agent.ndjson").remove(0)
}

fn threat_line(n: usize) -> Value {
    sample_records("threats_elastic_test_pipeline_threat_lines1-2.ndjson").remove(n)
}

#[test]
fn pagination_cursor_and_total() {
    let cases: &[(Value, Option<&str>, Option<u64>)] = &[
        (
            json!({"data": [], "pagination": {"nextCursor": "YWdlbnRfaWQ6NTgwMjkzODE=", "totalItems": 2}}),
            Some("YWdlbnRfaWQ6NTgwMjkzODE="),
            Some(2),
        ),
        (
            json!({"data": [], "pagination": {"nextCursor": null, "totalItems": 2}}),
            None,
            Some(2),
        ),
        (
            json!({"data": [], "pagination": {"nextCursor": "", "totalItems": 0}}),
            None,
            Some(0),
        ),
        (
            json!({"data": [], "pagination": {"nextCursor": "   "}}),
            None,
            None,
        ),
        (json!({"data": [], "pagination": null}), None, None),
        (json!({"data": []}), None, None),
        (json!({"data": [], "pagination": "weird"}), None, None),
        (
            json!({"data": [], "pagination": {"nextCursor": 12, "totalItems": "7"}}),
            Some("12"),
            Some(7),
        ),
        (
            json!({"data": [], "pagination": {"nextCursor": {}, "totalItems": -1}}),
            None,
            None,
        ),
    ];
    for (body, cursor, total) in cases {
        let page = decode_agents_page(body.to_string().as_bytes()).unwrap();
        assert_eq!(page.next_cursor.as_deref(), *cursor, "{body}");
        assert_eq!(page.total_items, *total, "{body}");
        assert!(page.records.is_empty());
    }
}

#[test]
fn malformed_pages_report_offset_without_body_content() {
    let secret = "SECRET-CONTENT-42";
    let cases: Vec<(String, usize)> = vec![
        (format!("{{\"data\": [{{\"id\": \"{secret}\"}}"), 0),
        (format!("[{{\"id\": \"{secret}\"}}]"), 0),
        (format!("  \"{secret}\""), 2),
        (String::new(), 0),
        (format!("{{\"data\": {{\"id\": \"{secret}\"}}}}"), 9),
        (format!("{{\"data\": \"{secret}\"}}"), 9),
        (format!("{{\"errors\": [{{\"title\": \"{secret}\"}}]}}"), 0),
        (format!("{{\"data\": null, \"x\": \"{secret}\"}}"), 0),
        (format!("{{\"data\": [], \"data\": [\"{secret}\"]}}"), 0),
        (format!("{{\"data\": [1,2,]\"{secret}\"}}"), 14),
        ("{\"data\": [\"\u{0}\"]}".to_owned(), 0),
    ];
    for (body, min_offset) in cases {
        let err = decode_agents_page(body.as_bytes()).expect_err(&body);
        let shown = err.to_string();
        assert!(!shown.contains(secret), "{shown}");
        assert!(!err.message.contains(secret));
        assert!(
            err.offset >= min_offset && err.offset <= body.len(),
            "{body}: {err:?}"
        );
    }
    // Invalid UTF-8 is malformed too, not a panic.
    assert!(decode_agents_page(b"{\"data\": [\"\xff\"]}").is_err());
    // The offset points at the problem: here the missing colon on the third line.
    let body = "{\"data\": [\n  {\"id\": \"1\"},\n  {\"id\" \"2\"}]}";
    let at = body.find("\"2\"").unwrap();
    let err = decode_agents_page(body.as_bytes()).unwrap_err();
    assert!(
        (at - 1..=at + 1).contains(&err.offset),
        "{err:?}, expected near {at}"
    );
}

#[test]
fn records_without_identity_are_skipped_and_named() {
    let mut no_name = elastic_agent();
    no_name["computerName"] = json!("   ");
    let mut placeholder_name = elastic_agent();
    placeholder_name["id"] = json!("2");
    placeholder_name["computerName"] = json!("None");
    let mut no_id = elastic_agent();
    no_id.as_object_mut().unwrap().remove("id");
    let good = elastic_agent();
    let body = page(&[
        json!(42),
        json!(["array"]),
        no_name,
        placeholder_name,
        no_id,
        good,
    ]);
    let page = decode_agents_page(&body).unwrap();
    assert_eq!(page.records.len(), 1);
    let skipped: Vec<_> = page
        .skipped
        .iter()
        .map(|s| (s.id.as_deref(), s.reason.clone()))
        .collect();
    assert_eq!(
        skipped,
        [
            (None, SkipReason::NotAnObject),
            (None, SkipReason::NotAnObject),
            (Some("13491234512345"), SkipReason::MissingComputerName),
            (Some("2"), SkipReason::MissingComputerName),
            (None, SkipReason::MissingId),
        ]
    );
    assert!(page.skipped[2].to_string().contains("13491234512345"));
}

#[test]
fn a_record_with_a_duplicated_key_is_skipped_not_the_page() {
    let body = br#"{"data": [{"id": "7", "computerName": "a", "computerName": "b"}, {"id": "8", "computerName": "c"}]}"#;
    let page = decode_agents_page(body).unwrap();
    assert_eq!(page.records.len(), 1);
    assert_eq!(page.records[0].id, "8");
    assert_eq!(page.skipped.len(), 1);
    assert_eq!(page.skipped[0].reason, SkipReason::Undecodable);
}

#[test]
fn fields_of_the_wrong_shape_become_unknown_and_are_counted() {
    let mut agent = elastic_agent();
    agent["domain"] = json!({});
    agent["osName"] = json!("None");
    agent["modelName"] = json!("boolean");
    agent["isActive"] = json!("True");
    agent["infected"] = json!("maybe");
    agent["isDecommissioned"] = json!("FALSE");
    agent["lastActiveDate"] = json!("yesterday");
    agent["updatedAt"] = json!("9999-12-31T23:59:59-01:00");
    agent["createdAt"] = json!("2022-03-18T10:12:00.5+01:00");
    agent["osType"] = json!("plan9");
    agent["machineType"] = json!("kubernetes node");
    agent["networkInterfaces"] = json!([{"inet": "10.0.0.1", "physical": 5}, "eth0", null]);
    agent["tags"] = json!({"sentinelone": [{"key": "k", "value": "v"}, 3]});
    let page = decode_agents_page(&page(&[agent])).unwrap();
    assert!(page.skipped.is_empty());
    let a = &page.records[0];
    assert_eq!(a.domain, None);
    assert_eq!(a.os_name, None);
    assert_eq!(a.model_name, None);
    assert_eq!(a.is_active, Some(true));
    assert_eq!(a.infected, None);
    assert_eq!(a.is_decommissioned, Some(false));
    assert_eq!(a.last_active_date, None);
    assert_eq!(
        a.updated_at, None,
        "a UTC instant past year 9999 is unknown, not a panic"
    );
    assert_eq!(
        a.created_at.map(|t| t.to_string()),
        Some("2022-03-18 9:12:00.5 +00:00:00".to_string())
    );
    assert_eq!(a.os_type, Some(OsType::Other("plan9".into())));
    assert_eq!(a.machine_type, Some(MachineType::KubernetesNode));
    assert_eq!(a.network_interfaces.len(), 1);
    assert!(a.network_interfaces[0].inet.is_empty());
    assert_eq!(a.tags.len(), 1);
    // domain, osName, modelName, infected, lastActiveDate, updatedAt, inet, "eth0", tag 3 (a numeric MAC is
    // kept as text and dropped later by MAC validation).
    assert_eq!(a.field_warnings, 9);
    assert_eq!(page.field_warnings, 9);
}

#[test]
fn ids_may_be_numbers_without_precision_loss() {
    let body = br#"{"data": [
        {"id": 657613730168123595, "computerName": "a", "groupId": 475482421375116388},
        {"id": 18446744073709551615, "computerName": "b"},
        {"id": 12.0, "computerName": "c"},
        {"id": 1.5, "computerName": "d"},
        {"id": 1e300, "computerName": "e"},
        {"id": -3, "computerName": 12345}
    ]}"#;
    let page = decode_agents_page(body).unwrap();
    let ids: Vec<_> = page.records.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(
        ids,
        ["657613730168123595", "18446744073709551615", "12", "-3"]
    );
    assert_eq!(
        page.records[0].group_id.as_deref(),
        Some("475482421375116388")
    );
    assert_eq!(page.records[3].computer_name, "12345");
    assert_eq!(page.skipped.len(), 2);
    assert!(page
        .skipped
        .iter()
        .all(|s| s.reason == SkipReason::MissingId));
}

#[test]
fn threats_need_only_an_id() {
    let mut falls_back = threat_line(0);
    falls_back.as_object_mut().unwrap().remove("id");
    let mut no_agent = threat_line(0);
    no_agent["id"] = json!("99");
    no_agent
        .as_object_mut()
        .unwrap()
        .remove("agentRealtimeInfo");
    let mut realtime_not_object = threat_line(1);
    realtime_not_object["id"] = json!("100");
    realtime_not_object["agentRealtimeInfo"] = json!("None");
    let page = decode_threats_page(&page(&[falls_back, no_agent, realtime_not_object])).unwrap();
    // Threats without a usable agent are kept (they become unattached findings), never skipped.
    let ids: Vec<_> = page.records.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["1234567890123456789", "99", "100"]);
    assert!(page.skipped.is_empty(), "{:?}", page.skipped);
}

#[test]
fn unknown_verdicts_are_kept() {
    let mut t = threat_line(0);
    t["threatInfo"]["analystVerdict"] = json!("needs_review");
    let page = decode_threats_page(&page(&[t])).unwrap();
    assert_eq!(
        page.records[0].threat_info.analyst_verdict,
        Some(AnalystVerdict::Other("needs_review".into()))
    );
    assert_eq!(page.field_warnings, 0);
}

#[test]
fn groups_need_an_id_and_a_name() {
    let body =
        br#"{"data": [{"id": "1", "name": "Servers", "siteId": 5}, {"id": "2"}, {"name": "x"}]}"#;
    let page = decode_groups_page(body).unwrap();
    assert_eq!(page.records.len(), 1);
    assert_eq!(page.records[0].site_id.as_deref(), Some("5"));
    assert_eq!(page.skipped[0].reason, SkipReason::MissingGroupName);
    assert_eq!(page.skipped[1].reason, SkipReason::MissingId);
}
